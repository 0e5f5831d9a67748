"""The history plot: one panel per model, each series as its change from its own start.

Why relative: a 10 µs model beside a 3 ms one on one log axis spans three decades and
flattens a 5% step into nothing. Here every series is drawn as percent change from its
first run, so a 5% step is five gridlines' worth; the band is the repeat range (or the
within-run CI for single-repeat runs) and detected steps are drawn where they happened.
The x axis names each run by its commit (short hash) and date.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from qatbench.bench.statistics.history import date_of, short_commit
from qatbench.bench.storage.key import SERIES_COLUMNS

MAX_TICKS = 30


def _label(series: tuple) -> str:
    _, variant, target, device, threads = series
    return f"{variant} {target}" + (f" [{device}]" if device and device != "host" else "") + \
        f" x{threads}"


def plot_history(history: pd.DataFrame, path: Path,
                 steps: pd.DataFrame | None = None) -> Path | None:
    """Write the plot; ``history`` from ``load_history``, ``steps`` from
    ``find_history_steps``. None when there is nothing to draw."""
    if history.empty:
        return None
    runs = history.drop_duplicates("run_id")[["run_id", "started_at", "git_commit"]]
    position = {run: i for i, run in enumerate(runs["run_id"])}
    models = list(dict.fromkeys(history["model"].astype(str)))
    fig, axes = plt.subplots(len(models), 1, figsize=(max(8, 0.45 * len(runs) + 4),
                                                      3.2 * len(models)),
                             squeeze=False, sharex=True)
    for ax, model in zip(axes[:, 0], models, strict=True):
        rows = history[history["model"] == model]
        for series, line_rows in rows.groupby(SERIES_COLUMNS, sort=False, dropna=False):
            x = np.array([position[r] for r in line_rows["run_id"]])
            start = float(line_rows["level_ms"].iloc[0])
            relative = 100 * (line_rows["level_ms"].to_numpy(float) / start - 1)
            line = ax.plot(x, relative, marker="o", markersize=3,
                           label=f"{_label(series)} ({start:.3g} ms at start)")[0]
            low = 100 * (line_rows["band_low_ms"].to_numpy(float) / start - 1)
            high = 100 * (line_rows["band_high_ms"].to_numpy(float) / start - 1)
            finite = np.isfinite(low) & np.isfinite(high)
            if finite.any():
                ax.fill_between(x[finite], low[finite], high[finite], color=line.get_color(),
                                alpha=0.18, linewidth=0)
            if steps is not None and not steps.empty:
                mine = steps[(steps[SERIES_COLUMNS].astype(str)
                              == pd.Series(series, index=SERIES_COLUMNS).astype(str)).all(axis=1)]
                for _, step in mine.iterrows():
                    at = position[step["first_run_after"]] - 0.5
                    ax.axvline(at, color=line.get_color(), linestyle="--", linewidth=1)
                    ax.annotate(f"{step['change']:+.1%}", (at, 100 * (step["after_ms"] / start
                                                                      - 1)),
                                xytext=(3, 3), textcoords="offset points", fontsize=7,
                                color=line.get_color())
        ax.axhline(0, color="black", linewidth=0.6)
        ax.set_ylabel("change from first run (%)")
        ax.set_title(f"{model}: latency across runs (band: repeat range, or within-run CI "
                     "for single runs; dashed: detected step)", fontsize=9)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    labels = [f"{short_commit(c)}\n{date_of(s)}" for c, s in zip(
        runs["git_commit"], runs["started_at"], strict=True)]
    stride = max(1, int(np.ceil(len(labels) / MAX_TICKS)))
    ticks = list(range(0, len(labels), stride))
    axes[-1, 0].set_xticks(ticks, [labels[i] for i in ticks], rotation=45, ha="right",
                           fontsize=7)
    axes[-1, 0].set_xlabel("run (commit, date)")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
