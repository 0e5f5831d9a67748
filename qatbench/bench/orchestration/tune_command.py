"""``qatbench tune`` on the command line: the request from the CLI's values (``--goal``
over the run's goals), bad input as exit 2 before anything is built, the search path on
the console."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qatbench.bench.orchestration.config import build_config
from qatbench.bench.orchestration.tune import tune
from qatbench.bench.orchestration.tune_outputs import search_frame
from qatbench.bench.orchestration.tune_plan import plan_tune
from qatbench.bench.orchestration.tune_state import (
    RECIPE_FILE,
    TuneError,
    TuneRequest,
)
from qatbench.bench.statistics.decision import Outcome
from qatbench.bench.statistics.goals import Goals
from qatbench.bench.storage.store import RunDirError, read_config
from qatbench.errors import UserError


def request_from(run_dir: Path, model: str, target: str, threads: int | None,
                 goal_overrides: dict[str, Any], budget_min: float | None,
                 out_dir: Path | None) -> TuneRequest:
    """The request from the CLI's values, the goals the run's config and ``--goal``s."""
    try:
        config = build_config(read_config(run_dir))
    except RunDirError:
        raise
    goals = config.goals_for(model) if model in config.run.models else config.goals
    if goal_overrides:
        goals = goals.merged(Goals.model_validate(goal_overrides))
    return TuneRequest(run_dir.resolve(), model, target,
                       threads if threads is not None else config.run.threads[0], goals,
                       None if budget_min is None else budget_min * 60,
                       None if out_dir is None else out_dir.resolve())


def parse_goals(values: list[str]) -> dict[str, Any]:
    """``--goal KEY=VALUE`` values as a goals table (validated by ``Goals``)."""
    table: dict[str, Any] = {}
    for value in values:
        key, equals, text = value.partition("=")
        if not equals or not key.strip() or not text.strip():
            raise TuneError(f"--goal {value!r}: give KEY=VALUE, e.g. --goal max_top1_drop=1")
        text = text.strip()
        try:
            table[key.strip()] = float(text)
        except ValueError:
            table[key.strip()] = text
    try:
        Goals.model_validate(table)
    except ValueError as error:
        problems = [f"--goal {'.'.join(str(p) for p in item['loc'])}: "
                    f"{item['msg'].removeprefix('Value error, ')}"
                    if item["type"] != "extra_forbidden" else
                    f"--goal {'.'.join(str(p) for p in item['loc'])}: unknown goal; goals are "
                    f"{', '.join(Goals.model_fields)}" for item in error.errors()]  # type: ignore[attr-defined]
        raise TuneError("; ".join(problems)) from None
    return table


def run_tune_command(model: str, target: str, run: Path | None, threads: int | None,
                     goals: list[str], budget_min: float | None, out: Path | None,
                     console: Any) -> int:
    """``qatbench tune``: 0 when the chosen file meets every goal, 1 when nothing does
    (within the budget); bad input is a ``UserError`` (exit 2) before anything is built."""
    from rich.markup import escape

    from qatbench.bench.presentation.tables import rich_table
    from qatbench.bench.storage.runs import latest_run

    try:  # RunDirError, RunsNotFound, DamagedStoreFile, TuneError: UserErrors
        run_dir = run if run is not None else latest_run(Path("results"))
        request = request_from(run_dir, model, target, threads, parse_goals(goals),
                               budget_min, out)
        plan = plan_tune(request)
    except ValueError as error:  # a goal pydantic refused
        if isinstance(error, UserError):
            raise
        raise TuneError(str(error)) from None
    console.print(f"[bold]qatbench tune[/] {escape(model)} on {escape(target)} "
                  f"x{request.threads} -> {request.directory}")
    console.print(f"goals: {escape(request.goals.describe())}", highlight=False)
    try:  # a TuneError on the way is a UserError: exit 2
        with console.status("tuning") as status:
            state = tune(plan, lambda text: status.update(escape(text)))
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]: finished candidates are kept; run the same "
                      "command again to continue")
        return 130
    console.print(rich_table(search_frame(state), "search path"))
    console.print(f"{escape(state.stopped)}", highlight=False)
    console.print(f"tune: {request.directory / 'tune.md'}  recipe: "
                  f"{request.directory / RECIPE_FILE}")
    met = state.chosen is not None or state.start["outcome"] == Outcome.MEETS
    return 0 if met else 1
