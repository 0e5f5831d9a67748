"""The five models of the published QAT table (and EfficientNet-B0) go through QAT and
convert to full-integer int8 -- at a small input size and one step, to keep CI short."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow_model_optimization")

from qatbench.models.zoo import get_model_spec
from qatbench.qat.export import Variant, export_variant
from qatbench.qat.quantize import quantize_for_training

pytestmark = pytest.mark.slow

EXPECTED_CONFIGS = {
    "mobilenet_v1": set(), "mobilenet_v2": set(), "resnet50": set(),
    "resnet50_v2": {"BatchNormalization"},  # pre-activation BN
    "nasnet_mobile": {"BatchNormalization"},
    "efficientnet_b0": {"Rescaling", "Normalization", "Multiply"},
}


@pytest.mark.parametrize("name", list(EXPECTED_CONFIGS))
def test_qat_and_full_integer_conversion(name: str, tmp_path: Path) -> None:
    import tf_keras as keras

    built = get_model_spec(name).build(input_shape=(32, 32, 3), classes=10)
    assert built.weights == "random"  # never downloaded
    qat_model, plan = quantize_for_training(built.model)
    assert set(plan.configured.values()) == EXPECTED_CONFIGS[name]
    x = np.random.default_rng(0).random((4, 32, 32, 3), dtype=np.float32)
    qat_model.compile("adam", keras.losses.SparseCategoricalCrossentropy())
    qat_model.fit(x, np.arange(4), epochs=1, batch_size=4, verbose=0)
    info = export_variant(qat_model, Variant.QAT_INT8, x, tmp_path / f"{name}.tflite")
    assert info.is_full_integer and info.has_integer_io
    from qatbench.targets.runtime import resolve_runtime

    interpreter = resolve_runtime().interpreter(str(tmp_path / f"{name}.tflite"), threads=1,
                                                use_default_delegates=False)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"],
                           np.zeros((1, 32, 32, 3), np.int8))
    interpreter.invoke()
    assert interpreter.get_tensor(interpreter.get_output_details()[0]["index"]).shape == (1, 10)
