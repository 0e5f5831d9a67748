"""Per-layer quantization error tables: TFLite's debugger for PTQ, layer outputs for QAT."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qatbench.qat.layer_error import COLUMNS, _match_layer


def test_every_int8_variant_gets_a_table_naming_real_layers(digits_build) -> None:
    for variant in ("ptq_int8", "qat_int8"):
        artifact = digits_build.variants[variant]
        assert artifact.layer_errors, artifact.note
        frame = pd.read_csv(artifact.layer_errors)
        assert list(frame.columns) == COLUMNS
        assert len(frame) >= 3
        assert frame["rmse_over_scale"].notna().all() and (frame["rmse_over_scale"] >= 0).all()
        ordered = frame["rmse_over_scale"].to_numpy()
        assert (np.diff(ordered) <= 1e-12).all()  # worst first
    qat = pd.read_csv(digits_build.variants["qat_int8"].layer_errors)
    assert {"conv1", "fc1", "logits"} <= set(qat["layer"])
    assert qat["method"].eq("int8 vs float model layer outputs").all()
    ptq = pd.read_csv(digits_build.variants["ptq_int8"].layer_errors)
    assert ptq["method"].eq("QuantizationDebugger").all()
    # a trained int8 model is mostly rounding noise: no layer is wildly off
    assert ptq["rmse_over_scale"].median() < 5


def test_float_variants_get_none(digits_build) -> None:
    assert digits_build.variants["float32"].layer_errors is None


@pytest.mark.parametrize(("tensor", "expected"), [
    ("sequential/quant_conv1/Relu;sequential/quant_conv1/BiasAdd", "conv1"),
    ("model/block_1_conv/Conv2D", "block_1_conv"),
    ("model/block_1_conv_bn/FusedBatchNorm", "block_1_conv_bn"),  # longest match wins
    ("serving_default_input:0", None),
])
def test_tensors_are_matched_to_layers_by_name(tensor: str, expected: str | None) -> None:
    assert _match_layer(tensor, ["conv1", "block_1_conv", "block_1_conv_bn"]) == expected


def test_worst_layers_reach_the_rows_and_the_report(digits_build) -> None:
    from qatbench.bench.presentation.report import worst_layers_frame

    artifact = digits_build.variants["qat_int8"]
    top = artifact.worst_layers
    assert 1 <= len(top) <= 5 and {"layer", "rmse_over_scale"} <= set(top[0])
    assert [t["layer"] for t in top] == list(pd.read_csv(artifact.layer_errors)["layer"][:5])
    import json

    results = pd.DataFrame([{"model": "digits_cnn", "variant": "qat_int8",
                             "extra": json.dumps({"worst_layers": top})}])
    table = worst_layers_frame(results)
    assert list(table["layer"]) == [t["layer"] for t in top]
