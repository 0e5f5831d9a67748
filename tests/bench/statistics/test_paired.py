"""The A/B verdict on paired ratios: drift that hits both sides cancels."""

from __future__ import annotations

import numpy as np

from qatbench.bench.statistics.paired import PairedVerdict, decide_paired


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
    assert decision.verdict is PairedVerdict.SAME
    assert abs(decision.change) < 0.01
    # the same figures unpaired would span the whole drift: the pairing is the point
    assert b.max() / a.min() > 1.3


def test_a_constant_five_percent_within_each_pair_is_slower_with_its_interval() -> None:
    a, b = drifting_pairs(8, 0.05, seed=1)
    decision = decide_paired(a, b, threshold=0.02)
    assert decision.verdict is PairedVerdict.SLOWER
    assert decision.ci_low < 0.05 < decision.ci_high
    assert 0.03 < decision.change < 0.07
    faster = decide_paired(b, a, threshold=0.02)
    assert faster.verdict is PairedVerdict.FASTER


def test_too_few_or_too_noisy_pairs_are_unknown_not_a_guess() -> None:
    a, b = drifting_pairs(2, 0.10)
    assert decide_paired(a, b).verdict is PairedVerdict.UNKNOWN
    a, b = drifting_pairs(4, 0.02, seed=3, noise=0.05)
    noisy = decide_paired(a, b, threshold=0.02)
    assert noisy.verdict is PairedVerdict.UNKNOWN
    assert "more pairs" in noisy.reason
