"""LiteRT Quantizer variants (dynamic_int8, int8_weights, int4_weights, fp16): built from the
float32 .tflite in the build, timed on cpu-xnnpack, and compared with float like int8 rows."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("litert_quantizer")

from qatbench.models.zoo import get_model_spec
from qatbench.qat.budget import TrainingBudget
from qatbench.qat.litert_quantize import QUANTIZER_VARIANTS, quantize_file
from qatbench.qat.pipeline import build_variants
from qatbench.targets.base import EvalSet, MeasureSpec, Status
from qatbench.targets.host.cpu import cpu_xnnpack
from qatbench.targets.tflite_file import inspect_tflite
from qatbench.targets.worker import _evaluate

FAST = MeasureSpec(warmup_runs=2, warmup_min_s=0, min_runs=20, min_s=0)
BUDGET = TrainingBudget(float_epochs=4, qat_epochs=0, batch_size=32,
                        representative_samples=32, layer_error_samples=0)
# worst output SNR against float32 on the digits eval set, in dB: a floor far under what
# each format's rounding allows (fp16 ~65, int8 weights ~40, dynamic int8 ~37, int4 ~16 on
# one Xeon host); the SNR itself is checked against the textbook formula, and agreement
# against what the outputs' own error guarantees, so neither rests on one host's training
SNR_FLOOR = {"dynamic_int8": 20.0, "int8_weights": 20.0, "int4_weights": 5.0, "fp16": 40.0}


@pytest.fixture(scope="module")
def quantized(tmp_path_factory: pytest.TempPathFactory):
    """The digits CNN's float32 and the four quantizer variants, asked for out of order."""
    out = tmp_path_factory.mktemp("litert_quantizer")
    build = build_variants(get_model_spec("digits_cnn"),
                           ["dynamic_int8", "int4_weights", "float32", "int8_weights", "fp16"],
                           out, BUDGET)
    return build


def test_variants_are_built_from_the_float_file_with_their_recipe(quantized) -> None:
    assert list(quantized.variants) == ["dynamic_int8", "int4_weights", "float32",
                                        "int8_weights", "fp16"]  # the order asked for
    float_size = quantized.variants["float32"].size_bytes
    for name in QUANTIZER_VARIANTS:
        artifact = quantized.variants[name]
        assert artifact.ok, artifact.error
        assert "litert-quantizer 0.11" in artifact.note and "from float32.tflite" in artifact.note
        recipe = json.loads((Path(artifact.path).parent / f"{name}_recipe.json").read_text())
        assert recipe and all("op_config" in entry for entry in recipe)
        info = inspect_tflite(Path(artifact.path))
        assert not info.has_integer_io  # float in, float out: fed like float32
        assert artifact.size_bytes < float_size
    sizes = {n: quantized.variants[n].size_bytes for n in QUANTIZER_VARIANTS}
    assert sizes["int4_weights"] < sizes["dynamic_int8"] < sizes["fp16"]
    assert "recipe dynamic_wi8_afp32 less DEPTHWISE_CONV_2D" in \
        quantized.variants["dynamic_int8"].note
    assert "recipe weight_only_wi8_afp32" in quantized.variants["int8_weights"].note
    dynamic = json.loads((Path(quantized.variants["dynamic_int8"].path).parent
                          / "dynamic_int8_recipe.json").read_text())
    assert {"FULLY_CONNECTED", "CONV_2D"} <= {e["operation"] for e in dynamic}
    assert not {"DEPTHWISE_CONV_2D", "*"} & {e["operation"] for e in dynamic}


def test_int4_is_blockwise_on_every_dense_layer_of_the_digits_cnn(quantized) -> None:
    # fc1 takes 256 inputs and logits 32: both multiples of the block of 32
    note = quantized.variants["int4_weights"].note
    assert "int4 FULLY_CONNECTED weights, blockwise (32) on 2 of 2" in note
    recipe = json.loads((Path(quantized.variants["int4_weights"].path).parent
                         / "int4_weights_recipe.json").read_text())
    weights = [(e["operation"], e["regex"] == ".*", e["op_config"]["weight_tensor_config"])
               for e in recipe]
    assert {(w["num_bits"], w["granularity"]) for op, everywhere, w in weights  # per layer
            if op == "FULLY_CONNECTED" and not everywhere} == {(4, "BLOCKWISE_32")}
    # the convolution's weights are int8, as dynamic_int8's: XNNPACK runs no int4 CONV_2D
    int8 = {"num_bits": 8, "symmetric": True, "granularity": "CHANNELWISE", "dtype": "INT"}
    assert ("CONV_2D", True, int8) in weights


