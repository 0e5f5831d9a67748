"""A model whose input activations carry a few huge outliers, for ``qatbench tune``.

The 8x8 digits, upscaled to 32x32, are channel 0 of a two-channel input; channel 1 is an
auxiliary sensor that is zero but for a few spikes of 500-1000 per input. The first
convolution (``sensor_conv``) has exactly zero weights on channel 1, so the float model
ignores the spikes and is as accurate as without them. Per-tensor int8 cannot: the input
tensor's one scale must cover 0..1000, so every image pixel (0..1) rounds to the same
step and top-1 collapses to chance. Keep ``sensor_conv`` float and its input stays
float; every later tensor is in the image's range and quantizes well.

Used by ``tests/bench/orchestration/test_tune.py`` and ``benchmarks/tune_search.py``:
``[models.outlier] build = "<this file>:outlier_cnn"`` with ``data = write_data(...)``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

SIDE = 32  # the 8x8 digits, each pixel repeated 4x4
SPIKES = 3  # per input, on channel 1
FIRST_LAYER = "sensor_conv"


def images(seed: int = 0, spikes: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(x, y): every digit as a (32, 32, 2) input in [0, 1] with ``SPIKES`` outliers."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    pixels = np.kron(digits.images / 16.0, np.ones((SIDE // 8, SIDE // 8)))
    x = np.zeros((len(pixels), SIDE, SIDE, 2), np.float32)
    x[..., 0] = pixels
    if spikes:
        rng = np.random.default_rng(seed)
        for row in x:
            where = rng.integers(0, SIDE, size=(SPIKES, 2))
            row[where[:, 0], where[:, 1], 1] = rng.uniform(500, 1000, SPIKES)
    return x, digits.target.astype(np.int64)


EVAL_SIZE = 600


def split(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    """The one fixed, stratified train/eval split (the model never trains on eval)."""
    from sklearn.model_selection import train_test_split

    return tuple(train_test_split(x, y, test_size=EVAL_SIZE, random_state=0, stratify=y))


def write_data(path: Path, seed: int = 0) -> Path:
    """The npz a ``[models.NAME]`` table reads: train (calibration) and eval inputs, both
    with spikes."""
    x_train, x_eval, y_train, y_eval = split(*images(seed))
    np.savez(path, x_train=x_train, y_train=y_train, x_eval=x_eval, y_eval=y_eval)
    return path


def outlier_cnn():  # -> tf_keras.Model
    """The trained model: trained on spike-free inputs, then channel 1's weights of the
    first convolution set to exactly zero (they saw only zeros: nothing changes)."""
    import tf_keras as keras

    layers = keras.layers
    model = keras.Sequential([
        layers.Input((SIDE, SIDE, 2), name="image"),
        layers.Conv2D(16, 3, padding="same", activation="relu", name=FIRST_LAYER),
        layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2"),
        layers.MaxPooling2D(name="pool2"),
        layers.Conv2D(64, 3, padding="same", activation="relu", name="conv3"),
        layers.MaxPooling2D(name="pool3"),
        layers.Conv2D(64, 3, padding="same", activation="relu", name="conv4"),
        layers.GlobalAveragePooling2D(name="gap"),
        layers.Dense(10, name="logits"),
    ], name="outlier_cnn")
    x, _, y, _ = split(*images(spikes=False))
    model.compile(optimizer=keras.optimizers.Adam(3e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(x, y, epochs=12, batch_size=32, verbose=0)
    kernel, bias = model.get_layer(FIRST_LAYER).get_weights()
    kernel[:, :, 1, :] = 0.0
    model.get_layer(FIRST_LAYER).set_weights([kernel, bias])
    return model
