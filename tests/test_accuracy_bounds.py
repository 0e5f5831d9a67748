"""The accuracy helpers of the training tests (``tests/accuracy_bounds.py``) pass what a
sample cannot tell apart and fail what a broken model gives -- checked on constructed
hit vectors, without training anything."""

from __future__ import annotations

import numpy as np
import pytest

from tests.accuracy_bounds import assert_floor, assert_no_drop_beyond, assert_within, hits_of


def _pair(both: int, only_a: int, only_b: int, neither: int) -> tuple[np.ndarray, np.ndarray]:
    a = np.array([True] * both + [True] * only_a + [False] * only_b + [False] * neither)
    b = np.array([True] * both + [False] * only_a + [True] * only_b + [False] * neither)
    return a, b


def test_the_avx2_hosts_gap_is_noise_and_a_broken_arm_is_not() -> None:
    # issue 24: label QAT 474/500, distilled 467/500 (1.4 points) -- with the ~15
    # discordant digits two arms from one float model have, not a measurable drop
    labels, distill = _pair(462, 12, 5, 21)
    assert (labels.sum(), distill.sum()) == (474, 467)
    assert_no_drop_beyond(labels, distill, points=1.0, what="distill vs labels")
    # distillation that learnt nothing: chance on the same digits
    chance = np.random.default_rng(0).random(500) < 0.1
    with pytest.raises(AssertionError, match="dropped"):
        assert_no_drop_beyond(labels, chance, points=1.0, what="broken vs labels")
    # a real 4-point loss the sample does show
    base, worse = _pair(440, 25, 5, 30)
    with pytest.raises(AssertionError, match="p = "):
        assert_no_drop_beyond(base, worse, points=1.0, what="4 points worse")


def test_rates_without_per_input_hits_use_the_counts() -> None:
    assert_no_drop_beyond(0.928, 0.942, points=3.0, what="qat vs float", base_n=360,
                          current_n=360)
    assert_within(0.93, 0.91, points=3.0, what="keras vs target", a_n=360, b_n=360)
    with pytest.raises(AssertionError, match="Fisher"):
        assert_within(0.93, 0.40, points=3.0, what="wrong input scale", a_n=360, b_n=360)
    with pytest.raises(AssertionError, match="Fisher"):
        assert_within(0.40, 0.93, points=3.0, what="wrong input scale", a_n=360, b_n=360)


def test_the_floor_needs_the_interval_above_it() -> None:
    low, high = assert_floor(np.arange(500) < 467, 0.8, "quick mnist")
    assert 0.9 < low < 0.934 < high
    assert_floor(0.928, 0.8, "digits", n=360)
    with pytest.raises(AssertionError, match="does not show"):
        assert_floor(np.arange(500) < 50, 0.8, "untrained")
    with pytest.raises(AssertionError, match="does not show"):
        assert_floor(0.82, 0.8, "too few inputs to show it", n=100)


def test_hits_of_takes_classes_or_output_rows() -> None:
    truth = np.array([0, 1, 2])
    assert hits_of(np.array([0, 2, 2]), truth).tolist() == [True, False, True]
    assert hits_of(np.eye(3)[[0, 1, 0]], truth).tolist() == [True, True, False]
    with pytest.raises(ValueError):
        hits_of(np.array([0, 1]), truth)


def test_the_floor_is_judged_on_the_textbook_wilson_interval() -> None:
    """81 of 100: the Wilson score interval by its closed form (z = 1.959964)."""
    z, n, p = 1.959963985, 100, 0.81
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    low, high = assert_floor(np.arange(100) < 81, 0.5, "81 of 100")
    assert (low, high) == pytest.approx((centre - half, centre + half), abs=1e-9)
    assert (round(low, 4), round(high, 4)) == (0.7222, 0.8749)
    with pytest.raises(AssertionError, match=r"does not show a rate above 0\.73"):
        assert_floor(0.81, 0.73, "81 of 100", n=100)
