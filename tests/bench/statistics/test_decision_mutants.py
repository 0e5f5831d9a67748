"""The ship decision where `nox -s mutation` found nothing pinning it: each check's goal
key, outcome and words for float32 and for rows it cannot judge, the unpaired paths
(Newcombe's interval from two Wilson intervals, Fisher's exact test), which side of an
interval decides against a lower and an upper bound (and an interval that touches it),
the counts of inputs and ``--repeats`` suggested to tell, ties on touching intervals,
Tango's score where its variance vanishes, min_agreement and the single figures (SNR,
size, peak memory) on and beyond their bounds or missing, the winner and its ties under
each preference, the headline, and how a results row (empty, NaN, infinite cells) is read.
Expected figures are worked out here by hand or with scipy (Wilson intervals, Fisher's
test, t quantiles), never with the product."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.optimize import minimize_scalar

from qatbench.bench.statistics.decision import (
    Candidate,
    Check,
    Outcome,
    count_to_tell,
    decide_group,
    overlaps,
    repeats_to_tell,
    tango_score,
)
from qatbench.bench.statistics.goals import Goals

DEFAULT = "default: no measurable top-1 drop"


def row(name: str, p50: float = 5.0, low: float | None = None, high: float | None = None,
        **figures: object) -> Candidate:
    return Candidate(variant=name, latency_ms=p50,
                     latency_low=p50 * 0.95 if low is None else low,
                     latency_high=p50 * 1.05 if high is None else high, **figures)


def only_check(candidates: list[Candidate], goals: Goals, name: str) -> Check:
    (check,) = decide_group(candidates, goals).of(name).checks  # type: ignore[union-attr]
    return check


def wilson(hits: int, n: int) -> tuple[float, float]:
    ci = stats.binomtest(hits, n).proportion_ci(confidence_level=0.95, method="wilson")
    return ci.low, ci.high


def labelled(name: str, hits: int, n: int, **figures: object) -> Candidate:
    """A row measured without keeping predictions: top-1 with its Wilson interval."""
    low, high = wilson(hits, n)
    return row(name, top1=hits / n, top1_low=low, top1_high=high, eval_samples=n,
               **figures)


# -- accuracy: float32, and rows the checks cannot judge ----------------------------------

def test_float32_is_the_reference_of_each_accuracy_goal() -> None:
    rows = [labelled("float32", 180, 200), labelled("ptq_int8", 170, 200)]
    reference = Check("max_top1_drop", Outcome.MEETS, "float32 is the reference")
    assert only_check(rows, Goals(max_top1_drop=1), "float32") == reference
    assert only_check(rows, Goals(), "float32") == Check(DEFAULT, Outcome.MEETS,
                                                          "float32 is the reference")


def test_max_top1_drop_cannot_be_judged_without_float32_or_labels() -> None:
    unjudged = Check("max_top1_drop", Outcome.UNDECIDED,
                     "top-1 drop not measurable: no labels or no float32 row on this target",
                     "labelled eval data and a float32 row would tell")
    goals = Goals(max_top1_drop=1)
    assert only_check([labelled("ptq_int8", 170, 200)], goals, "ptq_int8") == unjudged
    assert only_check([labelled("float32", 180, 200), row("ptq_int8")], goals,
                      "ptq_int8") == unjudged


def test_the_default_bounds_no_accuracy_without_labels_and_says_so() -> None:
    check = only_check([labelled("float32", 180, 200), row("ptq_int8", eval_samples=200)],
                       Goals(), "ptq_int8")
    assert check == Check(DEFAULT, Outcome.MEETS, "no labels on this target: the default "
                          "bounds no accuracy (set min_agreement or min_snr_db)")
    alone = only_check([labelled("ptq_int8", 170, 200)], Goals(), "ptq_int8")
    assert alone.goal == DEFAULT and alone.outcome == Outcome.MEETS


def test_the_default_without_a_sample_count_on_either_side_is_undecided() -> None:
    undecided = Check(DEFAULT, Outcome.UNDECIDED, "top-1 without a sample count",
                      "a run that keeps predictions would tell")
    for reference_n, candidate_n in ((None, 200), (200, None)):
        rows = [row("float32", top1=0.9, eval_samples=reference_n),
                row("ptq_int8", top1=0.8, eval_samples=candidate_n)]
        assert only_check(rows, Goals(), "ptq_int8") == undecided


# -- accuracy: the default (no bound given) ------------------------------------------------

def test_the_default_uses_fisher_on_the_counts_when_one_side_kept_no_predictions() -> None:
    """float32 kept its predictions, the variant did not: the counts decide (Fisher's
    exact test, two-sided, as scipy computes it)."""
    reference = labelled("float32", 180, 200)
    reference = replace(reference, hits=np.arange(200) < 180)
    p_far = stats.fisher_exact([[180, 20], [160, 40]]).pvalue
    p_near = stats.fisher_exact([[180, 20], [176, 24]]).pvalue
    assert p_far < 0.05 < p_near
    far = only_check([reference, labelled("ptq_int8", 160, 200)], Goals(), "ptq_int8")
    assert far == Check(DEFAULT, Outcome.MISSES, "measurable drop: top-1 +10.0 pt below "
                        f"float32 (p = {p_far:.2g}, Fisher exact, unpaired)")
    near = only_check([reference, labelled("ptq_int8", 176, 200)], Goals(), "ptq_int8")
    assert near == Check(DEFAULT, Outcome.MEETS, "no measurable drop: top-1 +2.0 pt below "
                         f"float32 (p = {p_near:.2g}, Fisher exact, unpaired)")


def test_the_default_at_p_exactly_alpha_is_no_measurable_drop() -> None:
    """12 of 12 against 2 of 4: Fisher's exact p is 0.05 to the last bit (scipy), and
    "measurable" is p < 0.05, as the gate's own accuracy rule."""
    assert stats.fisher_exact([[12, 0], [2, 2]]).pvalue == 0.05
    rows = [row("float32", top1=1.0, eval_samples=12), row("ptq_int8", top1=0.5,
                                                          eval_samples=4)]
    assert only_check(rows, Goals(), "ptq_int8") == Check(
        DEFAULT, Outcome.MEETS, "no measurable drop: top-1 +50.0 pt below float32 "
        "(p = 0.05, Fisher exact, unpaired)")


