"""Every run under a results root as one time series per benchmark, and its steps.

One line per (run, series): the run's level is the geometric mean of its repeat figures
(the units the gate decides on), its band the lowest and highest repeat (with one repeat,
the row's own CI of the median — within-run only, and labelled so). The change points
(``changepoints.find_steps``) name the run where each series stepped, with the commit and
date before and after.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from qatbench.bench.statistics.changepoints import MIN_RUNS, MIN_STEP, find_steps
from qatbench.bench.statistics.units import UnitIndex
from qatbench.bench.storage.key import SERIES_COLUMNS, RowKey
from qatbench.bench.storage.runs import load_runs, run_dirs_under


def _float(value: object) -> float:
    return float("nan") if value is None or pd.isna(value) else float(value)


def load_history(root: Path, *, model: str | None = None, target: str | None = None
                 ) -> pd.DataFrame:
    """All ``ok`` rows across runs, oldest first: series columns, run_id, started_at,
    git_commit, ``level_ms``, ``band_low_ms``/``band_high_ms``, ``band`` (what the band
    is) and ``repeats``."""
    lines = []
    for run_dir in run_dirs_under(root):
        loaded = load_runs([run_dir])
        rows = loaded.results[loaded.results["status"] == "ok"]
        if model:
            rows = rows[rows["model"] == model]
        if target:
            rows = rows[rows["target"] == target]
        if rows.empty:
            continue
        units = UnitIndex(loaded)
        for row in rows.to_dict("records"):
            values = units.of(row).values
            if values.size == 0:
                continue
            key = RowKey.of(row)
            several = values.size > 1
            lines.append({
                **dict(zip(SERIES_COLUMNS, key.series, strict=True)),
                "run_id": str(row["run_id"]), "started_at": str(row.get("started_at") or ""),
                "git_commit": "" if pd.isna(row.get("git_commit")) else str(row["git_commit"]),
                "level_ms": float(np.exp(np.log(values).mean())),
                "band_low_ms": float(values.min()) if several else _float(
                    row.get("latency_ms_p50_ci_low")),
                "band_high_ms": float(values.max()) if several else _float(
                    row.get("latency_ms_p50_ci_high")),
                "band": "repeat range" if several else "within-run CI",
                "repeats": int(values.size),
            })
    if not lines:
        return pd.DataFrame()
    history = pd.DataFrame(lines)
    return history.sort_values(["started_at", "run_id"], kind="stable").reset_index(drop=True)


def short_commit(commit: str) -> str:
    return commit[:7] if commit and commit != "unknown" else (commit or "?")


def date_of(started_at: str) -> str:
    """``2026-01-31`` from an ISO timestamp or a run id (``20260131T...``)."""
    text = started_at or ""
    if len(text) >= 8 and text[:8].isdigit():
        return f"{text[:4]}-{text[4:6]}-{text[6:8]}"
    return text[:10]


def find_history_steps(history: pd.DataFrame, *, min_step: float = MIN_STEP,
                       min_runs: int = MIN_RUNS) -> pd.DataFrame:
    """One line per step of any series: where it happened, its size, and the commit and
    date of the last run before it and the first run after it."""
    steps = []
    if history.empty:
        return pd.DataFrame()
    for series, rows in history.groupby(SERIES_COLUMNS, sort=False, dropna=False):
        rows = rows.reset_index(drop=True)
        for step in find_steps(rows["level_ms"].to_numpy(float), min_runs=min_runs,
                               min_step=min_step):
            before, after = rows.iloc[step.index - 1], rows.iloc[step.index]
            steps.append({
                **dict(zip(SERIES_COLUMNS, series, strict=True)),
                "before_ms": step.before, "after_ms": step.after, "change": step.change,
                "last_run_before": before["run_id"], "first_run_after": after["run_id"],
                "commit_before": short_commit(before["git_commit"]),
                "commit_after": short_commit(after["git_commit"]),
                "date_before": date_of(before["started_at"]),
                "date_after": date_of(after["started_at"]),
                "runs_before": int(step.index), "position": int(step.index),
            })
    return pd.DataFrame(steps)
