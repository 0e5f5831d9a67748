"""QAT's quantizer ranges start from the fine-tuning inputs, not at tfmot's [-6, 6]; the
calibration passes change nothing but ranges, and tfmot is left as it was found."""

from __future__ import annotations

import re

import numpy as np
import pytest

pytest.importorskip("tensorflow_model_optimization")

import tf_keras as keras
from tensorflow_model_optimization.python.core.quantization.keras import quant_ops

from qatbench.qat.budget import TrainingBudget
from qatbench.qat.quantize import quantize_for_training
from qatbench.qat.range_init import (
    CALIBRATION_BATCH_SIZE,
    RANGE_UPDATERS,
    start_ranges_from_data,
)
from qatbench.qat.train import fine_tune_qat


def _box_model() -> keras.Model:
    """A small regression head whose outputs span about ±0.3: far inside [-6, 6]."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, keras.layers.Dense(3, name="box")(x))


def _bn_model() -> keras.Model:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.ReLU(name="relu")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, keras.layers.Dense(3, name="box")(x))


def _inputs(count: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 1, (count, 8, 8, 1)).astype(np.float32)


def _range(model: keras.Model, layer: str, kind: str = "post_activation") -> tuple[float, float]:
    """A quantizer's (min, max) by layer and kind (Keras numbers a repeated auto name)."""
    def value(end: str) -> float:
        (found,) = [v.numpy() for v in model.variables
                    if re.fullmatch(rf"{layer}(_\d+)?/{kind}(_\d+)?_{end}:0", v.name)]
        return float(np.min(found) if end == "min" else np.max(found))

    return value("min"), value("max")


def test_the_output_range_starts_at_the_mean_of_the_batches_min_and_max() -> None:
    model = _box_model()
    qat_model, _ = quantize_for_training(model)
    assert _range(qat_model, "quant_box") == (-6.0, 6.0)  # tfmot's start
    x = _inputs(3 * CALIBRATION_BATCH_SIZE)

    start = start_ranges_from_data(qat_model, x, seed=0)

    assert start.ranges > 0 and start.batches == 3
    order = np.random.default_rng(0).permutation(len(x))
    batches = [model.predict(x[order[k * 64:(k + 1) * 64]], verbose=0) for k in range(3)]
    expected_min = np.mean([min(b.min(), 0.0) for b in batches])  # ranges hold 0
    expected_max = np.mean([max(b.max(), 0.0) for b in batches])
    low, high = _range(qat_model, "quant_box")
    step = (expected_max - expected_min) / 255
    # upstream fake quantization moves the output by a few int8 steps at most
    assert abs(low - expected_min) < 4 * step and abs(high - expected_max) < 4 * step
    assert high - low < 2.0  # nowhere near tfmot's 12-wide start


def test_the_input_and_weight_ranges_start_where_their_quantizers_put_them() -> None:
    model = _box_model()
    qat_model, _ = quantize_for_training(model)
    start_ranges_from_data(qat_model, _inputs(64))
    low, high = _range(qat_model, "quantize_layer", "quantize_layer")
    assert low == pytest.approx(0.0, abs=0.01) and high == pytest.approx(1.0, abs=0.01)
    kernel = model.get_layer("box").kernel.numpy()
    low, high = _range(qat_model, "quant_box", "kernel")
    assert high == pytest.approx(float(np.abs(kernel).max()), rel=1e-5)


def test_nothing_but_ranges_changes_and_tfmot_is_put_back() -> None:
    qat_model, _ = quantize_for_training(_bn_model())
    ranges = {v.name for v in qat_model.variables if v.name.endswith(("_min:0", "_max:0"))}
    before = {v.name: v.numpy().copy() for v in qat_model.variables}

    start_ranges_from_data(qat_model, _inputs(128))

    changed = {v.name for v in qat_model.variables
               if not np.array_equal(v.numpy(), before[v.name])}
    assert changed and changed <= ranges  # BatchNorm's moving statistics are put back
    assert any("moving_mean" in name for name in before)  # the model has some to put back
    for name in RANGE_UPDATERS:
        assert getattr(quant_ops, name).__module__ == quant_ops.__name__


def test_tfmot_is_put_back_when_a_forward_pass_fails() -> None:
    qat_model, _ = quantize_for_training(_box_model())
    with pytest.raises(Exception):  # noqa: B017 -- whatever Keras raises for a bad shape
        start_ranges_from_data(qat_model, np.zeros((8, 5, 5, 2), np.float32))
    for name in RANGE_UPDATERS:
        assert getattr(quant_ops, name).__module__ == quant_ops.__name__