def paired_rows(n: int, lost: int) -> list[Candidate]:
    """float32 right on every input, the variant wrong on ``lost`` of them."""
    reference = np.ones(n, bool)
    variant = reference.copy()
    variant[:lost] = False
    return [row("float32", top1=1.0, eval_samples=n, hits=reference),
            row("ptq_int8", top1=variant.mean(), eval_samples=n, hits=variant)]


def test_the_default_names_mcnemar_and_misses_a_significant_drop_below_one_point() -> None:
    # 10 of 200 lost, all discordant inputs float's: McNemar's exact p = 2 / 2^10
    check = only_check(paired_rows(200, 10), Goals(), "ptq_int8")
    assert check == Check(DEFAULT, Outcome.MISSES, "measurable drop: top-1 +5.0 pt below "
                          f"float32 (p = {2 / 2 ** 10:.2g}, McNemar exact)")
    # 60 of 10,000: a 0.6 point drop, p = 2 / 2^60: small, and measurable
    small = only_check(paired_rows(10_000, 60), Goals(), "ptq_int8")
    assert small.outcome == Outcome.MISSES
    assert small.figure.startswith("measurable drop: top-1 +0.6 pt below float32")


# -- accuracy: a max_top1_drop bound, unpaired -----------------------------------------------

def test_an_unpaired_top1_drop_is_judged_on_newcombe_s_interval() -> None:
    """No paired predictions on the variant's side: Newcombe's hybrid score interval of
    the difference, from each row's Wilson interval (Newcombe 1998, method 10)."""
    l1, u1 = wilson(180, 200)
    l2, u2 = wilson(170, 200)
    drop = 0.05
    low = 100 * (drop - math.sqrt((0.9 - l1) ** 2 + (u2 - 0.85) ** 2))
    high = 100 * (drop + math.sqrt((u1 - 0.9) ** 2 + (0.85 - l2) ** 2))
    assert low < 1 < high  # straddles a 1-point bound
    reference = labelled("float32", 180, 200)
    reference = replace(reference, hits=np.arange(200) < 180)
    check = only_check([reference, labelled("ptq_int8", 170, 200)], Goals(max_top1_drop=1),
                       "ptq_int8")
    # the interval's far side from the bound is the low end: 5 - low points away, the
    # bound 4 points: (5 - low)² / 4² times the inputs would bring the low end over it
    needed = math.ceil(200 * ((5 - low) / 4) ** 2)
    assert check == Check(
        "max_top1_drop", Outcome.UNDECIDED,
        f"top-1 drop (unpaired) 5 pt [{low:.3g}–{high:.3g}] straddles 1 pt",
        f"about {needed:,} eval inputs (now 200) would tell")


