"""Like with like: which rows the gate treats as measured on another host, and how the
refusal names what changed (``statistics/fingerprints.py``)."""

from __future__ import annotations

import json

from qatbench.bench.statistics.fingerprints import (
    MAX_VALUE_CHARS,
    describe,
    differences,
    has_fingerprint,
    parts_of,
)
from tests.bench.runs_helpers import fingerprint

LAB = {"cpu_model": "AMD EPYC 7B13", "cpu_count": "2", "runtime": "ai-edge-litert 2.3.0"}


def test_a_row_has_a_fingerprint_only_when_the_column_holds_one() -> None:
    assert has_fingerprint(fingerprint(**LAB))
    for missing in (None, float("nan"), ""):
        assert not has_fingerprint({"fingerprint": missing})
    assert not has_fingerprint({})
    assert has_fingerprint({"fingerprint": 123})  # whatever a CSV made of it


def test_parts_are_read_from_the_stored_json() -> None:
    assert parts_of(fingerprint(**LAB)) == LAB
    assert parts_of({"fingerprint_parts": json.dumps({"cores": 2, "gpu": None})}) == {
        "cores": "2", "gpu": ""}
    for unreadable in (None, float("nan"), "", "{oops", "[1, 2]", '"text"'):
        assert parts_of({"fingerprint_parts": unreadable}) == {}


def test_the_same_host_or_an_old_row_is_no_difference() -> None:
    row = fingerprint(**LAB)
    assert differences(row, dict(row)) == {}
    assert differences(row, {}) == {} and differences({}, row) == {}
    assert differences(row, {"fingerprint": float("nan")}) == {}
    assert differences({"fingerprint": ""}, row) == {}


def test_another_host_is_named_part_by_part() -> None:
    other = LAB | {"cpu_model": "Intel Xeon 8375C", "delegate": "xnnpack"}
    del other["cpu_count"]
    assert differences(fingerprint(**LAB), fingerprint(**other)) == {
        "cpu_count": ("2", "(absent)"),
        "cpu_model": ("AMD EPYC 7B13", "Intel Xeon 8375C"),
        "delegate": ("(absent)", "xnnpack")}
    # hashes that differ without parts to name: the hashes are the difference
    assert differences({"fingerprint": "aaa"}, {"fingerprint": "bbb"}) == {
        "fingerprint": ("aaa", "bbb")}


def test_describe_quotes_each_side_and_shortens_long_values() -> None:
    assert describe({"cpu_model": ("A", "B"), "runtime": ("r1", "r2")}) == (
        "cpu_model: 'A' (BASE) vs 'B' (CURRENT); runtime: 'r1' (BASE) vs 'r2' (CURRENT)")
    fits, long = "f" * MAX_VALUE_CHARS, "x" * (MAX_VALUE_CHARS + 1)
    assert describe({"flags": (fits, long)}) == (
        f"flags: {fits!r} (BASE) vs {'x' * (MAX_VALUE_CHARS - 1) + '…'!r} (CURRENT)")
    assert describe({}) == ""