@pytest.mark.parametrize("qat_ranges", ["data", "tfmot"])
def test_the_record_says_where_the_ranges_started(qat_ranges: str) -> None:
    """A zero-step budget converts with the start itself: data ranges, or tfmot's
    [-6, 6] when ``qat_ranges = "tfmot"`` asks for tfmot's behaviour."""
    model = _box_model()
    qat_model, _ = quantize_for_training(model)
    budget = TrainingBudget(synthetic_qat_steps=0, qat_ranges=qat_ranges)
    tuning = fine_tune_qat(qat_model, model, None, _inputs(100), "calibration inputs",
                           budget, "box_model", {"box": "regression"})
    low, high = _range(qat_model, "quant_box")
    if qat_ranges == "data":
        assert high - low < 2.0
        assert "quantizer ranges started from 1 batch of 64 fine-tuning inputs" \
            in tuning.describe()
    else:
        assert (low, high) == (-6.0, 6.0)
        assert "ranges started at tfmot's initial values" in tuning.describe()


def test_calibration_batches_are_no_larger_than_the_training_batch() -> None:
    """A user who set batch_size = 16 to fit memory is not handed a forward pass of 64."""
    model = _box_model()
    qat_model, _ = quantize_for_training(model)
    budget = TrainingBudget(synthetic_qat_steps=0, batch_size=16)
    tuning = fine_tune_qat(qat_model, model, None, _inputs(100), "calibration inputs",
                           budget, "box_model", {"box": "regression"})
    assert "started from 6 batches of 16 fine-tuning inputs" in tuning.describe()


def _dead_branch_model() -> keras.Model:
    """A residual sum of a live branch and a dead one (a convolution and BatchNorm that
    give exactly zero for every input), as a random-weight MobileNetV2's projection
    blocks are at --quick."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 1))
    live = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="live")(inputs)
    dead = keras.layers.Conv2D(4, 1, kernel_initializer="zeros", use_bias=False,
                               name="dead_conv")(live)
    dead = keras.layers.BatchNormalization(name="dead")(dead)
    x = keras.layers.Add(name="sum")([live, dead])
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, keras.layers.Dense(3, name="box")(x))


def test_a_tensor_zero_on_every_input_gets_a_range_fine_tuning_and_tflite_accept() -> None:
    """A [0, 0] range made tfmot's fake quantization divide by zero: the first step wrote
    NaN into every weight and the converter a -128 zero point TFLite refuses at load
    (issue 29, MobileNetV2 at --quick). The range opens to MIN_RANGE_WIDTH, the record
    says so, fine-tuning stays finite and the full-integer file loads and runs."""
    from ai_edge_litert.interpreter import Interpreter

    from qatbench.qat.export import Variant, convert

    model = _dead_branch_model()
    dead = keras.Model(model.inputs, model.get_layer("dead").output)
    assert float(np.abs(dead.predict(_inputs(100), verbose=0)).max()) == 0.0
    qat_model, _ = quantize_for_training(model)
    budget = TrainingBudget(synthetic_qat_steps=3, synthetic_batch_size=4)
    tuning = fine_tune_qat(qat_model, model, None, _inputs(100), "calibration inputs",
                           budget, "dead_branch", {"box": "regression"})

    assert tuning.ranges is not None and tuning.ranges.opened >= 1
    assert "zero on every one of them" in tuning.describe()
    low, high = _range(qat_model, "quant_dead", "output")
    assert 0.0 < high - low < 1e-3  # opened on its own scale, not sent back to [-6, 6]
    assert all(np.all(np.isfinite(v.numpy())) for v in qat_model.variables)
    interpreter = Interpreter(model_content=convert(qat_model, Variant.QAT_INT8, _inputs(32)))
    interpreter.allocate_tensors()  # TFLite's prepare checks: zero points, multipliers
    detail = interpreter.get_input_details()[0]
    interpreter.set_tensor(detail["index"], np.zeros(detail["shape"], np.int8))
    interpreter.invoke()


def test_fine_tuning_that_leaves_nan_is_refused_naming_the_variable() -> None:
    from qatbench.qat.errors import FineTuningDivergedError
    from qatbench.qat.train import check_finite

    qat_model, _ = quantize_for_training(_box_model())
    kernel = next(v for v in qat_model.variables if v.name.startswith("box/kernel"))
    kernel.assign(np.full(kernel.shape, np.nan, np.float32))
    with pytest.raises(FineTuningDivergedError, match=r"box/kernel.*qat_learning_rate"):
        check_finite(qat_model, "box_model")
