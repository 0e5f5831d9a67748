"""Inputs and outputs by name: a multi-input, multi-output file read in Keras' order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qatbench.targets.base import EvalSet, Evaluation, OutputSpec


@pytest.fixture(scope="module")
def two_by_two(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    """A float file whose signature sorts inputs and outputs unlike the Keras model."""
    pytest.importorskip("tensorflow")
    import tf_keras as keras

    from qatbench.qat.export import keras_converter

    feat = keras.Input((4,), name="feat")
    aux = keras.Input((3,), name="aux")
    x = keras.layers.Concatenate()([feat, aux])
    model = keras.Model([feat, aux], [keras.layers.Dense(5, name="zcls")(x),
                                      keras.layers.Dense(2, name="box")(x)])
    path = tmp_path_factory.mktemp("io") / "two_by_two.tflite"
    path.write_bytes(keras_converter(model).convert())
    return path, model


def test_outputs_come_in_the_keras_models_order_whatever_the_signature_says(
        two_by_two) -> None:
    from qatbench.qat.fidelity import tflite_outputs

    path, model = two_by_two
    rng = np.random.default_rng(0)
    x = {"feat": rng.normal(size=(6, 4)).astype(np.float32),
         "aux": rng.normal(size=(6, 3)).astype(np.float32)}
    rows = tflite_outputs(path, x, ["zcls", "box"])
    expected = np.concatenate(model.predict([x["feat"], x["aux"]], verbose=0), axis=1)
    np.testing.assert_allclose(rows, expected, rtol=1e-5, atol=1e-5)


def test_an_eval_set_with_named_inputs_and_outputs_round_trips(tmp_path: Path) -> None:
    x = {"feat": np.ones((3, 4), np.float32), "aux": np.zeros((3, 3), np.float32)}
    outputs = (OutputSpec("zcls", "classification", 5), OutputSpec("box", "regression", 2))
    data = EvalSet(x, np.array([1, 2, 3]), "named", reference=np.zeros((3, 7), np.float32),
                   outputs=outputs)
    data.save(tmp_path / "eval.npz")
    back = EvalSet.load(tmp_path / "eval.npz")
    assert back.outputs == outputs
    assert back.input_names == ["feat", "aux"] and back.samples == 3
    assert back.class_slice() == slice(0, 5)
    # top-1 reads the class output only, whatever the box values are
    rows = np.zeros((3, 7), np.float32)
    rows[np.arange(3), [1, 2, 3]] = 1.0
    rows[:, 5:] = 100.0
    assert Evaluation.of_outputs(rows, back).top1 == 1.0


def test_a_model_with_no_class_output_scores_no_top1() -> None:
    data = EvalSet(np.zeros((2, 4), np.float32), np.array([0, 1]), "reg",
                   outputs=(OutputSpec("value", "regression", 1),))
    assert data.class_slice() is None and not data.has_labels
    assert Evaluation.of_outputs(np.zeros((2, 1)), data).top1 is None
