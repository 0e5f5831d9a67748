""""What to ship": the decision for every model × target × threads of a run, as a report
section, a results column and a console table.

The rows, their paired predictions (``predictions/<row>.npz``) and the run's goals
(``config.json``: ``goals`` and ``model_goals``) are read here; the decision itself is
``statistics/decision.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from qatbench.bench.presentation.accuracy import predictions_of
from qatbench.bench.presentation.sections import Section
from qatbench.bench.presentation.summary import with_shared_fingerprint
from qatbench.bench.statistics.decision import (
    Candidate,
    GroupDecision,
    Outcome,
    decide_group,
)
from qatbench.bench.statistics.goals import Goals
from qatbench.bench.storage.key import RowKey
from qatbench.bench.storage.store import CONFIG_FILE, read_config

GROUP_COLUMNS = ["model", "target", "device", "threads", "fingerprint"]
PARETO_PREFIX = "pareto_"  # plots/pareto_<target>.png (presentation/pareto.py)
HOW_TO_READ = (
    "Each variant is judged by the 95% interval of each figure, not its point: it *meets* "
    "a goal when the whole interval is on the right side of the bound, *misses* it when "
    "the whole interval is on the wrong side, and is *undecided* when the interval "
    "straddles the bound -- the figure is named with how many eval inputs or "
    "`--repeats` would tell. The winner meets every goal and is best on `prefer`; "
    "variants that also meet every goal and whose latency intervals overlap the "
    "winner's are ties, not ranked behind it. Top-1 drops are paired on the same inputs "
    "against float32 on the same target.")


class RunGoals:
    """The goals each run of a report was made with (its ``config.json``)."""

    def __init__(self, run_dirs: Sequence[Path]) -> None:
        self._by_run: dict[str, tuple[Goals, dict[str, Goals]]] = {}
        for run_dir in run_dirs:
            self._by_run[run_dir.name] = goals_of_run(run_dir)

    def for_row(self, row: dict) -> Goals:
        run_goals, per_model = self._by_run.get(str(row.get("run_id")),
                                                (Goals(), {}))
        return run_goals.merged(per_model.get(str(row.get("model"))))


def goals_of_run(run_dir: Path) -> tuple[Goals, dict[str, Goals]]:
    """``[goals]`` and each model's ``[models.NAME.goals]`` of one run; none when the
    run was made before goals existed (or is a bare results file)."""
    if not (run_dir / CONFIG_FILE).is_file():
        return Goals(), {}
    data = read_config(run_dir)
    per_model = {str(name): Goals.model_validate(goals)
                 for name, goals in (data.get("model_goals") or {}).items()}
    return Goals.model_validate(data.get("goals") or {}), per_model


def paired_hits_of(rows: list[dict], run_dirs: Sequence[Path]) -> list:
    """Each row's right/wrong per eval input, where it answered the same inputs as the
    group's float32 row (two runs merged into one report may not have); else None."""
    found = [predictions_of(row, run_dirs) if run_dirs else None for row in rows]
    reference = next((p for p, row in zip(found, rows, strict=True)
                      if p is not None and row["variant"] == "float32"), None)
    return [None if p is None or reference is None or not p.pairs_with(reference)
            else p.correct for p in found]


def decide_results(results: pd.DataFrame, run_dirs: Sequence[Path],
                   goals: RunGoals | None = None) -> list[GroupDecision]:
    """One decision per model × target × device × threads × setup of the results."""
    if results.empty:
        return []
    goals = goals or RunGoals(run_dirs)
    decisions = []
    shared = with_shared_fingerprint(results)
    for (model, target, device, threads, _), group in shared.groupby(
            GROUP_COLUMNS, sort=False, dropna=False):
        rows = group.to_dict("records")
        candidates = [Candidate.of_row(row, hits)
                      for row, hits in zip(rows, paired_hits_of(rows, run_dirs), strict=True)]
        decisions.append(decide_group(
            candidates, goals.for_row(rows[0]), model=str(model), target=str(target),
            device="" if pd.isna(device) else str(device), threads=int(threads)))
    return decisions


def decision_cells(results: pd.DataFrame, decisions: Sequence[GroupDecision]
                   ) -> dict[tuple, str]:
    """The ``decision`` cell of every row, by its row key's job (model, variant, target,
    device, threads)."""
    by_group = {(d.model, d.target, d.device, d.threads): d for d in decisions}
    cells = {}
    for row in with_shared_fingerprint(results).to_dict("records"):
        device = "" if pd.isna(row["device"]) else str(row["device"])
        decision = by_group.get((str(row["model"]), str(row["target"]), device,
                                 int(row["threads"])))
        variant = decision.of(str(row["variant"])) if decision else None
        if variant is not None:
            cells[RowKey.of(row).job] = variant.text()
    return cells


def _where(decision: GroupDecision) -> str:
    device = f" [{decision.device}]" if decision.device else ""
    return f"{decision.model} on {decision.target}{device} ×{decision.threads}"


def what_to_ship_frame(decisions: Sequence[GroupDecision]) -> pd.DataFrame:
    """One line per group and variant: outcome, and the figures that decided it."""
    rows = []
    for decision in decisions:
        for variant in decision.variants:
            if variant.outcome == Outcome.NOT_MEASURED:
                continue
            rows.append({
                "model": decision.model, "target": decision.target,
                "thr": decision.threads, "variant": variant.variant,
                "decision": {"winner": "SHIP", "tie": "tie"}.get(variant.role,
                                                                 str(variant.outcome)),
                "p50 ms [95%]": variant.latency_text(),
                "figures": "; ".join(check.text() for check in variant.checks)})
    return pd.DataFrame(rows)


def headline_frame(decisions: Sequence[GroupDecision]) -> pd.DataFrame:
    """One line per group: what to ship (the console and the step summary)."""
    return pd.DataFrame([{"model": d.model, "target": d.target, "thr": d.threads,
                          "what to ship": d.headline()} for d in decisions])


def what_to_ship_section(decisions: Sequence[GroupDecision]) -> Section | None:
    if not decisions:
        return None
    goal_lines = sorted({f"- goals for {d.model}: {d.goals.describe()}" for d in decisions})
    lines = [f"- {_where(d)}: {d.headline()}" for d in decisions]
    return Section("What to ship", "\n".join([*lines, *goal_lines, HOW_TO_READ]),
                   table=what_to_ship_frame(decisions), css_class="figures")


def unmet(decisions: Sequence[GroupDecision]) -> list[str]:
    """The groups no variant is known to meet the goals on (``--fail-on-goals``)."""
    return [f"{_where(d)}: {d.headline()}" for d in decisions if not d.met]
