"""The results table: the contract every part writes to (see DESIGN.md).

One row per (model, variant, target, device, threads). ``size_ratio_vs_float`` is the
shrink factor (float size / this size: 4.0 means four times smaller) and
``speedup_vs_float`` is float p50 / this p50, both against the float32 row of the
same model, target, device and threads.
"""

from __future__ import annotations

import pandas as pd

KEY_COLUMNS = ["model", "variant", "target", "device", "threads"]

RESULT_COLUMNS: dict[str, str] = {
    "run_id": "string",
    "started_at": "string",
    "git_commit": "string",
    "host": "string",
    "model": "string",
    "variant": "string",
    "target": "string",
    "device": "string",
    "threads": "Int64",
    "status": "string",
    "error": "string",
    "size_bytes": "Int64",
    "size_ratio_vs_float": "Float64",
    "latency_ms_min": "Float64",
    "latency_ms_p50": "Float64",
    "latency_ms_mean": "Float64",
    "latency_ms_p90": "Float64",
    "latency_ms_p99": "Float64",
    "latency_ms_max": "Float64",
    "latency_ms_std": "Float64",
    "latency_ms_p50_ci_low": "Float64",
    "latency_ms_p50_ci_high": "Float64",
    "n_samples": "Int64",
    "init_ms": "Float64",
    "first_inference_ms": "Float64",
    "peak_memory_mb": "Float64",
    "speedup_vs_float": "Float64",
    "speedup_basis": "string",  # which statistic the speedup compares: p50, or mean
    "accuracy_top1": "Float64",
    "accuracy_source": "string",  # where top-1 was measured
    "eval_samples": "Int64",
    "ops_total": "Int64",
    "ops_on_accelerator": "Int64",
    "noisy": "boolean",
    "delegate": "string",
    "runtime": "string",
    "cpu_model": "string",
    "cpu_count": "Int64",
    "weights": "string",
    "note": "string",
    "extra": "string",  # free-form JSON: placement tables, device properties, ...
}

SAMPLE_COLUMNS: dict[str, str] = {
    "run_id": "string",
    "model": "string",
    "variant": "string",
    "target": "string",
    "device": "string",
    "threads": "Int64",
    "sample_index": "Int64",
    "latency_ms": "float64",
}

# Jobs with these statuses are finished: ``--resume`` does not repeat them.
FINISHED_STATUSES = frozenset({"ok", "compiled", "failed", "skipped", "unavailable"})


def empty_results() -> pd.DataFrame:
    return conform(pd.DataFrame(columns=list(RESULT_COLUMNS)), RESULT_COLUMNS)


def conform(frame: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    """Every documented column present, in order, with its dtype (missing -> NA)."""
    out = frame.copy()
    for column in columns:
        if column not in out.columns:
            out[column] = pd.NA
    extra_columns = [c for c in out.columns if c not in columns]
    out = out[[*columns, *extra_columns]]
    return out.astype({c: t for c, t in columns.items()})
