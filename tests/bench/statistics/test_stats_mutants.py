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
