"""The five models of the published QAT table (and EfficientNet-B0) get qatbench's
QuantizeConfigs exactly where tfmot rejects a layer, and nowhere else.

That every zoo model's QAT file converts to full-integer int8 and loads is
tests/qat/test_zoo_quick.py's, through the product's own pipeline at ``--quick``; at
224x224 all six are converted and timed by ``qatbench run --config reference``.
"""

from __future__ import annotations

import pytest

pytest.importorskip("tensorflow_model_optimization")

from qatbench.models.zoo import get_model_spec
from qatbench.qat.quantize import plan_quantization

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
