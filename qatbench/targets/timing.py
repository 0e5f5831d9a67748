"""The timing loop shared by every in-process target: benchmark_model's rules, every sample kept.

Only the call itself is timed (``time.perf_counter_ns``, monotonic); inputs are set
before the loop so that copying them never lands inside a sample.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from qatbench.targets.base import MeasureSpec

_NS_PER_MS = 1e6


def usable_cores() -> int:
    """The cores this process may run on, which is what a thread count competes for.

    ``os.cpu_count()`` counts the machine's; a lab job pinned with ``taskset`` or a
    container's cpuset gets fewer, and more threads than those is oversubscription
    however many the machine has."""
    try:
        return len(os.sched_getaffinity(0)) or (os.cpu_count() or 1)
    except AttributeError:  # macOS has no affinity call
        return os.cpu_count() or 1


@dataclass(frozen=True)
class TimedRuns:
    """Warm-up and timed samples in milliseconds; the first warm-up is the first inference."""

    warmup_ms: tuple[float, ...]
    samples_ms: tuple[float, ...]
    hit_max_duration: bool

    @property
    def first_inference_ms(self) -> float | None:
        if self.warmup_ms:
            return self.warmup_ms[0]
        return self.samples_ms[0] if self.samples_ms else None


def _run_phase(invoke: Callable[[], object], min_runs: int, min_s: float, max_s: float
               ) -> tuple[list[float], bool]:
    clock = time.perf_counter_ns
    samples: list[float] = []
    min_ns, max_ns = min_s * 1e9, max_s * 1e9
    phase_start = clock()
    elapsed = 0
    while len(samples) < min_runs or elapsed < min_ns:
        if elapsed >= max_ns:
            return samples, True
        start = clock()
        invoke()
        end = clock()
        samples.append((end - start) / _NS_PER_MS)
        elapsed = end - phase_start
    return samples, False


def time_invocations(invoke: Callable[[], object], spec: MeasureSpec) -> TimedRuns:
    """Warm up, then time ``invoke`` until the count and the duration are both met.

    >>> runs = time_invocations(lambda: None, MeasureSpec(min_runs=5, min_s=0, warmup_min_s=0))
    >>> len(runs.samples_ms)
    5
    """
    # at least one warm-up run even with warmup_runs=0: the first inference (a delegate's
    # lazy set-up, a USB transfer of the weights) is reported apart, never a sample
    warmup, warmup_capped = _run_phase(invoke, max(1, spec.warmup_runs), spec.warmup_min_s,
                                       spec.max_s)
    samples, capped = _run_phase(invoke, spec.min_runs, spec.min_s, spec.max_s)
    if not samples:  # the cap was hit before a single timed run: time one anyway
        samples, _ = _run_phase(invoke, 1, 0.0, float("inf"))
    return TimedRuns(tuple(warmup), tuple(samples), warmup_capped or capped)
