"""One run from start to end: set up the run directory, run the jobs with progress, write
the results and the report, and say what happened. Shared by ``run`` and ``bench``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from qatbench.bench.orchestration.config import RunConfig
from qatbench.bench.orchestration.runner import (
    OVERSUBSCRIBED,
    Job,
    JobRunner,
    ModelProvider,
    RunContext,
    RunSummary,
)
from qatbench.bench.presentation.report import write_report
from qatbench.bench.presentation.summary import problems_frame, summary_frame
from qatbench.bench.presentation.tables import rich_table
from qatbench.bench.presentation.what_to_ship import (
    decide_results,
    decision_cells,
    headline_frame,
    unmet,
)
from qatbench.bench.statistics.decision import GroupDecision
from qatbench.bench.storage.environment import capture_environment
from qatbench.bench.storage.layout import (
    ENVIRONMENT_FILE,
    RESUMED_ENVIRONMENT_GLOB,
    resumed_environment_file,
)
from qatbench.bench.storage.store import RunStore
from qatbench.models.user_data import DATA_RANGE

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
warnings = Console(stderr=True, soft_wrap=True)  # what the user should know, off stdout


def open_store(config: RunConfig, resume: Path | None) -> RunStore:
    if resume is not None:
        return RunStore.open_existing(resume)
    store = RunStore.create(Path(config.run.out))
    store.write_config(config.model_dump())
    return store


def record_environment(store: RunStore, environment: dict[str, Any]) -> None:
    """``environment.json`` for the host that started the run; each host that resumes it
    adds ``environment.resume-N.json`` instead of overwriting the first."""
    first = store.run_dir / ENVIRONMENT_FILE
    if not first.exists():
        store.write_json(ENVIRONMENT_FILE, environment)
        return
    number = 1 + sum(1 for _ in store.run_dir.glob(RESUMED_ENVIRONMENT_GLOB))
    store.write_json(resumed_environment_file(number), environment)


def execute(context: RunContext, jobs: Sequence[Job], provider_factory: Any,
            console: Console, benchmark_json: Path | None = None, *,
            fail_on_goals: bool = False) -> int:
    """Run ``jobs``, keep everything on disk, print the summary; return the exit code.
    The run directory's lock is released however it ends (a full disk escaping too)."""
    try:
        return _execute(context, jobs, provider_factory, console, benchmark_json,
                        fail_on_goals=fail_on_goals)
    finally:
        context.store.close()


def _execute(context: RunContext, jobs: Sequence[Job], provider_factory: Any,
             console: Console, benchmark_json: Path | None = None, *,
             fail_on_goals: bool = False) -> int:
    store = context.store
    record_environment(store, context.environment.to_dict())
    repeats = context.config.run.repeats
    console.print(f"[bold]qatbench[/] run [cyan]{store.run_id}[/] -> {store.run_dir}")
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=True) as progress:
        task = progress.add_task("starting", total=len(jobs) * repeats)
        provider: ModelProvider = provider_factory(
            context, lambda text: progress.update(task, description=text))

        def started(label: str) -> None:
            progress.update(task, description=f"timing {label}")

        def finished(job: Job, row: dict[str, Any]) -> None:
            progress.advance(task)
            colour = {"ok": "green", "failed": "red"}.get(row["status"], "yellow")
            console.print(f"  [{colour}]{row['status']:>11}[/] {job.label}")

        runner = JobRunner(context, provider, on_job_start=started, on_job_done=finished)
        progress.update(task, completed=len(jobs) * repeats
                        - len(runner.pending(jobs, repeats)))
        summary = runner.run(jobs, repeats)
    store.flush()
    decisions = decide_results(store.results, [store.run_dir])
    store.set_cells("decision", decision_cells(store.results, decisions))
    report = write_report(store.results, [store.run_dir], store.run_dir)
    if benchmark_json is not None:
        from qatbench.bench.presentation.pytest_benchmark_json import write_benchmark_json

        write_benchmark_json(store.results, store.samples, context.environment, benchmark_json)
        console.print(f"pytest-benchmark JSON: {benchmark_json}")
    store.close()
    code = finish(console, store, summary, report)
    return ship_or_fail(console, decisions, code, fail_on_goals)


