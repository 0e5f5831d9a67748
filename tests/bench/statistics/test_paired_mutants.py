"""The A/B verdict's default threshold of practical interest is 2% -- pinned here, since
`qatbench ab` and bisect rely on it and mutation testing found nothing that would notice
another. Constant pair ratios have no spread, so the interval is the point itself."""

from __future__ import annotations

import numpy as np
import pytest

from qatbench.bench.statistics.paired import decide_paired
from qatbench.bench.statistics.verdict import Verdict


@pytest.mark.parametrize(("ratio", "verdict"), [
    (1.021, Verdict.SLOWER),  # beyond 2%
    (1.019, Verdict.SAME),  # inside ±2%
    (1 / 1.021, Verdict.FASTER),
    (1 / 1.019, Verdict.SAME),
])
def test_the_default_threshold_is_two_percent(ratio: float, verdict: Verdict) -> None:
    a = np.array([1.0, 2.0, 3.0, 4.0])
    decision = decide_paired(a, a * ratio)
    assert decision.verdict is verdict
    assert decision.change == pytest.approx(ratio - 1)
    assert decision.ci_low == pytest.approx(ratio - 1) == decision.ci_high
    assert decision.pairs == 4


def test_paired_evidence_decides_at_its_own_confidence() -> None:
    """``PairedEvidence(confidence=0.5)`` is a 50% interval, not the default 95%: with
    log-ratios 0.01, 0.03, 0.05 (mean 0.03, sd 0.02) the half-width is t(0.75, 2) *
    0.02 / sqrt(3) (scipy's t quantile, worked out here)."""
    from scipy import stats

    from qatbench.bench.statistics.paired import PairedEvidence

    a = np.ones(3)
    b = np.exp(np.array([0.01, 0.03, 0.05]))
    half = stats.t.ppf(0.75, 2) * 0.02 / np.sqrt(3)
    decision = PairedEvidence(a, b, confidence=0.5).decide(0.02)
    assert decision.ci_low == pytest.approx(np.exp(0.03 - half) - 1)
    assert decision.ci_high == pytest.approx(np.exp(0.03 + half) - 1)
    assert decision.verdict is Verdict.SLOWER  # the 95% interval would reach below 1
    assert PairedEvidence(a, b).decide(0.02).verdict is Verdict.UNKNOWN
