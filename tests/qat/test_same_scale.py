"""An average pool feeding a concatenation and another layer -- DenseNet's transition --
converts full-integer and runs in LiteRT like the QAT model.

tfmot quantizes an ``AveragePooling2D``'s output with a range of its own; TFLite's int8
average pool keeps its input's scale, and the concatenation takes its inputs at its
output's. Where the pool also has a second consumer, tfmot's own concatenation rule does
not match and TensorFlow's converter stops with "'tfl.average_pool_2d' op quantization
parameters violate the same scale constraint" (Keras 3 DenseNet121's ``qat_int8``, issue
29). qatbench gives the pool a pass-through config (``SAME_SCALE_LAYERS``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow_model_optimization")

import tf_keras as keras

from qatbench.qat.conversion_hints import conversion_hint
from qatbench.qat.export import Variant, export_variant, full_integer_converter
from qatbench.qat.quantize import LayerSelection, plan_quantization, quantize_for_training
from qatbench.qat.range_init import start_ranges_from_data

layers = keras.layers


def _inputs(count: int, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(count, *shape)).astype(np.float32)


def densenet_transition() -> keras.Model:
    """DenseNet in small: a transition (BN, ReLU, 1x1 conv without bias, 2x2 average pool)
    whose pool feeds both the next dense layer (BN, ReLU, conv) and its concatenation."""
    keras.utils.set_random_seed(0)
    inputs = layers.Input((16, 16, 3))
    x = layers.Conv2D(8, 3, padding="same", name="stem")(inputs)
    x = layers.BatchNormalization(name="transition_bn")(x)
    x = layers.ReLU(name="transition_relu")(x)
    x = layers.Conv2D(8, 1, use_bias=False, name="transition_conv")(x)
    pool = layers.AveragePooling2D(2, name="transition_pool")(x)
    y = layers.BatchNormalization(name="block_bn")(pool)
    y = layers.ReLU(name="block_relu")(y)
    y = layers.Conv2D(4, 3, padding="same", name="block_conv")(y)
    x = layers.Concatenate(name="block_concat")([pool, y])
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, layers.Dense(10, name="head")(x), name="densenet_transition")


def pool_branch_1d() -> keras.Model:
    """The same pattern in one dimension: a 1-D average pool feeding a convolution and
    the concatenation of both."""
    keras.utils.set_random_seed(0)
    inputs = layers.Input((16, 3))
    x = layers.Conv1D(8, 3, padding="same", activation="relu", name="conv_a")(inputs)
    pool = layers.AveragePooling1D(2, name="pool")(x)
    y = layers.Conv1D(4, 3, padding="same", name="conv_b")(pool)
    x = layers.Concatenate(name="concat")([pool, y])
    x = layers.GlobalAveragePooling1D(name="gap")(x)
    return keras.Model(inputs, layers.Dense(4, name="head")(x), name="pool_branch_1d")


def _qat(model: keras.Model) -> keras.Model:
    """The product's QAT model with its ranges started from the data, as fine-tuning does."""
    qat_model, _ = quantize_for_training(model)
    start_ranges_from_data(qat_model, _inputs(64, model.input_shape[1:], seed=1))
    return qat_model


def _litert_outputs(path: Path, x: np.ndarray) -> tuple[np.ndarray, float]:
    """The file's float outputs on ``x`` (int8 in and out, one sample at a time) and the
    output's int8 step."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    source, target = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    in_scale, in_zero = source["quantization"]
    out_scale, out_zero = target["quantization"]
    outputs = []
    for sample in x:
        quantized = np.clip(np.round(sample / in_scale) + in_zero, -128, 127)
        interpreter.set_tensor(source["index"], quantized.astype(np.int8)[None])
        interpreter.invoke()
        raw = interpreter.get_tensor(target["index"]).astype(np.float32)
        outputs.append((raw[0] - out_zero) * out_scale)
    return np.stack(outputs), float(out_scale)


def test_with_tfmots_config_on_the_pool_the_converter_refuses_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The cause, shown: the same model with the pool left to tfmot's config (the rule
    taken out of the table) stops TensorFlow's converter; the row's error then says
    which layer and how to keep it float."""
    from tensorflow.lite.python.convert import ConverterError

    from qatbench.qat import quantize

    monkeypatch.setattr(quantize, "SAME_SCALE_LAYERS", {})
    model = densenet_transition()
    qat_model = _qat(model)
    with pytest.raises(ConverterError, match=r"average_pool_2d.*same scale constraint") \
            as refused:
        full_integer_converter(qat_model, _inputs(16, (16, 16, 3), seed=2)).convert()
    # a pattern no config reconciles gets the layer and the way around it, not MLIR alone
    hint = conversion_hint(model, refused.value)
    assert "average_pool_2d" in hint and "transition_pool (AveragePooling2D)" in hint
    assert "qat_selective" in hint and "qat_layers" in hint


@pytest.mark.parametrize("build", [densenet_transition, pool_branch_1d])
def test_a_pool_feeding_a_concatenation_converts_full_integer_and_runs_like_qat(
        build: object, tmp_path: Path) -> None:
    model = build()
    qat_model = _qat(model)
    calibration = _inputs(16, model.input_shape[1:], seed=2)
    info = export_variant(qat_model, Variant.QAT_INT8, calibration, tmp_path / "qat.tflite")
    assert info.is_full_integer and info.has_integer_io
    assert "AVERAGE_POOL_2D" in info.op_counts and "CONCATENATION" in info.op_counts

    x = _inputs(32, model.input_shape[1:], seed=3)
    expected = qat_model(x, training=False).numpy()
    got, step = _litert_outputs(tmp_path / "qat.tflite", x)
    # the integer kernels compute what the QAT model computes, up to rounding: on
    # average within 2 of the output's int8 steps, and no output off by a tenth of the
    # outputs' range (the file also rounds the pool's value to the concatenation's scale
    # where the pool's other consumer reads it, which QAT does not simulate: up to 8 steps
    # in the 1-D model, where that scale is 1.8x the pool input's)
    error = np.abs(got - expected)
    assert error.mean() <= 2 * step
    assert error.max() <= 0.1 * (expected.max() - expected.min())


def test_the_pool_gets_the_pass_through_config_named_in_the_note() -> None:
    qat_model, plan = quantize_for_training(densenet_transition())
    assert plan.same_scale == {"transition_pool": "AveragePooling2D"}
    assert "transition_pool" not in plan.configured  # tfmot accepts it; not a rejection
    assert "AveragePooling2D" in plan.describe() and "same-scale" in plan.describe()
    wrapper = qat_model.get_layer("quant_transition_pool")
    assert type(wrapper.quantize_config).__name__ == "PassThroughQuantizeConfig"
    assert not [v for v in wrapper.weights if "min" in v.name or "max" in v.name]


def test_a_pool_fed_by_a_float_layer_keeps_tfmots_config() -> None:
    """Selective QAT leaving the pool's input float: the pool's output quantizer is then
    the only one its value gets, so tfmot's config stays."""
    selection = LayerSelection(("transition_pool", "block_*", "head"))
    plan, configured = plan_quantization(densenet_transition(), selection)
    assert "transition_conv" in plan.kept_float
    assert plan.same_scale == {} and "transition_pool" not in configured
