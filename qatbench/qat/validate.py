"""Can tfmot quantize a Keras model? Every reason it cannot, at once.

tfmot stops at the first unsupported layer, and only after cloning; users then fix one
layer per attempt. This check mirrors ``quantize_apply``'s own order -- the layout
transforms (Conv+BatchNorm folding and friends) first, then the registry -- and reports
every layer the registry rejects.
"""

from __future__ import annotations

from typing import Any

from qatbench.qat.errors import QatModelError, UnsupportedLayer
from qatbench.qat.layer_names import reserve_layer_names

_NEEDS = ("QAT needs a Sequential or Functional tf_keras model "
          "(build it with `import tf_keras as keras`)")


def model_label(model: Any) -> str:
    return str(getattr(model, "name", type(model).__name__))


def check_model_kind(model: Any) -> None:
    """Reject Keras 3 models, subclassed models and models nested inside models."""
    import tf_keras

    label = model_label(model)
    kind = f"{type(model).__module__}.{type(model).__qualname__}"
    if not isinstance(model, tf_keras.Model):
        hint = " -- a Keras 3 model; tfmot supports tf_keras only" \
            if kind.startswith("keras.") or "keras.src" in kind else ""
        raise QatModelError(f"{_NEEDS}; model {label!r} is a {kind}{hint}")
    if not isinstance(model, tf_keras.Sequential) and not getattr(model, "_is_graph_network",
                                                                  False):
        raise QatModelError(
            f"{_NEEDS}; model {label!r} is a subclassed model ({kind}): rewrite its call() as "
            "a Functional model so tfmot can see its layers")
    nested = [layer for layer in model.layers if isinstance(layer, tf_keras.Model)]
    if nested:
        names = ", ".join(f"{layer.name} ({type(layer).__name__})" for layer in nested)
        raise QatModelError(
            f"{_NEEDS}; model {label!r} nests other models as layers: {names}. Flatten it, "
            "e.g. build the outer model from the inner model's inputs and outputs")


def find_unsupported_layers(model: Any, scheme: Any | None = None) -> list[UnsupportedLayer]:
    """Layers the scheme cannot quantize after its layout transforms, in model order."""
    import tf_keras
    from tensorflow_model_optimization.quantization.keras import default_8bit

    scheme = scheme or default_8bit.Default8BitQuantizeScheme()
    registry = scheme.get_quantize_registry()
    layer_quantize_map = {
        layer.name: {"quantize_config": None}
        for layer in model.layers if not isinstance(layer, tf_keras.layers.InputLayer)
    }
    reserve_layer_names(model)
    transformed, layer_quantize_map = scheme.get_layout_transformer().apply(
        model, layer_quantize_map)
    unsupported = []
    for layer in transformed.layers:
        entry = layer_quantize_map.get(layer.name)
        if entry is None or entry.get("quantize_config") or registry.supports(layer):
            continue
        unsupported.append(UnsupportedLayer(layer.name, type(layer).__name__))
    return unsupported