def test_a_row_without_a_top1_interval_counts_as_its_point() -> None:
    """An older row kept top-1 but no interval: its side adds no width, so Newcombe's
    interval is the other row's Wilson interval around the difference."""
    l2, u2 = wilson(170, 200)
    bare_float = row("float32", top1=0.9, eval_samples=200)
    check = only_check([bare_float, labelled("ptq_int8", 170, 200)], Goals(max_top1_drop=1),
                       "ptq_int8")
    low, high = 100 * (0.05 - (u2 - 0.85)), 100 * (0.05 + (0.85 - l2))
    assert check.figure == f"top-1 drop (unpaired) 5 pt [{low:.3g}–{high:.3g}] straddles 1 pt"
    l1, u1 = wilson(180, 200)
    bare_variant = row("ptq_int8", top1=0.85, eval_samples=200)
    check = only_check([labelled("float32", 180, 200), bare_variant],
                       Goals(max_top1_drop=1), "ptq_int8")
    low, high = 100 * (0.05 - (0.9 - l1)), 100 * (0.05 + (u1 - 0.9))
    assert check.figure == f"top-1 drop (unpaired) 5 pt [{low:.3g}–{high:.3g}] straddles 1 pt"


def test_an_undecided_drop_without_a_count_or_on_the_bound_promises_no_count() -> None:
    no_count = row("ptq_int8", top1=0.85, top1_low=0.80, top1_high=0.90)
    check = only_check([labelled("float32", 180, 200), no_count], Goals(max_top1_drop=1),
                       "ptq_int8")
    assert check.outcome == Outcome.UNDECIDED
    assert check.needed == "more eval inputs would tell"
    on_bound = row("ptq_int8", top1=0.89, top1_low=0.85, top1_high=0.93, eval_samples=200)
    check = only_check([row("float32", top1=0.90, top1_low=0.86, top1_high=0.94,
                            eval_samples=200), on_bound], Goals(max_top1_drop=1), "ptq_int8")
    assert check.needed == ("the estimate sits on the bound: no number of inputs can be "
                            "promised to tell")


# -- which side of an interval decides ------------------------------------------------------

def agreement(value: float, low: float, high: float) -> Check:
    rows = [row("float32"), row("ptq_int8", agreement=value, agreement_low=low,
                                agreement_high=high, eval_samples=400)]
    return only_check(rows, Goals(min_agreement=0.95), "ptq_int8")


def test_a_lower_bound_is_met_by_the_low_end_and_missed_by_the_high_end() -> None:
    assert agreement(0.98, 0.97, 0.99) == Check("min_agreement", Outcome.MEETS,
                                                 "agreement 98% [97–99] ≥ 95%")
    assert agreement(0.90, 0.85, 0.93) == Check("min_agreement", Outcome.MISSES,
                                                "agreement 90% [85–93] < 95%")
    # touching the bound: a low end on it meets; a high end on it is not a miss
    assert agreement(0.97, 0.95, 0.99).outcome == Outcome.MEETS
    assert agreement(0.93, 0.91, 0.95).outcome == Outcome.UNDECIDED


def latency(p50: float, low: float, high: float) -> Check:
    decided = decide_group([row("ptq_int8", p50, low, high)], Goals(max_latency_ms=10))
    (check,) = [c for c in decided.of("ptq_int8").checks if c.goal == "max_latency_ms"]
    return check


