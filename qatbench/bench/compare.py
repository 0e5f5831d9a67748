"""The regression gate: is CURRENT slower than BASE, beyond noise and beyond a threshold?

Rows are matched on model, variant, target, device and threads. A latency verdict
needs both a statistically significant difference at a strict level (Mann–Whitney U on
the raw samples; Welch's t-test on the reported mean/std/count where a tool such as
``benchmark_model`` gives no raw samples) **and** a relative change of the chosen
statistic beyond the threshold. Anything less is ``same``; too little data is
``unknown``. Size (an int8 model growing) and top-1 (an int8 model losing points) are
gated as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pandas as pd
from scipy import stats

from qatbench.bench.runs import LoadedRuns, samples_of
from qatbench.bench.schema import KEY_COLUMNS

MIN_SAMPLES = 5


class Verdict(StrEnum):
    SLOWER = "slower"
    FASTER = "faster"
    SAME = "same"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class GateSettings:
    threshold: float = 0.05  # relative latency change (0.05 = 5%) and size growth
    metric: str = "p50"  # p50 or p90
    alpha: float = 0.001  # strict: a device lab runs many comparisons per day
    accuracy_drop_points: float = 1.0  # top-1 percentage points


class NothingMatched(ValueError):
    """No row of CURRENT has a partner in BASE; the message names the keys on each side."""


def _statistic(values: np.ndarray, metric: str) -> float:
    return float(np.percentile(values, 90 if metric == "p90" else 50))


def _row_statistic(row: pd.Series, metric: str) -> float | None:
    column = "latency_ms_p90" if metric == "p90" else "latency_ms_p50"
    value = row.get(column)
    if pd.isna(value) and metric == "p50":
        value = row.get("latency_ms_mean")  # benchmark_model builds without a median
    return None if pd.isna(value) else float(value)


def latency_test(base: pd.Series, current: pd.Series, base_samples: np.ndarray,
                  current_samples: np.ndarray, settings: GateSettings
                  ) -> tuple[Verdict, float | None, float | None, str]:
    """(verdict, relative change, p-value, what the decision rests on)."""
    if len(base_samples) >= MIN_SAMPLES and len(current_samples) >= MIN_SAMPLES:
        before = _statistic(base_samples, settings.metric)
        after = _statistic(current_samples, settings.metric)
        p_value = float(stats.mannwhitneyu(base_samples, current_samples,
                                           alternative="two-sided").pvalue)
        basis = f"Mann-Whitney U, {len(base_samples)}/{len(current_samples)} samples"
    else:
        before, after = _row_statistic(base, settings.metric), _row_statistic(current,
                                                                               settings.metric)
        n_base, n_current = base.get("n_samples"), current.get("n_samples")
        summary = [base.get("latency_ms_mean"), base.get("latency_ms_std"),
                   current.get("latency_ms_mean"), current.get("latency_ms_std")]
        if (before is None or after is None or any(pd.isna(v) for v in summary)
                or pd.isna(n_base) or pd.isna(n_current)
                or min(int(n_base), int(n_current)) < MIN_SAMPLES):
            return Verdict.UNKNOWN, None, None, "too few samples"
        p_value = float(stats.ttest_ind_from_stats(
            float(summary[0]), max(float(summary[1]), 1e-12), int(n_base),
            float(summary[2]), max(float(summary[3]), 1e-12), int(n_current),
            equal_var=False).pvalue)
        basis = "Welch t-test on reported mean/std (no raw samples)"
    change = after / before - 1
    if p_value < settings.alpha and abs(change) > settings.threshold:
        return (Verdict.SLOWER if change > 0 else Verdict.FASTER), change, p_value, basis
    return Verdict.SAME, change, p_value, basis


def _gates(base: pd.Series, current: pd.Series, settings: GateSettings) -> list[str]:
    failures = []
    is_int8 = "int8" in str(current["variant"])
    size_before, size_after = base.get("size_bytes"), current.get("size_bytes")
    if is_int8 and pd.notna(size_before) and pd.notna(size_after) and \
            size_after > size_before * (1 + settings.threshold):
        failures.append(f"size grew {size_after / size_before - 1:+.1%}")
    top1_before, top1_after = base.get("accuracy_top1"), current.get("accuracy_top1")
    if is_int8 and pd.notna(top1_before) and pd.notna(top1_after):
        drop = 100 * (float(top1_before) - float(top1_after))
        if drop > settings.accuracy_drop_points:
            failures.append(f"top-1 dropped {drop:.1f} points")
    return failures


def _key(row: pd.Series) -> tuple[str, ...]:
    return tuple("" if pd.isna(row[c]) else str(row[c]) for c in KEY_COLUMNS)


def compare_runs(base: LoadedRuns, current: LoadedRuns,
                 settings: GateSettings | None = None) -> pd.DataFrame:
    """One row per matched key: the statistic before/after, change, p-value, verdict."""
    settings = settings or GateSettings()
    base_rows = {_key(row): row for _, row in base.results.iterrows()}
    current_rows = {_key(row): row for _, row in current.results.iterrows()}
    matched = [k for k in current_rows if k in base_rows]
    if not matched:
        raise NothingMatched(
            "no rows matched on (model, variant, target, device, threads).\n"
            f"  in BASE only:    {sorted(set(base_rows))[:10]}\n"
            f"  in CURRENT only: {sorted(set(current_rows))[:10]}")
    lines = []
    for key in matched:
        before, after = base_rows[key], current_rows[key]
        if before["status"] != "ok" or after["status"] != "ok":
            verdict, change, p_value = Verdict.UNKNOWN, None, None
            basis = f"status {before['status']} -> {after['status']}"
        else:
            verdict, change, p_value, basis = latency_test(
                before, after, samples_of(base.samples, before).to_numpy(),
                samples_of(current.samples, after).to_numpy(), settings)
        gates = _gates(before, after, settings)
        lines.append({
            **dict(zip(KEY_COLUMNS, key, strict=True)),
            f"base_{settings.metric}_ms": _row_statistic(before, settings.metric),
            f"current_{settings.metric}_ms": _row_statistic(after, settings.metric),
            "change": change, "p_value": p_value, "verdict": str(verdict),
            "gate": "; ".join(gates), "basis": basis,
        })
    frame = pd.DataFrame(lines)
    frame.attrs["unmatched_base"] = sorted(set(base_rows) - set(current_rows))
    frame.attrs["unmatched_current"] = sorted(set(current_rows) - set(base_rows))
    return frame


def regressed(comparison: pd.DataFrame) -> bool:
    """Anything slower, grown or less accurate: the gate fails."""
    return bool((comparison["verdict"] == Verdict.SLOWER).any()
                or (comparison["gate"].fillna("") != "").any())


def render_comparison(comparison: pd.DataFrame, settings: GateSettings) -> pd.DataFrame:
    """The table a person reads: percentages and p-values formatted, columns ordered."""
    shown = comparison.copy()
    for column in shown.columns:
        if column.endswith("_ms"):
            shown[column] = shown[column].map(lambda v: "" if pd.isna(v) else f"{v:.3f}")
    shown["change"] = shown["change"].map(lambda v: "" if pd.isna(v) else f"{v:+.1%}")
    shown["p_value"] = shown["p_value"].map(lambda v: "" if pd.isna(v) else f"{v:.2g}")
    if shown["device"].nunique() <= 1:
        shown = shown.drop(columns="device")
    return shown


def comparison_markdown(comparison: pd.DataFrame, settings: GateSettings, base: str,
                        current: str) -> str:
    from qatbench.bench.tables import markdown_table

    counts = comparison["verdict"].value_counts().to_dict()
    head = (f"# qatbench compare\n\nBASE `{base}` → CURRENT `{current}`; "
            f"{settings.metric} latency, threshold {settings.threshold:.0%}, "
            f"significance level {settings.alpha}, top-1 gate "
            f"{settings.accuracy_drop_points} points.\n\n"
            f"**{'REGRESSION' if regressed(comparison) else 'no regression'}** — "
            + ", ".join(f"{v}: {n}" for v, n in sorted(counts.items())) + "\n")
    parts = [head, markdown_table(render_comparison(comparison, settings))]
    for side in ("base", "current"):
        missing = comparison.attrs.get(f"unmatched_{side}") or []
        if missing:
            parts.append(f"\nOnly in {side.upper()}: "
                         + ", ".join("/".join(k) for k in missing) + "\n")
    return "\n".join(parts)
