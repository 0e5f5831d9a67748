"""Wilson intervals, McNemar's exact test and the gate's drop rule against known values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binomtest

from qatbench.bench.statistics.accuracy import (
    NO_DIFFERENCE,
    accuracy_drop,
    mcnemar_exact,
    paired_comparison,
    wilson_interval,
    wilson_of,
)


def test_wilson_matches_the_textbook_values() -> None:
    # 3 of 10: (0.1078, 0.6032); 0 of 10: (0, 0.2775) -- Wilson (1927), Newcombe (1998)
    assert wilson_interval(3, 10) == pytest.approx((0.10779, 0.60322), abs=1e-5)
    low, high = wilson_interval(0, 10)
    assert low == 0 and high == pytest.approx(0.27753, abs=1e-5)
    low, high = wilson_interval(10, 10)
    assert high == 1 and low == pytest.approx(1 - 0.27753, abs=1e-5)


@pytest.mark.parametrize(("k", "n"), [(963, 1000), (1, 7), (500, 500), (37, 360)])
def test_wilson_agrees_with_scipy(k: int, n: int) -> None:
    expected = binomtest(k, n).proportion_ci(method="wilson")
    assert wilson_interval(k, n) == pytest.approx((expected.low, expected.high), abs=1e-9)


def test_the_issue_s_mnist_figures_overlap() -> None:
    # 96.2% and 96.9% on 1,000 digits: each interval holds the other's estimate
    ptq, qat = wilson_of(0.962, 1000), wilson_of(0.969, 1000)
    assert ptq[0] < 0.962 < ptq[1] < 0.98 and qat[0] < 0.962 < qat[1]
    assert wilson_of(None, 1000) == (None, None) and wilson_of(0.5, None) == (None, None)
    assert wilson_of(math.nan, 10) == (None, None)


def test_wilson_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        wilson_interval(1, 0)
    with pytest.raises(ValueError):
        wilson_interval(11, 10)


def test_mcnemar_exact_known_values() -> None:
    # 1 vs 9 discordant: 2 * P(X <= 1 | Bin(10, 1/2)) = 2 * 11 / 1024
    assert mcnemar_exact(1, 9) == pytest.approx(22 / 1024)
    assert mcnemar_exact(9, 1) == pytest.approx(22 / 1024)
    assert mcnemar_exact(5, 5) == pytest.approx(1.0)
    assert mcnemar_exact(0, 0) == 1.0  # no discordant input, no evidence
    # 0 vs 6: 2 / 64
    assert mcnemar_exact(0, 6) == pytest.approx(2 / 64)


def test_paired_comparison_says_no_measurable_difference_inside_the_noise() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 1000)
    a, b = labels.copy(), labels.copy()
    a[:38] = (labels[:38] + 1) % 10  # 96.2%
    b[15:46] = (labels[15:46] + 1) % 10  # 96.9%: 23 inputs only A misses, 8 only B misses
    result = paired_comparison(a, b, labels)
    assert (result.a_rate, result.b_rate) == (0.962, 0.969)
    assert (result.only_a, result.only_b) == (8, 15)
    assert result.p_value == pytest.approx(mcnemar_exact(8, 15))
    assert not result.significant
    assert result.verdict("PTQ", "QAT").startswith(NO_DIFFERENCE)


def test_paired_comparison_names_the_better_model_when_resolved() -> None:
    labels = np.arange(1000) % 10
    a, b = labels.copy(), labels.copy()
    b[:40] = (labels[:40] + 1) % 10  # B misses 40 that A gets; nothing the other way
    result = paired_comparison(a, b, labels)
    assert result.significant and result.difference_points == pytest.approx(4.0)
    assert result.verdict("QAT", "PTQ") == \
        f"QAT better than PTQ by 4.0 points, p = {result.p_value:.2g}"


def test_paired_comparison_leaves_out_inputs_without_a_label() -> None:
    labels = np.array([0, 1, -1, 3])
    result = paired_comparison(np.array([0, 1, 2, 0]), np.array([0, 0, 2, 3]), labels)
    assert result.n == 3 and (result.only_a, result.only_b) == (1, 1)
    with pytest.raises(ValueError, match="not the same inputs"):
        paired_comparison(np.zeros(3), np.zeros(4), np.zeros(4))


def test_the_gate_s_drop_rule_needs_threshold_and_significance() -> None:
    base = np.ones(1000, bool)
    small = base.copy()
    small[:12] = False  # 1.2 points lost: over a 1-point threshold, but 12 vs 0 ...
    test = accuracy_drop(1.0, 1000, 0.988, 1000, threshold_points=1.0, base_hits=base,
                         current_hits=small)
    assert test.fails and test.method == "McNemar exact, paired"  # ... is resolvable
    noisy_base = np.ones(1000, bool)
    noisy_base[:40] = False
    noisy = np.ones(1000, bool)
    noisy[20:75] = False  # 96% -> 94.5%: 35 lost, 20 gained
    undecided = accuracy_drop(0.96, 1000, 0.945, 1000, threshold_points=1.0,
                              base_hits=noisy_base, current_hits=noisy)
    assert undecided.drop_points == pytest.approx(1.5)
    assert undecided.p_value == pytest.approx(mcnemar_exact(35, 20))  # 0.058
    assert not undecided.fails and NO_DIFFERENCE in undecided.message
    unpaired = accuracy_drop(0.96, 1000, 0.945, 1000, threshold_points=1.0)
    assert unpaired.method == "Fisher exact, unpaired" and 0.1 < unpaired.p_value < 0.2
    assert not unpaired.fails
    big = accuracy_drop(0.98, 1000, 0.90, 1000, threshold_points=1.0)
    assert big.fails and "dropped 8.0 points" in big.message
    assert not accuracy_drop(0.98, 1000, 0.975, 1000, threshold_points=1.0).message
