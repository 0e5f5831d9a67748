"""What to change in a model when TensorFlow's converter refuses it, where we know.

The converter's own message is MLIR text about ops the user never wrote
(``'tf.TensorListReserve' op requires element_shape to be static``). The one case met
in practice with a known fix is a recurrent layer (LSTM, GRU, SimpleRNN) traced with a
dynamic shape: a Keras input has no fixed batch size, and a recurrent loop over it
becomes a ``TensorList`` with no static element shape. Unrolling the loop, or fixing
the batch (and sequence length), gives the converter static shapes; both convert to
float32 and full-integer int8.

The other is a same-scale op (an average pool, a concatenation) to which a QAT model
gives one scale in and another out, which int8 TFLite cannot run ("... op quantization
parameters violate the same scale constraint"). qatbench's configs avoid the pattern it
knows (``quantize.SAME_SCALE_LAYERS``); should another reach the converter, the hint
names the layers from the converter's locations (``quant_<layer>/...``) and the
selective-QAT route that leaves them float.
"""

from __future__ import annotations

import re
from typing import Any

RECURRENT = ("LSTM", "GRU", "SimpleRNN", "RNN", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D")
# what the converter says when a loop has no static shapes
DYNAMIC_LOOP_SIGNS = ("TensorList", "element_shape to be static", "tf.While")
SAME_SCALE_SIGN = "violate the same scale constraint"
# the TFLite op and the tfmot wrapper (quant_<layer>) in the converter's error records
_SAME_SCALE_OP = re.compile(r"'tfl\.(\w+)' op quantization parameters violate")
_WRAPPED_LAYER = re.compile(r"quant_([\w.-]+?)/")


def _recurrent_layers(model: Any) -> list[Any]:
    found = []
    for layer in getattr(model, "layers", []):
        inner = getattr(layer, "layer", None) or getattr(layer, "forward_layer", None)
        for candidate in (layer, inner):
            if candidate is not None and type(candidate).__name__ in RECURRENT:
                found.append(candidate)
                break
    return found


def _same_scale_hint(model: Any, error: BaseException) -> str:
    # the message names the op; the layer is in each error's location (ConverterError's
    # ``errors``: the converter's records, whose call sites hold the op's TF name)
    text = "\n".join([str(error), *map(str, getattr(error, "errors", None) or [])])
    op = _SAME_SCALE_OP.search(text)
    known = {layer.name: layer for layer in getattr(model, "layers", [])}
    named = dict.fromkeys(name for name in _WRAPPED_LAYER.findall(text) if name in known)
    layers = ", ".join(f"{name} ({type(known[name]).__name__})" for name in named) \
        or "not named by the converter"
    return (f". Hint: int8 TFLite runs {op.group(1) if op else 'this op'} on one scale "
            f"from input to output, and the QAT model gives it two (layers: {layers}); "
            "qatbench has no config that reconciles this pattern. Keep those layers float "
            "with selective QAT: variant qat_selective, [training] qat_layers naming the "
            "layers to quantize and leaving these out")


def conversion_hint(model: Any, error: BaseException) -> str:
    """A sentence on how to make ``model`` convertible after ``error``, or ""."""
    text = str(error)
    if SAME_SCALE_SIGN in text:
        return _same_scale_hint(model, error)
    if not any(sign in text for sign in DYNAMIC_LOOP_SIGNS):
        return ""
    layers = [layer for layer in _recurrent_layers(model) if not getattr(layer, "unroll", False)]
    if not layers:
        return ""
    names = ", ".join(f"{layer.name} ({type(layer).__name__})" for layer in layers)
    shape = tuple(model.inputs[0].shape[1:]) if getattr(model, "inputs", None) else ()
    example = f"keras.Input({shape}, batch_size=1)" if None not in shape else \
        "keras.Input((STEPS, FEATURES), batch_size=1)"
    return (f". Hint: TensorFlow's converter needs static shapes for the recurrent "
            f"layer(s) {names}: build them with unroll=True, or give the model a fixed "
            f"batch and sequence length ({example})")
