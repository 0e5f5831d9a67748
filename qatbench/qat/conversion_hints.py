"""What to change in a model when TensorFlow's converter refuses it, where we know.

The converter's own message is MLIR text about ops the user never wrote
(``'tf.TensorListReserve' op requires element_shape to be static``). The one case met
in practice with a known fix is a recurrent layer (LSTM, GRU, SimpleRNN) traced with a
dynamic shape: a Keras input has no fixed batch size, and a recurrent loop over it
becomes a ``TensorList`` with no static element shape. Unrolling the loop, or fixing
the batch (and sequence length), gives the converter static shapes; both convert to
float32 and full-integer int8.
"""

from __future__ import annotations

from typing import Any

RECURRENT = ("LSTM", "GRU", "SimpleRNN", "RNN", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D")
# what the converter says when a loop has no static shapes
DYNAMIC_LOOP_SIGNS = ("TensorList", "element_shape to be static", "tf.While")


def _recurrent_layers(model: Any) -> list[Any]:
    found = []
    for layer in getattr(model, "layers", []):
        inner = getattr(layer, "layer", None) or getattr(layer, "forward_layer", None)
        for candidate in (layer, inner):
            if candidate is not None and type(candidate).__name__ in RECURRENT:
                found.append(candidate)
                break
    return found


def conversion_hint(model: Any, error: BaseException) -> str:
    """A sentence on how to make ``model`` convertible after ``error``, or ""."""
    text = str(error)
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
