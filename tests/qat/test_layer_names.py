"""A loaded model's layer names never collide with the layers tfmot's transforms add."""

from __future__ import annotations

import pytest

pytest.importorskip("tensorflow_model_optimization")

import numpy as np
import tf_keras as keras

from qatbench.qat.layer_names import reserve_layer_names
from qatbench.qat.quantize import quantize_for_training
from qatbench.qat.validate import find_unsupported_layers

layers = keras.layers


def _named_like_a_loaded_file() -> keras.Model:
    """Explicit names tf_keras's counter has not seen, as after loading a file: a fresh
    session, then the names ``conv2d`` and ``conv2d_1`` that tfmot's SeparableConv2D split
    would otherwise give its new pointwise ``Conv2D``."""
    keras.backend.clear_session()
    inputs = layers.Input((12, 12, 3), name="image")
    x = layers.Conv2D(4, 3, name="conv2d")(inputs)
    x = layers.SeparableConv2D(8, 3, name="separable")(x)
    x = layers.Conv2D(4, 1, name="conv2d_1")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, layers.Dense(3, name="logits")(x))


@pytest.mark.timeout(240)
def test_separable_conv_split_takes_a_name_the_model_does_not_use() -> None:
    """Keras 3 Xception rebuilt under tf_keras sat in tfmot's transform for over 30 min:
    the split's new Conv2D was named ``conv2d`` like a layer already there."""
    model = _named_like_a_loaded_file()
    assert find_unsupported_layers(model) == []
    qat_model, _ = quantize_for_training(model)
    names = [layer.name for layer in qat_model.layers]
    assert len(names) == len(set(names))
    x = np.random.default_rng(0).uniform(0, 1, (2, 12, 12, 3)).astype("float32")
    assert qat_model(x).shape == model(x).shape == (2, 3)


def test_new_layers_are_numbered_past_the_highest_name_in_use() -> None:
    keras.backend.clear_session()
    inputs = layers.Input((4,), name="x")
    model = keras.Model(inputs, layers.Dense(2, name="dense_7")(layers.Dense(3, name="dense")(
        inputs)))
    reserve_layer_names(model)
    assert layers.Dense(1).name == "dense_8"
    assert layers.Conv2D(1, 1).name == "conv2d"  # names not in the model are untouched
