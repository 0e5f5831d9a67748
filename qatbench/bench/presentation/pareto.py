"""A Pareto plot per target: latency against accuracy, each point with both intervals.

The accuracy axis is top-1 where the eval set has labels, else agreement with the float
model, else the worst output's SNR (no interval: a point). The goal lines are the
latency bound and the accuracy bound (float's top-1 less ``max_top1_drop``,
``min_agreement`` or ``min_snr_db``); the front is ``plots.resolvable_front`` (a slower
point joins only when its accuracy interval is wholly above every faster point's); the
winner of the decision is a star. ``qatbench tune`` draws its candidates on the same
axes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from qatbench.bench.presentation.plots import COLOURS, resolvable_front
from qatbench.bench.presentation.what_to_ship import PARETO_PREFIX
from qatbench.bench.statistics.decision import GroupDecision
from qatbench.bench.statistics.goals import Goals


@dataclass(frozen=True)
class ParetoPoint:
    """One file on the plot: latency and accuracy, each with its 95% interval."""

    label: str
    latency_ms: float
    latency_low: float
    latency_high: float
    accuracy: float  # on the plot's axis: % (top-1, agreement) or dB (SNR)
    accuracy_low: float
    accuracy_high: float


@dataclass(frozen=True)
class Axis:
    """What the accuracy axis shows: the column, its label, and its scale."""

    column: str
    label: str
    percent: bool


AXES = (Axis("accuracy_top1", "top-1 (%), Wilson 95%", True),
        Axis("agreement_top1", "agreement with float32 (%), Wilson 95%", True),
        Axis("output_snr_db", "worst-output SNR vs float32 (dB)", False))


def axis_for(rows: pd.DataFrame) -> Axis | None:
    """Top-1 where every measured row has it, else agreement, else SNR."""
    for axis in AXES:
        values = rows[axis.column].astype("Float64") if axis.column in rows else None
        if values is None:
            continue
        finite = values.notna() & np.isfinite(values.to_numpy(dtype=float, na_value=np.nan))
        if axis.column == "accuracy_top1" and bool(values.notna().all()):
            return axis
        if axis.column != "accuracy_top1" and bool(finite[rows["variant"] != "float32"].all()):
            return axis
    return None


def _value(row: dict, column: str) -> float | None:
    value = row.get(column)
    return None if value is None or pd.isna(value) else float(value)


def point_of(row: dict, axis: Axis, label: str | None = None) -> ParetoPoint | None:
    """A results row as a point on ``axis`` (float32's SNR, infinite, is not drawn)."""
    latency, accuracy = _value(row, "latency_ms_p50"), _value(row, axis.column)
    if latency is None or accuracy is None or not np.isfinite(accuracy):
        return None
    scale = 100.0 if axis.percent else 1.0
    low = _value(row, f"{axis.column}_ci_low") if axis.percent else None
    high = _value(row, f"{axis.column}_ci_high") if axis.percent else None
    latency_low = _value(row, "latency_ms_p50_ci_low")
    latency_high = _value(row, "latency_ms_p50_ci_high")
    return ParetoPoint(label or str(row["variant"]), latency,
                       latency if latency_low is None else latency_low,
                       latency if latency_high is None else latency_high,
                       scale * accuracy, scale * (accuracy if low is None else low),
                       scale * (accuracy if high is None else high))


def accuracy_bound(goals: Goals, axis: Axis, float_row: dict | None) -> float | None:
    """The accuracy goal as a line on ``axis``, or None when none applies to it."""
    if axis.column == "accuracy_top1" and goals.max_top1_drop is not None and float_row:
        reference = _value(float_row, "accuracy_top1")
        return None if reference is None else 100 * reference - goals.max_top1_drop
    if axis.column == "agreement_top1" and goals.min_agreement is not None:
        return 100 * goals.min_agreement
    if axis.column == "output_snr_db":
        return goals.min_snr_db
    return None


def draw_pareto(ax: plt.Axes, points: Sequence[ParetoPoint], axis: Axis, *,
                winner: str | None = None, latency_bound: float | None = None,
                accuracy_line: float | None = None, title: str = "") -> np.ndarray:
    """Draw the points with both intervals, the goal lines, the front and the winner on
    ``ax``; return the indices of the front's points."""
    latency = np.array([p.latency_ms for p in points])
    accuracy = np.array([p.accuracy for p in points])
    for index, point in enumerate(points):
        colour = COLOURS.get(point.label, plt.get_cmap("tab10")(index % 10))
        ax.errorbar(point.latency_ms, point.accuracy,
                    xerr=[[max(point.latency_ms - point.latency_low, 0)],
                          [max(point.latency_high - point.latency_ms, 0)]],
                    yerr=[[max(point.accuracy - point.accuracy_low, 0)],
                          [max(point.accuracy_high - point.accuracy, 0)]],
                    fmt="o", color=colour, label=point.label, capsize=3, zorder=3)
    front = resolvable_front(latency, np.array([p.accuracy_low for p in points]),
                             np.array([p.accuracy_high for p in points]))
    if len(front):
        ax.plot(latency[front], accuracy[front], "--", color="black", linewidth=0.8,
                label="Pareto front (resolvable gains only)")
    names = [p.label for p in points]
    if winner in names:
        at = names.index(winner)
        ax.scatter([latency[at]], [accuracy[at]], marker="*", s=320, facecolors="none",
                   edgecolors="crimson", linewidths=1.5, zorder=4, label=f"ship: {winner}")
    if latency_bound is not None:
        ax.axvline(latency_bound, color="crimson", linestyle=":", linewidth=1,
                   label=f"max_latency_ms {latency_bound:g}")
    if accuracy_line is not None:
        ax.axhline(accuracy_line, color="darkorange", linestyle=":", linewidth=1,
                   label=f"accuracy goal {accuracy_line:.3g}")
    ax.set_xlabel("p50 latency (ms), 95% interval")
    ax.set_ylabel(axis.label)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return front


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)


def write_pareto_plots(results: pd.DataFrame, decisions: Sequence[GroupDecision],
                       plots_dir: Path) -> list[Path]:
    """``pareto_<target>.png`` per target: one panel per model × threads."""
    by_group = {(d.model, d.target, d.device, d.threads): d for d in decisions}
    measured = results[(results["status"] == "ok") & results["latency_ms_p50"].notna()]
    written = []
    for target, on_target in measured.groupby(measured["target"].astype(str), sort=False):
        panels = []
        for (model, device, threads), rows in on_target.groupby(
                ["model", "device", "threads"], sort=False, dropna=False):
            axis = axis_for(rows)
            if axis is None:
                continue
            records = rows.to_dict("records")
            points = [p for p in (point_of(r, axis) for r in records) if p is not None]
            if not points:
                continue
            device_text = "" if pd.isna(device) else str(device)
            decision = by_group.get((str(model), str(target), device_text, int(threads)))
            float_row = next((r for r in records if r["variant"] == "float32"), None)
            goals = decision.goals if decision else Goals()
            panels.append((points, axis, decision, goals, float_row,
                           f"{model} on {target} x{threads}"))
        if not panels:
            continue
        fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.5),
                                 squeeze=False)
        for ax, (points, axis, decision, goals, float_row, title) in zip(
                axes[0], panels, strict=True):
            draw_pareto(ax, points, axis, winner=decision.winner if decision else None,
                        latency_bound=goals.max_latency_ms,
                        accuracy_line=accuracy_bound(goals, axis, float_row),
                        title=title + (f"\n{decision.headline()}"[:90] if decision else ""))
        path = plots_dir / f"{PARETO_PREFIX}{_safe(str(target))}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written
