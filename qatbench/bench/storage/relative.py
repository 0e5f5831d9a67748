"""The columns that compare a row with its float32 sibling: shrink factor and speedup.

Derived, never stored by hand: recomputed from the table whenever it changes, so a
resumed or merged run can never carry a stale ratio. A speedup compares two latencies of
one fingerprint only (same host, runtime, device): a merged report of two machines never
divides one machine's float time by the other's int8 time. The shrink factor is a
property of the files and needs no fingerprint.
"""

from __future__ import annotations

import pandas as pd

GROUP = ["model", "target", "device", "threads"]


def with_shared_device(results: pd.DataFrame) -> pd.DataFrame:
    """Rows that never reached the device (skipped, unavailable) have no device name; they
    belong with the rows that did, for the same model, target and threads."""
    out = results.copy()
    named = out["device"].where(out["device"].fillna("") != "")
    out["device"] = named.groupby([out["model"], out["target"], out["threads"]],
                                  dropna=False).transform("first").fillna("")
    return out


def _float_reference(frame: pd.DataFrame) -> pd.DataFrame:
    reference = frame[frame["variant"] == "float32"]
    return reference[[*GROUP, "size_bytes", "latency_ms_p50", "latency_ms_mean", "status",
                      "fingerprint"]]


def add_relative_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Fill ``size_ratio_vs_float``, ``speedup_vs_float`` and ``speedup_basis``."""
    if frame.empty:
        return frame
    out = frame.copy()
    keyed = with_shared_device(out)  # matching only: the stored device stays as measured
    keyed["fingerprint"] = keyed["fingerprint"].fillna("")
    reference = _float_reference(keyed)
    by_group = reference.drop_duplicates(GROUP, keep="last")
    sizes = keyed[GROUP].merge(by_group, on=GROUP, how="left", suffixes=("", "_float"))
    float_size = sizes["size_bytes"].astype("Float64").to_numpy()
    size = out["size_bytes"].astype("Float64").to_numpy()
    out["size_ratio_vs_float"] = pd.array(float_size / size, dtype="Float64")

    timed = [*GROUP, "fingerprint"]
    merged = keyed[timed].merge(reference.drop_duplicates(timed, keep="last"), on=timed,
                                how="left", suffixes=("", "_float"))  # RangeIndex, row order
    both_ok = (merged["status"].eq("ok").fillna(False).to_numpy(bool)
               & out["status"].eq("ok").fillna(False).to_numpy(bool))
    p50 = _ratio(merged["latency_ms_p50"], out["latency_ms_p50"])
    mean = _ratio(merged["latency_ms_mean"], out["latency_ms_mean"])
    use_p50 = both_ok & p50.notna().to_numpy(bool)
    use_mean = both_ok & ~use_p50 & mean.notna().to_numpy(bool)
    speedups = p50.where(use_p50, mean.where(use_mean))
    bases = pd.Series(pd.NA, index=out.index, dtype="string")
    bases[use_p50] = "p50"
    bases[use_mean] = "mean"
    out["speedup_vs_float"] = pd.array(speedups.to_numpy(), dtype="Float64")
    out["speedup_basis"] = bases
    return out


def _ratio(reference: pd.Series, this: pd.Series) -> pd.Series:
    """reference / this as a nullable float Series aligned on ``this``'s index."""
    ref = pd.Series(reference.astype("Float64").to_numpy(), index=this.index)
    return ref / this.astype("Float64")
