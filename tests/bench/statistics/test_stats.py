"""Latency statistics on known samples: exact percentiles, an honest CI, noise flags."""

from __future__ import annotations

import numpy as np
import pytest

from qatbench.bench.statistics.stats import latency_stats, median_ci, repeat_ci


def test_percentiles_on_known_samples() -> None:
    samples = np.arange(1, 101, dtype=float)  # 1..100 ms
    s = latency_stats(samples)
    assert (s.n, s.min, s.max) == (100, 1.0, 100.0)
    assert s.p50 == pytest.approx(50.5)
    assert s.mean == pytest.approx(50.5)
    assert s.p90 == pytest.approx(90.1)
    assert s.p99 == pytest.approx(99.01)
    assert s.std == pytest.approx(np.std(samples, ddof=1))
    assert s.p50_ci_low <= s.p50 <= s.p50_ci_high


def test_median_ci_covers_the_true_median_about_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(7)
    true_median = np.exp(0.0)  # lognormal(0, 0.25) has median 1
    trials, covered = 200, 0
    for _ in range(trials):
        samples = rng.lognormal(0.0, 0.25, size=60)
        low, high = median_ci(samples, resamples=500)
        covered += low <= true_median <= high
    assert 0.88 <= covered / trials <= 0.99


def test_constant_samples_have_a_zero_width_ci() -> None:
    s = latency_stats([2.0] * 10)
    assert (s.p50_ci_low, s.p50_ci_high) == (2.0, 2.0)
    assert not s.noisy


def test_noisy_samples_are_flagged() -> None:
    rng = np.random.default_rng(0)
    quiet = latency_stats(10 + rng.normal(0, 0.05, 200))
    noisy = latency_stats(10 + rng.exponential(5, 200))
    assert not quiet.noisy
    assert noisy.noisy


def test_no_samples_is_an_error() -> None:
    with pytest.raises(ValueError):
        latency_stats([])


MEMORY_BOUND_MB = 64  # stated in stats.BOOTSTRAP_ELEMENTS: batches of ≤ 1e6 values


def test_the_bootstrap_of_100000_samples_stays_under_the_memory_bound() -> None:
    import tracemalloc

    samples = np.random.default_rng(1).lognormal(np.log(0.012), 0.1, 100_000)
    tracemalloc.start()
    try:
        low, high = median_ci(samples)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # unbatched, the 2000 x 100,000 index matrix alone would be 1,600 MB
    assert peak < MEMORY_BOUND_MB * 1e6
    assert low < np.median(samples) < high
    assert (high - low) / np.median(samples) < 0.01


def test_the_batched_bootstrap_gives_the_unbatched_answer() -> None:
    from scipy import stats

    samples = np.random.default_rng(2).lognormal(0.0, 0.2, 3000)
    reference = stats.bootstrap((samples,), np.median, n_resamples=2000, method="percentile",
                                random_state=np.random.default_rng(0), vectorized=True)
    low, high = median_ci(samples)
    ci = reference.confidence_interval
    width = ci.high - ci.low
    assert low == pytest.approx(ci.low, abs=0.15 * width)
    assert high == pytest.approx(ci.high, abs=0.15 * width)


def test_repeat_ci_is_a_t_interval_on_log_repeat_medians() -> None:
    medians = np.array([3.0, 3.1, 2.9, 3.05, 2.95])
    low, high = repeat_ci(medians)
    centre = np.exp(np.log(medians).mean())
    assert low < centre < high
    assert low == pytest.approx(centre / (high / centre))  # symmetric on logs
    assert high / low < 1.1
    # few repeats widen it, as they should
    assert np.divide(*repeat_ci(medians[:2])[::-1]) > high / low
    with pytest.raises(ValueError):
        repeat_ci(np.array([3.0]))
