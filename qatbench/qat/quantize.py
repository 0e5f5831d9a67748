"""Wrap a Keras model for QAT: tfmot's default 8-bit scheme, plus quantize configs applied
automatically -- and only -- to the layers that scheme rejects, plus selective QAT.

tfmot 0.8.1 rejects layers real architectures use: a standalone (pre-activation)
``BatchNormalization`` in ResNet50V2 and NASNetMobile, ``Rescaling``/``Normalization``
at the input, the squeeze-excite ``Multiply`` in EfficientNet and MobileNetV3,
``LayerNormalization``, ConvNeXt's ``LayerScale``, Inception-ResNet's
``CustomScaleLayer``, ``Conv1D`` and ``Embedding``,
and the ``KerasOp`` layers a Keras 3 rebuild makes of op nodes and of activations
tf_keras lacks (hard-swish, hard-sigmoid, ``x + 3.0``, ``* (1/6)``, ...).

Each gets one of three configs (``CONFIGURED_LAYERS``, the one table, with why):

- output-only: an elementwise map, product or normalisation whose output a
  full-integer model must carry in int8 -- the output gets an 8-bit moving-average
  quantizer (as tfmot does for activations), its constants are left to the converter;
- weights and output: a layer with a kernel or table tfmot has no config for (Conv1D,
  Embedding) -- the weight gets tfmot's symmetric 8-bit per-tensor quantizer, the output
  the moving-average one;
- pass-through: a reshape, transpose or slice (``KerasOp`` of a shape op) -- int8 in,
  the same int8 out, nothing to quantize.

One layer tfmot does accept gets qatbench's config instead of tfmot's
(``SAME_SCALE_LAYERS``): ``AveragePooling2D`` (and 1-D), a same-scale op -- TFLite's int8
``AVERAGE_POOL_2D`` writes its output on its input's scale. tfmot gives the pool an
output quantizer of its own, so the pool's value carries a second scale, and where it
also feeds a ``Concatenate`` (which takes its inputs at its output's scale) a third.
DenseNet's transitions do (``conv 1x1 -> pool``, the pool feeding the next dense block's
concatenation and its first BatchNorm), and TensorFlow's converter stops with
"'tfl.average_pool_2d' op quantization parameters violate the same scale constraint".
tfmot's own concatenation rule (``ConcatTransform``, which drops the output quantizers
of a concatenation's inputs) never applies there: its graph matcher takes no layer whose
output has a second consumer. With the pass-through config the pool has no quantizer of
its own, as tfmot already does for ``MaxPooling2D``: the converter keeps the input's
scale through the pool and requantizes once where the concatenation needs its own (the
pool's other consumer then reads it on that scale, a rounding QAT does not simulate);
a pool feeding no concatenation loses the requantize tfmot's config put after it
(tests/qat/test_same_scale.py).

Any other rejected layer is still an error that lists every such layer at once, with the
selective-QAT route (keep it float) beside each.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qatbench.qat.errors import QatModelError, UnsupportedLayer, UnsupportedLayersError
from qatbench.qat.layer_names import reserve_layer_names
from qatbench.qat.validate import check_model_kind, find_unsupported_layers, model_label

OUTPUT, WEIGHTS, PASS = "output", "weights", "pass"
# layer class -> (config kind, why it is right for that layer)
CONFIGURED_LAYERS: dict[str, tuple[str, str]] = {
    "BatchNormalization": (OUTPUT, "standalone batch norm: a per-channel affine map"),
    "Rescaling": (OUTPUT, "input rescaling: an affine map"),
    "Normalization": (OUTPUT, "input normalization: an affine map"),
    "Multiply": (OUTPUT, "elementwise product of quantized tensors"),
    "LayerNormalization": (OUTPUT, "layer norm: per-sample statistics, then an affine map"),
    "LayerScale": (OUTPUT, "per-channel scale (ConvNeXt)"),
    "CustomScaleLayer": (OUTPUT, "residual added at a fixed scale (Inception-ResNet)"),
    "Conv1D": (WEIGHTS, "1-D convolution: kernel and output 8-bit"),
    "Embedding": (WEIGHTS, "table lookup: table and output 8-bit"),
    "KerasOp": (OUTPUT, "Keras 3 arithmetic (hard-swish, hard-sigmoid, constant add/multiply, "
                        "mean, ...): its output 8-bit"),
}
# layer class -> (config kind, why): layers tfmot accepts but quantizes in a way TFLite's
# int8 kernel cannot honour; qatbench's config replaces tfmot's on each (when the layer
# and every layer feeding it are quantized: next to a float layer tfmot's stays)
_SAME_SCALE_WHY = ("same-scale op: TFLite's int8 average pool keeps its input's scale; "
                   "tfmot's own output quantizer gives it a second one, which the converter "
                   "cannot reconcile where the pool feeds a Concatenate and another layer "
                   "(DenseNet's transitions)")
SAME_SCALE_LAYERS: dict[str, tuple[str, str]] = {
    "AveragePooling2D": (PASS, _SAME_SCALE_WHY),
    "AveragePooling1D": (PASS, _SAME_SCALE_WHY),
}
# tfmot's weight attribute per weights-and-output layer
WEIGHT_ATTRIBUTES = {"Conv1D": ("kernel",), "Embedding": ("embeddings",)}
# kept for callers of the earlier name: the classes whose output gets the 8-bit quantizer
OUTPUT_ONLY_LAYERS = {k: why for k, (kind, why) in CONFIGURED_LAYERS.items() if kind == OUTPUT}


def config_kind(layer: Any) -> str | None:
    """Which of qatbench's configs ``layer`` takes, or None (none fits)."""
    entry = CONFIGURED_LAYERS.get(type(layer).__name__) \
        or SAME_SCALE_LAYERS.get(type(layer).__name__)
    if entry is None:
        return None
    if type(layer).__name__ == "KerasOp":
        from qatbench.qat.keras3_ops import SHAPE

        return PASS if layer.treatment == SHAPE else OUTPUT
    return entry[0]


