"""The A/B verdict on paired ratios: drift that hits both sides cancels."""

from __future__ import annotations

import numpy as np
import pytest

from qatbench.bench.statistics.paired import decide_paired
from qatbench.bench.statistics.verdict import Verdict


def drifting_pairs(pairs: int, effect: float, seed: int = 0, noise: float = 0.005
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Each pair shares a host state that moves up to ±40% between pairs (a day's drift
    on a shared VM); inside a pair the two sides differ by ``effect`` and a little noise."""
    rng = np.random.default_rng(seed)
    host = np.exp(rng.uniform(-0.4, 0.4, pairs))
    a = 2.0 * host * np.exp(rng.normal(0, noise, pairs))
    b = 2.0 * (1 + effect) * host * np.exp(rng.normal(0, noise, pairs))
    return a, b


def test_a_common_drift_on_both_sides_is_same() -> None:
    a, b = drifting_pairs(8, 0.0)
    decision = decide_paired(a, b, threshold=0.02)
    assert decision.verdict is Verdict.SAME
    assert abs(decision.change) < 0.01
    # the same figures unpaired would span the whole drift: the pairing is the point
    assert b.max() / a.min() > 1.3


def test_a_constant_five_percent_within_each_pair_is_slower_with_its_interval() -> None:
    a, b = drifting_pairs(8, 0.05, seed=1)
    decision = decide_paired(a, b, threshold=0.02)
    assert decision.verdict is Verdict.SLOWER
    assert decision.ci_low < 0.05 < decision.ci_high
    assert 0.03 < decision.change < 0.07
    faster = decide_paired(b, a, threshold=0.02)
    assert faster.verdict is Verdict.FASTER


def test_too_few_or_too_noisy_pairs_are_unknown_not_a_guess() -> None:
    a, b = drifting_pairs(2, 0.10)
    assert decide_paired(a, b).verdict is Verdict.UNKNOWN
    a, b = drifting_pairs(4, 0.02, seed=3, noise=0.05)
    noisy = decide_paired(a, b, threshold=0.02)
    assert noisy.verdict is Verdict.UNKNOWN
    assert "more pairs" in noisy.reason


def test_the_interval_is_the_textbook_paired_t_interval_of_the_log_ratios() -> None:
    """Against scipy's one-sample t-interval of log(B/A) (pairs - 1 degrees of freedom),
    with few pairs, where a wrong degree of freedom moves the interval most."""
    from scipy import stats

    for pairs, seed in ((3, 4), (4, 5), (6, 6)):
        a, b = drifting_pairs(pairs, 0.04, seed=seed, noise=0.03)
        decision = decide_paired(a, b, threshold=0.02, confidence=0.95)
        textbook = stats.ttest_1samp(np.log(b / a), 0.0).confidence_interval(0.95)
        assert decision.ci_low == pytest.approx(np.expm1(textbook.low), rel=1e-9)
        assert decision.ci_high == pytest.approx(np.expm1(textbook.high), rel=1e-9)
        assert decision.change == pytest.approx(np.expm1(np.log(b / a).mean()), rel=1e-12)
        assert decision.pairs == pairs


# log ratios c + [-b, b, -b, b]: mean c, sd b·√(4/3), so the 95% half-width is
# t(0.975, 3) · b · √(4/3) / √4 = 3.1824 · 0.5774 · b = 1.8374 · b; τ = 2%: ln 1.02 = 0.0198
@pytest.mark.parametrize(("c", "b", "verdict"), [
    (0.10, 0.01, Verdict.SLOWER),  # interval 0.082..0.118: above 0, estimate ≥ τ
    (-0.10, 0.01, Verdict.FASTER),
    (0.0, 0.001, Verdict.SAME),  # interval ±0.0018 inside ±0.0198
    (0.005, 0.002, Verdict.SAME),  # 0.0013..0.0087: a real change below τ is same
    (0.019, 0.002, Verdict.UNKNOWN),  # 0.0153..0.0227: above 0, estimate below τ
    (-0.019, 0.002, Verdict.UNKNOWN),
    (0.03, 0.03, Verdict.UNKNOWN),  # -0.025..0.085: straddles 0 and τ
    (-0.03, 0.03, Verdict.UNKNOWN),  # -0.085..0.025: beyond -τ, yet not below 0
    (0.05, 0.0, Verdict.SLOWER),  # no spread: the interval is the estimate
    (-0.05, 0.0, Verdict.FASTER),
    (0.0, 0.0, Verdict.SAME),
])
def test_the_paired_decision_table(c: float, b: float, verdict: Verdict) -> None:
    ratios = c + np.array([-b, b, -b, b])
    decision = decide_paired(np.full(4, 2.0), 2.0 * np.exp(ratios), threshold=0.02)
    assert decision.verdict is verdict, decision
    half = 3.1824463 * b * np.sqrt(4 / 3) / 2
    assert decision.ci_low == pytest.approx(np.expm1(c - half), abs=1e-7)
    assert decision.ci_high == pytest.approx(np.expm1(c + half), abs=1e-7)
    assert decision.decided is (verdict is not Verdict.UNKNOWN)


def test_incomplete_pairs_are_dropped_and_unequal_sides_refused() -> None:
    a = np.array([1.0, 1.0, np.nan, 1.0, 0.0, 1.0, 1.0])
    b = np.array([1.1, 1.1, 1.1, -1.0, 1.1, np.inf, 0.0])
    decision = decide_paired(a, b)
    assert decision.pairs == 2 and decision.verdict is Verdict.UNKNOWN
    assert "2 complete pair(s); at least 3" in decision.reason
    with pytest.raises(ValueError, match="3 A figures but 2 B figures"):
        decide_paired(np.ones(3), np.ones(2))
