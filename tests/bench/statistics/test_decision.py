"""The decision per model × target × threads, from synthetic variants whose figures and
intervals are chosen so that each outcome is known by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qatbench.bench.statistics.decision import (
    Candidate,
    Outcome,
    count_to_tell,
    decide_group,
    paired_drop_interval,
    repeats_to_tell,
)
from qatbench.bench.statistics.goals import Goals


def variant(name: str, p50: float, low: float, high: float, **figures: object) -> Candidate:
    return Candidate(variant=name, latency_ms=p50, latency_low=low, latency_high=high,
                     size_bytes=figures.pop("size_bytes", 1_000_000), **figures)


def test_a_variant_meets_misses_or_is_undecided_by_where_its_interval_lies() -> None:
    goals = Goals(max_latency_ms=10)
    decision = decide_group([
        variant("float32", 12.0, 11.0, 13.0),  # whole interval above 10: misses
        variant("ptq_int8", 8.0, 7.0, 9.5),  # whole interval below: meets
        variant("qat_int8", 9.8, 9.0, 10.5),  # straddles 10: undecided
        variant("fp16", 9.5, 9.0, 10.0),  # high end exactly on the bound: meets
    ], goals)
    outcomes = {v.variant: v.outcome for v in decision.variants}
    assert outcomes == {"float32": Outcome.MISSES, "ptq_int8": Outcome.MEETS,
                        "qat_int8": Outcome.UNDECIDED, "fp16": Outcome.MEETS}
    undecided = decision.of("qat_int8")
    assert undecided is not None
    check = undecided.reasons(Outcome.UNDECIDED)[0]
    assert check.goal == "max_latency_ms" and "straddles 10 ms" in check.figure
    assert "--repeats" in check.needed


def test_variants_whose_latency_intervals_overlap_the_winner_are_ties_not_ranked() -> None:
    decision = decide_group([
        variant("float32", 10.0, 9.5, 10.5),
        variant("ptq_int8", 5.0, 4.8, 5.3),
        variant("qat_int8", 5.2, 5.25, 5.6),  # 5.25 ≤ 5.3: overlaps the winner's
        variant("dynamic_int8", 6.0, 5.4, 6.5),  # 5.4 > 5.3: clear of it
    ], Goals())
    assert decision.winner == "ptq_int8"
    assert decision.ties == ("qat_int8",)
    assert decision.headline() == ("ship ptq_int8; tied on latency (overlapping intervals, "
                                   "not ranked): qat_int8")
    assert decision.of("dynamic_int8").text() == "meets every goal, not the best"


def test_prefer_size_picks_the_smallest_file_that_meets_every_goal() -> None:
    decision = decide_group([
        variant("float32", 10.0, 9.5, 10.5, size_bytes=4_000_000),
        variant("ptq_int8", 5.0, 4.8, 5.3, size_bytes=1_000_000),
        variant("int4_weights", 7.0, 6.8, 7.2, size_bytes=600_000),
    ], Goals(prefer="size"))
    assert decision.winner == "int4_weights"


def test_no_variant_meeting_the_goals_names_no_winner() -> None:
    decision = decide_group([
        variant("float32", 10.0, 9.5, 10.5, size_bytes=4_000_000),
        variant("ptq_int8", 5.0, 4.8, 5.3, size_bytes=1_200_000),
    ], Goals(max_size_mb=1.0))
    assert decision.winner is None and not decision.met
    assert decision.headline() == "no variant meets the goals"
    assert decision.of("ptq_int8").text() == "misses: size 1.2 MB > 1 MB"


def test_an_undecided_variant_is_named_when_nothing_is_known_to_meet() -> None:
    decision = decide_group([variant("ptq_int8", 9.8, 9.0, 10.5)], Goals(max_latency_ms=10))
    assert decision.winner is None
    assert decision.headline().startswith("no variant is known to meet the goals; "
                                          "undecided: ptq_int8 (p50 9.8 ms [9–10.5] "
                                          "straddles 10 ms")


def test_a_variant_not_measured_takes_no_part() -> None:
    decision = decide_group([variant("float32", 10.0, 9.5, 10.5),
                             Candidate(variant="ptq_int8", status="failed")], Goals())
    assert decision.winner == "float32"
    assert decision.of("ptq_int8").outcome == Outcome.NOT_MEASURED


def hits_pair(n: int, both: int, only_float: int, only_variant: int
              ) -> tuple[np.ndarray, np.ndarray]:
    float_hits = np.zeros(n, bool)
    variant_hits = np.zeros(n, bool)
    float_hits[:both] = variant_hits[:both] = True
    float_hits[both:both + only_float] = True
    variant_hits[both + only_float:both + only_float + only_variant] = True
    return float_hits, variant_hits


def score_by_numerical_likelihood(b: int, c: int, n: int, delta: float) -> float:
    """Tango's score at ``delta`` with the nuisance cell fitted by maximising the
    multinomial likelihood numerically (not the closed form the product uses)."""
    from scipy.optimize import minimize_scalar

    def negative_log_likelihood(p01: float) -> float:
        p10 = p01 + delta
        rest = 1 - p10 - p01
        return -(b * np.log(p10) + c * np.log(p01) + (n - b - c) * np.log(rest))

    low, high = max(0.0, -delta) + 1e-12, (1 - delta) / 2 - 1e-12
    p01 = minimize_scalar(negative_log_likelihood, bounds=(low, high), method="bounded",
                          options={"xatol": 1e-14}).x
    return (b - c - n * delta) / math.sqrt(n * (2 * p01 + delta * (1 - delta)))


@pytest.mark.parametrize(("n", "b", "c"), [(1000, 30, 10), (400, 3, 2), (200, 10, 1)])
def test_the_paired_drop_interval_is_tango_s_score_interval(n: int, b: int, c: int) -> None:
    drop, low, high = paired_drop_interval(*hits_pair(n, n - 100, b, c))
    assert drop == pytest.approx(100 * (b - c) / n)
    # at each bound the score, with the nuisance fitted independently, is ±1.96
    assert score_by_numerical_likelihood(b, c, n, low / 100) == pytest.approx(1.959964, abs=1e-3)
    assert score_by_numerical_likelihood(b, c, n, high / 100) == pytest.approx(-1.959964,
                                                                               abs=1e-3)
    # and it excludes no difference exactly when McNemar's z = (b - c) / sqrt(b + c) does
    assert (low > 0) == (abs(b - c) / math.sqrt(b + c) > 1.959964)


def labelled(name: str, hits: np.ndarray, p50: float) -> Candidate:
    return Candidate(variant=name, latency_ms=p50, latency_low=p50 * 0.95,
                     latency_high=p50 * 1.05, size_bytes=1e6, top1=float(hits.mean()),
                     eval_samples=len(hits), hits=hits)


def test_max_top1_drop_meets_misses_and_says_how_many_inputs_would_tell() -> None:
    reference = np.ones(1000, bool)
    reference[:50] = False  # float: 95.0%
    clear_drop = reference.copy()
    clear_drop[50:110] = False  # 6 points below, every discordant input float's
    small = reference.copy()
    small[50:55] = False  # 0.5 points below
    decision = decide_group([labelled("float32", reference, 10.0),
                             labelled("ptq_int8", clear_drop, 5.0),
                             labelled("qat_int8", small, 5.0)], Goals(max_top1_drop=1))
    assert decision.of("ptq_int8").outcome == Outcome.MISSES
    undecided = decision.of("qat_int8")
    assert undecided.outcome == Outcome.UNDECIDED
    _, low, high = paired_drop_interval(reference, small)
    assert low < 1 < high
    needed = count_to_tell(1000, 0.5, low, high, 1.0)
    assert needed == math.ceil(1000 * ((high - 0.5) / 0.5) ** 2)
    assert f"about {needed:,} eval inputs (now 1,000) would tell" in undecided.text()
    assert decision.winner == "float32"


def test_without_goals_a_measurable_mcnemar_drop_misses_and_latency_decides() -> None:
    reference = np.ones(200, bool)
    ten_lost = reference.copy()
    ten_lost[:10] = False  # 10 discordant inputs, all float's: p = 2 / 2^10 = 0.00195
    three_lost = reference.copy()
    three_lost[:3] = False  # p = 2 / 2^3 = 0.25: no measurable drop
    decision = decide_group([labelled("float32", reference, 10.0),
                             labelled("ptq_int8", ten_lost, 4.0),
                             labelled("qat_int8", three_lost, 5.0)], Goals())
    assert decision.of("ptq_int8").outcome == Outcome.MISSES
    assert "p = 0.002" in decision.of("ptq_int8").text()
    assert decision.of("qat_int8").outcome == Outcome.MEETS
    assert decision.winner == "qat_int8"
    assert "McNemar, the default" in decision.goals.describe()
    assert "prefer = latency (the default)" in decision.goals.describe()


def test_repeats_to_tell_follows_the_t_interval_of_the_repeat_medians() -> None:
    # K = 3, p50 9.5 in [9, 10.5], bound 9.9: the half-width on the bound's side is 1.0
    # and the gap 0.4. One repeat's spread = 1.0 * sqrt(3) / t(0.975, 2) = 1.73205 /
    # 4.30265 = 0.40256; the first K with t(0.975, K-1) * 0.40256 / sqrt(K) < 0.4:
    # K=6: 2.57058 * 0.40256 / 2.44949 = 0.4225; K=7: 2.44691 * 0.40256 / 2.64575 = 0.3723
    assert repeats_to_tell(3, 9.5, 9.0, 10.5, 9.9) == 7
    assert repeats_to_tell(3, 10.0, 9.0, 11.0, 10.0) is None  # on the bound


def test_without_a_float32_row_the_default_bounds_no_accuracy_and_says_why() -> None:
    decision = decide_group([Candidate(variant="int8", latency_ms=1.0, top1=0.9,
                                       eval_samples=100)], Goals())
    (check,) = decision.of("int8").checks
    assert check.outcome == Outcome.MEETS
    assert check.figure.startswith("no float32 row on this target")
