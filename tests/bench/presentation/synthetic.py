"""Results tables with known figures for the report tests, built in memory.

Rows go through the real schema (``conform``) and the real float-vs-int8 ratios, so
the report sees what ``load_runs`` would give it, without a run directory or a model.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from qatbench.bench.statistics.stats import latency_stats
from qatbench.bench.storage.relative import add_relative_columns
from qatbench.bench.storage.schema import RESULT_COLUMNS, conform

HOST_PARTS = {"cpu_model": "Xeon 8375C", "cpu_count": "2", "machine": "x86_64",
              "runtime": "ai-edge-litert 1.2.0", "delegate": "xnnpack"}


def row(model: str, variant: str, target: str, median_ms: float, seed: int = 0,
        **columns: object) -> dict:
    """One measured row: statistics of 200 log-normal samples around ``median_ms``."""
    samples = median_ms * np.random.default_rng(seed).lognormal(0.0, 0.03, 200)
    s = latency_stats(samples)
    return {"run_id": "20260101T000000Z-aaaaaa", "started_at": "20260101T000000Z",
            "model": model, "variant": variant, "target": target, "device": "host",
            "threads": 1, "status": "ok",
            "size_bytes": 480_000 if variant == "float32" else 126_000,
            "latency_ms_min": s.min, "latency_ms_p50": s.p50, "latency_ms_mean": s.mean,
            "latency_ms_p90": s.p90, "latency_ms_p99": s.p99, "latency_ms_max": s.max,
            "latency_ms_std": s.std, "latency_ms_p50_ci_low": s.p50_ci_low,
            "latency_ms_p50_ci_high": s.p50_ci_high, "n_samples": s.n, "noisy": s.noisy,
            "init_ms": 12.5, "first_inference_ms": 1.25, "peak_memory_mb": 48.0,
            "delegate": "xnnpack (3 kernels)" if target == "cpu-xnnpack" else "none",
            "accuracy_top1": 0.965, "repeats": 1, **columns}


def fingerprinted(parts: dict[str, str] | None = None) -> dict[str, str]:
    """``fingerprint`` and ``fingerprint_parts`` columns for a setup made of ``parts``."""
    from qatbench.bench.storage.fingerprint import fingerprint_of

    parts = parts or HOST_PARTS
    return {"fingerprint": fingerprint_of(parts), "fingerprint_parts": json.dumps(parts)}


def results(rows: list[dict]) -> pd.DataFrame:
    return add_relative_columns(conform(pd.DataFrame(rows), RESULT_COLUMNS))


def cpu_matrix(seed: int = 0, **columns: object) -> list[dict]:
    """mnist_cnn and mobilenet_v2, float32 / ptq_int8 / qat_int8 on cpu-xnnpack and cpu-ref."""
    rows = []
    for model, base in (("mnist_cnn", 0.03), ("mobilenet_v2", 3.0)):
        for target, slower in (("cpu-xnnpack", 1.0), ("cpu-ref", 4.0)):
            for variant, factor in (("float32", 1.0), ("ptq_int8", 0.5), ("qat_int8", 0.45)):
                seed += 1
                rows.append(row(model, variant, target, base * slower * factor, seed,
                                **columns))
    return rows
