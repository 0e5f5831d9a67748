"""Change points in one series (``statistics/changepoints.py``), in process: what `nox -s
mutation` found held only by the command-line history tests (outside the mutation
selection). Each property is the module's documented rule applied to levels chosen here:
the noise scale against scipy's own median absolute deviation, a lone spike at every
place in a series set to the level of its neighbours (computed by hand), and which steps
``find_steps`` reports -- where, from which level to which -- for noiseless levels whose
answer is plain."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import median_abs_deviation

from qatbench.bench.statistics.changepoints import (
    MIN_NOISE,
    _without_spikes,
    find_steps,
    noise_scale,
)

LOG_3MS = math.log(3.0)  # the log level of a 3 ms model: the spike rule works on logs


@pytest.mark.parametrize("levels", [
    [3.0, 3.3, 3.1],  # three runs: the fewest with two successive differences
    [3.0, 3.06, 3.02, 3.1, 3.05],
    list(3.0 * np.exp(np.random.default_rng(4).normal(0.01, 0.02, 20).cumsum())),  # drifting
])
def test_the_noise_scale_is_the_normal_mad_of_successive_differences_over_root_2(
        levels: list[float]) -> None:
    logs = np.log(levels)
    expected = median_abs_deviation(np.diff(logs), scale="normal") / math.sqrt(2)
    assert expected > MIN_NOISE
    assert noise_scale(logs) == pytest.approx(expected, rel=1e-4)  # 0.6745 vs 0.67449


def test_a_flat_series_or_one_too_short_for_two_differences_has_the_floor_scale() -> None:
    assert noise_scale(np.log([3.0] * 8)) == MIN_NOISE
    assert noise_scale(np.log([3.0, 3.3])) == MIN_NOISE


@pytest.mark.parametrize(("offsets", "spike", "level"), [
    # offsets from log(3 ms), one run 0.3 (35%) off; the spike set to its neighbours' mean
    ([0.3, 0.01, -0.01, 0.0, 0.1, 0.1, 0.11], 0, 0.0),  # first run: the next two
    ([0.01, 0.3, -0.01, 0.0, 0.02, -0.02], 1, 0.0),  # second run
    ([0.0, 0.0, 0.0, 0.1, 0.4, 0.1, 0.1], 4, 0.1),  # right after a 10% step: the new level
    ([0.02, -0.01, 0.0, 0.01, -0.02, 0.3, 0.01], 5, -0.005),  # last but one
    ([0.1, 0.1, 0.11, 0.0, 0.01, -0.01, 0.3], 6, 0.0),  # last run: the two before it
    ([0.3, 0.0, 0.02], 0, 0.01),  # three runs, the first off
    ([0.0, 0.02, 0.3], 2, 0.01),  # three runs, the last off
])
def test_a_lone_spike_anywhere_is_set_to_the_level_of_its_neighbours(
        offsets: list[float], spike: int, level: float) -> None:
    logs = LOG_3MS + np.array(offsets)
    expected = logs.copy()
    expected[spike] = LOG_3MS + level
    np.testing.assert_allclose(_without_spikes(logs, sigma=0.01), expected, rtol=0,
                               atol=1e-12)


def test_the_runs_either_side_of_a_step_are_not_spikes() -> None:
    logs = LOG_3MS + np.array([0.0, 0.0, 0.0, 0.1, 0.1, 0.1])
    np.testing.assert_array_equal(_without_spikes(logs, sigma=0.01), logs)


def test_four_runs_are_enough_for_a_step_and_one_run_has_none() -> None:
    """Two runs at the old level and two at the new: min_runs (2) on each side."""
    (step,) = find_steps([3.0, 3.0, 3.3, 3.3])
    assert (step.index, step.before, step.after) == (2, pytest.approx(3.0),
                                                     pytest.approx(3.3))
    assert find_steps([3.0]) == [] and find_steps([3.0, 3.3, 3.3]) == []


def test_a_sub_millisecond_model_steps_like_any_other() -> None:
    (step,) = find_steps([0.02] * 5 + [0.022] * 5)
    assert step.index == 5 and step.change == pytest.approx(0.10)


@pytest.mark.parametrize("bad", [math.nan, math.inf, 0.0, -3.0])
def test_a_series_with_a_level_that_is_not_a_positive_time_has_no_steps(bad: float) -> None:
    levels = [3.0] * 6 + [3.3] * 6
    levels[3] = bad
    assert find_steps(levels) == []


def test_the_level_before_a_step_is_the_median_of_every_run_before_it() -> None:
    (step,) = find_steps([3.00, 3.02, 2.98, 3.01, 2.99, 3.30, 3.32, 3.28, 3.31, 3.29])
    assert step.index == 5
    assert step.before == pytest.approx(3.00, rel=1e-12)  # the first run counts
    assert step.after == pytest.approx(3.30, rel=1e-12)


def test_a_series_that_steps_twice_has_both_steps_each_with_its_own_levels() -> None:
    first, second = find_steps([3.0] * 5 + [3.3] * 5 + [3.6] * 5)
    assert (first.index, first.before, first.after) == (5, pytest.approx(3.0),
                                                        pytest.approx(3.3))
    assert (second.index, second.before, second.after) == (10, pytest.approx(3.3),
                                                           pytest.approx(3.6))


def test_a_step_below_min_step_is_dropped_even_without_noise() -> None:
    assert find_steps([3.0] * 4 + [3.03] * 4) == []  # 1% < 2.5%
    # a step of exactly min_step counts ("at least min_step"): a doubling at 100%
    (step,) = find_steps([1.0] * 4 + [2.0] * 4, min_step=1.0)
    assert step.index == 4


def test_of_two_steps_the_one_below_min_step_is_merged_away_not_the_other() -> None:
    # 1% at run 5 then 19% at run 10: one step at 10, from the first ten runs' level
    (step,) = find_steps([3.0] * 5 + [3.03] * 5 + [3.6] * 5)
    assert step.index == 10
    assert step.before == pytest.approx(math.sqrt(3.0 * 3.03))  # the median of the logs
    assert step.after == pytest.approx(3.6)
    # 20% at run 5 then 1% at run 10: one step at 5, to the last ten runs' level
    (step,) = find_steps([3.0] * 5 + [3.6] * 5 + [3.636] * 5)
    assert step.index == 5
    assert step.before == pytest.approx(3.0) and step.after == pytest.approx(
        math.sqrt(3.6 * 3.636))


def test_with_min_runs_1_a_level_held_one_run_between_two_steps_is_its_own_level() -> None:
    # 3.0 ms, one run at 3.3 (its neighbours disagree: not a spike), then 3.6 ms
    first, second = find_steps([3.0] * 4 + [3.3] + [3.6] * 4, min_runs=1)
    assert (first.index, first.before, first.after) == (4, pytest.approx(3.0),
                                                        pytest.approx(3.3))
    assert (second.index, second.before, second.after) == (5, pytest.approx(3.3),
                                                           pytest.approx(3.6))
