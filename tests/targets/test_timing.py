"""The timing loop follows benchmark_model's rules: counts and durations both met, capped."""

from __future__ import annotations

import time

from qatbench.targets.base import MeasureSpec
from qatbench.targets.timing import time_invocations


def test_minimum_count_is_met_when_calls_are_fast() -> None:
    runs = time_invocations(lambda: None, MeasureSpec(warmup_runs=3, warmup_min_s=0,
                                                      min_runs=25, min_s=0))
    assert len(runs.warmup_ms) == 3
    assert len(runs.samples_ms) == 25
    assert runs.first_inference_ms == runs.warmup_ms[0]
    assert not runs.hit_max_duration


def test_minimum_duration_extends_the_run_past_the_count() -> None:
    runs = time_invocations(lambda: time.sleep(0.002),
                            MeasureSpec(warmup_runs=0, warmup_min_s=0, min_runs=2, min_s=0.1))
    assert len(runs.samples_ms) > 2
    assert sum(runs.samples_ms) >= 0.1 * 1000 * 0.9
    assert all(s >= 2.0 for s in runs.samples_ms)  # the sleep is inside each sample


def test_maximum_duration_caps_the_run() -> None:
    start = time.monotonic()
    runs = time_invocations(lambda: time.sleep(0.02),
                            MeasureSpec(warmup_runs=0, warmup_min_s=0, min_runs=1000,
                                        min_s=0, max_s=0.2))
    assert time.monotonic() - start < 2.0
    assert runs.hit_max_duration
    assert 1 <= len(runs.samples_ms) < 1000


def test_the_first_inference_is_never_a_sample_even_without_warm_up() -> None:
    calls: list[int] = []
    runs = time_invocations(lambda: calls.append(1),
                            MeasureSpec(warmup_runs=0, warmup_min_s=0, min_runs=3, min_s=0))
    assert len(calls) == 4 and len(runs.samples_ms) == 3
    assert runs.first_inference_ms == runs.warmup_ms[0]
