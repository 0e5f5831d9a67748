"""The unit the gate decides on: one latency figure per independent repeat of a row.

Thousands of back-to-back samples from one process are *one* observation of that
process's conditions, not thousands; the repeat (a fresh child process) is the unit.
Where each figure comes from, in order:

1. ``repeats.parquet`` (``LoadedRuns.repeats``): each ok repeat's own median, or the
   tool's reported figure for aggregate-only tools such as ``benchmark_model`` (p50
   metric only: the file holds no tails);
2. ``samples.parquet``: the statistic of each repeat's samples;
3. the row's reported statistic (p50, else mean for tools without a median): one unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from qatbench.bench.storage.key import KEY_COLUMNS, RowKey

MIN_SAMPLES = 5  # a repeat with fewer samples has no usable median of its own

_Key = tuple[str, RowKey]


@dataclass(frozen=True)
class Units:
    values: np.ndarray  # ms, one per independent repeat, all finite and > 0
    source: str  # what the values are: "repeat medians", "samples", "reported p50", ...

    @property
    def k(self) -> int:
        return int(self.values.size)


def _key(run_id: Any, row: dict[str, Any]) -> _Key:
    return str(run_id), RowKey.of(row)


def _grouped(frame: pd.DataFrame, value: pd.Series, by_repeat: bool,
             how: str) -> dict[_Key, np.ndarray]:
    """{(run_id, key): one figure per repeat} from a frame with run and key columns."""
    if frame.empty:
        return {}
    columns = ["run_id", *KEY_COLUMNS]
    keys = frame[columns].astype("string").fillna("")
    repeat = frame["repeat"].astype("Int64") if by_repeat else pd.Series(0, index=frame.index)
    grouped = value.astype(float).groupby([*(keys[c] for c in columns), repeat], sort=True)
    if how == "p90":
        stat = grouped.quantile(0.9)
    elif how == "p50":
        stat = grouped.median()
    else:
        stat = grouped.first()
    counts = grouped.count()
    out: dict[_Key, list[float]] = {}
    for index, figure in stat.items():
        if how != "first" and counts[index] < MIN_SAMPLES:
            continue
        parts = dict(zip(columns, index[:-1], strict=True))
        out.setdefault(_key(parts["run_id"], parts), []).append(float(figure))
    return {k: np.asarray(v) for k, v in out.items()}


class UnitIndex:
    """Every row's units in one pass over a loaded run (no per-row scan of the samples)."""

    def __init__(self, loaded: Any, metric: str = "p50") -> None:
        self.metric = metric
        repeats = getattr(loaded, "repeats", None)
        self._repeats: dict[_Key, np.ndarray] = {}
        if metric == "p50" and isinstance(repeats, pd.DataFrame) and not repeats.empty:
            ok = repeats[repeats["status"].astype("string").fillna("") == "ok"]
            figure = ok["latency_ms_p50"].astype("Float64").fillna(
                ok["latency_ms_mean"].astype("Float64"))
            ok = ok[figure.notna().to_numpy(bool)]
            self._repeats = _grouped(ok, figure[figure.notna()].astype(float), True, "first")
        samples = loaded.samples
        self._samples = _grouped(samples, samples["latency_ms"], True, metric) \
            if len(samples) else {}

    def of(self, row: pd.Series | dict[str, Any]) -> Units:
        """The units of one results row (empty when it holds no latency at all)."""
        mapping = dict(row)
        key = _key(mapping.get("run_id"), mapping)
        for source, found in (("repeat medians", self._repeats.get(key)),
                              (f"repeat {self.metric}s of the samples", self._samples.get(key))):
            if found is not None:
                values = found[np.isfinite(found) & (found > 0)]
                if values.size:
                    return Units(values, source)
        for column, source in reported_columns(self.metric):
            value = mapping.get(column)
            if value is not None and not pd.isna(value) and float(value) > 0:
                return Units(np.asarray([float(value)]), source)
        return Units(np.asarray([], dtype=float), "no latency")


def reported_columns(metric: str) -> list[tuple[str, str]]:
    """The row columns that stand for the metric when nothing finer exists."""
    if metric == "p90":
        return [("latency_ms_p90", "reported p90")]
    return [("latency_ms_p50", "reported p50"),
            ("latency_ms_mean", "reported mean (no median from the tool)")]
