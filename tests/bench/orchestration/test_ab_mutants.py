"""`qatbench ab`'s instruction ratio (CURRENT / BASE instructions per inference, the
median over the pairs), which only the slow command-line test reached -- and only where
perf counts on the host. Hand-made pairs, hand-computed medians."""

from __future__ import annotations

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
