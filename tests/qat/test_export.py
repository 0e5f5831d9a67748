"""The int8 label is a promise: a file that still computes in float is refused it."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from qatbench.qat.errors import NotFullIntegerError
from qatbench.qat.export import Variant, verify_variant
from tests.accuracy_bounds import assert_floor, assert_no_drop_beyond, hits_of


def test_float_file_labelled_int8_is_refused(tmp_path: Path, float_tflite: Path) -> None:
    path = tmp_path / "ptq_int8.tflite"
    shutil.copy(float_tflite, path)
    with pytest.raises(NotFullIntegerError, match="float compute ops left") as error:
        verify_variant(path, Variant.PTQ_INT8)
    assert "CONV_2D" in str(error.value)


def test_built_variants_are_what_their_names_say(digits_build) -> None:
    float_info = verify_variant(Path(digits_build.variants["float32"].path), Variant.FLOAT32)
    assert float_info.kind == "float32" and "CONV_2D" in float_info.float_ops
    assert not float_info.has_integer_io
    for variant in (Variant.PTQ_INT8, Variant.QAT_INT8):
        info = verify_variant(Path(digits_build.variants[variant.value].path), variant)
        assert info.is_full_integer and info.has_integer_io


def test_int8_files_are_much_smaller(digits_build) -> None:
    float_size = digits_build.variants["float32"].size_bytes
    for variant in ("ptq_int8", "qat_int8"):
        assert float_size / digits_build.variants[variant].size_bytes > 2.5


def test_qat_keeps_accuracy_on_the_digits(digits_build) -> None:
    """One training run on 360 held-out digits: each top-1 is known to about ±2 points
    and the trained model differs by host (TensorFlow's kernels differ by instruction
    set), so the figures are judged as samples. The float model is shown far above
    chance (95% interval above 80%; chance is 10%); QAT is not worse than float by more
    than 3 points beyond the sample's noise -- the Keras figures by Fisher's exact test on
    their counts, the converted files digit by digit (McNemar, reference kernels).
    Catches: QAT fine-tuning or int8 conversion that loses accuracy (a wrong scale,
    fake-quant in the wrong place: tens of points), an untrained float model, and a
    ``keras_top1`` that is not the top-1 of the model on the held-out digits."""
    from qatbench.qat.fidelity import tflite_outputs
    from qatbench.targets.base import EvalSet

    data = EvalSet.load(Path(digits_build.eval_path))
    n = len(data.y)
    assert n == 360
    float_artifact, qat = digits_build.variants["float32"], digits_build.variants["qat_int8"]
    assert_floor(float_artifact.keras_top1, 0.8, "float32 Keras top-1", n=n)
    assert_no_drop_beyond(float_artifact.keras_top1, qat.keras_top1, points=3.0,
                          what="qat_int8 Keras top-1 vs float32", base_n=n, current_n=n)
    hits = {artifact.variant: hits_of(tflite_outputs(Path(artifact.path), data.x), data.y)
            for artifact in (float_artifact, qat)}
    # the float file is the Keras model converted: float rounding may flip a near tie
    # (none of 360 on this host), never the tens of digits a wrong figure moves
    assert hits["float32"].mean() == pytest.approx(float_artifact.keras_top1, abs=3 / n)
    assert_floor(hits["float32"], 0.8, "float32 .tflite top-1")
    assert_no_drop_beyond(hits["float32"], hits["qat_int8"], points=3.0,
                          what="qat_int8 .tflite top-1 vs float32")


def _seen_by_a_user(flatbuffer: bytes, feed: list[np.ndarray]) -> dict:
    """What a user of the .tflite sees: signature, ops, tensors with their quantization,
    and the outputs on fixed inputs."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=flatbuffer)
    interpreter.allocate_tensors()
    for detail, array in zip(interpreter.get_input_details(), feed, strict=True):
        interpreter.set_tensor(detail["index"], array.astype(detail["dtype"]))
    interpreter.invoke()
    return {
        "signatures": interpreter.get_signature_list(),
        "ops": [op["op_name"] for op in interpreter._get_ops_details()],
        "tensors": [(t["name"], t["shape"].tolist(), t["shape_signature"].tolist(),
                     str(t["dtype"]), t["quantization"]) for t in interpreter.get_tensor_details()],
        "outputs": [interpreter.get_tensor(d["index"]).tolist()
                    for d in interpreter.get_output_details()],
    }


def _two_headed_cnn():
    """Conv + BN + residual add, two named outputs: what the serving signature must keep."""
    import tf_keras as keras

    inputs = keras.Input((12, 12, 3), name="image")
    x = keras.layers.Conv2D(8, 3, padding="same", use_bias=False)(inputs)
    x = keras.layers.ReLU()(keras.layers.BatchNormalization()(x))
    x = keras.layers.Add()([x, keras.layers.Conv2D(8, 1)(inputs)])
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, [keras.layers.Dense(10, activation="softmax", name="digit")(x),
                                keras.layers.Dense(2, name="parity")(x)])


def test_the_fast_converter_writes_what_from_keras_model_writes(monkeypatch) -> None:
    """keras_converter skips from_keras_model's Keras SavedModel (benchmarks/
    conversion_time.py); every variant must still come out as the file from_keras_model
    gives."""
    pytest.importorskip("tensorflow_model_optimization")
    import tensorflow as tf

    from qatbench.qat import export
    from qatbench.qat.quantize import quantize_for_training

    model = _two_headed_cnn()
    qat_model, _ = quantize_for_training(model)
    calibration = np.random.default_rng(0).random((8, 12, 12, 3), dtype=np.float32)
    float_feed = [calibration[:1]]
    int8_feed = [np.random.default_rng(1).integers(-128, 128, (1, 12, 12, 3))]
    cases = [(model, Variant.FLOAT32, float_feed), (model, Variant.PTQ_INT8, int8_feed),
             (qat_model, Variant.QAT_INT8, int8_feed)]
    for keras_model, variant, feed in cases:
        fast = export.convert(keras_model, variant, calibration)
        with monkeypatch.context() as patch:
            patch.setattr(export, "keras_converter", tf.lite.TFLiteConverter.from_keras_model)
            reference = export.convert(keras_model, variant, calibration)
        seen = _seen_by_a_user(fast, feed)
        expected = _seen_by_a_user(reference, feed)
        # one deliberate difference: a QAT file's signature names its outputs after the
        # float layers (tfmot's wrappers are "quant_digit"), so the QAT file's outputs are
        # found by the float32 file's names (qatbench.qat.export.signature_output_names)
        named = {"inputs": ["image"], "outputs": sorted(model.output_names)}
        if variant is Variant.QAT_INT8:  # the same outputs, found by name, not position
            assert expected["signatures"]["serving_default"]["outputs"] == sorted(
                keras_model.output_names) == ["quant_digit", "quant_parity"]
            expected["signatures"] = {"serving_default": named}
            for side in (seen, expected):
                side["outputs"] = sorted(side["outputs"], key=repr)
        assert seen == expected, variant
        assert seen["signatures"]["serving_default"] == named
        assert len(seen["outputs"]) == 2 and seen["ops"]
