"""Speedups compare latencies of one fingerprint only; shrink factors need none."""

from __future__ import annotations

import pandas as pd

from qatbench.bench.storage.relative import add_relative_columns
from qatbench.bench.storage.schema import RESULT_COLUMNS, conform


def frame(rows: list[dict]) -> pd.DataFrame:
    base = {"model": "m", "target": "cpu-xnnpack", "device": "host", "threads": 1,
            "status": "ok"}
    return conform(pd.DataFrame([{**base, **r} for r in rows]), RESULT_COLUMNS)


def test_no_speedup_across_two_machines() -> None:
    results = add_relative_columns(frame([
        {"variant": "float32", "fingerprint": "A", "latency_ms_p50": 4.0, "size_bytes": 400},
        {"variant": "qat_int8", "fingerprint": "B", "latency_ms_p50": 1.0, "size_bytes": 100},
    ]))
    int8 = results[results["variant"] == "qat_int8"].iloc[0]
    assert pd.isna(int8["speedup_vs_float"])
    assert int8["size_ratio_vs_float"] == 4.0


def test_each_machine_gets_its_own_speedup() -> None:
    results = add_relative_columns(frame([
        {"variant": "float32", "fingerprint": "A", "latency_ms_p50": 4.0, "size_bytes": 400},
        {"variant": "qat_int8", "fingerprint": "A", "latency_ms_p50": 1.0, "size_bytes": 100},
        {"variant": "float32", "fingerprint": "B", "latency_ms_p50": 9.0, "size_bytes": 400},
        {"variant": "qat_int8", "fingerprint": "B", "latency_ms_p50": 3.0, "size_bytes": 100},
    ]))
    speedups = results.set_index(["variant", "fingerprint"])["speedup_vs_float"]
    assert speedups[("qat_int8", "A")] == 4.0
    assert speedups[("qat_int8", "B")] == 3.0
