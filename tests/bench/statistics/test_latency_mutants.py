"""Latency verdicts that `nox -s mutation` found no test pinning: each case below is one
a plausible bug would get wrong (a zero spread on one side, a pooled instead of a Welch
interval, the K to resolve, repeats that tie at the edge, one run against three). The
expectations are worked out here by hand; scipy's t quantiles are the only library
figures used."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from qatbench.bench.statistics.latency import Verdict, decide, repeats_to_resolve


def _rel(log_change: float) -> float:
    return math.expm1(log_change)


def test_a_constant_side_still_gets_the_welch_interval_and_the_k_that_would_resolve_it(
) -> None:
    """BASE's three repeats are identical, CURRENT's spread ±2.5%: the spread of one side
    is still a spread. Welch's interval on the logs has df = 2 here (all the variance is
    CURRENT's: ((s²/3)² / ((s²/3)² / 2)) = 2), half-width t(0.975, 2) · s / √3 = 0.0621,
    wider than the 5% band: unknown. K = 3 would do by the pooled planning formula
    (t(0.975, 4) · (s/√2) · √(2/3) = 0.0401 ≤ ln 1.05) -- but K = 3 is what was run, so
    the K to ask for is 4."""
    s = 0.025
    base = np.full(3, 10.0)
    current = 10.0 * np.exp([-s, 0.0, s])
    decision = decide(base, current, threshold=0.05, floor=0.01, alpha=0.05)
    half = float(stats.t.ppf(0.975, 2)) * s / math.sqrt(3)
    assert decision.verdict is Verdict.UNKNOWN
    assert decision.ci_low == pytest.approx(_rel(-half), abs=1e-9)
    assert decision.ci_high == pytest.approx(_rel(half), abs=1e-9)
    assert decision.repeats_needed == 4
    assert "--repeats 4 on both sides would resolve it" in decision.reason
    assert decision.basis == "Welch t-interval (95%) on log repeat medians, K=3/3; floor 1.0%"


def test_a_resolved_change_inside_twice_the_floor_is_decided_by_its_interval() -> None:
    """d = 0.07 in logs (+7.3%), between the 5% band and twice it; equal spreads s on
    both sides (Welch df = 4): half-width t(0.975, 4) · s · √(2/3) = 0.03 -- the interval
    0.04 ... 0.10 excludes 0 and is no wider than the band: slower."""
    half = 0.03
    s = half / (float(stats.t.ppf(0.975, 4)) * math.sqrt(2 / 3))
    base = np.exp([-s, 0.0, s])
    current = np.exp([0.07 - s, 0.07, 0.07 + s])
    decision = decide(base, current, threshold=0.05, floor=0.05, alpha=0.05)
    assert decision.verdict is Verdict.SLOWER
    assert decision.ci_low == pytest.approx(_rel(0.07 - half), abs=1e-9)
    assert decision.ci_high == pytest.approx(_rel(0.07 + half), abs=1e-9)
    assert decision.change == pytest.approx(_rel(0.07), abs=1e-12)
    mirrored = decide(current, base, threshold=0.05, floor=0.05, alpha=0.05)
    assert mirrored.verdict is Verdict.FASTER


def test_repeats_that_only_touch_are_not_separated() -> None:
    """BASE 1.0, 1.0, 1.5 ms and CURRENT 1.5, 1.6, 1.6 ms: the medians moved +60%, far
    beyond twice the floor, but the slowest BASE repeat equals the fastest CURRENT one --
    not "every repeat beyond every other" -- and the t-interval is far too wide: unknown
    (one disturbed BASE repeat could be the whole story)."""
    decision = decide(np.array([1.0, 1.0, 1.5]), np.array([1.5, 1.6, 1.6]),
                      threshold=0.05, floor=0.05, alpha=0.05)
    assert decision.verdict is Verdict.UNKNOWN
    assert decision.basis.startswith("Welch t-interval")
    apart = decide(np.array([1.0, 1.0, 1.49]), np.array([1.5, 1.6, 1.6]),
                   threshold=0.05, floor=0.05, alpha=0.05)
    assert apart.verdict is Verdict.SLOWER  # strictly beyond: decided on the medians
    assert apart.change == pytest.approx(0.6)
    assert apart.basis.startswith("every repeat of CURRENT above every repeat of BASE")


def test_one_run_against_three_is_judged_as_one_run_and_says_so() -> None:
    """K = 1 on one side: the repeats of the other cannot give a two-sample interval."""
    decision = decide(np.array([1.0]), np.array([1.05, 1.06, 1.07]), threshold=0.05,
                      floor=0.10, alpha=0.05)
    assert decision.verdict is Verdict.SAME
    assert decision.ci_low is None and decision.ci_high is None
    # the bands: inner = max(ln 1.05, ln 1.10) -> ±10.0%; outer = 2 · ln 1.10 -> ±21.0%
    assert decision.basis == ("one run vs noise floor 10.0% (K=1/3; same within ±10.0%, "
                              "decided beyond ±21.0%)")


def test_a_caller_that_does_not_say_where_the_floor_came_from_gets_it_trusted() -> None:
    """``host_noise`` defaults to True: +50% at K = 1 beyond twice a 10% floor is slower."""
    decision = decide(np.array([1.0]), np.array([1.5]), threshold=0.05, floor=0.10,
                      alpha=0.05)
    assert decision.verdict is Verdict.SLOWER and decision.change == pytest.approx(0.5)
    assert decision.basis == ("one run vs noise floor 10.0% (K=1/1; same within ±10.0%, "
                              "decided beyond ±21.0%)")


def test_a_side_without_latency_keeps_the_floor_it_was_judged_with() -> None:
    decision = decide(np.array([]), np.array([1.0]), threshold=0.05, floor=0.10, alpha=0.05)
    assert decision.verdict is Verdict.UNKNOWN and decision.floor == 0.10
    assert (decision.basis, decision.reason) == ("no latency", "a side has no latency figure")


@pytest.mark.parametrize(("spread", "target", "expected"), [
    (0.001, 0.05, 2),  # t(0.975, 2) · 0.001 · 1 = 0.0043: two repeats already do
    # t(0.975, 4) · 0.021 · √(2/3) = 0.0476 ≤ 0.05 but t(0.975, 2) · 0.021 = 0.0904: 3
    (0.021, 0.05, 3),
    (0.1, 0.0, 2),  # nothing to resolve: the fewest repeats that give a spread
    (0.0, 0.05, 2),
    (1.0, 0.01, None),  # beyond 64 repeats: too noisy to gate
])
def test_the_k_to_resolve_is_the_smallest_with_a_narrow_enough_interval(
        spread: float, target: float, expected: int | None) -> None:
    assert repeats_to_resolve(spread, target, 0.05) == expected


def test_the_k_to_resolve_follows_the_pooled_t_half_width_exactly() -> None:
    """K is the smallest with t(1 - α/2, 2K - 2) · σ · √(2/K) ≤ target: around each K's
    edge, just inside gives K and just outside K + 1."""
    target, alpha = 0.05, 0.05
    for k in (2, 3, 5, 9, 20):
        edge = target / (float(stats.t.ppf(1 - alpha / 2, 2 * k - 2)) * math.sqrt(2 / k))
        assert repeats_to_resolve(edge * 0.999, target, alpha) == k
        assert repeats_to_resolve(edge * 1.001, target, alpha) == k + 1


def test_a_resolved_change_beyond_twice_the_floor_is_decided_however_wide_its_interval(
) -> None:
    """K = 8 a side, log spread 0.2 on each (Welch df = 14): half-width t(0.975, 14) · 0.2 ·
    √(2/8) = 0.2145, wider than twice the 5% floor, yet the interval 0.3 ± 0.2145
    excludes 0 and the change is beyond twice the floor: slower -- although the repeats
    overlap (no "every repeat beyond every other" to fall back on)."""
    offsets = np.array([-3.5, -2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5])
    logs = 0.2 * offsets / float(np.std(offsets, ddof=1))
    base, current = np.exp(logs), np.exp(0.3 + logs)
    assert current.min() < base.max()  # overlapping repeats
    decision = decide(base, current, threshold=0.05, floor=0.05, alpha=0.05)
    half = float(stats.t.ppf(0.975, 14)) * 0.2 * math.sqrt(2 / 8)
    assert decision.verdict is Verdict.SLOWER
    assert decision.ci_low == pytest.approx(_rel(0.3 - half), abs=1e-9)
    assert decision.ci_high == pytest.approx(_rel(0.3 + half), abs=1e-9)
