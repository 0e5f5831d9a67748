"""What Keras 3 writes beside layers, as tf_keras computes it: op nodes and activations.

A Keras 3 functional model records Python arithmetic on tensors (``x + 3.0``,
``ops.clip``, ``ops.mean``, ``ops.reshape``) as *op nodes*: ``keras.src.ops.*``
``Operation`` classes in the graph, not layers. Mapping them to merge layers by class
name is wrong (``x + 3.0`` is not ``layers.Add``). Each one is rebuilt as one ``KerasOp``
layer that calls the equivalent TensorFlow function on its tensor arguments, with its
constants and options kept in the layer's config (so it clones, saves and quantizes like
any layer). Keras 3 activations that tf_keras lacks or defines differently
(``hard_silu``, ``hard_sigmoid``, ``relu6``, ...) are rebuilt the same way.

``OPS`` is the one table: op class -> (TensorFlow function, how QAT treats its output).
An op missing from it is a rebuild problem naming the op, never a silent guess.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

# how QAT treats a KerasOp's output (qat/quantize.py reads it)
ARITHMETIC = "arithmetic"  # computes new values: its output gets an 8-bit quantizer
SHAPE = "shape"  # moves or selects values: the input's quantization carries through


def _tf() -> Any:
    import tensorflow as tf

    return tf


def _hard_sigmoid(x: Any) -> Any:
    """Keras 3's hard sigmoid: relu6(x + 3) / 6 (tf_keras' is 0.2 x + 0.5, clipped)."""
    tf = _tf()
    return tf.nn.relu6(x + 3.0) * (1.0 / 6.0)


def _hard_silu(x: Any) -> Any:
    """Hard swish, x * relu6(x + 3) / 6 (MobileNetV3), the form TFLite fuses."""
    tf = _tf()
    return x * tf.nn.relu6(x + 3.0) * (1.0 / 6.0)


def _gelu(x: Any, approximate: bool = True) -> Any:
    return _tf().nn.gelu(x, approximate=approximate)


def _celu(x: Any, alpha: float = 1.0) -> Any:
    tf = _tf()
    return tf.maximum(x, 0.0) + alpha * (tf.exp(tf.minimum(x, 0.0) / alpha) - 1.0)


def _elu(x: Any, alpha: float = 1.0) -> Any:
    tf = _tf()
    return tf.where(x > 0, x, alpha * (tf.exp(x) - 1.0))


def _reduce(name: str) -> Callable[..., Any]:
    def reduce(x: Any, axis: Any = None, keepdims: bool = False, **extra: Any) -> Any:
        if extra.get("initial") is not None:
            raise TypeError(f"{name} with initial= has no TensorFlow equivalent")
        return getattr(_tf().math, name)(x, axis=axis, keepdims=keepdims)
    return reduce


def _reshape(x: Any, newshape: Any) -> Any:
    return _tf().reshape(x, newshape)


def _transpose(x: Any, axes: Any = None) -> Any:
    return _tf().transpose(x, perm=axes)


def _concatenate(xs: Any, axis: int = 0) -> Any:
    return _tf().concat(list(xs), axis=axis)


def _clip(x: Any, x_min: float, x_max: float) -> Any:
    return _tf().clip_by_value(x, x_min, x_max)


def _binary(name: str) -> Callable[[Any, Any], Any]:
    def binary(a: Any, b: Any) -> Any:
        tf = _tf()
        a, b = _same_dtype(a, b)
        return getattr(tf.math, name)(a, b)
    return binary


def _same_dtype(a: Any, b: Any) -> tuple[Any, Any]:
    """A Python or NumPy constant takes the tensor's dtype (as ``x + 3.0`` does)."""
    tf = _tf()
    if tf.is_tensor(a) and not tf.is_tensor(b):
        b = tf.constant(b, dtype=a.dtype)
    elif tf.is_tensor(b) and not tf.is_tensor(a):
        a = tf.constant(a, dtype=b.dtype)
    return a, b


def _get_item(x: Any, key: Any) -> Any:
    return x[tuple(key) if isinstance(key, list) else key]


def _cast(x: Any, dtype: str) -> Any:
    return _tf().cast(x, dtype)


def _unary(path: str) -> Callable[[Any], Any]:
    def unary(x: Any) -> Any:
        target: Any = _tf()
        for part in path.split("."):
            target = getattr(target, part)
        return target(x)
    return unary


def _softmax(x: Any, axis: int = -1) -> Any:
    return _tf().nn.softmax(x, axis=axis)


def _log_softmax(x: Any, axis: int = -1) -> Any:
    return _tf().nn.log_softmax(x, axis=axis)


def _leaky_relu(x: Any, negative_slope: float = 0.2) -> Any:
    return _tf().nn.leaky_relu(x, alpha=negative_slope)


def _expand_dims(x: Any, axis: Any) -> Any:
    tf = _tf()
    for item in sorted(axis) if isinstance(axis, list | tuple) else [axis]:
        x = tf.expand_dims(x, item)
    return x


