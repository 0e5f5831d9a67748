"""The columns that compare a row with its float32 sibling: shrink factor and speedup.

Derived, never stored by hand: recomputed from the table whenever it changes, so a
resumed or merged run can never carry a stale ratio.
"""

from __future__ import annotations

import pandas as pd

GROUP = ["model", "target", "device", "threads"]


def _float_reference(frame: pd.DataFrame) -> pd.DataFrame:
    reference = frame[frame["variant"] == "float32"]
    return reference[[*GROUP, "size_bytes", "latency_ms_p50", "latency_ms_mean", "status"]]


def add_relative_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Fill ``size_ratio_vs_float``, ``speedup_vs_float`` and ``speedup_basis``."""
    if frame.empty:
        return frame
    out = frame.copy()
    reference = _float_reference(out).drop_duplicates(GROUP, keep="last")
    merged = out[GROUP].merge(reference, on=GROUP, how="left", suffixes=("", "_float"))
    float_size = merged["size_bytes"].astype("Float64").to_numpy()
    size = out["size_bytes"].astype("Float64").to_numpy()
    out["size_ratio_vs_float"] = pd.array(float_size / size, dtype="Float64")

    float_ok = (merged["status"] == "ok").to_numpy()
    this_ok = (out["status"] == "ok").to_numpy()
    f50, t50 = merged["latency_ms_p50"].to_numpy(), out["latency_ms_p50"].to_numpy()
    fmean, tmean = merged["latency_ms_mean"].to_numpy(), out["latency_ms_mean"].to_numpy()
    speedups, bases = [], []
    for i in range(len(out)):
        if not (float_ok[i] and this_ok[i]):
            speedups.append(pd.NA)
            bases.append(pd.NA)
        elif pd.notna(f50[i]) and pd.notna(t50[i]):
            speedups.append(float(f50[i]) / float(t50[i]))
            bases.append("p50")
        elif pd.notna(fmean[i]) and pd.notna(tmean[i]):
            speedups.append(float(fmean[i]) / float(tmean[i]))
            bases.append("mean")
        else:
            speedups.append(pd.NA)
            bases.append(pd.NA)
    out["speedup_vs_float"] = pd.array(speedups, dtype="Float64")
    out["speedup_basis"] = pd.array(bases, dtype="string")
    return out
