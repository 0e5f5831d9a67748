"""The int8-slowdown explanation's promises that `nox -s mutation` found no test holding:
an Arm host judged by Arm's int8 instructions, each op type's share of the gap worked
out exactly, boundaries ordered by their time, an op type only int8 has, and a run with
only one of the two profiles. Expected texts are computed by hand here."""

from __future__ import annotations

import json

import pytest

from qatbench.bench.statistics.explain import Cause, explain, host_cause
from qatbench.bench.storage.profiles import profile_frame


def _row(flags: str) -> dict:
    return {"fingerprint_parts": json.dumps({"cpu_model": "arm", "cpu_flags": flags})}


def _lines(variant: str, ops: list[tuple[str, float]]):
    key = {"model": "m", "variant": variant, "target": "cpu-xnnpack", "device": "",
           "threads": 1, "fingerprint": "f", "source": "host-cut"}
    return profile_frame(key, [{"op_index": i, "op_type": op, "name": f"{op}{i}",
                                "delegated": True, "p50_ms": ms}
                               for i, (op, ms) in enumerate(ops)], None)


def test_an_arm_host_is_judged_by_arms_int8_instructions() -> None:
    assert host_cause(_row("fp asimd asimddp asimdhp")) is None  # dot product: fast int8
    assert host_cause(_row("fp asimd i8mm")) is None
    assert host_cause(_row("fp asimd evtstrm")) == Cause(
        "host", "no int8 dot-product instructions on this host (CPU flags recorded: fp "
                "asimd evtstrm; int8 kernels are fast with asimddp, i8mm, sme)")
    assert host_cause(_row("sse4_2 avx2 fma")) == Cause(
        "host", "no int8 dot-product instructions on this host (CPU flags recorded: sse4_2 "
                "avx2 fma; int8 kernels are fast with avx512_vnni, avx_vnni, amx_int8)")


def test_each_cause_carries_its_share_of_the_gap_largest_time_first() -> None:
    """float: CONV 0.25 + 0.25, ADD 0.5 (sum 1.0); int8: QUANTIZE 0.375, CONV 0.5 + 0.25,
    ADD 0.125, GELU 0.25 (sum 1.5, a gap of 0.5 ms). Added: QUANTIZE 0.375 (75%), CONV
    0.25 (50%), GELU 0.25 (50%, no float time); ADD fell. Largest time first: the
    boundary before the op types, whatever the table's order."""
    float_lines = _lines("float32", [("CONV_2D", 0.25), ("CONV_2D", 0.25), ("ADD", 0.5)])
    int8_lines = _lines("qat_int8", [("QUANTIZE", 0.375), ("CONV_2D", 0.5),
                                     ("CONV_2D", 0.25), ("ADD", 0.125), ("GELU", 0.25)])
    causes = explain({}, {}, float_lines, int8_lines)
    assert causes[0] == Cause("boundaries", "QUANTIZE: 1 op(s), 0.375 ms (75% of the gap)",
                              0.375)
    assert sorted(causes[1:], key=lambda c: c.text) == [
        Cause("op type", "CONV_2D +0.25 ms in int8 (0.5 → 0.75 ms), 50% of the gap", 0.25),
        Cause("op type", "GELU +0.25 ms in int8, 50% of the gap", 0.25)]


@pytest.mark.parametrize("int8_add", [0.25, 0.5])  # int8's sum fell / stayed the same
def test_no_share_is_claimed_when_int8s_total_did_not_grow(int8_add: float) -> None:
    float_lines = _lines("float32", [("CONV_2D", 0.25), ("ADD", 1.0)])
    int8_lines = _lines("qat_int8", [("CONV_2D", 0.75), ("ADD", int8_add)])
    [cause] = explain({}, {}, float_lines, int8_lines)
    assert cause.text.startswith("CONV_2D +0.5 ms in int8 (0.25 → 0.75 ms), ")
    assert "%" not in cause.text  # no share of a gap that is not there
    if int8_add < 0.5:
        assert cause.text.endswith(", while the sum fell")


def test_one_profile_alone_names_no_op_type() -> None:
    float_lines = _lines("float32", [("CONV_2D", 0.25)])
    assert explain({}, {}, float_lines) == []
    assert explain({}, {}, None, _lines("qat_int8", [("CONV_2D", 0.5)])) == []
