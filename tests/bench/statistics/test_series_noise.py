"""This host's cross-run noise from a series' history: the floor a one-run SLOWER needs."""

from __future__ import annotations

import itertools
import math

import pytest

from qatbench.bench.statistics.series_noise import MIN_HISTORY_RUNS, floor_from_levels


def test_the_floor_is_the_t_prediction_bound_of_two_runs_gap() -> None:
    # levels alternating 1.00, 1.01 ms: every successive change is ±ln 1.01 = 0.00995,
    # so σ = 0.00995 / √2 = 0.00704; with 5 runs t(0.995, 4) = 4.6041 and the bound is
    # 4.6041 · √2 · 0.00704 = 0.04581 in logs: a floor of e^0.04581 - 1 = 4.69%
    noise = floor_from_levels([1.0, 1.01, 1.0, 1.01, 1.0])
    assert noise is not None and noise.runs == 5
    assert noise.floor == pytest.approx(0.046878, abs=1e-5)


def test_one_old_step_adds_one_change_not_a_trend() -> None:
    # a 20% step between runs 3 and 4 of eight, otherwise ±1%: σ² = (6 · 0.00995² + 0.182²)
    # / 7 / 2 -- the step counts once, as one large change would
    levels = [1.0, 1.01, 1.0, 1.2, 1.212, 1.2, 1.212, 1.2]
    changes = [math.log(b / a) for a, b in itertools.pairwise(levels)]
    sigma = math.sqrt(sum(c * c for c in changes) / len(changes) / 2)
    expected = math.expm1(3.4995 * math.sqrt(2) * sigma)  # t(0.995, 7) = 3.4995
    assert floor_from_levels(levels).floor == pytest.approx(expected, rel=1e-4)


def test_too_few_runs_give_no_floor_and_identical_runs_the_smallest() -> None:
    assert floor_from_levels([1.0] * (MIN_HISTORY_RUNS - 1)) is None
    assert floor_from_levels([1.0, 1.0, -1.0, float("nan"), 1.0, 1.0]) is None  # 4 usable
    assert floor_from_levels([2.0] * MIN_HISTORY_RUNS).floor == 0.01  # no host is quieter
