"""Conv chains whose cost grows by one block at a time: the known extra work the gate
benchmarks (``gate_error_rates.py``, ``ab_error_rates.py``) detect."""

from __future__ import annotations

import os
from typing import Any

import numpy as np


def conv_chain(blocks: int, size: int, channels: int) -> Any:
    """A tf_keras model of ``blocks`` 3x3 conv + ReLU blocks at size x size x channels,
    batch 1, with seeded random weights (every chain of one shape shares its blocks)."""
    os.environ["TF_USE_LEGACY_KERAS"] = "1"  # tf_keras, never Keras 3
    import tf_keras as keras

    inputs = keras.Input((size, size, channels), batch_size=1)
    x = inputs
    rng = np.random.default_rng(0)
    for _ in range(blocks):
        layer = keras.layers.Conv2D(channels, 3, padding="same", activation="relu")
        x = layer(x)
        kernel, bias = layer.get_weights()
        layer.set_weights([rng.normal(0, 0.1, kernel.shape).astype("float32"),
                           np.zeros_like(bias)])
    return keras.Model(inputs, x)
