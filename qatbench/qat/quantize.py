"""Wrap a Keras model for QAT: tfmot's default 8-bit scheme, plus quantize configs applied
automatically -- and only -- to the layers that scheme rejects, plus selective QAT.

tfmot 0.8.1 rejects layers the reference models use: a standalone (pre-activation)
``BatchNormalization`` in ResNet50V2 and NASNetMobile, ``Rescaling``/``Normalization``
at the input and the squeeze-excite ``Multiply`` in EfficientNet. Each of these is an
elementwise affine map or product whose output a full-integer model must carry in
int8, so the config quantizes its output (moving-average min/max, as tfmot does for
activations) and leaves its constants to the converter. Any other rejected layer is
still an error that lists every such layer at once.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qatbench.qat.errors import QatModelError, UnsupportedLayer, UnsupportedLayersError
from qatbench.qat.validate import check_model_kind, find_unsupported_layers, model_label

# layer class -> why an output-only config is right for it
OUTPUT_ONLY_LAYERS = {
    "BatchNormalization": "standalone batch norm: a per-channel affine map",
    "Rescaling": "input rescaling: an affine map",
    "Normalization": "input normalization: an affine map",
    "Multiply": "elementwise product of quantized tensors",
}


def _output_only_config_class() -> type:
    import tensorflow_model_optimization as tfmot

    quantizers = tfmot.quantization.keras.quantizers

    class OutputOnlyQuantizeConfig(tfmot.quantization.keras.QuantizeConfig):
        """No weights to quantize; the output gets an 8-bit moving-average quantizer."""

        def get_weights_and_quantizers(self, layer: Any) -> list:
            return []

        def get_activations_and_quantizers(self, layer: Any) -> list:
            return []

        def set_quantize_weights(self, layer: Any, quantize_weights: list) -> None:
            pass

        def set_quantize_activations(self, layer: Any, quantize_activations: list) -> None:
            pass

        def get_output_quantizers(self, layer: Any) -> list:
            return [quantizers.MovingAverageQuantizer(num_bits=8, per_axis=False,
                                                      symmetric=False, narrow_range=False)]

        def get_config(self) -> dict:
            return {}

    return OutputOnlyQuantizeConfig


_CONFIG_CLASS: type | None = None


def output_only_config_class() -> type:
    global _CONFIG_CLASS
    if _CONFIG_CLASS is None:
        _CONFIG_CLASS = _output_only_config_class()
    return _CONFIG_CLASS


def custom_objects() -> dict[str, Any]:
    """What ``quantize_scope`` needs to load a QAT model saved by qatbench."""
    return {"OutputOnlyQuantizeConfig": output_only_config_class()}


def quantize_scope() -> Any:
    import tensorflow_model_optimization as tfmot

    return tfmot.quantization.keras.quantize_scope(custom_objects())


@dataclass(frozen=True)
class LayerSelection:
    """Selective QAT: quantize only layers matching a name pattern or a class name."""

    name_patterns: tuple[str, ...] = ()
    class_names: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.name_patterns or self.class_names)

    def selects(self, layer: Any) -> bool:
        return (type(layer).__name__ in self.class_names
                or any(fnmatch.fnmatchcase(layer.name, p) for p in self.name_patterns))


@dataclass
class QuantizePlan:
    """What QAT did to each layer, for the report."""

    configured: dict[str, str] = field(default_factory=dict)  # layer -> class (our config)
    kept_float: list[str] = field(default_factory=list)

    def describe(self) -> str:
        parts = []
        if self.configured:
            classes = sorted(set(self.configured.values()))
            parts.append(f"qatbench quantize configs on {len(self.configured)} layer(s) tfmot "
                         f"rejects ({', '.join(classes)})")
        if self.kept_float:
            shown = ", ".join(self.kept_float[:12])
            more = f" and {len(self.kept_float) - 12} more" if len(self.kept_float) > 12 else ""
            parts.append(f"kept float (selective QAT): {shown}{more}")
        return "; ".join(parts)


def plan_quantization(model: Any, selection: LayerSelection | None = None
                      ) -> tuple[QuantizePlan, set[str]]:
    """Which layers get our config, which stay float; every layer nobody can quantize raises.

    Returns the plan and the names of layers that get the output-only config.
    """
    check_model_kind(model)
    rejected = find_unsupported_layers(model)
    fixable = {u.name for u in rejected if u.class_name in OUTPUT_ONLY_LAYERS}
    selected = (lambda layer: True) if not selection else selection.selects
    names = {layer.name: layer for layer in model.layers}
    hopeless = [u for u in rejected if u.name not in fixable
                and (u.name not in names or selected(names[u.name]))]
    if hopeless:
        raise UnsupportedLayersError(model_label(model), hopeless)
    plan = QuantizePlan()
    import tf_keras

    quantizable = [layer for layer in model.layers
                   if not isinstance(layer, tf_keras.layers.InputLayer)]
    for layer in quantizable:
        if not selected(layer):
            plan.kept_float.append(layer.name)
        elif layer.name in fixable:
            plan.configured[layer.name] = type(layer).__name__
    if selection and len(plan.kept_float) == len(quantizable):
        raise QatModelError(f"selective QAT on {model_label(model)!r}: no layer matches "
                            f"{selection}; nothing would be quantized")
    return plan, fixable


def quantize_for_training(model: Any, selection: LayerSelection | None = None
                          ) -> tuple[Any, QuantizePlan]:
    """The QAT-wrapped model and what was done to each layer.

    >>> import tf_keras as keras
    >>> float_model = keras.Sequential([keras.layers.Input((4,)), keras.layers.Dense(2)])
    >>> qat_model, plan = quantize_for_training(float_model)
    >>> any("quant" in layer.name for layer in qat_model.layers), plan.describe()
    (True, '')
    """
    import tensorflow_model_optimization as tfmot
    import tf_keras

    plan, fixable = plan_quantization(model, selection)
    keras_q = tfmot.quantization.keras
    config_class = output_only_config_class()
    kept = set(plan.kept_float)

    def annotate(layer: Any) -> Any:
        clone = layer.__class__.from_config(layer.get_config())
        if layer.name in kept:
            return clone
        if layer.name in fixable:
            return keras_q.quantize_annotate_layer(clone, quantize_config=config_class())
        return keras_q.quantize_annotate_layer(clone)

    try:
        annotated = tf_keras.models.clone_model(model, clone_function=annotate)
        annotated.set_weights(model.get_weights())
        with quantize_scope():
            return keras_q.quantize_apply(annotated), plan
    except (ValueError, RuntimeError, TypeError) as error:
        raise QatModelError(f"tfmot could not quantize {model_label(model)!r}: {error}") \
            from error


__all__ = ["LayerSelection", "QuantizePlan", "UnsupportedLayer", "custom_objects",
           "load_qat_model", "quantize_for_training", "quantize_scope", "save_qat_model"]


def save_qat_model(model: Any, path: str | Path) -> Path:
    """Save a QAT model so ``load_qat_model`` gives back the same int8 model.

    HDF5 (``.h5``) or a SavedModel directory: tfmot 0.8.1's quantize wrappers do not
    round-trip through the ``.keras`` zip format (their variables do not reload).
    """
    path = Path(path)
    if path.suffix == ".keras":
        raise QatModelError(f"{path}: QAT models do not reload from the .keras format with "
                            "tfmot 0.8.1; save as .h5 or to a directory (SavedModel)")
    model.save(path)
    return path


def load_qat_model(path: str | Path) -> Any:
    """Load a QAT model saved by ``save_qat_model`` (qatbench's configs in scope)."""
    import tf_keras

    with quantize_scope():
        return tf_keras.models.load_model(path)