def test_an_upper_bound_is_met_by_the_high_end_and_missed_by_the_low_end() -> None:
    assert latency(8.0, 7.0, 9.5) == Check("max_latency_ms", Outcome.MEETS,
                                           "p50 8 ms [7–9.5] ≤ 10 ms")
    assert latency(12.0, 11.0, 13.0) == Check("max_latency_ms", Outcome.MISSES,
                                              "p50 12 ms [11–13] > 10 ms")
    # a low end exactly on the bound: the interval still holds the bound, not a miss
    assert latency(10.5, 10.0, 11.0).outcome == Outcome.UNDECIDED


# -- how many inputs / repeats would tell ---------------------------------------------------

def test_count_to_tell_scales_the_side_of_the_interval_facing_the_bound() -> None:
    # estimate 2 above the bound 1.5: the low side (2 - 0.5 = 1.5) must shrink to the gap
    # 0.5: (1.5 / 0.5)² = 9 times the inputs
    assert count_to_tell(100, 2.0, 0.5, 2.2, 1.5) == 900
    # a half-width just over the gap: 100 · 1.004² = 100.8, so 101 -- one more input
    assert count_to_tell(100, 0.0, -1.004, 1.004, 1.0) == 101
    assert count_to_tell(100, 1.0, 0.5, 1.5, 1.0) is None  # on the bound


def t(df: int) -> float:
    return float(stats.t.ppf(0.975, df))


def test_repeats_to_tell_for_each_kind_of_interval() -> None:
    # K = 3, p50 10.5 in [9.5, 10.6], bound 9.9: the low side faces the bound, half-width
    # 1.0, gap 0.6; one repeat's spread 1.0 · √3 / t(2) = 0.40256: K = 4 gives
    # t(3) · 0.40256 / 2 = 0.6406 (not below 0.6), K = 5 gives t(4) · 0.40256 / √5 = 0.4998
    assert repeats_to_tell(3, 10.5, 9.5, 10.6, 9.9) == 5
    # K = 2: spread 1.0 · √2 / t(1) = 0.11130; K = 3 gives t(2) · 0.1113 / √3 = 0.2765 < 0.5
    assert repeats_to_tell(2, 10.0, 9.0, 11.0, 10.5) == 3
    # K = 5, gap 0.9: spread √5 / t(4) = 0.80537; K = 6 gives t(5) · 0.80537 / √6 = 0.8452
    assert repeats_to_tell(5, 10.0, 9.0, 11.0, 10.9) == 6


def test_repeats_to_tell_goes_up_to_the_cli_limit_of_100_and_no_further() -> None:
    """One process (half-width 1.0 stands in for the spread): K repeats tell once
    t(K-1) / √K falls below the gap. A gap between K = 99's and K = 100's figure needs
    exactly 100, the CLI's limit; one between 100's and 101's cannot be promised."""
    def ratio(k: int) -> float:
        return t(k - 1) / math.sqrt(k)

    assert repeats_to_tell(1, 10.0, 9.0, 11.0, 10.0 + (ratio(99) + ratio(100)) / 2) == 100
    assert repeats_to_tell(1, 10.0, 9.0, 11.0, 10.0 + (ratio(100) + ratio(101)) / 2) is None


# -- ties, the table's cells ----------------------------------------------------------------

def test_intervals_that_touch_overlap() -> None:
    assert overlaps((1.0, 2.0), (2.0, 3.0)) and overlaps((2.0, 3.0), (1.0, 2.0))
    assert overlaps((1.0, 5.0), (2.0, 6.0)) and overlaps((2.0, 6.0), (1.0, 5.0))
    assert overlaps((1.0, 5.0), (2.0, 3.0))
    assert not overlaps((1.0, 2.0), (2.5, 3.0)) and not overlaps((2.5, 3.0), (1.0, 2.0))


