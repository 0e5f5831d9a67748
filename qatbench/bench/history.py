"""Every run under a results root as one time series, each run judged against the previous
run of the same row key by the regression gate.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from qatbench.bench.compare import GateSettings, Verdict, latency_test
from qatbench.bench.runs import load_runs, run_dirs_under, samples_of

SERIES = ["model", "variant", "target", "device", "threads"]


def load_history(root: Path, *, model: str | None = None, target: str | None = None,
                 threshold: float = 0.05) -> pd.DataFrame:
    """All ``ok`` rows across runs, oldest first, with a boolean ``regression`` column."""
    frames = []
    for run_dir in run_dirs_under(root):
        loaded = load_runs([run_dir])
        rows = loaded.results[loaded.results["status"] == "ok"]
        if model:
            rows = rows[rows["model"] == model]
        if target:
            rows = rows[rows["target"] == target]
        if rows.empty:
            continue
        rows = rows.copy()
        rows["_samples"] = [samples_of(loaded.samples, row).to_numpy()
                            for _, row in rows.iterrows()]
        frames.append(rows)
    if not frames:
        return pd.DataFrame()
    history = pd.concat(frames, ignore_index=True).sort_values("started_at", kind="stable")
    settings = GateSettings(threshold=threshold)
    flags = pd.Series(False, index=history.index)
    for _, series in history.groupby(SERIES, dropna=False, sort=False):
        previous = None
        for index, row in series.iterrows():
            if previous is not None:
                verdict = latency_test(previous, row, previous["_samples"], row["_samples"],
                                        settings)[0]
                flags[index] = verdict is Verdict.SLOWER
            previous = row
    history["regression"] = flags
    return history.drop(columns="_samples").reset_index(drop=True)
