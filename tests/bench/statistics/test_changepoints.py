"""Which run made it slower, on one series of run levels: a 5% step is found at the run
that made it; one outlier run, first, middle or newest, is not a step; noise alone has
none. (Moved from test_history.py, whose command-line tests keep it out of the mutation
selection; these call the detector in process.)"""

from __future__ import annotations

import numpy as np

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
