"""The gate's exit rule and its fidelity check where `nox -s mutation` found nothing
pinning them: a table whose ``gate`` cell is empty (NaN, as a concatenated or re-read
frame has it) passes; a table without a ``gate`` column exits 0; a base model with an
infinite SNR (its outputs equal float's) or a current row without an SNR is not judged;
a fall of exactly ``snr_drop_db`` passes (the README: "fell by more than"); a gate row
(what ``ab`` writes to ab_verdicts.parquet) keeps its decision's noise floor and K, and
every failing check's message."""

from __future__ import annotations

import math

import pandas as pd

from qatbench.bench.statistics.checks import (
    AccuracyCheck,
    OutputFidelityCheck,
    Pair,
    SizeCheck,
    gate_exit_code,
    gate_frame,
)
from qatbench.bench.statistics.verdict import Decision, Verdict

SERIES = ("yamnet", "qat_int8", "cpu-xnnpack", "host", 1)


def test_an_empty_gate_cell_passes_and_a_filled_one_fails() -> None:
    """NaN in ``gate`` is "no failure" (what pandas makes of an empty cell after a concat
    or a CSV round trip), not a failure text; one non-empty cell anywhere fails."""
    assert gate_exit_code(pd.DataFrame({"gate": [math.nan, "", None]})) == 0
    assert gate_exit_code(pd.DataFrame({"gate": [math.nan, "size grew +12.0%"]})) == 1


def test_a_table_without_a_gate_column_exits_zero() -> None:
    """A command whose rows carry no checks at all (no ``gate`` column) has nothing that
    failed: exit 0, not a KeyError."""
    assert gate_exit_code(pd.DataFrame({"verdict": ["slower"], "change": [0.5]})) == 0
    assert gate_exit_code(pd.DataFrame()) == 0


def fidelity(base_snr: float | None, current_snr: float | None) -> str | None:
    base = {"output_snr_db": base_snr, "output_cosine": 0.999}
    current = {"output_snr_db": current_snr, "output_cosine": 0.99}
    return OutputFidelityCheck(snr_drop_db=3.0).fails(
        Pair(SERIES, base, current, Verdict.SAME))


def test_fidelity_judges_only_two_finite_snrs_and_a_fall_beyond_the_threshold() -> None:
    # BASE's int8 outputs equalled float's (SNR +inf): no finite fall to measure
    assert fidelity(math.inf, 20.0) is None
    # CURRENT kept no SNR (cosine only): nothing to judge, not a crash
    assert fidelity(30.0, None) is None
    # 30 -> 27 dB is exactly the 3 dB allowed: passes; 30 -> 26.5 fails, naming both
    assert fidelity(30.0, 27.0) is None
    assert fidelity(30.0, 26.5) == ("output SNR vs float fell 3.5 dB (30.0 -> 26.5 dB; "
                                    "worst output)")


def test_the_gate_row_keeps_the_decision_s_floor_and_k_and_every_failure_in_order() -> None:
    """``gate_frame`` is what ``ab`` writes to ab_verdicts.parquet and what ``compare``
    renders: a decided row carries the noise floor and the ``--repeats`` K its decision
    used, under those names; a row without a latency decision has none; two failing
    checks are both in ``gate``, in the checks' order, joined by "; "."""
    decision = Decision(Verdict.UNKNOWN, change=0.05, ci_low=-0.01, ci_high=0.11,
                        threshold=0.02, basis="repeats", repeats_needed=5, floor=0.08)
    grown = Pair(SERIES, {"size_bytes": 1_000_000, "accuracy_top1": 0.90},
                 {"size_bytes": 1_500_000, "accuracy_top1": 0.85}, Verdict.UNKNOWN,
                 latency=decision)
    untimed = Pair(("yamnet", "float32", "cpu-xnnpack", "host", 1), {}, {}, Verdict.NEW)
    frame = gate_frame([grown, untimed], [SizeCheck(threshold=0.1),
                                          AccuracyCheck(drop_points=1.0)])
    first, second = frame.to_dict("records")
    assert (first["floor"], first["repeats_needed"], first["threshold"]) == (0.08, 5, 0.02)
    assert first["gate"] == "size grew +50.0%; top-1 dropped 5.0 points"
    assert pd.isna(second["floor"]) and pd.isna(second["repeats_needed"])
    assert second["gate"] == ""
    assert gate_exit_code(frame) == 1
