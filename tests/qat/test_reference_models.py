"""The five models of the published QAT table (and EfficientNet-B0) go through QAT and
convert to full-integer int8.

The quantization plan is checked on each zoo model itself. The zoo models themselves go
through QAT and conversion at small inputs without fine-tuning (MobileNetV1 with one
training step): MobileNetV1, MobileNetV2, ResNet50 v2 and EfficientNet-B0. NASNet-Mobile
(~770 layers: 111 s of tfmot cloning and conversion on two cores) is converted as a
reduction cell and a normal cell built by tf_keras's own code (both cells, both ways a
cell adjusts its input). At 224x224, all six are converted and timed by ``qatbench run
--config reference``.
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


# EfficientNet at 32x32 leaves its 1x1 squeeze-excite convolutions in float: 64x64
CONVERTED_ZOO_MODELS = {"mobilenet_v1": 32, "mobilenet_v2": 32, "resnet50_v2": 32,
                        "efficientnet_b0": 64}


@pytest.mark.parametrize("name", list(CONVERTED_ZOO_MODELS))
def test_qat_converts_to_full_integer(name: str, tmp_path: Path) -> None:
    size = CONVERTED_ZOO_MODELS[name]
    built = get_model_spec(name).build(input_shape=(size, size, 3), classes=10)
    assert built.weights == "random"  # never downloaded
    convert_and_run(built.model, size, tmp_path, fit=name == "mobilenet_v1")


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
