"""Reading op profiles where `nox -s mutation` found nothing pinning it: the op-type
totals (largest first), the float-beside-int8 table the profile report and ``explain``
print (an op type present on one side only, the ratio, the order by the larger side),
and which (float32, int8) profile pairs are formed -- one per int8 variant on a series
that has a float32 profile, a profile without a fingerprint included. Every expected
figure is summed here by hand from the lines below."""

from __future__ import annotations

import pandas as pd
import pytest

from qatbench.bench.statistics.op_profiles import (
    SERIES,
    ProfilePair,
    grown,
    op_type_totals,
    outside_delegate,
    profile_pairs,
    propose_keep_float,
    side_by_side,
)


def lines(*ops: tuple[str, float | None]) -> pd.DataFrame:
    """Profile lines of one file: (op type, p50 ms) per op, in op order."""
    return pd.DataFrame({
        "op_index": pd.array(range(len(ops)), dtype="Int64"),
        "op_type": pd.array([op for op, _ in ops], dtype="string"),
        "p50_ms": pd.array([ms for _, ms in ops], dtype="Float64"),
    })


def test_op_type_totals_sum_each_type_largest_first() -> None:
    totals = op_type_totals(lines(("ADD", 0.25), ("CONV_2D", 1.0), ("ADD", 0.5),
                                  ("SOFTMAX", 0.125), ("CONV_2D", 2.0)))
    assert list(totals.columns) == ["op_type", "ms", "ops"]
    assert totals["op_type"].tolist() == ["CONV_2D", "ADD", "SOFTMAX"]
    assert totals["ms"].tolist() == [3.0, 0.75, 0.125]
    assert totals["ops"].tolist() == [2, 2, 1]


def test_op_type_totals_of_no_lines_is_an_empty_table_with_the_columns() -> None:
    assert list(op_type_totals(lines()).columns) == ["op_type", "ms", "ops"]


def test_side_by_side_puts_float_beside_int8_by_the_larger_side() -> None:
    float_lines = lines(("CONV_2D", 4.0), ("CONV_2D", 2.0), ("LOGISTIC", 0.5),
                        ("PAD", 0.0), ("MEAN", 0.75))
    int8_lines = lines(("CONV_2D", 1.5), ("QUANTIZE", 0.25), ("LOGISTIC", 1.0),
                       ("PAD", 0.125), ("MEAN", 0.5), ("DEQUANTIZE", 0.0625))
    table = side_by_side(float_lines, int8_lines)
    assert list(table.columns) == ["op_type", "int8_ms", "int8_ops", "float_ms",
                                   "float_ops", "change_ms", "ratio"]
    # ordered by max(int8, float): CONV_2D 6, LOGISTIC 1, MEAN 0.75, QUANTIZE 0.25 (int8
    # only), PAD 0.125, DEQUANTIZE 0.0625 (int8 only)
    assert table["op_type"].tolist() == ["CONV_2D", "LOGISTIC", "MEAN", "QUANTIZE", "PAD",
                                         "DEQUANTIZE"]
    assert table.index.tolist() == list(range(6))
    by_op = table.set_index("op_type")
    assert by_op.loc["CONV_2D", "float_ms"] == 6.0 and by_op.loc["CONV_2D", "int8_ms"] == 1.5
    assert by_op.loc["CONV_2D", "change_ms"] == -4.5
    assert by_op.loc["CONV_2D", "ratio"] == 0.25
    assert by_op.loc["LOGISTIC", "ratio"] == 2.0 and by_op.loc["LOGISTIC", "change_ms"] == 0.5
    assert by_op.loc["MEAN", "ratio"] == pytest.approx(0.5 / 0.75)
    # an op type int8 added (float has none of it): zero float ops, all its time added
    assert by_op.loc["QUANTIZE", "float_ops"] == 0 and by_op.loc["QUANTIZE", "int8_ops"] == 1
    assert by_op.loc["QUANTIZE", "change_ms"] == 0.25
    assert pd.isna(by_op.loc["QUANTIZE", "float_ms"]) and pd.isna(by_op.loc["QUANTIZE", "ratio"])
    # float timed PAD at 0 ms: no ratio rather than an infinite one
    assert pd.isna(by_op.loc["PAD", "ratio"]) and by_op.loc["PAD", "change_ms"] == 0.125
    assert str(table["float_ops"].dtype) == "Int64" and str(table["int8_ops"].dtype) == "Int64"


def test_side_by_side_counts_an_op_type_only_float_has_as_removed_time() -> None:
    table = side_by_side(lines(("CONV_2D", 2.0), ("LOGISTIC", 0.5), ("HARD_SWISH", 0.25),
                               ("RESHAPE", 0.125)),
                         lines(("CONV_2D", 1.0), ("HARD_SWISH", 0.375)))
    assert table["op_type"].tolist() == ["CONV_2D", "LOGISTIC", "HARD_SWISH", "RESHAPE"]
    gone = table.set_index("op_type").loc["LOGISTIC"]
    assert gone["int8_ops"] == 0 and gone["float_ops"] == 1
    assert gone["change_ms"] == -0.5
    assert pd.isna(gone["int8_ms"]) and pd.isna(gone["ratio"])