def test_the_decision_cells_of_a_tie_a_row_not_measured_and_several_misses() -> None:
    decision = decide_group([
        row("float32", 12.0, 11.0, 13.0, size_bytes=4_000_000),
        row("ptq_int8", 5.0, 4.0, 5.5, size_bytes=1_000_000),
        row("qat_int8", 6.0, 5.5, 6.5, size_bytes=1_000_000),  # touches the winner's
        Candidate(variant="int4_weights", status="failed"),
    ], Goals(max_latency_ms=10, max_size_mb=2))
    assert decision.of("qat_int8").text() == ("tie with the winner: meets every goal, "
                                              "latency intervals overlap")
    assert decision.of("int4_weights").text() == "not measured"
    assert decision.of("int4_weights").latency_text() == ""
    assert decision.of("ptq_int8").latency_text() == "5 [4–5.5]"
    assert decision.of("float32").text() == ("misses: p50 12 ms [11–13] > 10 ms; "
                                             "size 4 MB > 2 MB")
    assert decision.of("dynamic_int8") is None


# -- Tango's score where its variance vanishes ----------------------------------------------

def score_by_numerical_likelihood(b: int, c: int, n: int, delta: float) -> float:
    """Tango's score with the nuisance cell P(variant only) fitted by maximising the
    multinomial likelihood numerically (not the closed form the product uses)."""
    def negative_log_likelihood(p01: float) -> float:
        p10 = p01 + delta
        terms = [(b, p10), (c, p01), (n - b - c, 1 - p10 - p01)]
        return -sum(k * math.log(p) for k, p in terms if k)

    low, high = max(0.0, -delta), (1 - delta) / 2
    p01 = minimize_scalar(negative_log_likelihood, bounds=(low, high), method="bounded",
                          options={"xatol": 1e-14}).x
    return (b - c - n * delta) / math.sqrt(n * (2 * p01 + delta * (1 - delta)))


def test_tango_score_with_a_small_variance_is_still_the_score() -> None:
    """No discordant inputs, 100 inputs, delta 0.001: a variance of 0.0999, below 1."""
    expected = score_by_numerical_likelihood(0, 0, 100, 0.001)
    assert expected == pytest.approx(-math.sqrt(100 * 0.001 / 0.999), rel=1e-4)
    assert tango_score(0, 0, 100, 0.001) == pytest.approx(expected, rel=1e-4)


def test_tango_score_at_the_edges_of_delta() -> None:
    """At delta = 0 with no discordant input, and at delta = 1 with every input float's,
    the data sit exactly on the hypothesis: score 0. At delta = 1 (every input float's
    only) three variant-only inputs are impossible: the score is -inf."""
    assert tango_score(0, 0, 50, 0.0) == 0.0
    assert tango_score(10, 0, 10, 1.0) == 0.0
    assert tango_score(7, 3, 10, 1.0) == -math.inf


# -- min_agreement: float32, a row without agreement, a row without its interval ----------

AGREEMENT_MISSING = ("the row's note says why (no float32 reference, or a float model that "
                     "gives one class for every input); set min_snr_db instead")


def test_min_agreement_of_float32_of_a_row_without_it_and_of_a_bare_figure() -> None:
    rows = [row("float32"), row("ptq_int8"), row("qat_int8", agreement=0.97)]
    goals = Goals(min_agreement=0.95)
    assert only_check(rows, goals, "float32") == Check("min_agreement", Outcome.MEETS,
                                                        "float32 is the reference")
    assert only_check(rows, goals, "ptq_int8") == Check(
        "min_agreement", Outcome.UNDECIDED, "no agreement with float32 measured",
        AGREEMENT_MISSING)
    # no interval kept: the figure is its own interval, 97% ≥ 95%
    assert only_check(rows, goals, "qat_int8") == Check("min_agreement", Outcome.MEETS,
                                                        "agreement 97% [97–97] ≥ 95%")


