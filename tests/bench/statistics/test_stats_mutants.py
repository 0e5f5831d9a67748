"""``noisy_cv`` and ``repeat_ci`` where `nox -s mutation` found nothing pinning them: the
noise flag's threshold and the figures it refuses to judge, and the repeat interval's
treatment of repeats that measured nothing (non-positive or NaN medians) and of repeats
that agree exactly. Expected intervals are computed here from scipy's t quantile."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from qatbench.bench.statistics.stats import NOISY_CV, noisy_cv, repeat_ci


def test_noisy_cv_flags_a_spread_above_the_threshold_only() -> None:
    assert NOISY_CV == 0.10
    assert noisy_cv(0.5, 1.0) is True  # cv 0.5
    assert noisy_cv(2.0, 10.0) is True  # cv 0.2
    assert noisy_cv(0.5, 10.0) is False  # cv 0.05 (std x mean would be 5)
    assert noisy_cv(0.1, 1.0) is False  # exactly the threshold: not above it


@pytest.mark.parametrize(("std", "mean"), [
    (None, 1.0), (1.0, None), (math.nan, 1.0), (1.0, math.nan), (pd.NA, 1.0), (1.0, pd.NA),
    (1.0, 0.0),
])
def test_noisy_cv_does_not_judge_a_missing_figure_or_a_zero_mean(std: object,
                                                                 mean: object) -> None:
    assert noisy_cv(std, mean) is False  # type: ignore[arg-type]


def t_interval_on_logs(values: list[float]) -> tuple[float, float]:
    logs = np.log(values)
    half = stats.t.ppf(0.975, len(values) - 1) * np.std(logs, ddof=1) / math.sqrt(len(values))
    return math.exp(logs.mean() - half), math.exp(logs.mean() + half)


def test_repeat_ci_leaves_out_repeats_that_measured_nothing() -> None:
    """A zero, negative, infinite or missing repeat median is no figure: the interval is
    the one of the positive finite repeats alone (None arrives from an object column)."""
    expected = t_interval_on_logs([2.0, 2.2, 2.1])
    for extra in ([0.0], [-1.0], [math.inf], [None], [math.nan]):
        low, high = repeat_ci(np.array([2.0, 2.2, *extra, 2.1], dtype=object))
        assert (low, high) == pytest.approx(expected)
    assert repeat_ci([2, 3, 4]) == pytest.approx(t_interval_on_logs([2.0, 3.0, 4.0]))


def test_repeat_ci_of_identical_repeats_is_the_point_and_of_one_repeat_an_error() -> None:
    assert repeat_ci(np.array([3.0, 3.0, 3.0])) == pytest.approx((3.0, 3.0))
    # logs -1, 0, 1: a spread of exactly 1.0 is a spread like any other
    values = [math.exp(-1.0), 1.0, math.exp(1.0)]
    assert repeat_ci(np.array(values)) == pytest.approx(t_interval_on_logs(values))
    with pytest.raises(ValueError, match=r"at least 2 positive repeat medians, got 1"):
        repeat_ci(np.array([3.0, 0.0, math.nan]))


# -- latency_stats, median_ci and is_missing (survivors of the run's later part) ----------

def test_one_sample_has_zero_spread_and_two_have_their_sample_std() -> None:
    """A row timed once reports a std of 0 (not NaN: the noisy flag and the report read
    it); two samples 4 and 6 ms have the textbook sample std sqrt(2)."""
    from qatbench.bench.statistics.stats import latency_stats

    assert latency_stats([5.0]).std == 0.0
    assert latency_stats([4.0, 6.0]).std == pytest.approx(math.sqrt(2), rel=1e-12)


def test_no_samples_is_an_error_that_says_so() -> None:
    from qatbench.bench.statistics.stats import latency_stats

    with pytest.raises(ValueError, match=r"^no samples to summarise$"):
        latency_stats([])


def test_the_median_interval_is_scipys_percentile_bootstrap_of_2000_seeded_resamples(
        ) -> None:
    """The interval a row reports is reproducible: scipy's percentile bootstrap of the
    median with 2,000 resamples from ``default_rng(0)``, computed here with scipy."""
    from qatbench.bench.statistics.stats import median_ci

    samples = 3.0 + np.random.default_rng(5).exponential(0.4, 60)
    want = stats.bootstrap((samples,), np.median, n_resamples=2000, method="percentile",
                           random_state=np.random.default_rng(0)).confidence_interval
    assert median_ci(samples) == (pytest.approx(want.low, rel=1e-12),
                                  pytest.approx(want.high, rel=1e-12))


def test_two_different_samples_get_an_interval_and_identical_ones_a_point() -> None:
    from qatbench.bench.statistics.stats import median_ci

    low, high = median_ci(np.array([1.0, 3.0]))
    assert low == 1.0 and high == 3.0  # the resampled medians span both values
    assert median_ci(np.array([2.5] * 7)) == (2.5, 2.5)
    assert median_ci(np.array([4.0])) == (4.0, 4.0)


def test_pandas_na_is_missing() -> None:
    from qatbench.bench.statistics.stats import is_missing

    assert is_missing(pd.NA) is True  # its comparison is NA, whose truth raises
    assert is_missing(None) is True and is_missing(math.nan) is True
    assert is_missing(0.0) is False
