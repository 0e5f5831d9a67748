"""Latency statistics from raw samples: percentiles, a bootstrap CI of the median, noise.

The CI of one process's median comes from ``scipy.stats.bootstrap`` (percentile
method, seeded, so the same samples always give the same interval), computed in
batches so that its memory does not grow with resamples × samples (a 12 µs model
yields ~75,000 samples: an unbatched 2000 × n index matrix is gigabytes).

That CI only describes *one process*: back-to-back samples share the process's
frequency, cache and memory placement. What varies between runs of identical code is
a shift of the whole process, so when a row summarises K independent repeats its CI
comes from the repeat medians instead (``repeat_ci``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

# A row is flagged noisy when either holds; both are visible in the report.
NOISY_CV = 0.10  # coefficient of variation (std / mean): of samples, or of repeats' figures
NOISY_CI_WIDTH = 0.05  # width of the median's 95% CI relative to the median

# At most this many resampled values live at once in the bootstrap (batch × n):
# 1,000,000 float64 values is 8 MB, so the bootstrap's peak stays in the tens of MB
# whatever the number of samples (tests/bench/statistics/test_stats.py holds it to that).
BOOTSTRAP_ELEMENTS = 1_000_000


@dataclass(frozen=True)
class LatencyStats:
    n: int
    min: float
    p50: float
    mean: float
    p90: float
    p99: float
    max: float
    std: float
    p50_ci_low: float
    p50_ci_high: float

    @property
    def cv(self) -> float:
        return self.std / self.mean if self.mean > 0 else float("nan")

    @property
    def ci_relative_width(self) -> float:
        return (self.p50_ci_high - self.p50_ci_low) / self.p50 if self.p50 > 0 else float("nan")

    @property
    def noisy(self) -> bool:
        return bool(self.cv > NOISY_CV or self.ci_relative_width > NOISY_CI_WIDTH)


def median_ci(samples: np.ndarray, confidence: float = 0.95, resamples: int = 2000,
              seed: int = 0) -> tuple[float, float]:
    """Bootstrap confidence interval of the median (percentile method), in bounded memory.

    All ``resamples`` are drawn (no subsampling), ``batch`` of them at a time so that
    at most ``BOOTSTRAP_ELEMENTS`` resampled values exist at once.
    """
    samples = np.asarray(samples, dtype=np.float64)
    if len(samples) < 2 or np.all(samples == samples[0]):
        value = float(np.median(samples))
        return value, value
    batch = max(1, min(resamples, BOOTSTRAP_ELEMENTS // len(samples)))
    result = stats.bootstrap((samples,), np.median, confidence_level=confidence,
                             n_resamples=resamples, method="percentile", batch=batch,
                             random_state=np.random.default_rng(seed), vectorized=True)
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def repeat_ci(repeat_medians: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """CI of the typical repeat median, from K ≥ 2 independent repeats.

    A t-interval on the logarithms of the repeat medians, returned as latencies (a
    geometric-mean interval). Why not a bootstrap: with the K = 3–10 repeats a lab can
    afford, a percentile bootstrap cannot be wider than the range of the repeats and
    under-covers badly; the t-interval widens with few repeats as it should. Why logs:
    run-level effects (frequency, placement) scale latency, so they are additive on logs.
    """
    values = np.asarray(repeat_medians, dtype=np.float64)
    values = values[np.isfinite(values) & (values > 0)]
    if values.size < 2:
        raise ValueError(f"repeat_ci needs at least 2 positive repeat medians, got {values.size}")
    logs = np.log(values)
    centre = float(logs.mean())
    spread = float(logs.std(ddof=1))
    if spread == 0.0:
        return float(np.exp(centre)), float(np.exp(centre))
    half = float(stats.t.ppf(0.5 + confidence / 2, values.size - 1)) * spread / np.sqrt(
        values.size)
    return float(np.exp(centre - half)), float(np.exp(centre + half))


def latency_stats(samples_ms: np.ndarray | list[float] | tuple[float, ...]) -> LatencyStats:
    """Summary of timed samples in milliseconds.

    >>> s = latency_stats([1.0, 2.0, 3.0, 4.0, 5.0])
    >>> (s.min, s.p50, s.max, s.n)
    (1.0, 3.0, 5.0, 5)
    """
    samples = np.asarray(samples_ms, dtype=np.float64)
    if samples.size == 0:
        raise ValueError("no samples to summarise")
    p50, p90, p99 = np.percentile(samples, [50, 90, 99])
    low, high = median_ci(samples)
    return LatencyStats(
        n=int(samples.size), min=float(samples.min()), p50=float(p50),
        mean=float(samples.mean()), p90=float(p90), p99=float(p99), max=float(samples.max()),
        std=float(samples.std(ddof=1)) if samples.size > 1 else 0.0,
        p50_ci_low=low, p50_ci_high=high,
    )


def noisy_cv(std: float | None, mean: float | None) -> bool:
    """Whether a spread is noisy: std / mean above ``NOISY_CV`` (the one threshold for a
    process's samples, a tool's reported figures and a row's repeats)."""
    if std is None or mean is None or is_missing(std) or is_missing(mean) or mean == 0:
        return False
    return float(std) / float(mean) > NOISY_CV


def repeat_figure(p50: object, mean: object) -> float | None:
    """What one repeat contributes to a row and the gate: its median, or -- for a tool
    that prints only aggregates (benchmark_model builds without a median) -- its mean."""
    for value in (p50, mean):
        if not is_missing(value):
            return float(value)  # type: ignore[arg-type]
    return None


def is_missing(value: object) -> bool:
    """None, NaN or pandas' NA: a figure that was not measured."""
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN and pandas NA
    except TypeError:
        return True
