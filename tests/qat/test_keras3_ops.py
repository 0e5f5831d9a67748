"""What Keras 3 writes beside layers, rebuilt under tf_keras: op nodes (Python arithmetic,
``keras.ops``), activations tf_keras lacks or defines differently, dict inputs and
outputs, and one error listing every problem. Each model is made with Keras 3, as a user
makes it; the expected values come from NumPy formulas or from the Keras 3 model itself."""

from __future__ import annotations

import os

import numpy as np
import pytest

pytest.importorskip("tensorflow")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")


def _rng_inputs(shape: tuple[int, ...], seed: int = 0, low: float = -4.0, high: float = 4.0
                ) -> np.ndarray:
    return np.random.default_rng(seed).uniform(low, high, shape).astype(np.float32)


def test_arithmetic_with_constants_and_tensors_is_rebuilt_as_the_same_computation() -> None:
    """``x + 3.0`` (the bug: "A merge layer should be called on a list of inputs"), the
    constant on either side, tensor-tensor division, clip/relu6, and the squeeze-excite
    hard sigmoid spelled as MobileNetV3 spells it -- checked against NumPy by hand."""
    import keras
    from keras import ops

    from qatbench.qat.keras3 import rebuild

    x_in = keras.Input((6,), name="x")
    y_in = keras.Input((6,), name="y")
    hard_sigmoid = ops.relu6(x_in + 3.0) * (1.0 / 6.0)  # MobileNetV3's squeeze-excite
    ratio = (2.0 * x_in) / y_in
    flipped = 1.0 - ops.clip(x_in, -1.0, 2.0)
    model = keras.Model([x_in, y_in], [hard_sigmoid, ratio, flipped], name="arith")
    rebuilt = rebuild(model)
    x = _rng_inputs((16, 6))
    y = _rng_inputs((16, 6), seed=1, low=0.5, high=2.0)
    got = rebuilt.predict([x, y], verbose=0)
    np.testing.assert_allclose(got[0], np.clip(x + 3.0, 0.0, 6.0) / 6.0, atol=1e-6)
    np.testing.assert_allclose(got[1], 2.0 * x / y, rtol=1e-6)
    np.testing.assert_allclose(got[2], 1.0 - np.clip(x, -1.0, 2.0), atol=1e-6)
    # rebuilt from the op nodes, not from merge layers of the same class name
    assert {type(layer).__name__ for layer in rebuilt.layers} == {"InputLayer", "KerasOp"}