def test_an_undecided_agreement_says_how_many_inputs_would_tell() -> None:
    """Binary fractions, so the arithmetic is exact: a bound of 62.5%, 400 inputs. Above
    the bound (75% [50–87.5]) the low side, 25 points, must shrink to the 12.5-point gap;
    below it (50% [25–75]) the high side, 25 points, to the same gap: (25 / 12.5)² = 4
    times the inputs, 1,600, either way."""
    goals = Goals(min_agreement=0.625)
    above = [row("float32"), row("ptq_int8", agreement=0.75, agreement_low=0.5,
                                 agreement_high=0.875, eval_samples=400)]
    assert only_check(above, goals, "ptq_int8") == Check(
        "min_agreement", Outcome.UNDECIDED, "agreement 75% [50–87.5] straddles 62.5%",
        "about 1,600 eval inputs (now 400) would tell")
    below = [row("float32"), row("ptq_int8", agreement=0.5, agreement_low=0.25,
                                 agreement_high=0.75, eval_samples=400)]
    assert only_check(below, goals, "ptq_int8") == Check(
        "min_agreement", Outcome.UNDECIDED, "agreement 50% [25–75] straddles 62.5%",
        "about 1,600 eval inputs (now 400) would tell")


# -- the single figures: SNR, size, peak memory ---------------------------------------------

SNR_MISSING = "the row's note says why (no float32 reference, or outputs below one int8 step)"


def test_snr_size_and_peak_memory_meet_on_the_bound_miss_beyond_it_and_say_what_is_missing(
        ) -> None:
    decision = decide_group([
        row("float32"),
        row("ptq_int8", snr_db=20.0, size_bytes=2_000_000, peak_memory_mb=250.0),
        row("fp16", snr_db=19.5, size_bytes=2_500_000, peak_memory_mb=300.0),
        row("qat_int8"),
    ], Goals(min_snr_db=20, max_size_mb=2, max_peak_memory_mb=250))
    size_missing = Check("max_size_mb", Outcome.UNDECIDED, "no size measured",
                         "the file's size was not recorded")
    memory_missing = Check("max_peak_memory_mb", Outcome.UNDECIDED, "no peak memory measured",
                           "this target does not report peak memory")
    assert decision.of("float32").checks == (
        Check("min_snr_db", Outcome.MEETS, "float32 is the reference"), size_missing,
        memory_missing)
    assert decision.of("ptq_int8").checks == (
        Check("min_snr_db", Outcome.MEETS, "worst-output SNR 20 dB ≥ 20 dB"),
        Check("max_size_mb", Outcome.MEETS, "size 2 MB ≤ 2 MB"),
        Check("max_peak_memory_mb", Outcome.MEETS, "peak memory 250 MB ≤ 250 MB"))
    assert decision.of("fp16").checks == (
        Check("min_snr_db", Outcome.MISSES, "worst-output SNR 19.5 dB < 20 dB"),
        Check("max_size_mb", Outcome.MISSES, "size 2.5 MB > 2 MB"),
        Check("max_peak_memory_mb", Outcome.MISSES, "peak memory 300 MB > 250 MB"))
    assert decision.of("qat_int8").checks == (
        Check("min_snr_db", Outcome.UNDECIDED, "no worst-output SNR measured", SNR_MISSING),
        size_missing, memory_missing)
    assert decision.winner == "ptq_int8"


def test_a_p50_on_the_latency_bound_promises_no_repeat_count() -> None:
    assert latency(10.0, 9.0, 11.0) == Check(
        "max_latency_ms", Outcome.UNDECIDED, "p50 10 ms [9–11] straddles 10 ms",
        "the p50 sits on the bound (or more than 100 repeats would be needed): no repeat "
        "count can be promised to tell")


# -- the winner, its ties, the headline -----------------------------------------------------

def test_latency_preference_ships_the_fastest_even_when_every_size_is_known() -> None:
    decision = decide_group([row("ptq_int8", 5.0, 4.8, 5.2, size_bytes=2_000_000),
                             row("int4_weights", 7.0, 6.8, 7.2, size_bytes=1_000_000)],
                            Goals())
    assert decision.winner == "ptq_int8" and decision.ties == ()


def test_size_preference_ties_only_files_of_the_same_size_whose_latency_overlaps() -> None:
    decision = decide_group([
        row("ptq_int8", 5.0, 4.8, 5.2, size_bytes=1_000_000),
        row("qat_int8", 5.1, 5.0, 5.3, size_bytes=1_000_000),  # same size, overlaps: tie
        row("dynamic_int8", 6.0, 5.8, 6.2, size_bytes=1_000_000),  # same size, clear of it
        row("fp16", 5.0, 4.9, 5.1, size_bytes=2_000_000),  # overlaps, larger file
    ], Goals(prefer="size"))
    assert decision.winner == "ptq_int8"
    assert decision.ties == ("qat_int8",)


