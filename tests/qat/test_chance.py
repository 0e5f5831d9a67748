"""A float model at chance is said to be, from an exact binomial test."""

from __future__ import annotations

from math import comb

from qatbench.qat.chance import chance_note


def two_sided_p(hits: int, n: int, p: float) -> float:
    """The exact two-sided binomial p-value by hand: every outcome no likelier than
    the observed one (the definition scipy's binomtest uses)."""
    pmf = [comb(n, k) * p ** k * (1 - p) ** (n - k) for k in range(n + 1)]
    return min(1.0, sum(q for q in pmf if q <= pmf[hits] * (1 + 1e-7)))


def test_a_majority_class_guess_on_two_classes_is_at_chance() -> None:
    # 47 of 80 right on two classes: the token model that always answered class 0
    note = chance_note(47 / 80, 80, 2)
    assert note.startswith("the float model is at chance: top-1 58.8% on 80 eval inputs")
    assert f"p={two_sided_p(47, 80, 0.5):.2g})" in note


def test_a_trained_model_is_not_and_nothing_is_said() -> None:
    assert two_sided_p(300, 360, 0.1) < 0.05
    assert chance_note(300 / 360, 360, 10) == ""
    assert chance_note(None, 360, 10) == ""  # no labels: nothing to judge
    assert chance_note(1.0, 50, 1) == ""  # one class: refused before it gets here


def test_ten_percent_on_ten_classes_is_at_chance() -> None:
    assert "1 of 10 classes (10.0%" in chance_note(0.095, 200, 10)


def test_on_imbalanced_labels_chance_is_the_most_common_class() -> None:
    """90% of the eval labels are class 0: a model that always says 0 scores 90%, far
    above 1 in 2, and has learnt nothing all the same."""
    note = chance_note(0.9, 200, 2, majority=0.9)
    assert "always answering the most common class (90.0% of the eval labels" in note
    assert f"p={two_sided_p(180, 200, 0.9):.2g})" in note
    assert chance_note(0.99, 200, 2, majority=0.9) == ""  # learnt something beyond it