def _config_classes() -> dict[str, type]:
    import tensorflow_model_optimization as tfmot

    quantizers = tfmot.quantization.keras.quantizers

    def output_quantizer() -> Any:
        return quantizers.MovingAverageQuantizer(num_bits=8, per_axis=False,
                                                 symmetric=False, narrow_range=False)

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
            return [output_quantizer()]

        def get_config(self) -> dict:
            return {}

    class PassThroughQuantizeConfig(OutputOnlyQuantizeConfig):
        """A shape op: its int8 input's scale carries to its output; nothing quantized."""

        def get_output_quantizers(self, layer: Any) -> list:
            return []

    class WeightsOutputQuantizeConfig(OutputOnlyQuantizeConfig):
        """The named weights 8-bit (symmetric, per tensor, tfmot's weight quantizer) and
        the output 8-bit; the activation inside the layer runs on the float result."""

        def __init__(self, weight_attributes: tuple[str, ...] | list[str] = ("kernel",)
                     ) -> None:
            self.weight_attributes = tuple(weight_attributes)

        def get_weights_and_quantizers(self, layer: Any) -> list:
            return [(getattr(layer, name), quantizers.LastValueQuantizer(
                num_bits=8, per_axis=False, symmetric=True, narrow_range=True))
                for name in self.weight_attributes]

        def set_quantize_weights(self, layer: Any, quantize_weights: list) -> None:
            for name, weight in zip(self.weight_attributes, quantize_weights, strict=True):
                setattr(layer, name, weight)

        def get_config(self) -> dict:
            return {"weight_attributes": list(self.weight_attributes)}

    return {OUTPUT: OutputOnlyQuantizeConfig, PASS: PassThroughQuantizeConfig,
            WEIGHTS: WeightsOutputQuantizeConfig}


_CONFIG_CLASSES: dict[str, type] | None = None


def config_classes() -> dict[str, type]:
    """qatbench's QuantizeConfig classes by kind (made once: tfmot imports lazily)."""
    global _CONFIG_CLASSES
    if _CONFIG_CLASSES is None:
        _CONFIG_CLASSES = _config_classes()
    return _CONFIG_CLASSES


def output_only_config_class() -> type:
    return config_classes()[OUTPUT]


