"""Models QAT cannot take are refused with one clear error naming the model and every layer."""

from __future__ import annotations

import pytest

pytest.importorskip("tensorflow_model_optimization")

import tf_keras as keras

from qatbench.qat.errors import QatModelError, UnsupportedLayersError
from qatbench.qat.quantize import plan_quantization, quantize_for_training
from qatbench.qat.validate import find_unsupported_layers

layers = keras.layers


def test_subclassed_model_is_refused_by_name() -> None:
    class TinyNet(keras.Model):
        def __init__(self) -> None:
            super().__init__(name="tiny_net")
            self.dense = layers.Dense(2)

        def call(self, x):
            return self.dense(x)

    with pytest.raises(QatModelError, match="Sequential or Functional tf_keras") as error:
        quantize_for_training(TinyNet())
    assert "'tiny_net'" in str(error.value) and "subclassed" in str(error.value)


def test_nested_model_is_refused_naming_the_inner_model() -> None:
    inner = keras.Sequential([layers.Input((4,)), layers.Dense(3)], name="backbone")
    outer = keras.Sequential([layers.Input((4,)), inner, layers.Dense(2)], name="outer")
    with pytest.raises(QatModelError, match="backbone") as error:
        quantize_for_training(outer)
    assert "'outer'" in str(error.value)


def test_keras3_model_is_refused() -> None:
    keras3 = pytest.importorskip("keras")
    if keras3.__version__.startswith("2."):
        pytest.skip("the installed keras is Keras 2")
    model = keras3.Sequential([keras3.Input((3,)), keras3.layers.Dense(2)], name="k3_model")
    with pytest.raises(QatModelError, match="Keras 3") as error:
        quantize_for_training(model)
    assert "'k3_model'" in str(error.value)


def test_every_unsupported_layer_is_listed_at_once() -> None:
    inputs = layers.Input((8, 8, 1))
    x = layers.Conv2D(4, 3, name="conv")(inputs)
    x = layers.GroupNormalization(2, name="norm_a")(x)
    x = layers.Flatten(name="flat")(x)
    x = layers.UnitNormalization(name="norm_b")(x)
    outputs = layers.Dense(2, name="head")(x)
    model = keras.Model(inputs, outputs, name="two_bad_layers")
    with pytest.raises(UnsupportedLayersError) as error:
        quantize_for_training(model)
    names = [(layer.name, layer.class_name) for layer in error.value.layers]
    assert names == [("norm_a", "GroupNormalization"), ("norm_b", "UnitNormalization")]
    assert "'two_bad_layers'" in str(error.value)


def test_conv_batchnorm_is_not_flagged_because_tfmot_folds_it() -> None:
    inputs = layers.Input((8, 8, 1))
    x = layers.Conv2D(4, 3)(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    outputs = layers.Dense(2)(layers.Flatten()(x))
    assert find_unsupported_layers(keras.Model(inputs, outputs)) == []


def test_standalone_batchnorm_is_what_tfmot_rejects_and_qatbench_configures() -> None:
    inputs = layers.Input((8,))
    x = layers.BatchNormalization(name="preact_bn")(inputs)
    outputs = layers.Dense(2)(x)
    model = keras.Model(inputs, outputs)
    assert [u.name for u in find_unsupported_layers(model)] == ["preact_bn"]
    plan, _ = plan_quantization(model)
    assert plan.configured == {"preact_bn": "BatchNormalization"}