def test_the_headline_lists_every_tie_and_every_undecided_variant() -> None:
    tied = decide_group([row("ptq_int8", 5.0, 4.8, 5.2), row("qat_int8", 5.1, 5.0, 5.3),
                         row("fp16", 5.2, 5.1, 5.4)], Goals())
    assert tied.headline() == ("ship ptq_int8; tied on latency (overlapping intervals, not "
                               "ranked): qat_int8, fp16")
    open_ = decide_group([row("ptq_int8"), row("qat_int8")], Goals(max_size_mb=2))
    reason = "no size measured; the file's size was not recorded"
    assert open_.headline() == ("no variant is known to meet the goals; undecided: "
                                f"ptq_int8 ({reason}); qat_int8 ({reason})")


def test_a_variant_not_measured_has_no_checks_and_the_ones_after_it_are_decided() -> None:
    decision = decide_group([Candidate(variant="int4_weights", status="failed"),
                             row("ptq_int8")], Goals())
    assert [v.variant for v in decision.variants] == ["int4_weights", "ptq_int8"]
    not_measured = decision.of("int4_weights")
    assert not_measured.checks == () and not_measured.reasons(Outcome.MISSES) == []
    assert decision.winner == "ptq_int8"


# -- reading a results row ------------------------------------------------------------------

def test_a_results_row_is_read_column_by_column() -> None:
    full = {"variant": "ptq_int8", "status": "ok", "latency_ms_p50": 5.0,
            "latency_ms_p50_ci_low": 4.5, "latency_ms_p50_ci_high": 5.5, "repeats": 3,
            "size_bytes": 1_200_000, "peak_memory_mb": 40.0, "accuracy_top1": 0.85,
            "accuracy_top1_ci_low": 0.8, "accuracy_top1_ci_high": 0.9,
            "eval_samples": 200, "agreement_top1": 0.95, "agreement_top1_ci_low": 0.92,
            "agreement_top1_ci_high": 0.97, "output_snr_db": math.inf}
    assert Candidate.of_row(full) == Candidate(
        variant="ptq_int8", status="ok", latency_ms=5.0, latency_low=4.5, latency_high=5.5,
        repeats=3, size_bytes=1_200_000, peak_memory_mb=40.0, top1=0.85, top1_low=0.8,
        top1_high=0.9, eval_samples=200, agreement=0.95, agreement_low=0.92,
        agreement_high=0.97, snr_db=math.inf)


def test_an_empty_or_infinite_cell_is_no_figure_but_an_infinite_snr_is_a_perfect_one(
        ) -> None:
    """What pandas hands over for a row that measured little (nullable columns: <NA>,
    NaN; no status, no repeats): no figure, one repeat, an empty status. An infinite
    latency bound is no bound; an SNR of +inf (int8 outputs equal float's) meets any
    min_snr_db."""
    sparse = {"variant": "fp16", "status": None, "latency_ms_p50": math.nan,
              "latency_ms_p50_ci_high": math.inf, "repeats": pd.NA, "size_bytes": pd.NA,
              "accuracy_top1": math.nan, "eval_samples": pd.NA, "output_snr_db": math.nan}
    assert Candidate.of_row(sparse) == Candidate(variant="fp16", status="")
    timed = Candidate.of_row({"variant": "ptq_int8", "status": "ok", "latency_ms_p50": 5.0,
                              "latency_ms_p50_ci_low": 4.5,
                              "latency_ms_p50_ci_high": math.inf, "output_snr_db": math.inf})
    assert (timed.latency_interval, timed.repeats) == ((4.5, 5.0), 1)
    assert only_check([timed], Goals(min_snr_db=60), "ptq_int8") == Check(
        "min_snr_db", Outcome.MEETS, "worst-output SNR inf dB ≥ 60 dB")