def test_shape_ops_and_reductions_are_rebuilt_as_the_same_computation() -> None:
    import keras
    from keras import ops

    from qatbench.qat.keras3 import rebuild

    image = keras.Input((4, 4, 3), name="image")
    flat = ops.reshape(image, (-1, 16, 3))
    swapped = ops.transpose(flat, (0, 2, 1))  # (3, 16)
    pooled = ops.mean(image, axis=[1, 2])
    joined = ops.concatenate([ops.reshape(swapped, (-1, 48)), pooled], axis=-1)
    first_row = image[:, 0]
    model = keras.Model(image, [joined, first_row], name="shapes")
    x = _rng_inputs((5, 4, 4, 3))
    joined_got, row_got = rebuild(model).predict(x, verbose=0)
    expected = np.concatenate([x.reshape(5, 16, 3).transpose(0, 2, 1).reshape(5, 48),
                               x.mean(axis=(1, 2))], axis=-1)
    np.testing.assert_allclose(joined_got, expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(row_got, x[:, 0], atol=0)


# activation -> its formula, written out here (Keras 3's definitions)
def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


ACTIVATIONS = {
    "hard_silu": lambda x: x * np.clip(x + 3.0, 0.0, 6.0) / 6.0,
    "hard_swish": lambda x: x * np.clip(x + 3.0, 0.0, 6.0) / 6.0,
    "hard_sigmoid": lambda x: np.clip(x + 3.0, 0.0, 6.0) / 6.0,  # not tf_keras' 0.2x+0.5
    "relu6": lambda x: np.clip(x, 0.0, 6.0),
    "silu": lambda x: x * _sigmoid(x),
    "swish": lambda x: x * _sigmoid(x),
    "gelu": lambda x: 0.5 * x * (1.0 + np.vectorize(__import__("math").erf)(x / np.sqrt(2))),
    "mish": lambda x: x * np.tanh(np.log1p(np.exp(x))),
    "leaky_relu": lambda x: np.where(x > 0, x, 0.2 * x),
    "hard_tanh": lambda x: np.clip(x, -1.0, 1.0),
    "log_sigmoid": lambda x: -np.log1p(np.exp(-x)),
}


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_each_keras3_activation_maps_to_an_equal_function(activation: str) -> None:
    """As an ``Activation`` layer and inside a ``Dense``: the same values as the formula
    (and as Keras 3 itself)."""
    import keras

    from qatbench.qat.keras3 import rebuild

    inputs = keras.Input((8,), name="x")
    standalone = keras.layers.Activation(activation, name="act")(inputs)
    dense = keras.layers.Dense(8, activation=activation, name="dense",
                               kernel_initializer="identity")(inputs)
    model = keras.Model(inputs, [standalone, dense], name=f"act_{activation}")
    x = _rng_inputs((32, 8))
    act, dense_out = rebuild(model).predict(x, verbose=0)
    expected = ACTIVATIONS[activation](x.astype(np.float64))
    np.testing.assert_allclose(act, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dense_out, expected, rtol=1e-5, atol=1e-5)  # identity kernel
    keras_act, _ = model.predict(x, verbose=0)
    np.testing.assert_allclose(act, keras_act, rtol=1e-5, atol=1e-6)


def test_dict_inputs_and_outputs_keep_their_keys(tmp_path) -> None:
    """``keras.Model({"image": a, "feats": b}, {"score": s, "label": c})``: the rebuilt
    model's inputs and outputs carry the dict keys (the names the user's data uses)."""
    import keras

    from qatbench.qat.keras3 import prove_rebuild
    from qatbench.qat.user_model import load_keras_file

    keras.utils.set_random_seed(3)
    image = keras.Input((4, 4, 1), name="image")
    feats = keras.Input((3,), name="feats")
    x = keras.layers.Flatten()(image)
    x = keras.layers.Concatenate()([x, feats])
    score = keras.layers.Dense(1)(x)
    label = keras.layers.Dense(4, activation="softmax")(x)
    model = keras.Model({"image": image, "feats": feats}, {"score": score, "label": label})
    path = tmp_path / "dicts.keras"
    model.save(path)
    loaded = load_keras_file(path, "models.m.keras")
    assert loaded.model.input_names == ["image", "feats"]
    assert loaded.model.output_names == ["score", "label"]
    data = {"image": _rng_inputs((8, 4, 4, 1)), "feats": _rng_inputs((8, 3), seed=2)}
    proof = prove_rebuild(loaded.keras3, loaded.model, data)
    assert proof.holds and set(proof.max_abs_diff) == {"score", "label"}
    expected = model.predict(data, verbose=0)
    got = loaded.model.predict([data["image"], data["feats"]], verbose=0)
    np.testing.assert_allclose(got[0], expected["score"], rtol=1e-5, atol=1e-6)


def test_every_problem_is_one_error_naming_each_layer_and_its_fix() -> None:
    """An unknown activation no longer raises before the rest are collected: the
    activation, a layer tf_keras lacks and an op without an equivalent, all at once --
    and the layers after them are not listed again."""
    import keras
    from keras import ops

    from qatbench.qat.keras3 import RebuildError, rebuild

    inputs = keras.Input((8,), name="features")
    x = keras.layers.Dense(8, activation="sparsemax", name="dense_sparsemax")(inputs)
    x = keras.layers.Dense(8, name="after_activation")(x)
    normed = keras.layers.RMSNormalization(name="rms")(inputs)
    y = keras.layers.Dense(8, name="side")(inputs)
    y = ops.argsort(y)
    z = keras.layers.Dense(2, name="after")(y)
    model = keras.Model(inputs, [x, normed, z], name="many_problems")
    with pytest.raises(RebuildError) as refused:
        rebuild(model)
    message = str(refused.value)
    assert "3 problem(s)" in message
    assert "dense_sparsemax (Dense): activation 'sparsemax' has no tf_keras equivalent" \
        in message
    assert "rms (RMSNormalization)" in message
    assert "(Argsort): a Keras 3 op with no TensorFlow equivalent" in message
    assert "after (Dense)" not in message  # consequences, not problems of their own
    assert "after_activation" not in message
    assert "To fix:" in message
