"""Every zoo model's QAT file converts at ``--quick`` and loads in LiteRT.

The default job's MobileNetV2 broke here on a new host (issue 29): at ``--quick`` its
random-weight activations die out, a quantizer range started from the data at [0, 0],
tfmot's fake quantization divided by zero and the converter wrote a filter zero point of
-128 that TFLite refuses at load. Nothing converted the zoo's QAT files at the budget the
Quickstart's first run uses, so nothing noticed. Each model is built through the
product's own pipeline with the shipped ``--quick`` training table; the ImageNet-shaped
models at 32x32, EfficientNet-B0 at 64x64 (at 32x32 its 1x1 squeeze-excite
convolutions stay float and no full-integer file can exist). The architecture, random
weights and budget are the job's; 224x224 would cost CI minutes per model, and the
failure is in the weights' signal, not the image size.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow_model_optimization")

from ai_edge_litert.interpreter import Interpreter

from qatbench.bench.orchestration.config import load_config
from qatbench.models.zoo import ZOO, ImagenetModel, ModelSpec
from qatbench.qat.pipeline import build_variants

SMALL_IMAGE = (32, 32, 3)
LARGER_IMAGE = {"efficientnet_b0": (64, 64, 3)}


def _at_test_size(spec: ModelSpec) -> ModelSpec:
    if not isinstance(spec.build, ImagenetModel):
        return spec  # mnist_cnn, digits_cnn: their own data at their own size
    shape = LARGER_IMAGE.get(spec.name, SMALL_IMAGE)
    return dataclasses.replace(spec, input_shape=shape,
                               build=functools.partial(spec.build, shape))


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ZOO))
def test_the_zoo_models_qat_file_converts_at_quick_and_loads(name: str,
                                                             tmp_path: Path) -> None:
    budget = load_config(quick=True).training
    build = build_variants(_at_test_size(ZOO[name]), ["qat_int8"], tmp_path, budget)

    artifact = build.variants["qat_int8"]
    assert not artifact.error, f"{name}: qat_int8 at --quick failed: {artifact.error}"
    interpreter = Interpreter(model_path=artifact.path)
    interpreter.allocate_tensors()  # TFLite's prepare: zero points, multipliers
    for detail in interpreter.get_input_details():
        interpreter.set_tensor(detail["index"], np.zeros(detail["shape"], detail["dtype"]))
    interpreter.invoke()
    assert "quantizer ranges started from" in artifact.note
