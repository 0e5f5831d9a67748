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

from qatbench.bench.statistics.latency import (
    RepeatEvidence,
    Verdict,
    decide,
    repeats_to_resolve,
)


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


# -- second round (the lead's run on 926eae9): both sides constant, the exact band edges,
# -- one run against two, the K cap, and the context a check appends --------------------


def test_repeats_that_agree_exactly_have_a_zero_width_interval() -> None:
    """Three identical repeats a side (a coarse timer gives these): no spread to test,
    so the interval is the change itself -- +1% inside a 5% threshold is same, +30% is
    slower -- not a t-interval of zero variances (NaN, which would be unknown)."""
    same = decide(np.full(3, 2.0), np.full(3, 2.02), threshold=0.05, floor=0.01, alpha=0.05)
    assert same.verdict is Verdict.SAME
    assert same.change == same.ci_low == same.ci_high == pytest.approx(0.01)
    slower = decide(np.full(3, 2.0), np.full(3, 2.6), threshold=0.05, floor=0.01, alpha=0.05)
    assert slower.verdict is Verdict.SLOWER
    assert slower.ci_low == slower.ci_high == pytest.approx(0.3)


def test_a_constant_current_against_spread_base_repeats_is_not_same() -> None:
    """The mirror of the constant-BASE case above: CURRENT constant at BASE's centre,
    BASE spread ±2.5% -- Welch's half-width t(0.975, 2) · 0.025 / √3 = 0.0621 is wider
    than the 5% band, so the change 0 is not resolved as same."""
    s = 0.025
    decision = decide(10.0 * np.exp([-s, 0.0, s]), np.full(3, 10.0), threshold=0.05,
                      floor=0.01, alpha=0.05)
    half = float(stats.t.ppf(0.975, 2)) * s / math.sqrt(3)
    assert decision.verdict is Verdict.UNKNOWN
    assert decision.ci_high == pytest.approx(_rel(half), abs=1e-9)


# 1.1 ms against 1.0 ms: d = ln 1.1, and ln 1.1 = log1p(expm1(ln 1.1)) to the last bit, so a
# threshold (or a floor) can be put exactly on the change
EDGE = float(np.log(1.1))
AT_THRESHOLD = math.expm1(EDGE)  # inner = outer = d exactly (the floor is smaller)
TWICE_FLOOR_AT = math.expm1(EDGE / 2)  # outer = 2 · log1p(floor) = d exactly


def test_the_band_edges_are_exact_in_floating_point() -> None:
    assert math.log1p(AT_THRESHOLD) == EDGE
    assert 2 * math.log1p(TWICE_FLOOR_AT) == EDGE


@pytest.mark.parametrize("k", [1, 2])
def test_a_change_exactly_at_the_threshold_is_same(k: int) -> None:
    """The band is inclusive: "a change inside it is same" holds at its edge, for one
    run a side and for repeats that agree exactly (interval = the change)."""
    decision = decide(np.full(k, 1.0), np.full(k, 1.1), threshold=AT_THRESHOLD, floor=0.01,
                      alpha=0.05)
    assert decision.verdict is Verdict.SAME


@pytest.mark.parametrize("host_noise", [True, False])
def test_one_run_exactly_at_twice_the_floor_is_not_beyond_it(host_noise: bool) -> None:
    """+10% from one run a side, the floor 4.88% (twice it in logs is ln 1.1 exactly):
    "decided beyond ±10.0%" means beyond -- at the edge it is the band between, unknown
    with the K that would resolve it, whoever measured the floor. Just beyond, a floor
    from this host decides slower."""
    decision = decide(np.array([1.0]), np.array([1.1]), threshold=0.01,
                      floor=TWICE_FLOOR_AT, alpha=0.05, host_noise=host_noise)
    assert decision.verdict is Verdict.UNKNOWN
    assert decision.reason.startswith("+10.0% is between the noise floor (±4.9%) and twice "
                                      "it (±10.0%)")
    beyond = decide(np.array([1.0]), np.array([1.1]), threshold=0.01,
                    floor=TWICE_FLOOR_AT * 0.999, alpha=0.05, host_noise=host_noise)
    assert beyond.verdict is (Verdict.SLOWER if host_noise else Verdict.UNKNOWN)
    if not host_noise:
        # K: t(0.975, 2K - 2) · σ · √(2/K) ≤ ln(1 + floor) with σ = ln(1 + floor) /
        # (z(0.995) · √2) -- 0.622 · ln(1 + floor) at K = 3, and at least 3 anyway
        assert beyond.repeats_needed == 3
        assert beyond.reason == (
            "+10.0% from one run per side, beyond the floor 4.9% that was not measured on "
            "this host (no noise-floor file from here, and fewer than 5 earlier runs of "
            "this series on this host under the results root): one run cannot tell this "
            "host's run-to-run noise from a change; --repeats 3 on both sides, or `qatbench "
            "ab BASE_FILE CURRENT_FILE` (interleaved pairs), would decide it")


def test_repeats_whose_mean_change_is_exactly_twice_the_floor_need_a_narrow_interval() -> None:
    """BASE 1.0 ms three times, CURRENT 1.0725 / 1.1 / 1.15 ms: the mean log change d is
    put exactly on twice the floor. The interval excludes 0 but is wider than the floor
    band, and d is not *beyond* twice the floor: unknown. Just beyond it: slower."""
    current = np.array([1.0725, 1.1, 1.15])
    d = float(np.mean(np.log(current)))
    floor = math.expm1(d / 2)
    assert 2 * math.log1p(floor) == d
    decision = decide(np.ones(3), current, threshold=0.01, floor=floor, alpha=0.05)
    assert decision.verdict is Verdict.UNKNOWN
    assert decision.ci_low > 0 and decision.repeats_needed == 4
    assert decide(np.ones(3), current, threshold=0.01, floor=floor * 0.999,
                  alpha=0.05).verdict is Verdict.SLOWER


