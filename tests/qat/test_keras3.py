"""A Keras 3 model rebuilt as tf_keras: the same outputs, or a refusal naming every layer."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")


def _keras3_model():
    """BatchNorm, a depthwise convolution, a residual add and a two-output head: the
    layers a real edge model has and where a rebuild could go wrong (weights order,
    moving statistics, node wiring, output order)."""
    import keras

    keras.utils.set_random_seed(1)
    image = keras.Input((12, 12, 3), name="image")
    x = keras.layers.Conv2D(8, 3, padding="same", use_bias=False, name="stem")(image)
    x = keras.layers.BatchNormalization(name="stem_bn")(x)
    x = keras.layers.ReLU(6.0, name="stem_relu")(x)
    branch = keras.layers.DepthwiseConv2D(3, padding="same", name="dw")(x)
    branch = keras.layers.BatchNormalization(name="dw_bn")(branch)
    x = keras.layers.Add(name="residual")([x, branch])
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    classes = keras.layers.Dense(5, activation="softmax", name="classes")(x)
    box = keras.layers.Dense(4, name="box")(x)
    model = keras.Model(image, [classes, box], name="two_heads")
    # non-trivial BatchNorm statistics: a rebuild that dropped them would differ
    for layer in (model.get_layer("stem_bn"), model.get_layer("dw_bn")):
        gamma, beta, mean, variance = layer.get_weights()
        rng = np.random.default_rng(len(layer.name))
        layer.set_weights([gamma * 1.5, beta + 0.1, mean + rng.normal(0, 0.2, mean.shape),
                           variance * rng.uniform(0.5, 2.0, variance.shape)])
    return model


def test_rebuild_of_a_saved_keras3_model_computes_the_same_outputs(tmp_path: Path) -> None:
    import tf_keras

    from qatbench.qat.keras3 import is_keras3_file, prove_rebuild
    from qatbench.qat.user_model import load_keras_file

    path = tmp_path / "two_heads.keras"
    _keras3_model().save(path)
    assert is_keras3_file(path)
    loaded = load_keras_file(path, "models.m.keras")
    assert isinstance(loaded.model, tf_keras.Model)
    assert loaded.model.output_names == ["classes", "box"]
    x = np.random.default_rng(0).uniform(0, 1, (16, 12, 12, 3)).astype(np.float32)
    proof = prove_rebuild(loaded.keras3, loaded.model, x)
    assert proof.holds
    assert set(proof.max_abs_diff) == {"classes", "box"}
    assert max(proof.max_abs_diff.values()) < 1e-5


def test_a_rebuild_that_computes_something_else_is_refused_with_the_figure() -> None:
    from qatbench.qat.keras3 import RebuildMismatch, prove_rebuild, rebuild

    original = _keras3_model()
    copy = rebuild(original)
    kernel, bias = copy.get_layer("box").get_weights()
    copy.get_layer("box").set_weights([kernel, bias + 0.5])  # what a wrong rebuild does
    x = np.random.default_rng(0).uniform(0, 1, (8, 12, 12, 3)).astype(np.float32)
    with pytest.raises(RebuildMismatch, match=r"output box differs by up to 0\.5"):
        prove_rebuild(original, copy, x)


def _sensitive_keras3_model():
    """A net whose outputs float32 rounding moves far beyond 1e-4 of their scale, like a
    deep random-weight EfficientNetV2 (logits ~1e3 moving by ~1 under a one-ulp input
    change): a smooth path of scale ~1e3 plus 24 steps of a tent map (slope 1.99, from
    Dense and ReLU layers), which magnifies any rounding ~1.99^24 ~ 1.5e7 times."""
    import keras

    inputs = keras.Input((16,), name="x")
    state = keras.layers.Dense(1, kernel_initializer=keras.initializers.Constant(
        [[1.0]] + [[0.0]] * 15), name="start")(inputs)
    for step in range(24):
        halves = keras.layers.Dense(2, activation="relu", name=f"halves{step}",
                                    kernel_initializer=keras.initializers.Constant([[1, 1]]),
                                    bias_initializer=keras.initializers.Constant([0, -0.5]))
        fold = keras.layers.Dense(1, name=f"fold{step}", kernel_initializer=(
            keras.initializers.Constant([[1.99], [-3.98]])))
        state = fold(halves(state))
    both = keras.layers.Concatenate(name="both")([inputs, state])
    head = keras.layers.Dense(1, name="out", kernel_initializer=keras.initializers.Constant(
        [[10.0 * (i + 1)] for i in range(16)] + [[1.0]]))
    return keras.Model(inputs, head(both), name="sensitive")


def test_a_rebuild_of_a_rounding_sensitive_net_is_held_to_that_nets_own_rounding() -> None:
    """A rebuild that rounds differently (one ulp on a tent step's kernel: two correct
    implementations differ like this in every layer) holds on such a net, against the
    model's own move under one-ulp input changes; a wrong bias is still refused."""
    from qatbench.qat.keras3 import (
        REBUILD_TOLERANCE,
        RebuildMismatch,
        prove_rebuild,
        rebuild,
    )

    original = _sensitive_keras3_model()
    x = np.random.default_rng(0).uniform(0, 1, (64, 16)).astype(np.float32)
    copy = rebuild(original)
    kernel, bias = copy.get_layer("halves0").get_weights()
    copy.get_layer("halves0").set_weights([np.nextafter(kernel, np.inf), bias])
    proof = prove_rebuild(original, copy, x)
    # the 1e-4-of-scale rule alone would refuse this rebuild ...
    assert proof.max_abs_diff["out"] > REBUILD_TOLERANCE * (1 + proof.scale["out"])
    # ... the model's own sensitivity explains it, and the note says so
    assert proof.holds and proof.rounding_bound
    assert "one-ulp input change" in proof.describe()

    head_kernel, head_bias = copy.get_layer("out").get_weights()
    copy.get_layer("out").set_weights([head_kernel, head_bias + proof.scale["out"] / 4])
    with pytest.raises(RebuildMismatch, match="one-ulp input change"):
        prove_rebuild(original, copy, x)


def test_layers_without_a_tf_keras_counterpart_are_listed_in_one_error() -> None:
    import keras

    from qatbench.qat.keras3 import RebuildError, rebuild

    inputs = keras.Input((8,), name="features")
    x = keras.layers.Dense(8, name="dense")(inputs)
    normed = keras.layers.RMSNormalization(name="rms")(x)
    x = keras.layers.Reshape((2, 4), name="to_seq")(x)
    x = keras.layers.AdaptiveAveragePooling1D(1, name="adaptive")(x)
    model = keras.Model(inputs, [normed, x], name="keras3_only")
    with pytest.raises(RebuildError) as refused:
        rebuild(model)
    message = str(refused.value)
    assert "rms (RMSNormalization)" in message
    assert "adaptive (AdaptiveAveragePooling1D)" in message
    assert "build = " in message  # what to do


def test_a_tf_keras_file_is_loaded_as_it_is(tmp_path: Path) -> None:
    import tf_keras

    from qatbench.qat.keras3 import is_keras3_file
    from qatbench.qat.user_model import load_keras_file

    model = tf_keras.Sequential([tf_keras.Input((4,)), tf_keras.layers.Dense(3)])
    path = tmp_path / "m.h5"
    model.save(path)
    assert not is_keras3_file(path)
    loaded = load_keras_file(path, "models.m.keras")
    assert loaded.keras3 is None
    np.testing.assert_allclose(loaded.model.get_weights()[0], model.get_weights()[0])