def profile_lines(variant: str, fingerprint: object, device: str, n_ops: int
                  ) -> pd.DataFrame:
    frame = lines(*[("CONV_2D", 1.0)] * n_ops)
    return frame.assign(model="mnv2", variant=variant, target="cpu-xnnpack", device=device,
                        threads=1, fingerprint=fingerprint, source="benchmark_model")


def test_profile_pairs_pair_each_int8_variant_with_float32_on_the_same_series() -> None:
    profiles = pd.concat([
        profile_lines("float32", "fp-b", "pixel", 2),
        profile_lines("qat_int8", "fp-b", "pixel", 3),
        profile_lines("ptq_int8", "fp-a", "host", 4),  # no float32 on this series
        profile_lines("float32", None, "host", 5),  # profiles without a fingerprint
        profile_lines("int8", None, "host", 6),
        profile_lines("qat_int8", "fp-c", "host", 7),
        profile_lines("float32", "fp-c", "host", 8),
        profile_lines("ptq_int8", "fp-c", "host", 9),
    ], ignore_index=True)
    pairs = list(profile_pairs(profiles))
    # in the order the series were measured; within one, in INT8_VARIANTS' order
    assert [(p.key["device"], p.int8_variant) for p in pairs] == [
        ("pixel", "qat_int8"), ("host", "int8"), ("host", "ptq_int8"), ("host", "qat_int8")]
    assert pd.isna(pairs[1].key["fingerprint"])
    assert pairs[0].key == {"model": "mnv2", "target": "cpu-xnnpack", "device": "pixel",
                            "threads": 1, "fingerprint": "fp-b", "source": "benchmark_model"}
    assert list(pairs[2].key) == SERIES and pairs[2].key["fingerprint"] == "fp-c"
    # each side holds its own variant's lines, all of them
    assert [(len(p.float_lines), len(p.int8_lines)) for p in pairs] == [(2, 3), (5, 6),
                                                                         (8, 9), (8, 7)]
    assert {v for p in pairs for v in p.float_lines["variant"]} == {"float32"}
    assert [set(p.int8_lines["variant"]) for p in pairs] == [
        {p.int8_variant} for p in pairs]


def test_profile_pairs_of_no_profiles_is_none() -> None:
    assert list(profile_pairs(profile_lines("float32", "fp", "host", 1).iloc[0:0])) == []


# -- grown, outside the delegate, the keep-float proposal ----------------------------------

def test_grown_lists_the_op_types_int8_made_slower_by_the_time_added() -> None:
    table = side_by_side(lines(("CONV_2D", 6.0), ("LOGISTIC", 0.5), ("MEAN", 0.75)),
                         lines(("CONV_2D", 1.5), ("LOGISTIC", 1.0), ("MEAN", 0.75),
                               ("QUANTIZE", 0.25), ("DEQUANTIZE", 0.0625)))
    assert grown(table)["op_type"].tolist() == ["LOGISTIC", "QUANTIZE", "DEQUANTIZE"]


def delegated(delegate: str, *ops: tuple[str, float, bool | None]) -> pd.DataFrame:
    """Profile lines on a delegate target: (op type, p50 ms, taken by the delegate; None:
    the profiler could not tell)."""
    frame = lines(*[(op, ms) for op, ms, _ in ops])
    return frame.assign(delegated=pd.array([d for _, _, d in ops], dtype="boolean"),
                        delegate=pd.array([delegate] * len(ops), dtype="string"))


FLOAT = delegated(
    "xnnpack",
    ("CONV_2D", 5.0, True), ("CONV_2D", 5.0, True), ("LOGISTIC", 1.0, True),
    ("MEAN", 5.0, True), ("SOFTMAX", 0.03125, True), ("HARD_SWISH", 0.25, True),
    ("PAD", 0.125, False), ("DEQUANTIZE", 0.125, True), ("TfLiteXNNPackDelegate", 0.5, True),
    ("TANH", 0.25, True), ("RESHAPE", 0.0, True), ("ADD", 0.0625, None),
    ("CONCATENATION", 0.1875, True), ("MUL", 0.125, True))
INT8 = delegated(
    "xnnpack",
    ("CONV_2D", 4.0, True), ("CONV_2D", 4.0, True),
    ("LOGISTIC", 1.25, True),  # 1.25x float, adds 0.25 ms: proposed
    ("MEAN", 5.5, True),  # exactly 1.10x float (adds 0.5 ms): not "more than 10% slower"
    ("SOFTMAX", 0.0625, True),  # 2x, but adds 0.03 ms: under 1% of the int8 sum
    ("HARD_SWISH", 0.25, False),  # as fast, but left outside: cuts a partition
    ("PAD", 0.125, False),  # outside in float too: int8 changed nothing
    ("QUANTIZE", 0.4375, False),  # int8 only: nothing to compare, never proposed
    ("DEQUANTIZE", 0.375, False),  # 3x and left outside, but int8's boundary op
    ("TfLiteXNNPackDelegate", 1.0, True),  # a delegate partition, not an op type
    ("TANH", 0.5, False),  # 2x and outside: proposed once, for the slowdown
    ("RESHAPE", 0.25, True),  # float timed it at 0 ms: no ratio to judge
    ("ADD", 0.0625, None),  # not known to be outside the delegate
    ("CONCATENATION", 0.1875, False))  # as fast, left outside: proposed after HARD_SWISH