def test_separated_repeats_whose_median_change_is_exactly_twice_the_floor_stay_unknown(
) -> None:
    """BASE 1.0, 1.0, 0.9 ms; CURRENT 1.1, 1.1, 3.0 ms: every CURRENT repeat is above
    every BASE one, the t-interval is far too wide, and the medians moved by ln 1.1 --
    exactly twice the floor, not beyond it: unknown. Just beyond: slower on the medians."""
    base, current = np.array([1.0, 1.0, 0.9]), np.array([1.1, 1.1, 3.0])
    at = decide(base, current, threshold=0.01, floor=TWICE_FLOOR_AT, alpha=0.05)
    assert at.verdict is Verdict.UNKNOWN and at.basis.startswith("Welch t-interval")
    beyond = decide(base, current, threshold=0.01, floor=TWICE_FLOOR_AT * 0.999, alpha=0.05)
    assert beyond.verdict is Verdict.SLOWER
    assert beyond.basis.startswith("every repeat of CURRENT above every repeat of BASE")


def test_repeats_that_only_touch_on_the_faster_side_are_not_separated() -> None:
    """The mirror of the slower case: CURRENT's slowest repeat equals BASE's fastest."""
    decision = decide(np.array([1.5, 1.6, 1.6]), np.array([1.0, 1.0, 1.5]),
                      threshold=0.05, floor=0.05, alpha=0.05)
    assert decision.verdict is Verdict.UNKNOWN
    apart = decide(np.array([1.5, 1.6, 1.6]), np.array([1.0, 1.0, 1.49]),
                   threshold=0.05, floor=0.05, alpha=0.05)
    assert apart.verdict is Verdict.FASTER
    assert apart.basis.startswith("every repeat of CURRENT below every repeat of BASE")


def _k_by_hand(spread: float, target: float, alpha: float = 0.05) -> int | None:
    """The smallest K ≤ 64 with t(1 - α/2, 2K - 2) · spread · √(2/K) ≤ target."""
    for k in range(2, 65):
        if float(stats.t.ppf(1 - alpha / 2, 2 * k - 2)) * spread * math.sqrt(2 / k) <= target:
            return k
    return None


def test_one_run_against_two_asks_for_the_k_the_two_repeats_spread_implies() -> None:
    """BASE one run, CURRENT two repeats ln-spaced ±0.0212 around +7%: between the 5%
    band and twice it. The spread is CURRENT's sample standard deviation (ddof 1:
    0.0212 · √2 = 0.03), which needs K = 5 for a half-width within ln 1.05 -- not the
    K = 3 that the floor's implied spread, or a population deviation, would give."""
    a = 0.03 / math.sqrt(2)
    decision = decide(np.array([1.0]), np.exp([0.07 - a, 0.07 + a]), threshold=0.05,
                      floor=0.05, alpha=0.05)
    inner = math.log1p(0.05)
    assert _k_by_hand(0.03, inner) == 5
    assert _k_by_hand(a, inner) == _k_by_hand(inner / (2.5758293035489 * math.sqrt(2)),
                                              inner) == 3
    assert decision.verdict is Verdict.UNKNOWN and decision.repeats_needed == 5
    assert decision.reason.endswith("; --repeats 5 on both sides would resolve it")
    assert decision.resolve == "--repeats 5 on both sides"


def test_a_row_too_noisy_for_64_repeats_says_so_instead_of_naming_a_k() -> None:
    """CURRENT's two repeats are e^±1 apart around +7%: no K up to 64 resolves that."""
    decision = decide(np.array([1.0]), np.exp([0.07 - 1.0, 0.07 + 1.0]), threshold=0.05,
                      floor=0.05, alpha=0.05)
    assert decision.verdict is Verdict.UNKNOWN and decision.repeats_needed is None
    assert decision.reason.endswith("; more than 64 repeats would be needed: this row is "
                                    "too noisy to gate here")
    assert decision.resolve == "more than 64 repeats"


def test_the_k_to_resolve_stops_at_64() -> None:
    """Just inside K = 64's edge asks for 64; just outside it is too noisy (None), not 65."""
    target, alpha = 0.05, 0.05
    edge = target / (float(stats.t.ppf(1 - alpha / 2, 126)) * math.sqrt(2 / 64))
    assert repeats_to_resolve(edge * 0.999, target, alpha) == 64
    assert repeats_to_resolve(edge * 1.001, target, alpha) is None


def test_a_side_without_latency_keeps_the_threshold_it_was_judged_at() -> None:
    decision = decide(np.array([1.0]), np.array([]), threshold=0.07, floor=0.10, alpha=0.05)
    assert decision.verdict is Verdict.UNKNOWN and decision.threshold == 0.07


def test_repeat_evidence_appends_its_context_to_the_basis_only_when_it_has_one() -> None:
    """A check decides stored repeat units at its own threshold; where the floor came
    from follows the basis after "; "."""
    plain = ("one run vs noise floor 10.0% (K=1/1; same within ±10.0%, decided beyond "
             "±21.0%)")
    kwargs = {"base": np.array([1.0]), "current": np.array([1.02]), "floor": 0.10,
              "alpha": 0.05, "host_noise": True}
    with_context = RepeatEvidence(**kwargs, context="this host's history: 6 runs, floor "
                                                    "10.0%").decide(0.05)
    assert with_context.verdict is Verdict.SAME
    assert with_context.basis == f"{plain}; this host's history: 6 runs, floor 10.0%"
    without = RepeatEvidence(**kwargs).decide(0.05)
    assert without.basis == plain and without.threshold == 0.05
