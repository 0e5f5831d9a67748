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
