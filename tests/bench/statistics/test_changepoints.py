"""Which run made it slower, on one series of run levels: a 5% step is found at the run
that made it; one outlier run, first, middle or newest, is not a step; noise alone has
none; a level held by fewer than ``min_runs`` runs is no step, and a step is blamed on
the first run at the new level. (Moved from test_history.py, whose command-line tests
keep it out of the mutation selection; these call the detector in process.)"""

from __future__ import annotations

import numpy as np
import pytest

from qatbench.bench.statistics.changepoints import find_steps

MS = 3.0


def levels(n: int, noise: float, seed: int) -> np.ndarray:
    return MS * np.exp(np.random.default_rng(seed).normal(0, noise, n))


def test_a_5_percent_step_is_found_at_the_run_that_made_it() -> None:
    for seed in range(5):
        series = levels(14, 0.01, seed)
        series[8:] *= 1.05
        (step,) = find_steps(series)
        assert step.index == 8
        assert 0.03 < step.change < 0.07


def test_one_outlier_run_is_not_a_step() -> None:
    for seed in range(5):
        for where in (0, 5, 13):  # first, middle, newest run
            series = levels(14, 0.01, seed)
            series[where] *= 1.3
            assert find_steps(series) == [], (seed, where)


def test_noise_alone_has_no_steps() -> None:
    for seed in range(10):
        assert find_steps(levels(20, 0.02, seed)) == []


def test_with_min_runs_3_a_level_held_by_two_runs_is_not_a_step_yet() -> None:
    """`--min-runs 3`: two runs at +10% after six at 3 ms are not a new level yet, and a
    third makes one, blamed on the first run at it (index 6) -- not on run 5, still at
    3 ms, as the constrained segmentation had it."""
    assert find_steps(np.array([MS] * 6 + [3.3] * 2), min_runs=3) == []
    (step,) = find_steps(np.array([MS] * 6 + [3.3] * 3), min_runs=3)
    assert step.index == 6 and step.after == pytest.approx(3.3)


def test_with_min_runs_3_a_two_run_excursion_is_no_step_and_a_three_run_one_is_two() -> None:
    assert find_steps(np.array([MS] * 5 + [3.3] * 2 + [MS] * 5), min_runs=3) == []
    up, down = find_steps(np.array([MS] * 5 + [3.3] * 3 + [MS] * 5), min_runs=3)
    assert (up.index, down.index) == (5, 8)
    assert up.after == pytest.approx(3.3) and down.after == pytest.approx(MS)


def test_an_outlier_on_the_first_slow_run_makes_one_step_not_two() -> None:
    """Ten runs at 3 ms, one at 3.9, then 3.6 ms: one step of +20% at the first slow run.
    Two steps (3 -> 3.75 -> 3.6) would report a recovery that never happened."""
    (step,) = find_steps(np.array([MS] * 10 + [3.9] + [3.6] * 7))
    assert step.index == 10 and step.after == pytest.approx(3.6)
