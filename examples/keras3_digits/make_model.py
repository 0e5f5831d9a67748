"""Make the example's data and its Keras 3 model (seconds on a laptop, no download).

The data are scikit-learn's 1,797 8x8 handwritten digits (they ship inside the
scikit-learn wheel), scaled to [0, 1] and saved as ``digits.npz`` with ``x``/``y``:
qatbench splits them itself (stratified, seeded). The model is a small Keras 3 network
with the layers QAT users meet in real models -- BatchNorm, a depthwise convolution, a
residual add -- trained here for a few epochs and saved as ``digits_keras3.keras``.

    python make_model.py            # writes digits.npz and digits_keras3.keras here
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np


def make_data(out: Path) -> Path:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images[..., np.newaxis] / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    path = out / "digits.npz"
    np.savez_compressed(path, x=x, y=y)
    return path


def make_model(out: Path, data: Path, epochs: int = 30) -> Path:
    import keras  # Keras 3: what `pip install tensorflow` gives by default

    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 1), name="image")
    x = keras.layers.Conv2D(16, 3, padding="same", use_bias=False, name="stem")(inputs)
    x = keras.layers.BatchNormalization(name="stem_bn")(x)
    x = keras.layers.ReLU(name="stem_relu")(x)
    branch = keras.layers.DepthwiseConv2D(3, padding="same", name="dw")(x)
    branch = keras.layers.BatchNormalization(name="dw_bn")(branch)
    branch = keras.layers.ReLU(name="dw_relu")(branch)
    x = keras.layers.Add(name="residual")([x, branch])
    x = keras.layers.Conv2D(32, 1, activation="relu", name="expand")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Dense(10, name="logits")(x)
    model = keras.Model(inputs, outputs, name="digits_keras3")
    model.compile(optimizer=keras.optimizers.Adam(3e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    with np.load(data) as arrays:
        model.fit(arrays["x"], arrays["y"], epochs=epochs, batch_size=32, verbose=0)
    path = out / "digits_keras3.keras"
    model.save(path)
    return path


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
    out.mkdir(parents=True, exist_ok=True)
    data = make_data(out)
    model = make_model(out, data)
    print(f"wrote {data} and {model}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
