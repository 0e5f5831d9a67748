"""QAT beyond tfmot's defaults: configs only where needed, one error for the hopeless,
selective QAT that really keeps layers float, and a saved QAT model that reloads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow_model_optimization")

import tf_keras as keras

from qatbench.qat.errors import QatModelError, UnsupportedLayersError
from qatbench.qat.export import Variant, export_variant
from qatbench.qat.quantize import (
    LayerSelection,
    load_qat_model,
    quantize_for_training,
    save_qat_model,
)
from qatbench.targets.tflite_file import inspect_tflite

layers = keras.layers
CALIBRATION = np.random.default_rng(0).random((8, 16, 16, 3), dtype=np.float32)


def preact_model() -> keras.Model:
    """Rescaling at the input, a folded Conv+BN, and a standalone pre-activation BN."""
    inputs = layers.Input((16, 16, 3))
    x = layers.Rescaling(1 / 127.5, offset=-1, name="rescale")(inputs)
    x = layers.Conv2D(8, 3, name="conv_a")(x)
    x = layers.BatchNormalization(name="bn_after_conv")(x)
    x = layers.ReLU(name="relu_a")(x)
    x = layers.BatchNormalization(name="preact_bn")(x)
    x = layers.ReLU(name="relu_b")(x)
    x = layers.Conv2D(8, 3, name="conv_b")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = layers.Dense(4, name="head")(x)
    return keras.Model(inputs, outputs, name="preact")


def fit_briefly(model: keras.Model) -> None:
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(CALIBRATION, np.arange(8) % 4, epochs=1, batch_size=4, verbose=0)


def test_configs_apply_only_to_the_layers_tfmot_rejects(tmp_path: Path) -> None:
    qat_model, plan = quantize_for_training(preact_model())
    assert plan.configured == {"rescale": "Rescaling", "preact_bn": "BatchNormalization"}
    assert "bn_after_conv" not in plan.configured  # folded into conv_a by tfmot itself
    assert plan.kept_float == []
    fit_briefly(qat_model)
    info = export_variant(qat_model, Variant.QAT_INT8, CALIBRATION, tmp_path / "q.tflite")
    assert info.is_full_integer and info.has_integer_io


def test_a_model_keras_quantizes_by_default_gets_no_extra_config() -> None:
    inputs = layers.Input((16, 16, 3))
    x = layers.Conv2D(4, 3)(inputs)
    outputs = layers.Dense(2)(layers.Flatten()(x))
    _, plan = quantize_for_training(keras.Model(inputs, outputs))
    assert plan.configured == {} and plan.describe() == ""


def test_layers_nobody_can_quantize_are_listed_in_one_error() -> None:
    inputs = layers.Input((16, 16, 3))
    x = layers.BatchNormalization(name="fixable_bn")(inputs)
    x = layers.Conv2D(4, 3, name="conv")(x)
    x = layers.GroupNormalization(2, name="norm_a")(x)
    x = layers.Flatten(name="flat")(x)
    x = layers.UnitNormalization(name="norm_b")(x)
    outputs = layers.Dense(2, name="head")(x)
    with pytest.raises(UnsupportedLayersError) as error:
        quantize_for_training(keras.Model(inputs, outputs, name="hopeless"))
    assert [(u.name, u.class_name) for u in error.value.layers] == [
        ("norm_a", "GroupNormalization"), ("norm_b", "UnitNormalization")]
    assert "'hopeless'" in str(error.value)


def test_selective_qat_keeps_the_other_layers_float_and_runs(tmp_path: Path) -> None:
    qat_model, plan = quantize_for_training(preact_model(),
                                            LayerSelection(("conv_*",), ("ReLU",)))
    assert set(plan.kept_float) == {"rescale", "bn_after_conv", "preact_bn", "pool", "head"}
    assert "kept float (selective QAT): rescale" in plan.describe()
    fit_briefly(qat_model)
    path = tmp_path / "selective.tflite"
    info = export_variant(qat_model, Variant.QAT_SELECTIVE, CALIBRATION, path)
    assert info.kind == "mixed"
    assert "FULLY_CONNECTED" in info.float_ops  # the head stayed float
    assert info.op_counts.get("QUANTIZE", 0) >= 1  # int8 islands inside
    from qatbench.targets.runtime import resolve_runtime

    interpreter = resolve_runtime().interpreter(str(path), threads=1,
                                                use_default_delegates=False)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], CALIBRATION[:1])
    interpreter.invoke()
    assert np.isfinite(interpreter.get_tensor(
        interpreter.get_output_details()[0]["index"])).all()


def test_a_selection_matching_nothing_is_refused() -> None:
    with pytest.raises(QatModelError, match="no layer matches"):
        quantize_for_training(preact_model(), LayerSelection(("nothing*",)))


@pytest.mark.parametrize("name", ["qat.h5", "qat_savedmodel"])
def test_a_saved_qat_model_reloads_to_the_same_int8_model(tmp_path: Path, name: str) -> None:
    qat_model, _ = quantize_for_training(preact_model())
    fit_briefly(qat_model)
    reloaded = load_qat_model(save_qat_model(qat_model, tmp_path / name))
    before = export_variant(qat_model, Variant.QAT_INT8, CALIBRATION, tmp_path / "a.tflite")
    after = export_variant(reloaded, Variant.QAT_INT8, CALIBRATION, tmp_path / "b.tflite")
    assert (tmp_path / "a.tflite").read_bytes() == (tmp_path / "b.tflite").read_bytes()
    assert before.op_counts == after.op_counts
    assert inspect_tflite(tmp_path / "b.tflite").is_full_integer


def test_the_keras_zip_format_is_refused_with_the_alternatives(tmp_path: Path) -> None:
    qat_model, _ = quantize_for_training(preact_model())
    with pytest.raises(QatModelError, match=r"save as \.h5 or to a directory"):
        save_qat_model(qat_model, tmp_path / "qat.keras")
