"""One results row from K repeats of a job (each repeat its own child process).

Why repeats: what differs between two runs of identical code -- CPU frequency, cache and
memory placement, other tenants on a shared runner -- is a shift of the whole run that
samples inside one process cannot see. Each repeat is one independent unit: its median
(or, for a tool that prints only aggregates, its reported figure) is what the gate and
the row's CI are computed from when K > 1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from qatbench.bench.statistics.stats import (
    is_missing,
    latency_stats,
    noisy_cv,
    repeat_ci,
    repeat_figure,
)
from qatbench.bench.storage.schema import REPEAT_FIGURES

REPEATED_STATUSES = frozenset({"ok", "failed"})  # the others would only say the same again


def repeat_line(row: Mapping[str, Any]) -> dict[str, Any]:
    """The line ``repeats.parquet`` keeps for one repeat: its status and every figure of
    its own (latency, start-up, memory), so a row is summarised from its repeats' own
    lines, never from an earlier summary."""
    line = {"started_at": row.get("started_at"), "status": row.get("status"),
            "error": row.get("error")}
    line.update({column: row.get(column) for column in REPEAT_FIGURES})
    line["latency_ms_p50"] = repeat_figure(row.get("latency_ms_p50"),
                                           row.get("latency_ms_mean"))
    return line


def latency_columns(samples: np.ndarray) -> dict[str, Any]:
    s = latency_stats(samples)
    return {"latency_ms_min": s.min, "latency_ms_p50": s.p50, "latency_ms_mean": s.mean,
            "latency_ms_p90": s.p90, "latency_ms_p99": s.p99, "latency_ms_max": s.max,
            "latency_ms_std": s.std, "latency_ms_p50_ci_low": s.p50_ci_low,
            "latency_ms_p50_ci_high": s.p50_ci_high, "n_samples": s.n, "noisy": s.noisy}


def _median(values: Sequence[Any]) -> float | None:
    numbers = [float(v) for v in values if not is_missing(v)]
    return float(np.median(numbers)) if numbers else None


def summarise(rows: Sequence[Mapping[str, Any]], samples: Mapping[int, np.ndarray]
              ) -> dict[str, Any]:
    """The job's row from its repeats' rows (in repeat order) and their samples.

    Identity, accuracy and placement come from the first repeat (the one that
    evaluated); status is ``ok`` only if every repeat was; latency pools the samples of
    the ok repeats, and with two or more of them the p50's CI is the one across repeats.
    """
    first = dict(rows[0])
    if len(rows) == 1:
        return {**first, "repeats": 1}
    row = dict(first)
    row["repeats"] = len(rows)
    bad = [(i, r) for i, r in enumerate(rows) if r.get("status") != "ok"]
    if bad:
        index, worst = bad[0]
        row["status"] = worst.get("status")
        row["error"] = (f"repeat {index + 1} of {len(rows)}: {worst.get('error') or ''}"
                        + (f" ({len(bad)} of {len(rows)} repeats not ok)" if len(bad) > 1
                           else ""))
    ok = [i for i, r in enumerate(rows) if r.get("status") == "ok"]
    pooled = [samples[i] for i in ok if i in samples and len(samples[i])]
    units = [u for u in (repeat_figure(rows[i].get("latency_ms_p50"),
                                       rows[i].get("latency_ms_mean")) for i in ok)
             if u is not None]
    if pooled:
        row.update(latency_columns(np.concatenate(pooled)))
        units = [float(np.median(samples[i])) for i in ok if i in samples and len(samples[i])]
    elif ok:  # aggregate-only tools: each repeat's reported figure is one unit
        chosen = [rows[i] for i in ok]
        row["latency_ms_p50"] = _median([r.get("latency_ms_p50") for r in chosen])
        row["latency_ms_mean"] = _median([r.get("latency_ms_mean") for r in chosen])
        row["latency_ms_min"] = min((float(r["latency_ms_min"]) for r in chosen
                                     if not is_missing(r.get("latency_ms_min"))), default=None)
        row["latency_ms_max"] = max((float(r["latency_ms_max"]) for r in chosen
                                     if not is_missing(r.get("latency_ms_max"))), default=None)
        counts = [int(r["n_samples"]) for r in chosen if not is_missing(r.get("n_samples"))]
        row["n_samples"] = sum(counts) if counts else None
    if len(units) >= 2:
        low, high = repeat_ci(np.asarray(units))
        row["latency_ms_p50_ci_low"], row["latency_ms_p50_ci_high"] = low, high
        row["noisy"] = bool(row.get("noisy")) or noisy_cv(float(np.std(units, ddof=1)),
                                                           float(np.mean(units)))
    for column in ("init_ms", "first_inference_ms"):
        row[column] = _median([r.get(column) for r in rows])
    memory = [float(r["peak_memory_mb"]) for r in rows if not is_missing(r.get("peak_memory_mb"))]
    row["peak_memory_mb"] = max(memory) if memory else None
    return row