def quantize_config_for(layer: Any) -> Any:
    """The QuantizeConfig instance qatbench gives ``layer`` (one that ``config_kind`` fits)."""
    kind = config_kind(layer)
    if kind is None:
        raise ValueError(f"no qatbench quantize config for {type(layer).__name__}")
    if kind == WEIGHTS:
        return config_classes()[WEIGHTS](WEIGHT_ATTRIBUTES[type(layer).__name__])
    return config_classes()[kind]()


def custom_objects() -> dict[str, Any]:
    """What ``quantize_scope`` needs to load a QAT model saved by qatbench: the configs and
    the layers a Keras 3 rebuild makes."""
    from qatbench.qat.keras3_ops import custom_objects as rebuilt_layers

    return {cls.__name__: cls for cls in config_classes().values()} | rebuilt_layers()


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
    # layer -> class: tfmot's config replaced by qatbench's (SAME_SCALE_LAYERS)
    same_scale: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        parts = []
        if self.configured:
            classes = sorted(set(self.configured.values()))
            parts.append(f"qatbench quantize configs on {len(self.configured)} layer(s) tfmot "
                         f"rejects ({', '.join(classes)})")
        if self.same_scale:
            classes = sorted(set(self.same_scale.values()))
            parts.append(f"{len(self.same_scale)} {', '.join(classes)} layer(s) on their "
                         "input's scale (same-scale op; tfmot's own output quantizer "
                         "removed)")
        if self.kept_float:
            shown = ", ".join(self.kept_float[:12])
            more = f" and {len(self.kept_float) - 12} more" if len(self.kept_float) > 12 else ""
            parts.append(f"kept float (selective QAT): {shown}{more}")
        return "; ".join(parts)


def plan_quantization(model: Any, selection: LayerSelection | None = None
                      ) -> tuple[QuantizePlan, set[str]]:
    """Which layers get our config, which stay float; every layer nobody can quantize raises.

    Returns the plan and the names of the layers that get a qatbench config.
    """
    check_model_kind(model)
    rejected = find_unsupported_layers(model)
    names = {layer.name: layer for layer in model.layers}
    fixable = {u.name for u in rejected
               if u.name in names and config_kind(names[u.name]) is not None}
    selected = (lambda layer: True) if not selection else selection.selects
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
            op = getattr(layer, "op", None) if type(layer).__name__ == "KerasOp" else None
            plan.configured[layer.name] = f"KerasOp[{op}]" if op else type(layer).__name__
        elif type(layer).__name__ in SAME_SCALE_LAYERS and not any(
                source in plan.kept_float for source in _feeding_layers(layer)):
            plan.same_scale[layer.name] = type(layer).__name__
    if selection and len(plan.kept_float) == len(quantizable):
        raise QatModelError(f"selective QAT on {model_label(model)!r}: no layer matches "
                            f"{selection}; nothing would be quantized")
    return plan, fixable | set(plan.same_scale)


def _feeding_layers(layer: Any) -> list[str]:
    """The names of the layers whose outputs ``layer`` takes (every call of it)."""
    return [source.name for node in getattr(layer, "inbound_nodes", [])
            for source, *_ in node.iterate_inbound()]


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

    from qatbench.qat.scheme import float_input_scheme

    plan, fixable = plan_quantization(model, selection)
    keras_q = tfmot.quantization.keras
    kept = set(plan.kept_float)

    def annotate(layer: Any) -> Any:
        with tf_keras.utils.custom_object_scope(custom_objects()):
            clone = layer.__class__.from_config(layer.get_config())
        if layer.name in kept:
            return clone
        if layer.name in fixable:
            return keras_q.quantize_annotate_layer(clone,
                                                   quantize_config=quantize_config_for(clone))
        return keras_q.quantize_annotate_layer(clone)

    try:
        with tf_keras.utils.custom_object_scope(custom_objects()):
            annotated = tf_keras.models.clone_model(model, clone_function=annotate)
        annotated.set_weights(model.get_weights())
        reserve_layer_names(annotated)
        with quantize_scope():
            return keras_q.quantize_apply(annotated, scheme=float_input_scheme()), plan
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