# (MUL: float only, nothing to compare)


def test_ops_left_outside_the_delegate_slowest_first() -> None:
    assert outside_delegate(INT8)["op_type"].tolist() == [
        "TANH", "QUANTIZE", "DEQUANTIZE", "HARD_SWISH", "CONCATENATION", "PAD"]
    # a delegate that took nothing: every op is outside it
    refused = INT8.assign(delegated=pd.array([False] * len(INT8), dtype="boolean"))
    assert len(outside_delegate(refused)) == len(INT8)
    # no delegate: nothing is "outside" it, whether or not the profiler marked the ops
    for marks in ([False] * len(INT8), [None] * len(INT8), [None, False] * (len(INT8) // 2)):
        builtin = INT8.assign(delegated=pd.array(marks, dtype="boolean"), delegate="none")
        assert outside_delegate(builtin).empty


def test_keep_float_proposes_op_types_slower_in_int8_or_pushed_out_of_the_delegate() -> None:
    int8_sum = float(INT8["p50_ms"].sum())
    assert int8_sum == 18.0  # 1%: 0.18 ms; SOFTMAX adds 0.031 ms, the others 0.25 or more
    assert 1.10 * 5.0 == 5.5  # MEAN: exactly the slowdown bound in floating point too
    pair = ProfilePair({}, "qat_int8", FLOAT, INT8)
    proposal = propose_keep_float(pair)
    # the slower ones by time, then those pushed out of the delegate, slowest first
    assert list(proposal) == ["LOGISTIC", "TANH", "HARD_SWISH", "CONCATENATION"]
    assert proposal == {
        "LOGISTIC": "1.25 ms in int8 vs 1 ms in float (1 ops)",
        "TANH": "0.5 ms in int8 vs 0.25 ms in float (1 ops)",
        "HARD_SWISH": "1 ops left outside the delegate in int8 (0.25 ms), taken in float",
        "CONCATENATION": "1 ops left outside the delegate in int8 (0.188 ms), taken in "
                         "float",
    }
    assert propose_keep_float(pair, min_slowdown=1.3) == {
        "TANH": "0.5 ms in int8 vs 0.25 ms in float (1 ops)",
        "HARD_SWISH": "1 ops left outside the delegate in int8 (0.25 ms), taken in float",
        "CONCATENATION": "1 ops left outside the delegate in int8 (0.188 ms), taken in "
                         "float",
    }


def test_keep_float_needs_the_delegate_to_have_taken_the_op_in_float() -> None:
    """Two HARD_SWISH in float, one of them outside; both outside in int8: int8 lost one
    the delegate had, still a partition cut. PAD was outside in float already: not."""
    float_lines = delegated("xnnpack", ("CONV_2D", 4.0, True), ("HARD_SWISH", 0.25, True),
                            ("HARD_SWISH", 0.25, False), ("PAD", 0.125, False))
    int8_lines = delegated("xnnpack", ("CONV_2D", 2.0, True), ("HARD_SWISH", 0.25, False),
                           ("HARD_SWISH", 0.25, False), ("PAD", 0.125, False))
    assert propose_keep_float(ProfilePair({}, "int8", float_lines, int8_lines)) == {
        "HARD_SWISH": "2 ops left outside the delegate in int8 (0.5 ms), taken in float"}


def test_keep_float_counts_an_op_type_adding_exactly_one_percent_of_int8_time() -> None:
    float_lines = delegated("xnnpack", ("CONV_2D", 12.0, True), ("LOGISTIC", 1.0, True))
    # int8 sum 12.5 ms: 1% is 0.125 ms, exactly what LOGISTIC adds (binary fractions, and
    # 0.01 * 12.5 is 0.125 in floating point)
    int8_lines = delegated("xnnpack", ("CONV_2D", 11.375, True), ("LOGISTIC", 1.125, True))
    assert 0.01 * 12.5 == 0.125
    assert propose_keep_float(ProfilePair({}, "ptq_int8", float_lines, int8_lines)) == {
        "LOGISTIC": "1.12 ms in int8 vs 1 ms in float (1 ops)"}


def test_keep_float_proposes_nothing_on_a_target_without_a_delegate() -> None:
    builtin = INT8.assign(delegated=pd.array([False] * len(INT8), dtype="boolean"),
                          delegate="none")
    slower_only = {"LOGISTIC", "TANH"}
    assert set(propose_keep_float(ProfilePair({}, "int8", FLOAT, builtin))) == slower_only
