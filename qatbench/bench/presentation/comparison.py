"""The gate's verdicts as a person reads them: the terminal table and ``compare.md``.

The frame comes from ``statistics.compare.compare_runs``; nothing here decides, it only
formats (so the printed table and the exit code come from the same checks).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from qatbench.bench.presentation.tables import markdown_table
from qatbench.bench.statistics.compare import GateSettings, regressed

# The order a reader scans: what failed first, then what could not be decided.
VERDICT_ORDER = ["missing", "broken", "slower", "unknown", "new", "faster", "same"]


def _percent(value: Any) -> str:
    return "" if value is None or pd.isna(value) else f"{float(value):+.1%}"


def render_comparison(comparison: pd.DataFrame, settings: GateSettings) -> pd.DataFrame:
    """The table: figures formatted, the interval in one cell, failing rows first."""
    shown = comparison.copy()
    shown["_order"] = shown["verdict"].map({v: i for i, v in enumerate(VERDICT_ORDER)})
    shown = shown.sort_values("_order", kind="stable").drop(columns="_order")
    for column in shown.columns:
        if column.endswith("_ms"):
            shown[column] = shown[column].map(lambda v: "" if pd.isna(v) else f"{v:.3f}")
    shown["change"] = shown["change"].map(_percent)
    shown["interval"] = [
        "" if pd.isna(low) else f"{_percent(low)} … {_percent(high)}"
        for low, high in zip(shown["ci_low"], shown["ci_high"], strict=True)]
    shown["K"] = [
        "" if pd.isna(b) and pd.isna(c) else
        f"{'' if pd.isna(b) else int(b)}/{'' if pd.isna(c) else int(c)}"
        for b, c in zip(shown["base_repeats"], shown["current_repeats"], strict=True)]
    metric = settings.metric
    shown = shown.rename(columns={"model_build": "build"})
    columns = ["model", "variant", "target", "device", "threads", f"base_{metric}_ms",
               f"current_{metric}_ms", "change", "interval", "K", "verdict", "gate",
               "build", "reason", "error"]
    shown = shown[columns]
    if shown["device"].nunique() <= 1:
        shown = shown.drop(columns="device")
    for column in ("interval", "K", "build", "error"):
        if (shown[column] == "").all():
            shown = shown.drop(columns=column)
    return shown


def comparison_markdown(comparison: pd.DataFrame, settings: GateSettings, base: str,
                        current: str) -> str:
    """``compare.md``: the verdict, how it was reached, warnings, then every series."""
    counts = comparison["verdict"].value_counts().to_dict()
    failed = regressed(comparison)
    allowed = [flag for flag, on in (("--allow-missing", settings.allow_missing),
                                     ("--allow-broken", settings.allow_broken),
                                     ("--allow-host-change", settings.allow_host_change),
                                     ("--fail-on-unknown", settings.fail_on_unknown)) if on]
    head = [
        "# qatbench compare", "",
        f"BASE `{base}` → CURRENT `{current}`; {settings.metric} latency, threshold "
        f"{settings.threshold:.1%}, repeat-level interval at {1 - settings.alpha:.1%}, top-1 "
        f"gate {settings.accuracy_drop_points} points"
        + (f"; {', '.join(allowed)}" if allowed else "") + ".",
        f"Noise floor: {comparison.attrs.get('noise_floor', settings.noise.describe())}.", "",
        f"**{'REGRESSION' if failed else 'no regression'}** — "
        + ", ".join(f"{v}: {counts[v]}" for v in VERDICT_ORDER if v in counts), "",
    ]
    builds = comparison["model_build"].fillna("").value_counts().to_dict() \
        if "model_build" in comparison else {}
    if builds.get("same model") or builds.get("changed model"):
        head += [f"Models: {builds.get('same model', 0)} series time the same model bytes "
                 "(the same build key: a change there is the host's or the runtime's), "
                 f"{builds.get('changed model', 0)} a changed model (a new build)"
                 + (f", {builds['']} without a build key" if builds.get("") else "") + ".",
                 ""]
    warnings = list(comparison.attrs.get("notes", []))
    if warnings:
        head += ["Warnings:", "", *(f"- {w}" for w in warnings), ""]
    failing = comparison[comparison["gate"].fillna("") != ""]
    if len(failing):
        head += ["Failing:", ""]
        head += [f"- `{r['model']}/{r['variant']}` on {r['target']} x{r['threads']}: "
                 f"{r['gate']}" + (f" ({r['model_build']})" if r.get("model_build") else "")
                 for _, r in failing.iterrows()]
        head.append("")
    return "\n".join(head) + "\n" + markdown_table(render_comparison(comparison, settings))
