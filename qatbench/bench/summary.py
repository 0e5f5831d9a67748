"""The table a user reads first: per model and target, float -> int8 size, latency, top-1.

Derived from the results table only; every figure in it was measured in the run.
"""

from __future__ import annotations

import pandas as pd

from qatbench.bench.relative import GROUP, with_shared_device


def _kb(size: object) -> str:
    return "" if pd.isna(size) else f"{float(size) / 1024:,.0f} KB"


def _ms(value: object) -> str:
    """Milliseconds with three significant digits: 0.00123 and 123 both read well."""
    return "" if pd.isna(value) else f"{float(value):.3g}"


def _ratio(value: object) -> str:
    return "" if pd.isna(value) else f"{float(value):.2f}x"


def _pct(value: object) -> str:
    return "–" if pd.isna(value) else f"{100 * float(value):.1f}%"


def _arrow(before: str, after: str, ratio: str) -> str:
    if not before and not after:
        return ""
    return f"{before or '?'}→{after or '?'}" + (f" {ratio}" if ratio else "")


def summary_frame(results: pd.DataFrame) -> pd.DataFrame:
    """One line per model x target x device x threads: float -> PTQ and float -> QAT.

    Sizes in KB and p50 in ms, each ``float→int8 ratio`` (shrink, speedup).
    """
    rows = []
    results = with_shared_device(results)
    for key, group in results.groupby(GROUP, dropna=False, sort=False):
        by_variant = {str(v): r for v, r in zip(group["variant"], group.to_dict("records"),
                                                strict=True)}
        base = by_variant.get("float32", {})
        line = dict(zip(GROUP, key, strict=True))
        for label, variant in (("PTQ", "ptq_int8"), ("QAT", "qat_int8")):
            row = by_variant.get(variant, {})
            line[f"size {label}"] = _arrow(
                _kb(base.get("size_bytes")), _kb(row.get("size_bytes")),
                _ratio(row.get("size_ratio_vs_float")))
            basis = row.get("speedup_basis")
            stat = "latency_ms_p50" if basis != "mean" else "latency_ms_mean"
            line[f"p50 ms {label}"] = _arrow(
                _ms(base.get(stat)), _ms(row.get(stat)),
                _ratio(row.get("speedup_vs_float")) + (" (mean)" if basis == "mean" else ""))
        line["top-1 f/PTQ/QAT"] = " / ".join(
            _pct(by_variant.get(v, {}).get("accuracy_top1"))
            for v in ("float32", "ptq_int8", "qat_int8"))
        statuses = sorted({str(s) for s in group["status"]} - {"ok"})
        line["status"] = "ok" if not statuses else ", ".join(statuses)
        rows.append(line)
    frame = pd.DataFrame(rows).rename(columns={"threads": "thr"})
    if not frame.empty and frame["device"].astype(str).nunique() <= 1:
        frame = frame.drop(columns="device")  # one device: said once, in the environment
    return frame


def problems_frame(results: pd.DataFrame) -> pd.DataFrame:
    """Rows that are not ``ok``, with what went wrong (first line of the error)."""
    bad = results[results["status"] != "ok"]
    return pd.DataFrame({
        "model": bad["model"], "variant": bad["variant"], "target": bad["target"],
        "threads": bad["threads"], "status": bad["status"],
        "reason": bad["error"].fillna("").where(bad["error"].fillna("") != "", bad["note"])
        .fillna("").astype(str).str.split("\n").str[0].str.slice(0, 300),
    })
