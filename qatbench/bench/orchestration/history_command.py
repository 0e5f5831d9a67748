"""``qatbench history`` and ``qatbench plot history`` as typed calls: the measured
history under a results root, its steps (change points by ruptures' PELT) and the alerts
they group into. The commands only draw what this returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qatbench.errors import UserError


class HistoryError(UserError, ValueError):
    """Nothing to show under the root (no measured rows for the filter), or ``--since``
    names no run there."""


@dataclass(frozen=True)
class HistoryRequest:
    root: Path
    model: str | None = None
    target: str | None = None
    min_step: float = 0.025
    min_runs: int = 2
    since: str | None = None  # only change points first seen after this run id


@dataclass(frozen=True)
class History:
    """The rows, their steps, the run ids in order, how many series, and the alerts
    (one per change point; ``None`` when the request asks for steps only)."""

    rows: Any
    steps: Any
    runs: list[str]
    series: int
    alerts: Any = None


def read_history(request: HistoryRequest, *, alerts: bool = True) -> History:
    from qatbench.bench.statistics.alerts import group_alerts
    from qatbench.bench.statistics.history import find_history_steps, load_history

    rows = load_history(request.root, model=request.model, target=request.target)
    if rows.empty:  # RunsNotFound above when there is no run at all
        raise HistoryError(f"{request.root}: no measured rows"
                           + (f" for model {request.model!r}" if request.model else "")
                           + (f" on target {request.target!r}" if request.target else ""))
    runs = list(dict.fromkeys(rows["run_id"]))
    if request.since is not None and request.since not in runs:
        raise HistoryError(f"--since {request.since}: no such run under {request.root} "
                           f"(runs: {', '.join(runs[-5:])}{', ...' if len(runs) > 5 else ''})")
    steps = find_history_steps(rows, min_step=request.min_step, min_runs=request.min_runs)
    series = rows.groupby(["model", "variant", "target", "device", "threads"]).ngroups
    grouped = (group_alerts(steps, runs, request.min_step, request.since)
               if alerts and not steps.empty else None)
    return History(rows, steps, runs, series, grouped)


def plot_history_file(request: HistoryRequest, destination: Path) -> tuple[Path, History]:
    """The history plot written to ``destination`` (an image type matplotlib writes, or a
    ``HistoryError`` naming the ones it does; a folder the caller has checked is
    writable), and the history it draws."""
    from matplotlib.figure import Figure

    from qatbench.bench.presentation.history_plot import plot_history

    kinds = Figure().canvas.get_supported_filetypes()
    if destination.suffix.lstrip(".").lower() not in kinds:
        raise HistoryError(f"--out {destination}: give an image file ending in one of "
                           f"{', '.join('.' + kind for kind in sorted(kinds))}")
    history = read_history(request, alerts=False)
    return plot_history(history.rows, destination, history.steps), history
