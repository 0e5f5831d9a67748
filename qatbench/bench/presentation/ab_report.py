"""The A/B verdicts as a person reads them: the terminal table and ``ab.md``."""

from __future__ import annotations

from typing import Any

import pandas as pd
from rich.table import Table

from qatbench.bench.presentation.tables import markdown_table

ORDER = ["slower", "unknown", "faster", "same"]


def _percent(value: Any) -> str:
    return "" if value is None or pd.isna(value) else f"{float(value):+.1%}"


def readable(frame: pd.DataFrame) -> pd.DataFrame:
    shown = frame.copy()
    shown["_order"] = shown["verdict"].map({v: i for i, v in enumerate(ORDER)})
    shown = shown.sort_values("_order", kind="stable")
    shown["change"] = shown["change"].map(_percent)
    shown["interval"] = [_percent(low) + " … " + _percent(high) if not pd.isna(low) else ""
                         for low, high in zip(shown["ci_low"], shown["ci_high"], strict=True)]
    shown["seconds"] = shown["seconds"].map(lambda s: f"{s:.0f}")
    shown["instructions"] = [
        f"{r - 1:+.1%}" if r is not None and not pd.isna(r) else "–"
        for r in shown.get("instructions_ratio", pd.Series([None] * len(shown)))]
    return shown[["series", "verdict", "change", "interval", "pairs", "stopped", "seconds",
                  "instructions", "reason"]]


def ab_table(frame: pd.DataFrame) -> Table:
    shown = readable(frame)
    table = Table(*shown.columns, title="A/B, interleaved on this host")
    for row in shown.itertuples(index=False):
        table.add_row(*(str(v) for v in row))
    return table


def _instructions_state(frame: pd.DataFrame) -> str:
    notes = {n for n in frame.get("instructions_note", pd.Series(dtype=str)) if n}
    counted = frame.get("instructions_ratio", pd.Series(dtype=float)).notna().any()
    return "" if counted or not notes else f"; here: {'; '.join(sorted(notes))}"


def ab_markdown(frame: pd.DataFrame, settings: Any, base: str, current: str) -> str:
    counts = frame["verdict"].value_counts().to_dict()
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
        ", ".join(f"{v}: {counts[v]}" for v in ORDER if v in counts), "",
    ]
    return "\n".join(head) + "\n" + markdown_table(readable(frame))
