"""Model Explorer overlays from profile lines (the product's ``profile_frame``): what is
paired, what is left out and said, and the colour scale each overlay gets."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from qatbench.bench.presentation.explorer import (
    PLACEMENT,
    RATIO,
    layer_error_overlay,
    model_node_data,
    pair_ops,
    placement_overlay,
    ratio_overlay,
    time_overlay,
)
from qatbench.bench.storage.profiles import profile_frame

KEY = {"run_id": "r", "model": "m", "target": "cpu-xnnpack", "device": "host", "threads": 1,
       "fingerprint": "f", "source": "host-cut"}


def _lines(variant: str, ops: list[tuple[int, str, float | None, bool | None]]
           ) -> pd.DataFrame:
    return profile_frame({**KEY, "variant": variant}, [
        {"op_index": i, "op_type": t, "name": f"t{i}", "delegated": d, "p50_ms": ms}
        for i, t, ms, d in ops], whole_p50_ms=1.0, delegate="xnnpack (1 kernels)")


FLOAT = _lines("float32", [(0, "CONV_2D", 2.0, True), (1, "CONV_2D", 1.0, True),
                           (2, "SOFTMAX", 0.5, True)])
INT8 = _lines("qat_int8", [(0, "QUANTIZE", 0.1, True), (1, "CONV_2D", 1.0, True),
                           (2, "CONV_2D", 3.0, True), (3, "SOFTMAX", 0.25, False),
                           (4, "DEQUANTIZE", None, True)])


def test_ops_pair_by_type_and_order_and_unmatched_types_are_named() -> None:
    pairs, unpaired = pair_ops(FLOAT, INT8)
    assert pairs == {1: 0, 2: 1, 3: 2}
    assert sorted(u.split(" ")[0] for u in unpaired) == ["DEQUANTIZE", "QUANTIZE"]


def test_ratio_is_int8_over_float_of_the_paired_op() -> None:
    overlay = ratio_overlay(FLOAT, INT8, "m", "qat_int8", "cpu-xnnpack x1")
    assert overlay.values == {1: 0.5, 2: 3.0, 3: 0.5}
    assert "QUANTIZE" in overlay.notes[0]


def test_untimed_ops_have_no_value() -> None:
    overlay = time_overlay(INT8, "m", "qat_int8", "s")
    assert set(overlay.values) == {0, 1, 2, 3}  # DEQUANTIZE was not timed
    assert time_overlay(_lines("x", [(0, "ADD", None, None)]), "m", "x", "s") is None


def test_placement_is_measured_only_where_there_is_a_delegate() -> None:
    overlay = placement_overlay(INT8, "m", "qat_int8", "s")
    assert overlay.values == {0: 1.0, 1: 1.0, 2: 1.0, 3: 0.0, 4: 1.0}
    no_delegate = _lines("float32", [(0, "CONV_2D", 1.0, None)])
    assert placement_overlay(no_delegate, "m", "float32", "s") is None


def test_layer_error_lands_on_the_op_writing_its_tensor() -> None:
    table = pd.DataFrame({"tensor": ["conv_out", "gone", "fc_out"],
                          "rmse_over_scale": [0.4, 9.0, float("nan")]})
    overlay = layer_error_overlay(table, {"conv_out": 2, "fc_out": 5}, "m", "qat_int8", "x")
    assert overlay.values == {2: 0.4}
    assert "1 layers' tensors are not in the file: gone" in overlay.notes[0]


def test_ratio_gradient_is_white_where_int8_equals_float() -> None:
    pytest.importorskip("model_explorer")
    overlay = ratio_overlay(FLOAT, INT8, "m", "qat_int8", "s")
    assert overlay.kind == RATIO
    data = json.loads(model_node_data(overlay, "main").to_json_string())
    (white,) = [g["stop"] for g in data["main"]["gradient"] if g["bgColor"] == "#ffffff"]
    assert white == pytest.approx((1.0 - 0.5) / (3.0 - 0.5))  # ratios span 0.5 .. 3
    assert data["main"]["results"]["2"] == {"value": 3.0}


def test_one_distinct_value_is_coloured_on_each_node() -> None:
    """Model Explorer's gradient divides by max - min: a single value would stay blank."""
    pytest.importorskip("model_explorer")
    table = pd.DataFrame({"tensor": ["a", "b"], "rmse_over_scale": [0.3, 0.3]})
    overlay = layer_error_overlay(table, {"a": 0, "b": 1}, "m", "qat_int8", "x")
    data = json.loads(model_node_data(overlay, "main").to_json_string())
    assert {r["bgColor"] for r in data["main"]["results"].values()} == {"#d7301f"}
    slower = ratio_overlay(_lines("float32", [(0, "ADD", 1.0, True)]),
                           _lines("int8", [(0, "ADD", 2.0, True)]), "m", "int8", "s")
    data = json.loads(model_node_data(slower, "main").to_json_string())
    assert data["main"]["results"]["0"]["bgColor"] == "#d73027"  # red: slower than float


def test_placement_uses_two_thresholds() -> None:
    pytest.importorskip("model_explorer")
    overlay = placement_overlay(INT8, "m", "qat_int8", "s")
    assert overlay.kind == PLACEMENT
    data = json.loads(model_node_data(overlay, "main").to_json_string())
    assert [t["value"] for t in data["main"]["thresholds"]] == [0, 1]
    assert "gradient" not in data["main"] or not data["main"]["gradient"]
