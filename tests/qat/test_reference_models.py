"""The five models of the published QAT table (and EfficientNet-B0) go through QAT and
convert to full-integer int8.

The quantization plan is checked on each zoo model itself. The conversions (about 25 s
of converter per hundred layers on two cores) run at small inputs without fine-tuning,
and the three deepest models are converted as the same blocks with fewer repeats, built
by tf_keras's own code: ResNet50 v2 as ``resnet.ResNet`` with two pre-activation blocks
per stack (every shortcut kind), EfficientNet-B0 with ``depth_coefficient=0.1`` (one
MBConv with squeeze-excite per stage), NASNet-Mobile as a reduction cell and a normal
cell (both cells, both ways a cell adjusts its input). Full size, all six are converted
and timed by ``qatbench run --config reference``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow_model_optimization")

from qatbench.models.zoo import get_model_spec
from qatbench.qat.export import Variant, export_variant
from qatbench.qat.quantize import plan_quantization, quantize_for_training

pytestmark = pytest.mark.slow

EXPECTED_CONFIGS = {
    "mobilenet_v1": set(), "mobilenet_v2": set(), "resnet50": set(),
    "resnet50_v2": {"BatchNormalization"},  # pre-activation BN
    "nasnet_mobile": {"BatchNormalization"},
    "efficientnet_b0": {"Rescaling", "Normalization", "Multiply"},
}


@pytest.mark.parametrize("name", list(EXPECTED_CONFIGS))
def test_configs_go_only_where_tfmot_rejects_a_layer(name: str) -> None:
    model = get_model_spec(name).build(input_shape=(32, 32, 3), classes=10).model
    plan, _ = plan_quantization(model)
    assert set(plan.configured.values()) == EXPECTED_CONFIGS[name]
    assert plan.kept_float == []


def convert_and_run(model, size: int, tmp_path: Path, fit: bool = False) -> None:
    import tf_keras as keras

    qat_model, _ = quantize_for_training(model)
    x = np.random.default_rng(0).random((4, size, size, 3), dtype=np.float32)
    if fit:
        qat_model.compile("adam", keras.losses.SparseCategoricalCrossentropy())
        qat_model.fit(x, np.arange(4), epochs=1, batch_size=4, verbose=0)
    path = tmp_path / "model.tflite"
    info = export_variant(qat_model, Variant.QAT_INT8, x, path)
    assert info.is_full_integer and info.has_integer_io
    from qatbench.targets.runtime import resolve_runtime

    interpreter = resolve_runtime().interpreter(str(path), threads=1,
                                                use_default_delegates=False)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"],
                           np.zeros((1, size, size, 3), np.int8))
    interpreter.invoke()
    assert interpreter.get_tensor(interpreter.get_output_details()[0]["index"]).shape == (1, 10)


@pytest.mark.parametrize("name", ["mobilenet_v1", "mobilenet_v2"])
def test_qat_converts_to_full_integer(name: str, tmp_path: Path) -> None:
    built = get_model_spec(name).build(input_shape=(32, 32, 3), classes=10)
    assert built.weights == "random"  # never downloaded
    convert_and_run(built.model, 32, tmp_path, fit=name == "mobilenet_v1")


def test_resnet_v2_blocks_convert_to_full_integer(tmp_path: Path) -> None:
    from tf_keras.src.applications import resnet

    def stacks(x):  # ResNet50V2's stack_fn with 2 blocks per stack instead of 3/4/6/3
        x = resnet.stack2(x, 64, 2, name="conv2")  # conv shortcut, then a strided one
        return resnet.stack2(x, 128, 2, stride1=1, name="conv3")  # ends on identity

    model = resnet.ResNet(stacks, True, True, "resnet_v2_blocks", weights=None,
                          input_shape=(32, 32, 3), classes=10)
    assert set(EXPECTED_CONFIGS["resnet50_v2"]) <= {type(layer).__name__ for layer in model.layers}
    convert_and_run(model, 32, tmp_path)


def test_efficientnet_blocks_convert_to_full_integer(tmp_path: Path) -> None:
    from tf_keras.src.applications import efficientnet

    # B0's widths with one block per stage; at 32x32 the converter keeps the 1x1
    # squeeze-excite in float, so 64x64
    model = efficientnet.EfficientNet(1.0, 0.1, 64, weights=None, input_shape=(64, 64, 3),
                                      classes=10)
    assert EXPECTED_CONFIGS["efficientnet_b0"] <= {type(layer).__name__ for layer in model.layers}
    convert_and_run(model, 64, tmp_path)


def test_nasnet_cells_convert_to_full_integer(tmp_path: Path) -> None:
    import tf_keras as keras
    from tf_keras.src.applications import nasnet

    inputs = keras.Input((32, 32, 3))
    stem = keras.layers.Conv2D(8, 3, strides=2, use_bias=False)(inputs)
    stem = keras.layers.BatchNormalization(momentum=0.9997, epsilon=1e-3)(stem)
    # no previous input: the cell adjusts None; then the normal cell gets a previous
    # input of twice its size, which it reduces (NASNet's factorized reduction)
    x, previous = nasnet._reduction_a_cell(stem, None, 4, block_id="stem_1")
    x, _ = nasnet._normal_a_cell(x, previous, 8, block_id="0")
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Activation("relu")(x))
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))
    convert_and_run(model, 32, tmp_path)