def _squeeze(x: Any, axis: Any = None) -> Any:
    return _tf().squeeze(x, axis=axis)


def _matmul(a: Any, b: Any) -> Any:
    return _tf().linalg.matmul(*_same_dtype(a, b))


def _hard_tanh(x: Any) -> Any:
    return _tf().clip_by_value(x, -1.0, 1.0)


def _tanh_shrink(x: Any) -> Any:
    return x - _tf().tanh(x)


# Keras 3 op class -> (equivalent TensorFlow computation, QAT treatment)
OPS: dict[str, tuple[Callable[..., Any], str]] = {
    "Add": (_binary("add"), ARITHMETIC),
    "Subtract": (_binary("subtract"), ARITHMETIC),
    "Multiply": (_binary("multiply"), ARITHMETIC),
    "Divide": (_binary("truediv"), ARITHMETIC),
    "TrueDivide": (_binary("truediv"), ARITHMETIC),
    "Maximum": (_binary("maximum"), ARITHMETIC),
    "Minimum": (_binary("minimum"), ARITHMETIC),
    "Power": (_binary("pow"), ARITHMETIC),
    "Matmul": (_matmul, ARITHMETIC),
    "Negative": (_unary("math.negative"), ARITHMETIC),
    "Abs": (_unary("math.abs"), ARITHMETIC),
    "Absolute": (_unary("math.abs"), ARITHMETIC),
    "Square": (_unary("math.square"), ARITHMETIC),
    "Sqrt": (_unary("math.sqrt"), ARITHMETIC),
    "Exp": (_unary("math.exp"), ARITHMETIC),
    "Log": (_unary("math.log"), ARITHMETIC),
    "Tanh": (_unary("math.tanh"), ARITHMETIC),
    "Erf": (_unary("math.erf"), ARITHMETIC),
    "Sigmoid": (_unary("math.sigmoid"), ARITHMETIC),
    "Relu": (_unary("nn.relu"), ARITHMETIC),
    "Relu6": (_unary("nn.relu6"), ARITHMETIC),
    "Silu": (_unary("nn.silu"), ARITHMETIC),
    "HardSigmoid": (_hard_sigmoid, ARITHMETIC),
    "HardSilu": (_hard_silu, ARITHMETIC),
    "HardTanh": (_hard_tanh, ARITHMETIC),
    "TanhShrink": (_tanh_shrink, ARITHMETIC),
    "LogSigmoid": (_unary("math.log_sigmoid"), ARITHMETIC),
    "Gelu": (_gelu, ARITHMETIC),
    "Elu": (_elu, ARITHMETIC),
    "Celu": (_celu, ARITHMETIC),
    "Softmax": (_softmax, ARITHMETIC),
    "LogSoftmax": (_log_softmax, ARITHMETIC),
    "LeakyRelu": (_leaky_relu, ARITHMETIC),
    "Clip": (_clip, ARITHMETIC),
    "Mean": (_reduce("reduce_mean"), ARITHMETIC),
    "Sum": (_reduce("reduce_sum"), ARITHMETIC),
    "Max": (_reduce("reduce_max"), ARITHMETIC),
    "Min": (_reduce("reduce_min"), ARITHMETIC),
    "Concatenate": (_concatenate, ARITHMETIC),  # inputs may carry different scales
    "Reshape": (_reshape, SHAPE),
    "Transpose": (_transpose, SHAPE),
    "ExpandDims": (_expand_dims, SHAPE),
    "Squeeze": (_squeeze, SHAPE),
    "GetItem": (_get_item, SHAPE),
    "Cast": (_cast, SHAPE),
}

# Keras 3 activation name -> the tf_keras activation of the same maths, where one exists
SAME_ACTIVATION = {name: name for name in (
    "linear", "relu", "sigmoid", "tanh", "softmax", "elu", "selu", "softplus", "softsign",
    "exponential", "gelu", "mish", "swish")} | {"silu": "swish"}
# Keras 3 activation name -> the op that computes it (tf_keras lacks it or differs)
ACTIVATION_OPS = {"hard_silu": "HardSilu", "hard_swish": "HardSilu",
                  "hard_sigmoid": "HardSigmoid", "relu6": "Relu6", "leaky_relu": "LeakyRelu",
                  "log_softmax": "LogSoftmax", "celu": "Celu", "hard_tanh": "HardTanh",
                  "log_sigmoid": "LogSigmoid", "tanh_shrink": "TanhShrink"}


def _encode(value: Any, tensors: list[Any]) -> Any:
    """A node argument as config: tensors become ``{"__input__": k}`` (k-th layer input)."""
    tf = _tf()
    if tf.is_tensor(value) or type(value).__name__ == "KerasTensor":
        tensors.append(value)
        return {"__input__": len(tensors) - 1}
    if isinstance(value, list | tuple):
        return [_encode(v, tensors) for v in value]
    if isinstance(value, dict):
        return {k: _encode(v, tensors) for k, v in value.items()}
    return value


