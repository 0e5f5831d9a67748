"""`qatbench ab`'s instruction ratio (CURRENT / BASE instructions per inference, the
median over the pairs), which only the slow command-line test reached -- and only where
perf counts on the host. Hand-made pairs, hand-computed medians."""

from __future__ import annotations

import numpy as np
import pytest

from qatbench.bench.orchestration.ab import instructions_of


def test_the_ratio_is_the_median_of_the_pairs_that_counted_both_sides() -> None:
    pairs = [{"a_instructions": 100.0, "b_instructions": 300.0},   # 3.0
             {"a_instructions": 200.0, "b_instructions": 400.0},   # 2.0
             {"a_instructions": 100.0, "b_instructions": 500.0},   # 5.0
             {"a_instructions": 100.0, "b_instructions": 150.0},   # 1.5
             {"a_instructions": None, "b_instructions": 900.0},    # A not counted
             {"a_instructions": 100.0, "b_instructions": 0},       # B not counted
             {"instructions_note": "perf: no permission"}]
    ratio, note = instructions_of(pairs)
    assert ratio == pytest.approx(2.5)  # median of 1.5, 2.0, 3.0, 5.0
    assert note == "median of 4 pairs"


def test_without_a_counted_pair_the_reasons_are_named_once_each_in_order() -> None:
    pairs = [{"a_instructions": None, "b_instructions": None,
              "instructions_note": "perf not installed"},
             {"instructions_note": "no cycle counter in this VM"},
             {"instructions_note": "perf not installed"},
             {"instructions_note": ""}]
    assert instructions_of(pairs) == (None, "no cycle counter in this VM; perf not installed")
    assert instructions_of([{}, {"a_instructions": 5}]) == (None, "instructions not counted")
    assert instructions_of([]) == (None, "instructions not counted")


def _outcome(base_ms: list[float], current_ms: list[float], name: str = "m/qat_int8"):
    from pathlib import Path

    from qatbench.bench.orchestration.ab import Series, SeriesOutcome
    from qatbench.bench.statistics.paired import decide_paired

    decision = decide_paired(np.array(base_ms), np.array(current_ms), threshold=0.02)
    pairs = [{"pair": i, "a_ms": a, "b_ms": b, "a_instructions": 100.0,
              "b_instructions": 150.0} for i, (a, b) in enumerate(zip(base_ms, current_ms,
                                                                        strict=True))]
    return SeriesOutcome(Series(name, Path("/b.tflite"), Path("/c.tflite")), decision,
                         pairs, 12.5, "decided")


def test_the_exit_code_fails_on_slower_and_on_unknown_only_when_asked() -> None:
    """`qatbench ab` exits 1 when any series is slower; an undecided series fails it only
    with --fail-on-unknown; faster and same never do."""
    from qatbench.bench.orchestration.ab import AbSettings, outcome_frame
    from qatbench.bench.statistics.checks import gate_exit_code

    slower = _outcome([1.0, 1.0, 1.0, 1.0], [1.10, 1.11, 1.09, 1.10])
    faster = _outcome([1.10, 1.11, 1.09, 1.10], [1.0, 1.0, 1.0, 1.0])
    same = _outcome([1.0, 1.0, 1.0, 1.0], [1.001, 0.999, 1.0, 1.0005])
    unknown = _outcome([1.0, 1.0], [1.5, 1.5])  # two pairs: too few to decide
    assert [str(o.decision.verdict) for o in (slower, faster, same, unknown)] == [
        "slower", "faster", "same", "unknown"]

    def code(outcomes: list, fail_on_unknown: bool) -> int:
        return gate_exit_code(outcome_frame(outcomes, AbSettings(), fail_on_unknown))

    assert code([faster, slower], fail_on_unknown=False) == 1
    assert code([faster, same], fail_on_unknown=True) == 0
    assert code([same, unknown], fail_on_unknown=False) == 0
    assert code([same, unknown], fail_on_unknown=True) == 1


def test_the_verdict_table_holds_one_line_per_series_with_its_figures() -> None:
    from qatbench.bench.orchestration.ab import AbSettings, outcome_frame

    outcome = _outcome([1.0, 1.0, 1.0, 1.0], [1.10, 1.11, 1.09, 1.10], name="a/b")
    frame = outcome_frame([outcome], AbSettings())
    assert len(frame) == 1
    line = frame.iloc[0].to_dict()
    decision = outcome.decision
    expected = {
        "series": "a/b", "verdict": "slower", "change": decision.change,
        "ci_low": decision.ci_low, "ci_high": decision.ci_high, "pairs": 4,
        "stopped": "decided", "seconds": 12.5, "reason": decision.reason,
        "instructions_ratio": 1.5, "instructions_note": "median of 4 pairs",
        "base": "/b.tflite", "current": "/c.tflite"}
    assert {key: line[key] for key in expected} == expected
