"""Write run directories with known samples through the real RunStore, for the gate,
report, plot and history tests (no model needs to run to know the right verdict)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from qatbench.bench.stats import latency_stats
from qatbench.bench.store import RunStore


def write_run(root: Path, run_id: str, rows: list[dict], started_at: str = "") -> Path:
    """``rows``: dicts with model, variant, target, samples (ms array) and any columns."""
    store = RunStore.create(root, run_id)
    store.write_json("config.json", {})
    for spec in rows:
        spec = dict(spec)
        samples = np.asarray(spec.pop("samples", []), dtype=float)
        row = {"run_id": run_id, "started_at": started_at or run_id, "device": "host",
               "threads": 1, "status": "ok", "git_commit": "abc", "host": "lab", **spec}
        if samples.size:
            s = latency_stats(samples)
            row.update({"latency_ms_min": s.min, "latency_ms_p50": s.p50,
                        "latency_ms_mean": s.mean, "latency_ms_p90": s.p90,
                        "latency_ms_p99": s.p99, "latency_ms_max": s.max,
                        "latency_ms_std": s.std, "latency_ms_p50_ci_low": s.p50_ci_low,
                        "latency_ms_p50_ci_high": s.p50_ci_high, "n_samples": s.n,
                        "noisy": s.noisy})
        store.add(row, tuple(samples))
    store.close()
    return store.run_dir


def lognormal(median_ms: float, sigma: float, n: int, seed: int) -> np.ndarray:
    return median_ms * np.random.default_rng(seed).lognormal(0.0, sigma, n)


def matrix(scale: float, seed: int, sigma: float = 0.02, n: int = 200,
           size_scale: float = 1.0, qat_top1: float = 0.97) -> list[dict]:
    """mnist_cnn float32 / qat_int8 on cpu-xnnpack; int8 latency multiplied by ``scale``."""
    return [
        {"model": "mnist_cnn", "variant": "float32", "target": "cpu-xnnpack",
         "size_bytes": 480_000, "accuracy_top1": 0.965,
         "samples": lognormal(0.030, sigma, n, seed)},
        {"model": "mnist_cnn", "variant": "qat_int8", "target": "cpu-xnnpack",
         "size_bytes": int(126_000 * size_scale), "accuracy_top1": qat_top1,
         "samples": lognormal(0.012 * scale, sigma, n, seed + 1)},
    ]
