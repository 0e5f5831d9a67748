"""The five models of the published QAT table (and EfficientNet-B0) go through QAT and
convert to full-integer int8.

To keep CI in bounds the conversions run at small inputs without fine-tuning, and
NASNet-Mobile's conversion (three minutes on two cores at any input size) is checked on
a NASNet of the same cells with one block per stage; the full-size models of all six are
converted and timed by ``qatbench run --config reference``.
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


@pytest.mark.parametrize(("name", "size"), [
    ("mobilenet_v1", 32), ("mobilenet_v2", 32), ("resnet50_v2", 32),
    ("efficientnet_b0", 64)])  # at 32x32 the converter keeps EfficientNet's 1x1 SE in float
def test_qat_converts_to_full_integer(name: str, size: int, tmp_path: Path) -> None:
    built = get_model_spec(name).build(input_shape=(size, size, 3), classes=10)
    assert built.weights == "random"  # never downloaded
    convert_and_run(built.model, size, tmp_path, fit=name == "mobilenet_v1")


def test_nasnet_cells_convert_to_full_integer(tmp_path: Path) -> None:
    from tf_keras.src.applications import nasnet

    model = nasnet.NASNet(input_shape=(32, 32, 3), penultimate_filters=96, num_blocks=1,
                          stem_block_filters=8, skip_reduction=False, filter_multiplier=2,
                          weights=None, classes=10, default_size=224)
    convert_and_run(model, 32, tmp_path)