def _decode(value: Any, inputs: list[Any]) -> Any:
    """Config back to call arguments: inputs in place, Keras 3's serialized constants
    (slices, Ellipsis, NumPy arrays, tensors) as Python / NumPy values."""
    import numpy as np

    if isinstance(value, dict):
        if "__input__" in value:
            return inputs[value["__input__"]]
        kind = value.get("class_name")
        config = value.get("config", {})
        if kind == "__slice__":
            return slice(config.get("start"), config.get("stop"), config.get("step"))
        if kind == "__ellipsis__":
            return Ellipsis
        if kind in ("__numpy__", "__tensor__"):
            return np.asarray(config["value"], dtype=config.get("dtype"))
        return {k: _decode(v, inputs) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v, inputs) for v in value]
    return value


@functools.cache
def keras_op_class() -> type:
    """The tf_keras layer one Keras 3 op node becomes (made on first use: tf_keras loads
    lazily, after ``TF_USE_LEGACY_KERAS`` is set)."""
    import tf_keras

    @tf_keras.saving.register_keras_serializable(package="qatbench")
    class KerasOp(tf_keras.layers.Layer):
        """One Keras 3 op (``op``: its class name in ``OPS``) on this layer's inputs, with
        the node's constants (``args``/``kwargs``, inputs as ``{"__input__": k}``) and the
        op's own options."""

        def __init__(self, op: str, args: list | None = None, kwargs: dict | None = None,
                     options: dict | None = None, **base: Any) -> None:
            super().__init__(**base)
            if op not in OPS:
                raise ValueError(f"Keras 3 op {op} has no TensorFlow equivalent here")
            self.op, self.args = op, args or [{"__input__": 0}]
            self.op_kwargs, self.options = kwargs or {}, options or {}

        @property
        def treatment(self) -> str:
            return OPS[self.op][1]

        def call(self, inputs: Any) -> Any:
            flat = list(inputs) if isinstance(inputs, list | tuple) else [inputs]
            function = OPS[self.op][0]
            return function(*_decode(self.args, flat),
                            **_decode(self.op_kwargs, flat), **self.options)

        def get_config(self) -> dict:
            return {**super().get_config(), "op": self.op, "args": self.args,
                    "kwargs": self.op_kwargs, "options": self.options}

    return KerasOp


@functools.cache
def layer_scale_class() -> type:
    """Keras 3 ConvNeXt's ``LayerScale`` (x times a learned per-channel gamma) in tf_keras."""
    import tf_keras

    @tf_keras.saving.register_keras_serializable(package="qatbench")
    class LayerScale(tf_keras.layers.Layer):
        """``x * gamma``, gamma one value per channel (the last axis)."""

        def __init__(self, init_values: float, projection_dim: int, **base: Any) -> None:
            super().__init__(**base)
            self.init_values, self.projection_dim = init_values, projection_dim

        def build(self, input_shape: Any) -> None:
            self.gamma = self.add_weight(
                name="gamma", shape=(self.projection_dim,),
                initializer=tf_keras.initializers.Constant(self.init_values))
            super().build(input_shape)

        def call(self, inputs: Any) -> Any:
            return inputs * self.gamma

        def get_config(self) -> dict:
            return {**super().get_config(), "init_values": self.init_values,
                    "projection_dim": self.projection_dim}

    return LayerScale


@functools.cache
def custom_scale_class() -> type:
    """Keras 3 Inception-ResNet's ``CustomScaleLayer`` (``x + scale * residual``) in
    tf_keras, where the same block is a ``Lambda`` (a Python function tfmot cannot see)."""
    import tf_keras

    @tf_keras.saving.register_keras_serializable(package="qatbench")
    class CustomScaleLayer(tf_keras.layers.Layer):
        """``inputs[0] + inputs[1] * scale``: a residual added at a fixed scale."""

        def __init__(self, scale: float, **base: Any) -> None:
            super().__init__(**base)
            self.scale = scale

        def call(self, inputs: Any) -> Any:
            return inputs[0] + inputs[1] * self.scale

        def get_config(self) -> dict:
            return {**super().get_config(), "scale": self.scale}

    return CustomScaleLayer


def make_op_layer(op: str, name: str, args: Any, kwargs: Any, options: dict[str, Any]
                  ) -> tuple[Any, list[Any]]:
    """The ``KerasOp`` for one node, and the tensors to call it on (in its input order)."""
    tensors: list[Any] = []
    encoded_args, encoded_kwargs = _encode(args, tensors), _encode(kwargs, tensors)
    layer = keras_op_class()(op, encoded_args, encoded_kwargs, options, name=name)
    return layer, tensors


def custom_objects() -> dict[str, type]:
    """The layer classes a rebuilt model may hold, for loading or cloning it."""
    classes = {"KerasOp": keras_op_class(), **application_layer_classes()}
    return {**classes, **{f"qatbench>{name}": kind for name, kind in classes.items()}}


def application_layer_classes() -> dict[str, type]:
    """The layers ``keras.applications`` defines for itself (not in ``keras.layers``),
    by class name: each rebuilt as its tf_keras twin here."""
    return {"LayerScale": layer_scale_class(), "CustomScaleLayer": custom_scale_class()}