@pytest.mark.parametrize("variant", QUANTIZER_VARIANTS)
def test_variant_is_timed_on_xnnpack_and_compared_with_float(quantized, variant: str,
                                                             tmp_path: Path) -> None:
    target = cpu_xnnpack()
    prepared = target.prepare(Path(quantized.variants[variant].path), tmp_path)
    measurement = target.measure(prepared, FAST)
    assert measurement.status is Status.OK, measurement.error
    assert len(measurement.samples_ms) >= 20 and min(measurement.samples_ms) > 0
    assert measurement.extra["ops_outside_delegate"] == {}  # XNNPACK ran every op
    outcome = _evaluate(target, prepared, quantized.eval_path, 60.0)  # the worker's path
    assert outcome.output_snr_db is not None, outcome.note
    assert outcome.output_snr_db > SNR_FLOOR[variant]
    assert outcome.top1 is not None  # the digits eval set has labels
    # what the variant's own outputs guarantee, whatever the training gave on this host:
    # an input whose float top-1 leads its runner-up by more than twice the largest error
    # of any of its logits keeps its class, so agreement is at least the share of those
    data = EvalSet.load(Path(quantized.eval_path))
    reference = np.asarray(data.reference).reshape(data.samples, -1)
    outputs = np.asarray(target.evaluate(prepared, data).outputs).reshape(data.samples, -1)
    ranked = np.sort(reference, axis=1)
    margin = ranked[:, -1] - ranked[:, -2]
    error = np.abs(outputs - reference).max(axis=1)
    assert outcome.agreement_top1 >= float(np.mean(margin > 2 * error)) - 1e-12
    assert outcome.agreement_top1 == pytest.approx(
        float(np.mean(outputs.argmax(axis=1) == reference.argmax(axis=1))))
    snr = 10 * np.log10(np.sum(reference ** 2) / np.sum((outputs - reference) ** 2))
    assert outcome.output_snr_db == pytest.approx(snr, rel=1e-6)


def test_int4_falls_back_to_per_channel_where_the_width_is_not_a_block(tmp_path: Path) -> None:
    import tensorflow as tf
    import tf_keras as keras

    keras.utils.set_random_seed(0)  # one initialisation, not whatever ran before
    model = keras.Sequential([keras.layers.Input((20,)), keras.layers.Dense(64),
                              keras.layers.Dense(10)])
    float_path = tmp_path / "float32.tflite"
    float_path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    quantized = quantize_file(float_path, "int4_weights")
    # Dense(64) takes 20 inputs (per channel), the logits 64 (blockwise)
    assert "blockwise (32) on 1 of 2" in quantized.describe()
    out = tmp_path / "int4.tflite"
    out.write_bytes(quantized.flatbuffer)
    x = np.random.default_rng(0).random((8, 20), dtype=np.float32)
    assert np.isfinite(_outputs(out, x)).all()
    assert _snr(_outputs(float_path, x), _outputs(out, x)) > 5.0


def _outputs(path: Path, x: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    given, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    rows = []
    for row in x:
        interpreter.set_tensor(given["index"], row[None])
        interpreter.invoke()
        rows.append(interpreter.get_tensor(out["index"]).copy())
    return np.concatenate(rows)


def _snr(reference: np.ndarray, outputs: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(reference ** 2) / np.sum((reference - outputs) ** 2)))


def test_a_missing_quantizer_fails_the_variant_with_the_fix(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    monkeypatch.setitem(sys.modules, "litert_quantizer", None)  # import raises ImportError
    budget = TrainingBudget(float_epochs=1, qat_epochs=0, representative_samples=16,
                            layer_error_samples=0, max_train_samples=200)
    build = build_variants(get_model_spec("digits_cnn"), ["fp16", "float32"], tmp_path, budget)
    assert build.variants["float32"].ok
    failed = build.variants["fp16"]
    assert not failed.ok and "QuantizerMissing" in failed.error
    assert "pip install 'qatbench[qat]'" in failed.error and "litert-quantizer" in failed.error


def test_without_float32_the_float_model_is_converted_for_them(tmp_path: Path) -> None:
    budget = TrainingBudget(float_epochs=1, qat_epochs=0, representative_samples=16,
                            layer_error_samples=0, max_train_samples=200)
    build = build_variants(get_model_spec("digits_cnn"), ["int8_weights"], tmp_path, budget)
    artifact = build.variants["int8_weights"]
    assert artifact.ok, artifact.error
    assert "from float32_source.tflite" in artifact.note
    assert "float32 is not among the variants" in artifact.note
    assert not (tmp_path / "float32.tflite").exists()


def test_the_names_are_run_variants_and_file_variants() -> None:
    from qatbench.bench.orchestration.config import build_config
    from qatbench.models.sources import FILE_VARIANTS

    config = build_config({"run": {"models": ["digits_cnn"],
                                   "variants": ["float32", *QUANTIZER_VARIANTS]}})
    assert config.run.variants == ["float32", *QUANTIZER_VARIANTS]
    assert set(QUANTIZER_VARIANTS) <= set(FILE_VARIANTS)


def test_their_rows_get_shrink_and_speedup_and_are_gated() -> None:
    from qatbench.bench.statistics.checks import Pair, SizeCheck
    from qatbench.bench.statistics.latency import Verdict
    from qatbench.bench.storage.relative import add_relative_columns

    variants = ["float32", *QUANTIZER_VARIANTS]
    frame = pd.DataFrame({
        "model": "m", "variant": variants, "target": "cpu-xnnpack", "device": "host",
        "threads": 1, "fingerprint": "f", "status": "ok",
        "size_bytes": [1000, 300, 320, 200, 500],
        "latency_ms_p50": [1.0, 0.5, 1.0, 2.0, 1.0], "latency_ms_mean": [1.0] * 5})
    ratios = add_relative_columns(frame).set_index("variant")
    assert ratios.loc["int4_weights", "size_ratio_vs_float"] == pytest.approx(5.0)
    assert ratios.loc["dynamic_int8", "speedup_vs_float"] == pytest.approx(2.0)
    assert ratios.loc["fp16", "speedup_basis"] == "p50"
    for variant in QUANTIZER_VARIANTS:  # the gate's size rule applies to each of them
        pair = Pair(("m", variant, "cpu-xnnpack", "host", 1), {"size_bytes": 100},
                    {"size_bytes": 200}, Verdict.SAME)
        assert SizeCheck(0.1).fails(pair) == "size grew +100.0%"
