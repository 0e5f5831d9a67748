"""Latency statistics from raw samples: percentiles, a bootstrap CI of the median, noise.

The CI comes from ``scipy.stats.bootstrap`` (percentile method, seeded, so the same
samples always give the same interval).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

# A row is flagged noisy when either holds; both are visible in the report.
NOISY_CV = 0.10  # coefficient of variation (std / mean)
NOISY_CI_WIDTH = 0.05  # width of the median's 95% CI relative to the median


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
    """Bootstrap confidence interval of the median (percentile method)."""
    if len(samples) < 2 or np.all(samples == samples[0]):
        value = float(np.median(samples))
        return value, value
    result = stats.bootstrap((samples,), np.median, confidence_level=confidence,
                             n_resamples=resamples, method="percentile",
                             random_state=np.random.default_rng(seed), vectorized=True)
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


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
