"""tfmot's default 8-bit scheme, except that integer inputs are left as they are.

tfmot puts a fake-quantize layer after every model input (``InputLayerQuantize``), which
fails on an ``int32`` token input (``FakeQuantWithMinMaxVars`` takes float only) and would
be wrong anyway: an index is not a value to quantize. This scheme applies the same
layout transforms in the same order, with the input transform matching float inputs
only (tfmot's ``LayerPattern`` matches on the layer's config, here its dtype).
"""

from __future__ import annotations

from typing import Any


def float_input_scheme() -> Any:
    """A ``Default8BitQuantizeScheme`` whose layout transform skips integer inputs."""
    from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import (
        default_8bit_quantize_layout_transform as layout,
    )
    from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import (
        default_8bit_quantize_scheme as scheme,
    )
    from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import (
        default_8bit_transforms as transforms,
    )
    from tensorflow_model_optimization.python.core.quantization.keras.graph_transformations import (
        model_transformer,
    )
    from tensorflow_model_optimization.python.core.quantization.keras.graph_transformations import (
        transforms as patterns,
    )

    class FloatInputLayerQuantize(transforms.InputLayerQuantize):
        def pattern(self) -> Any:
            return patterns.LayerPattern("InputLayer", config={"dtype": "float32"})

    class FloatInputLayout(layout.Default8BitQuantizeLayoutTransform):
        def apply(self, model: Any, layer_quantize_map: dict) -> Any:
            steps = [FloatInputLayerQuantize(), *_tfmot_transforms(transforms)[1:]]
            return model_transformer.ModelTransformer(
                model, steps, set(layer_quantize_map.keys()), layer_quantize_map).transform()

    class FloatInputScheme(scheme.Default8BitQuantizeScheme):
        def get_layout_transformer(self) -> Any:
            return FloatInputLayout()

    return FloatInputScheme()


def _tfmot_transforms(transforms: Any) -> list[Any]:
    """tfmot 0.8.1's default 8-bit layout transforms, in its order (its ``apply``)."""
    return [
        transforms.InputLayerQuantize(),
        transforms.SeparableConv1DQuantize(),
        transforms.SeparableConvQuantize(),
        transforms.Conv2DReshapeBatchNormReLUQuantize(),
        transforms.Conv2DReshapeBatchNormActivationQuantize(),
        transforms.Conv2DBatchNormReLUQuantize(),
        transforms.Conv2DBatchNormActivationQuantize(),
        transforms.Conv2DReshapeBatchNormQuantize(),
        transforms.Conv2DBatchNormQuantize(),
        transforms.ConcatTransform6Inputs(),
        transforms.ConcatTransform5Inputs(),
        transforms.ConcatTransform4Inputs(),
        transforms.ConcatTransform3Inputs(),
        transforms.ConcatTransform(),
        transforms.DenseBatchNormQuantize(),
        transforms.DenseBatchNormReLUQuantize(),
        transforms.DenseBatchNormActivationQuantize(),
        transforms.LayerReLUQuantize(),
        transforms.LayerReluActivationQuantize(),
    ]
