"""Every branch of the latency verdict (``latency.decide``), with expectations worked out by
hand from the rule in the module's docstring.

Settings throughout: threshold 5%, floor 10%, alpha 0.05, so in log space
``inner = max(ln 1.05, ln 1.10) = 0.0953`` (±10.0%) and
``outer = max(ln 1.05, 2 ln 1.10) = 0.1906`` (±21.0%).

K ≥ 2 cases use three repeats a side placed symmetrically in log space: BASE at
``[-a, 0, a]``, CURRENT at ``d + [-a, 0, a]``. Then the estimate is exactly ``d``, each
side's standard deviation is ``a``, Welch's degrees of freedom are exactly 4 and the
95% half-width is ``t(0.975, 4) · a · √(2/3) = 2.7764 · 0.8165 · a = 2.2669 · a``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from qatbench.bench.statistics.latency import decide
from qatbench.bench.statistics.verdict import Verdict

THRESHOLD, FLOOR, ALPHA = 0.05, 0.10, 0.05
T_975_4 = 2.7764451  # Student's t table, 4 degrees of freedom, two-sided 95%


def judged(base_logs: list[float], current_logs: list[float], host_noise: bool = True):
    return decide(np.exp(base_logs), np.exp(current_logs), threshold=THRESHOLD, floor=FLOOR,
                  alpha=ALPHA, host_noise=host_noise)


def three(centre: float, a: float) -> list[float]:
    return [centre - a, centre, centre + a]


# -- one run per side (K = 1) ---------------------------------------------------------------

@pytest.mark.parametrize(("ratio", "host_noise", "verdict", "needed"), [
    (1.05, True, Verdict.SAME, None),  # inside ±10%
    (0.95, True, Verdict.SAME, None),
    (1.05, False, Verdict.SAME, None),  # same needs no host noise
    # between ±10% and ±21%: unknown; the floor read as a 99% bound of two runs' gap
    # gives one run's spread 0.0953 / (2.5758 · √2) = 0.02617, and K = 3 is the first
    # with t(0.975, 2K-2) · 0.02617 · √(2/K) ≤ 0.0953 (K=2: 0.1126; K=3: 0.0593)
    (1.15, True, Verdict.UNKNOWN, 3),
    (0.87, True, Verdict.UNKNOWN, 3),
    (1.30, True, Verdict.SLOWER, None),  # beyond ±21% with this host's noise
    (0.70, True, Verdict.FASTER, None),
    (1.30, False, Verdict.UNKNOWN, 3),  # beyond, but the floor is not this host's
    # the same rule either way: a floor from elsewhere called 17 of 126 A/A pairs faster
    # under load (issue 33)
    (0.70, False, Verdict.UNKNOWN, 3),
])
def test_one_run_per_side(ratio: float, host_noise: bool, verdict: Verdict,
                          needed: int | None) -> None:
    decision = judged([0.0], [math.log(ratio)], host_noise)
    assert decision.verdict is verdict
    assert decision.change == pytest.approx(ratio - 1)
    assert decision.ci_low is None and decision.ci_high is None  # nothing to interval
    assert decision.repeats_needed == needed
    assert decision.floor == FLOOR


def test_one_run_without_host_noise_names_what_would_decide_it() -> None:
    reason = judged([0.0], [math.log(1.3)], host_noise=False).reason
    assert "+30.0% from one run per side" in reason
    assert "--repeats 3 on both sides" in reason and "qatbench ab" in reason
    assert "not measured on this host" in reason


def test_a_side_without_latency_is_unknown() -> None:
    decision = decide(np.array([]), np.array([1.0]), threshold=THRESHOLD, floor=FLOOR,
                      alpha=ALPHA)
    assert decision.verdict is Verdict.UNKNOWN and decision.change is None
    assert "no latency figure" in decision.reason


# -- repeats on both sides (K = 3) ----------------------------------------------------------

# (d, a, verdict, needed): resolved = the interval d ± 2.2669 a excludes 0
REPEATS_TABLE = [
    # inside ±10%, interval narrow (half 0.0227 ≤ 0.0953): same
    (0.0, 0.01, Verdict.SAME, None),
    # inside ±10% and resolved (interval 0.027..0.073 excludes 0): a real change below
    # what matters is still same
    (0.05, 0.01, Verdict.SAME, None),
    # inside, but the interval (half 0.113) is wider than ±10%: unknown; spread 0.05, and
    # K = 4 is the first with t(0.975, 2K-2) · 0.05 · √(2/K) ≤ 0.0953 (K=3: 0.1133,
    # K=4: 2.4469 · 0.05 · 0.7071 = 0.0865)
    (0.02, 0.05, Verdict.UNKNOWN, 4),
    # between ±10% and ±21%, resolved, half 0.0227 ≤ 0.0953: decided either way
    (0.15, 0.01, Verdict.SLOWER, None),
    (-0.15, 0.01, Verdict.FASTER, None),
    # between, resolved (low 0.0367) but half 0.113 > 0.0953; every repeat of CURRENT above
    # every repeat of BASE, yet the change of the medians (0.15) is inside ±21%: unknown, K=4
    (0.15, 0.05, Verdict.UNKNOWN, 4),
    (-0.15, 0.05, Verdict.UNKNOWN, 4),
    # beyond ±21% and resolved (half 0.113 < 0.30)
    (0.30, 0.05, Verdict.SLOWER, None),
    (-0.30, 0.05, Verdict.FASTER, None),
    # beyond ±21%, unresolved (half 0.272 > 0.25), separated (0.13 > 0.12) and the medians
    # 0.25 apart, beyond ±21%: decided on the separation
    (0.25, 0.12, Verdict.SLOWER, None),
    (-0.25, 0.12, Verdict.FASTER, None),
    # the same change, not separated (0.10 < 0.15): unknown; spread 0.15, target 0.0953:
    # K=20 gives 2.0244 · 0.15 · 0.3162 = 0.0960 > 0.0953, K=21 2.0211 · 0.15 · 0.3086 = 0.0936
    (0.25, 0.15, Verdict.UNKNOWN, 21),
    (-0.25, 0.15, Verdict.UNKNOWN, 21),
]


BASE_LOG = math.log(3.0)  # a 3 ms model: the rule sees only changes, never the level


@pytest.mark.parametrize(("d", "a", "verdict", "needed"), REPEATS_TABLE)
def test_three_repeats_per_side(d: float, a: float, verdict: Verdict,
                                needed: int | None) -> None:
    decision = judged(three(BASE_LOG, a), three(BASE_LOG + d, a))
    assert decision.verdict is verdict, decision
    assert decision.change == pytest.approx(math.expm1(d))
    half = T_975_4 * a * math.sqrt(2 / 3)
    assert decision.ci_low == pytest.approx(math.expm1(d - half), rel=1e-6)
    assert decision.ci_high == pytest.approx(math.expm1(d + half), rel=1e-6)
    assert decision.repeats_needed == needed
    if verdict is Verdict.UNKNOWN:
        assert f"--repeats {needed} on both sides" in decision.reason


@pytest.mark.parametrize("d", [0.25, -0.25])
def test_a_separated_decision_says_so(d: float) -> None:
    decision = judged(three(BASE_LOG, 0.12), three(BASE_LOG + d, 0.12))
    assert decision.change == pytest.approx(math.expm1(d))  # the medians' change
    side = "above" if d > 0 else "below"
    assert f"every repeat of CURRENT {side} every repeat of BASE" in decision.basis


def test_repeats_need_no_host_noise_and_identical_repeats_give_a_point_interval() -> None:
    # K ≥ 2 measures its own spread: host_noise changes nothing
    assert judged(three(0.0, 0.01), three(0.3, 0.01), host_noise=False).verdict \
        is Verdict.SLOWER
    exact = judged([0.0, 0.0], [0.3, 0.3])
    assert exact.verdict is Verdict.SLOWER
    assert exact.ci_low == exact.ci_high == pytest.approx(math.expm1(0.3))


def test_a_30_percent_speed_up_with_repeats_is_faster_not_slower() -> None:
    """The mutant issue 33 found: ``SLOWER if d > 0 else FASTER`` → ``SLOWER`` survived,
    so a speed-up measured with repeats would have failed the gate."""
    for a in (0.01, 0.05):
        decision = judged(three(0.0, a), three(math.log(0.7), a))
        assert decision.verdict is Verdict.FASTER
        assert decision.change == pytest.approx(-0.3)
