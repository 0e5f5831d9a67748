"""The int8 label is a promise: a file that still computes in float is refused it."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from qatbench.qat.errors import NotFullIntegerError
from qatbench.qat.export import Variant, verify_variant


def test_float_file_labelled_int8_is_refused(tmp_path: Path, float_tflite: Path) -> None:
    path = tmp_path / "ptq_int8.tflite"
    shutil.copy(float_tflite, path)
    with pytest.raises(NotFullIntegerError, match="float compute ops left") as error:
        verify_variant(path, Variant.PTQ_INT8)
    assert "CONV_2D" in str(error.value)


def test_built_variants_are_what_their_names_say(digits_build) -> None:
    assert verify_variant(Path(digits_build.variants["float32"].path), Variant.FLOAT32)
    for variant in (Variant.PTQ_INT8, Variant.QAT_INT8):
        info = verify_variant(Path(digits_build.variants[variant.value].path), variant)
        assert info.is_full_integer and info.has_integer_io


def test_int8_files_are_much_smaller(digits_build) -> None:
    float_size = digits_build.variants["float32"].size_bytes
    for variant in ("ptq_int8", "qat_int8"):
        assert float_size / digits_build.variants[variant].size_bytes > 2.5


def test_qat_keeps_accuracy_on_the_digits(digits_build) -> None:
    float_top1 = digits_build.variants["float32"].keras_top1
    assert float_top1 > 0.85
    assert digits_build.variants["qat_int8"].keras_top1 >= float_top1 - 0.03


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
        assert seen == _seen_by_a_user(reference, feed), variant
        assert seen["signatures"]["serving_default"] == {  # tfmot prefixes "quant_"
            "inputs": ["image"], "outputs": sorted(keras_model.output_names)}
        assert len(seen["outputs"]) == 2 and seen["ops"]
