"""Every gate table as a person reads it: ``compare`` (``compare.md`` and the terminal)
and ``ab`` (``ab.md`` and the terminal).

Both frames come from ``statistics.checks.gate_frame``: the same rows (series, verdict,
change, interval, ``gate``), each command with its own columns beside them (figures and
K for ``compare``; pairs, seconds and instructions for ``ab``). Nothing here decides, it
only formats, so the printed table and the exit code come from the same checks.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from rich.table import Table

from qatbench.bench.presentation.tables import markdown_table, rich_table
from qatbench.bench.statistics.checks import gate_exit_code
from qatbench.bench.statistics.compare import GateSettings

# The order a reader scans: what failed first, then what could not be decided.
VERDICT_ORDER = ["missing", "broken", "slower", "unknown", "new", "faster", "same"]


def _percent(value: Any) -> str:
    return "" if value is None or pd.isna(value) else f"{float(value):+.1%}"


def _counts(frame: pd.DataFrame) -> str:
    counts = frame["verdict"].value_counts().to_dict()
    return ", ".join(f"{v}: {counts[v]}" for v in VERDICT_ORDER if v in counts)


def gate_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows every gate table shares, formatted: failing verdicts first, the change as
    a percentage and its interval in one cell (empty where nothing gave one)."""
    shown = frame.copy()
    shown["_order"] = shown["verdict"].map({v: i for i, v in enumerate(VERDICT_ORDER)})
    shown = shown.sort_values("_order", kind="stable").drop(columns="_order")
    shown["change"] = shown["change"].map(_percent)
    shown["interval"] = [
        "" if low is None or pd.isna(low) else f"{_percent(low)} … {_percent(high)}"
        for low, high in zip(shown["ci_low"], shown["ci_high"], strict=True)]
    return shown


# -- compare ---------------------------------------------------------------------------------

def render_comparison(comparison: pd.DataFrame, settings: GateSettings) -> pd.DataFrame:
    """``compare``'s table: figures formatted, K per side, columns nobody filled dropped."""
    shown = gate_table(comparison)
    for column in shown.columns:
        if column.endswith("_ms"):
            shown[column] = shown[column].map(lambda v: "" if pd.isna(v) else f"{v:.3f}")
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
    failed = gate_exit_code(comparison) != 0
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
        f"**{'REGRESSION' if failed else 'no regression'}** — {_counts(comparison)}", "",
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


# -- ab --------------------------------------------------------------------------------------

def render_ab(frame: pd.DataFrame) -> pd.DataFrame:
    """``ab``'s table: the shared rows with the pairs each verdict took, why it stopped,
    its seconds and CURRENT/BASE instructions per inference (an explanation, never the
    verdict)."""
    shown = gate_table(frame)
    shown["seconds"] = shown["seconds"].map(lambda s: f"{s:.0f}")
    shown["instructions"] = [
        f"{r - 1:+.1%}" if r is not None and not pd.isna(r) else "–"
        for r in shown.get("instructions_ratio", pd.Series([None] * len(shown)))]
    return shown[["series", "verdict", "change", "interval", "pairs", "stopped", "seconds",
                  "instructions", "reason"]]


def ab_table(frame: pd.DataFrame) -> Table:
    return rich_table(render_ab(frame), "A/B, interleaved on this host")


def _instructions_state(frame: pd.DataFrame) -> str:
    notes = {n for n in frame.get("instructions_note", pd.Series(dtype=str)) if n}
    counted = frame.get("instructions_ratio", pd.Series(dtype=float)).notna().any()
    return "" if counted or not notes else f"; here: {'; '.join(sorted(notes))}"


def ab_markdown(frame: pd.DataFrame, settings: Any, base: str, current: str) -> str:
    """``ab.md``: how the pairs were timed and decided, the counts, then every series."""
    head = [
        "# qatbench ab", "",
        f"BASE `{base}` → CURRENT `{current}` on {settings.target} x{settings.threads}; "
        f"pairs of fresh processes in a randomised ABBA order, starting at "
        f"{settings.pairs} and doubling while UNKNOWN up to {settings.max_pairs} (or "
        f"{settings.budget_s:g} s per series); the change is the geometric mean of the "
        f"pairs' CURRENT/BASE ratios with its 95% t-interval; SAME means the interval is "
        f"inside ±{settings.threshold:.1%}. The instructions column (CURRENT/BASE "
        "instructions retired per inference, `perf stat`) explains a verdict and never "
        "decides it" + _instructions_state(frame) + ".", "",
        _counts(frame), "",
    ]
    return "\n".join(head) + "\n" + markdown_table(render_ab(frame))
