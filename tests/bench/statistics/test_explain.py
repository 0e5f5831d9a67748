"""Why int8 is slower here: every named cause comes with the measurement behind it."""

from __future__ import annotations

import json

from qatbench.bench.statistics.explain import explain
from qatbench.bench.storage.profiles import profile_frame

AVX2_ONLY = "sse4_2 avx avx2 fma f16c"
WITH_VNNI = "sse4_2 avx avx2 fma f16c avx512f avx512_vnni avx_vnni"


def row(flags: str | None) -> dict:
    parts = {"cpu_model": "x86", "runtime": "ai-edge-litert 2.3.0", "delegate": "xnnpack"}
    if flags is not None:
        parts["cpu_flags"] = flags
    return {"fingerprint_parts": json.dumps(parts)}


def lines(variant: str, ops: list[tuple[str, float, bool]]):
    key = {"model": "m", "variant": variant, "target": "cpu-xnnpack", "device": "",
           "threads": 1, "fingerprint": "f", "source": "host-cut"}
    return profile_frame(key, [{"op_index": i, "op_type": op, "name": f"{op}{i}",
                                "delegated": delegated, "p50_ms": ms}
                               for i, (op, ms, delegated) in enumerate(ops)], None)


FLOAT = lines("float32", [("CONV_2D", 0.050, True), ("CONV_2D", 0.030, True),
                          ("FULLY_CONNECTED", 0.010, True)])


def test_a_host_without_vnni_and_conv_slower_in_int8_names_both() -> None:
    int8 = lines("qat_int8", [("QUANTIZE", 0.004, True), ("CONV_2D", 0.090, True),
                              ("CONV_2D", 0.055, True), ("FULLY_CONNECTED", 0.008, True),
                              ("DEQUANTIZE", 0.002, True)])
    causes = explain(row(AVX2_ONLY), {}, FLOAT, int8)
    kinds = [c.kind for c in causes]
    assert kinds[0] == "op type" and "CONV_2D +0.065 ms" in causes[0].text
    assert "100% of the gap" not in causes[0].text and "% of the gap" in causes[0].text
    assert "boundaries" in kinds and any("QUANTIZE: 1 op(s)" in c.text for c in causes)
    host = next(c for c in causes if c.kind == "host")
    assert "no int8 dot-product instructions" in host.text and "avx2" in host.text
    assert "FULLY_CONNECTED" not in " ".join(c.text for c in causes)  # it got faster


def test_a_host_with_vnni_and_a_fallback_op_names_the_fallback_not_the_host() -> None:
    causes = explain(row(WITH_VNNI), {"RELU": 48, "AVERAGE_POOL_2D": 32})
    assert [c.kind for c in causes] == ["placement"]
    assert "RELU×48, AVERAGE_POOL_2D×32" in causes[0].text


def test_nothing_is_named_without_its_measurement() -> None:
    assert explain(row(None), {}) == []  # no flags recorded, no profile, no placement
    assert explain(row(WITH_VNNI), {}, FLOAT, FLOAT) == []  # int8 lost nothing per op
