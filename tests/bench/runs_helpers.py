"""Write run directories with known samples through the real RunStore, for the gate,
report, plot and history tests (no model needs to run to know the right verdict)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from qatbench.bench.orchestration.repeats import latency_columns, repeat_line, summarise
from qatbench.bench.storage.fingerprint import fingerprint_of
from qatbench.bench.storage.store import RunStore


def _repeats_of(samples: Any) -> list[np.ndarray]:
    """``samples`` is one array (one repeat) or a list of arrays (one per repeat)."""
    if samples is None or (not isinstance(samples, np.ndarray) and len(samples) == 0):
        return []
    if isinstance(samples, list | tuple) and np.ndim(samples[0]) == 1:
        return [np.asarray(s, dtype=float) for s in samples]
    array = np.asarray(samples, dtype=float)
    return [array] if array.size else []


def write_run(root: Path, run_id: str, rows: list[dict], started_at: str = "",
              git_commit: str = "abc") -> Path:
    """``rows``: dicts with model, variant, target, samples and any results columns.

    ``samples`` is an array of ms (one repeat) or a list of arrays (K repeats, each its
    own child process). Each repeat's row, repeat line and the job's summarised row are
    made by the product's own functions (``orchestration/repeats.py``: ``latency_columns``,
    ``repeat_line``, ``summarise``) and stored repeat by repeat, as the runner does.
    """
    store = RunStore.create(root, run_id)
    store.write_json("config.json", {})
    for spec in rows:
        spec = dict(spec)
        repeats = _repeats_of(spec.pop("samples", []))
        row = {"run_id": run_id, "started_at": started_at or run_id, "device": "host",
               "threads": 1, "status": "ok", "git_commit": git_commit, "host": "lab",
               **spec}
        measured: list[dict[str, Any]] = []
        for index, samples in enumerate(repeats):
            one = {**row, **latency_columns(samples), "repeats": 1}
            measured.append(one)
            summary = summarise(measured, dict(enumerate(repeats[: index + 1])))
            store.add(summary, tuple(samples), repeat=index, repeat_line=repeat_line(one))
        if not repeats:
            store.add(row)
    store.close()
    return store.run_dir


def fingerprint(**parts: str) -> dict[str, str]:
    """The fingerprint columns of a row measured with these parts, made by the product
    (``storage.fingerprint.fingerprint_of``), so a test row carries the id a real run of
    this setup would: a copy of the hashing here would drift from the product's."""
    return {"fingerprint": fingerprint_of(parts),
            "fingerprint_parts": json.dumps(parts, sort_keys=True)}


def lognormal(median_ms: float, sigma: float, n: int, seed: int) -> np.ndarray:
    return median_ms * np.random.default_rng(seed).lognormal(0.0, sigma, n)


def repeated(median_ms: float, shifts: list[float], sigma: float = 0.02, n: int = 200,
             seed: int = 0) -> list[np.ndarray]:
    """K repeats whose samples are i.i.d. inside and whose medians differ by ``shifts``
    (relative: 0.03 = this repeat's process ran 3% slower): a run-level effect."""
    return [lognormal(median_ms * (1 + shift), sigma, n, seed + index)
            for index, shift in enumerate(shifts)]


def matrix(scale: float, seed: int, sigma: float = 0.02, n: int = 200,
           size_scale: float = 1.0, qat_top1: float = 0.97, float_ms: float = 0.030,
           int8_ms: float = 0.012) -> list[dict]:
    """mnist_cnn float32 / qat_int8 on cpu-xnnpack; int8 latency multiplied by ``scale``."""
    return [
        {"model": "mnist_cnn", "variant": "float32", "target": "cpu-xnnpack",
         "size_bytes": 480_000, "accuracy_top1": 0.965,
         "samples": lognormal(float_ms, sigma, n, seed)},
        {"model": "mnist_cnn", "variant": "qat_int8", "target": "cpu-xnnpack",
         "size_bytes": int(126_000 * size_scale), "accuracy_top1": qat_top1,
         "samples": lognormal(int8_ms * scale, sigma, n, seed + 1)},
    ]