def ship_or_fail(console: Console, decisions: list[GroupDecision], code: int,
                 fail_on_goals: bool) -> int:
    """Print what to ship; with ``--fail-on-goals`` a target on which no variant is
    known to meet the goals makes an otherwise clean run exit 1."""
    if decisions:
        console.print(rich_table(headline_frame(decisions), "what to ship"))
    missed = unmet(decisions)
    if fail_on_goals and missed and code == EXIT_OK:
        for line in missed:
            console.print(f"[red]goals not met[/]: {escape(line)}", highlight=False)
        return EXIT_FAILED
    return code


def finish(console: Console, store: RunStore, summary: RunSummary, report: Path) -> int:
    """Print the tables; exit 1 when a job failed or a target's own interpreter
    (``python = ...``) could not time: that is the user's setting, not absent hardware
    (an unplugged phone stays exit 0), and a run that measured nothing must not pass."""
    results = store.results
    if not results.empty:
        console.print(rich_table(summary_frame(results), "float → int8 (size, p50 latency, top-1)"))
        problems = problems_frame(results)
        if not problems.empty:
            console.print(rich_table(problems, "not measured"))
    console.print(f"results: {store.run_dir / 'results.parquet'}  report: {report}")
    if summary.interrupted:
        console.print(f"[yellow]interrupted[/]: finished jobs are kept; continue with "
                      f"`qatbench run --resume {store.run_dir}`")
        return 130
    notes = results["note"].fillna("").astype(str)
    for row in results[notes.str.contains(OVERSUBSCRIBED, regex=False)].to_dict("records"):
        warnings.print(f"[yellow]warning:[/] {escape(row['model'])}/{escape(row['variant'])} "
                       f"on {escape(row['target'])}: {escape(str(row['note']))}",
                       highlight=False)
    warned: set[tuple[str, str]] = set()
    for row in results[notes.str.contains(DATA_RANGE + ":", regex=False)].to_dict("records"):
        for part in str(row["note"]).split("; "):  # once per model, not per row
            if part.startswith(DATA_RANGE + ":") and (row["model"], part) not in warned:
                warned.add((row["model"], part))
                warnings.print(f"[yellow]warning:[/] {escape(row['model'])}: "
                               f"{escape(part)}", highlight=False)
    for target, reason in summary.unusable_interpreters.items():
        console.print(f"[red]target {escape(target)} measured nothing[/]: "
                      f"{escape(reason)}", highlight=False)
    failed = bool((results["status"] == "failed").any())
    return EXIT_FAILED if failed or summary.unusable_interpreters else EXIT_OK


def new_context(config: RunConfig, store: RunStore) -> RunContext:
    return RunContext(config=config, store=store, environment=capture_environment())


SOURCE_CHECK_TIMEOUT_S = 600.0


def check_user_models(config: RunConfig, scratch: Path) -> list[str]:
    """Every ``[models.NAME]`` problem, from one child (kind ``source_check``)
    that loads each model and its data before anything trains; [] when all is well."""
    from qatbench.bench.orchestration.launcher import call_child
    from qatbench.qat.source_check import SourceCheckRequest

    work = scratch / "source_check"
    result = work / "problems.json"
    request = SourceCheckRequest(
        models={name: source.model_dump() for name, source in config.models.items()
                if name in config.run.models},
        seeds={name: config.budget_for(name).seed for name in config.models},
        result_path=str(result))
    if not request.models:
        return []
    # the run's --timeout reaches this child too (at most SOURCE_CHECK_TIMEOUT_S)
    return call_child(request, timeout_s=min(SOURCE_CHECK_TIMEOUT_S, config.run.timeout_s))
