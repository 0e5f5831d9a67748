"""Accuracy figures and verdicts that `nox -s mutation` found no test pinning: the Wilson
interval at the edges (one input, none right, all right, another level), bad counts
refused with what is wrong, the significance level a caller asks for, which model the
verdict calls better, and the gate's drop rule at p = alpha exactly. Every interval and
p-value expected here is scipy's (``binomtest``, ``fisher_exact``), not the module's."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest, fisher_exact

from qatbench.bench.statistics.accuracy import (
    NO_DIFFERENCE,
    accuracy_drop,
    mcnemar_exact,
    paired_comparison,
    paired_hits,
    wilson_interval,
    wilson_of,
)


def _scipy_wilson(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    interval = binomtest(successes, n).proportion_ci(confidence, method="wilson")
    return float(interval.low), float(interval.high)


@pytest.mark.parametrize(("successes", "n", "confidence"), [
    (1, 1, 0.95),  # a single input is a figure, however loose
    (0, 1, 0.95),
    (0, 100, 0.95),  # none right: the lower bound is 0 itself, not a rounding residue
    (100, 100, 0.95),
    (0, 37, 0.95),
    (962, 1000, 0.95),
    (7, 9, 0.90),
])
def test_the_wilson_interval_is_scipys_to_the_last_digits_and_exact_at_the_ends(
        successes: int, n: int, confidence: float) -> None:
    low, high = wilson_interval(successes, n, confidence)
    expected_low, expected_high = _scipy_wilson(successes, n, confidence)
    assert low == pytest.approx(expected_low, rel=1e-12, abs=1e-15)
    assert high == pytest.approx(expected_high, rel=1e-12, abs=1e-15)
    if successes == 0:
        assert low == expected_low == 0.0
    if successes == n:
        assert high == expected_high == 1.0


def test_a_stored_rate_gets_its_interval_at_the_level_asked_and_none_without_inputs() -> None:
    # 0.9 of 20 inputs is 18 right; at 90% the interval is narrower than at 95%
    assert wilson_of(0.9, 20, confidence=0.90) == pytest.approx(_scipy_wilson(18, 20, 0.90),
                                                                rel=1e-12)
    assert wilson_of(1.0, 1) == pytest.approx(_scipy_wilson(1, 1), rel=1e-12)
    assert wilson_of(0.5, 0) == (None, None)  # no inputs: no interval, not an error


@pytest.mark.parametrize(("successes", "n", "names"), [
    (0, 0, "n=0"),
    (0, -3, "n=-3"),
    (11, 10, "[0, 10], got 11"),
    (-1, 10, "[0, 10], got -1"),
])
def test_impossible_counts_are_refused_naming_the_count(successes: int, n: int,
                                                        names: str) -> None:
    with pytest.raises(ValueError) as raised:
        wilson_interval(successes, n)
    assert names in str(raised.value)


def test_a_negative_discordant_count_is_refused_even_when_the_other_cancels_it() -> None:
    """-1 and +1 sum to no discordant input, which would read as p = 1 (no evidence)."""
    for only_a, only_b in ((-1, 1), (1, -1), (-2, 5)):
        with pytest.raises(ValueError) as raised:
            mcnemar_exact(only_a, only_b)
        assert str(raised.value) == "discordant counts must not be negative"


def test_hit_vectors_must_be_two_of_one_length_and_the_error_names_their_shapes() -> None:
    with pytest.raises(ValueError) as raised:
        paired_hits(np.ones((2, 3), bool), np.ones((2, 3), bool))  # same shape, not vectors
    assert "(2, 3) and (2, 3)" in str(raised.value)
    with pytest.raises(ValueError) as raised:
        paired_hits(np.ones(3, bool), np.ones(4, bool))
    assert "(3,) and (4,)" in str(raised.value)
    with pytest.raises(ValueError) as raised:
        paired_hits(np.ones(0, bool), np.ones(0, bool))
    assert str(raised.value) == "no inputs to compare"
    with pytest.raises(ValueError) as raised:
        paired_comparison(np.zeros(3), np.zeros(4), np.zeros(3))
    assert str(raised.value) == "3 and 4 predictions for 3 labels: not the same inputs"
    one = paired_hits(np.array([True]), np.array([False]))  # one input is a comparison
    assert (one.n, one.only_a, one.only_b, one.p_value) == (1, 1, 0, 1.0)


def test_the_significance_level_a_caller_asks_for_is_the_one_applied() -> None:
    """Six inputs only A gets right, none only B: McNemar p = 2 / 2^6 = 0.03125 --
    significant at 5%, not at 1%."""
    hits_a, hits_b = np.array([True] * 6 + [True] * 4), np.array([False] * 6 + [True] * 4)
    p = binomtest(6, 6, 0.5).pvalue
    assert p == pytest.approx(0.03125)
    assert paired_hits(hits_a, hits_b).significant
    strict = paired_hits(hits_a, hits_b, alpha=0.01)
    assert not strict.significant and strict.verdict().startswith(NO_DIFFERENCE)
    labels = np.arange(10) % 3
    pred_a = labels.copy()
    pred_b = np.where(np.arange(10) < 6, labels + 1, labels)  # B wrong on the first six
    assert paired_comparison(pred_a, pred_b, labels).significant
    assert not paired_comparison(pred_a, pred_b, labels, alpha=0.01).significant


def test_column_shaped_predictions_are_compared_input_by_input() -> None:
    """Predictions as an (n, 1) column (a model's argmax kept 2-D) against n labels: the
    same inputs, so the same comparison as the flat vectors."""
    labels = np.array([0, 1, 2, 0, 1, 2, 0, 1])
    pred_a = np.array([0, 1, 2, 0, 1, 2, 0, 0])  # wrong on the last input only
    pred_b = np.array([1, 1, 2, 0, 1, 0, 0, 1])  # wrong on the first and the sixth
    flat = paired_comparison(pred_a, pred_b, labels)
    column = paired_comparison(pred_a.reshape(-1, 1), pred_b.reshape(-1, 1), labels)
    assert column == flat
    assert (flat.n, flat.only_a, flat.only_b) == (8, 2, 1)
    assert flat.p_value == pytest.approx(binomtest(2, 3, 0.5).pvalue)


@pytest.mark.parametrize(("only_a", "only_b", "expected"), [
    (14, 0, "QAT better than PTQ by 0.7 points"),  # by less than one point: still A
    (0, 14, "PTQ better than QAT by 0.7 points"),  # B right where A was wrong: B better
])
def test_the_verdict_names_the_model_that_was_right_more_often(
        only_a: int, only_b: int, expected: str) -> None:
    """2,000 inputs, 14 discordant all one way: 0.7 points, p = 2 / 2^14."""
    both = np.ones(2000 - 14, bool)
    hits_a = np.concatenate([both, np.full(14, only_a > 0)])
    hits_b = np.concatenate([both, np.full(14, only_b > 0)])
    p = binomtest(14, 14, 0.5).pvalue
    verdict = paired_hits(hits_a, hits_b).verdict("QAT", "PTQ")
    assert verdict == f"{expected}, p = {p:.2g}"


def test_a_drop_is_judged_unpaired_unless_both_runs_kept_their_hits() -> None:
    """BASE kept its per-input hits, CURRENT did not (an older run): no pairing is
    possible, so Fisher's exact test on the counts 90/100 against 80/100."""
    base_hits = np.array([True] * 90 + [False] * 10)
    test = accuracy_drop(0.9, 100, 0.8, 100, threshold_points=1.0, label="top-1",
                         base_hits=base_hits, current_hits=None)
    assert test.method == "Fisher exact, unpaired"
    assert test.p_value == pytest.approx(fisher_exact([[90, 10], [80, 20]]).pvalue)
    assert test.drop_points == pytest.approx(10.0)


def test_a_drop_at_p_equal_to_alpha_is_not_significant() -> None:
    """BASE 12 of 12 right, CURRENT 2 of 4: Fisher's two-sided p is 0.05 exactly (in
    floating point too). The gate fails a drop only below alpha -- as `significant` reads
    p < alpha -- so 50 points on four inputs is reported, not failed."""
    p = fisher_exact([[12, 0], [2, 2]]).pvalue
    assert p == 0.05
    test = accuracy_drop(1.0, 12, 0.5, 4, threshold_points=1.0, label="top-1")
    assert test.p_value == p and not test.fails
    assert test.message == ("top-1 dropped 50.0 points but no measurable difference on 12 "
                            "inputs (p = 0.05, Fisher exact, unpaired)")
