"""Label-free QAT: a model without labels is distilled from its float model, never fitted
on invented labels, and every QAT variant reports its Keras-vs-.tflite conversion gap."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("tensorflow_model_optimization")

import tf_keras as keras

from qatbench.models.zoo import BuiltModel, ModelSpec
from qatbench.qat.budget import TrainingBudget
from qatbench.qat.pipeline import build_variants
from tests.accuracy_bounds import assert_floor, assert_within

CLASSES = 5


def _unlabelled_model(flatten: bool = False) -> BuiltModel:
    """ImageNet-like in miniature: Conv+BN+ReLU, a softmax head, no training data.

    ``flatten``: a head that sees where things are instead of a global pool, so that the
    random float model's class changes from input to input.
    """
    layers = keras.layers
    inputs = layers.Input((16, 16, 3))
    x = layers.Conv2D(8, 3, name="conv")(inputs)
    x = layers.BatchNormalization(name="bn")(x)
    x = layers.ReLU(name="relu")(x)
    x = (layers.Flatten(name="flatten") if flatten
         else layers.GlobalAveragePooling2D(name="pool"))(x)
    outputs = layers.Dense(CLASSES, activation="softmax", name="predictions")(x)
    return BuiltModel(keras.Model(inputs, outputs, name="tiny_unlabelled"), "random")


UNLABELLED = ModelSpec("tiny_unlabelled", "test model without labelled data", (16, 16, 3),
                       CLASSES, _unlabelled_model, None, input_range=(-1.0, 1.0))
BUDGET = TrainingBudget(representative_samples=12, synthetic_qat_steps=2,
                        synthetic_batch_size=4, layer_error_samples=4)


@pytest.fixture
def fit_targets(monkeypatch: pytest.MonkeyPatch) -> list[np.ndarray]:
    """Every ``y`` any Keras model is fitted on during the test."""
    seen: list[np.ndarray] = []
    original = keras.Model.fit

    def spy(self: Any, x: Any = None, y: Any = None, *args: Any, **kwargs: Any) -> Any:
        seen.append(np.asarray(y))
        return original(self, x, y, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "fit", spy)
    return seen


def test_a_model_without_labels_is_distilled_on_soft_targets(
        tmp_path: Path, fit_targets: list[np.ndarray]) -> None:
    build = build_variants(UNLABELLED, ["float32", "qat_int8"], tmp_path, BUDGET)
    artifact = build.variants["qat_int8"]
    assert artifact.ok, artifact.error
    assert artifact.qat_objective == "distill"
    assert "QAT objective: distill (KL, T=1) on 8 synthetic calibration inputs" in artifact.note
    assert len(fit_targets) == 1  # the float model has nothing to train on
    (targets,) = fit_targets
    assert targets.dtype == np.float32 and targets.shape == (8, CLASSES)  # never class ids
    assert np.allclose(targets.sum(axis=1), 1.0, atol=1e-5)


def test_distillation_leaves_batch_norm_statistics_alone(tmp_path: Path) -> None:
    from qatbench.qat.quantize import quantize_for_training
    from qatbench.qat.train import fine_tune_qat

    model = _unlabelled_model().model
    bn = model.get_layer("bn")
    bn.moving_mean.assign(np.full(8, 0.5, np.float32))
    qat_model, _ = quantize_for_training(model)
    x = np.random.default_rng(0).uniform(-1, 1, (8, 16, 16, 3)).astype(np.float32)
    tuning = fine_tune_qat(qat_model, model, None, x, "calibration inputs", BUDGET)
    assert tuning.objective == "distill" and tuning.steps == 2
    assert "BatchNorm statistics frozen" in tuning.describe()
    (qat_bn,) = [w for w in qat_model.weights if "bn" in w.name and "moving_mean" in w.name]
    assert np.allclose(qat_bn.numpy(), 0.5)


def test_labels_on_a_model_without_labels_is_a_clear_error(tmp_path: Path) -> None:
    budget = BUDGET.model_copy(update={"qat_objective": "labels", "layer_error_samples": 0})
    build = build_variants(UNLABELLED, ["float32", "qat_int8"], tmp_path, budget)
    assert build.variants["float32"].ok
    error = build.variants["qat_int8"].error
    assert 'qat_objective = "labels"' in error and "no labelled training data" in error
    assert 'use qat_objective = "distill"' in error


def test_conversion_gap_and_both_layer_tables_for_a_qat_variant(digits_build) -> None:
    import pandas as pd

    artifact = digits_build.variants["qat_int8"]
    assert artifact.qat_objective == "labels"
    assert artifact.note.startswith("QAT objective: labels (cross-entropy) on 1,437 training")
    figures = [artifact.keras_qat_top1, artifact.tflite_top1, artifact.keras_qat_agreement,
               artifact.tflite_agreement, artifact.tflite_qat_keras_agreement,
               artifact.conversion_gap_points]
    assert all(f is not None and math.isfinite(f) for f in figures), figures
    assert artifact.conversion_gap_basis == "top-1" and artifact.conversion_samples == 360
    assert artifact.keras_qat_top1 == pytest.approx(artifact.keras_top1)
    assert artifact.conversion_gap_points == pytest.approx(
        100 * (artifact.keras_qat_top1 - artifact.tflite_top1))
    # a trained model converts faithfully: the file decides like its Keras model. One
    # trained model (it differs by host) on 360 digits, so judged as a sample: the
    # agreement's 95% interval lies above 93%, and the gap is within 3 points beyond the
    # counts' noise. Catches a conversion that changes decisions (a wrong scale or
    # rounding: tens of points). A top-1 gap can never exceed the share of inputs the two
    # decide differently on: a gap and an agreement not from the same inputs break that.
    n = artifact.conversion_samples
    assert_floor(artifact.tflite_qat_keras_agreement, 0.93,
                 "qat_int8 .tflite agreement with its QAT Keras model", n=n)
    assert abs(artifact.conversion_gap_points) <= \
        100 * (1 - artifact.tflite_qat_keras_agreement) + 1e-6
    assert_within(artifact.keras_qat_top1, artifact.tflite_top1, points=3.0, a_n=n, b_n=n,
                  what="conversion gap: QAT Keras vs .tflite top-1")
    vs_qat = pd.read_csv(artifact.layer_errors_vs_qat_keras)
    vs_float = pd.read_csv(artifact.layer_errors_vs_float)
    assert Path(artifact.layer_errors_vs_qat_keras).name == "layer_errors_qat_int8_vs_qat_keras.csv"
    assert Path(artifact.layer_errors_vs_float).name == "layer_errors_qat_int8_vs_float.csv"
    assert vs_qat["method"].eq("int8 vs QAT Keras model layer outputs").all()
    assert set(vs_qat["layer"]) == set(vs_float["layer"])  # same layer names in both
    # conversion alone changes each layer by about rounding noise; fine-tuning moved more
    assert vs_qat["rmse_over_scale"].max() < 1.0
    assert vs_float["rmse_over_scale"].max() > vs_qat["rmse_over_scale"].max()
    assert [w["layer"] for w in artifact.worst_layers_vs_qat_keras] == \
        list(vs_qat["layer"][: len(artifact.worst_layers_vs_qat_keras)])


def test_a_model_without_labels_gets_agreement_not_top1(tmp_path: Path) -> None:
    build = build_variants(UNLABELLED, ["qat_int8"], tmp_path,
                           BUDGET.model_copy(update={"layer_error_samples": 0}))
    artifact = build.variants["qat_int8"]
    assert artifact.keras_qat_top1 is None and artifact.tflite_top1 is None
    assert artifact.conversion_gap_basis == "agreement with float"
    assert 0 <= artifact.tflite_agreement <= 1 and math.isfinite(artifact.conversion_gap_points)
    assert artifact.conversion_samples == 12  # the calibration inputs


class _FolderModel:
    """A tiny builder that, like the ImageNet models, names its input scaling."""

    preprocess = "tf"

    def __call__(self) -> BuiltModel:
        return _unlabelled_model()


def test_an_image_folder_distils_on_its_non_eval_images(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import Image

    root = tmp_path / "val"
    for label in range(3):
        (root / str(label)).mkdir(parents=True)
        for i in range(2):  # every image its own colour, so inputs can be traced to files
            colour = (80 * label, 100 * i, 7)
            Image.new("RGB", (20, 20), colour).save(root / str(label) / f"{i}.png")
    fitted: list[np.ndarray] = []
    original = keras.Model.fit

    def spy(self: Any, x: Any = None, y: Any = None, *args: Any, **kwargs: Any) -> Any:
        fitted.append(np.asarray(x))
        return original(self, x, y, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "fit", spy)
    spec = ModelSpec("tiny_folder", "test", (16, 16, 3), CLASSES, _FolderModel(), None)
    build = build_variants(spec, ["qat_int8"], tmp_path / "out", BUDGET, imagenet_dir=root)
    assert "3 eval images covering 3 of its 3 classes" in build.data_note
    artifact = build.variants["qat_int8"]
    assert "distill (KL, T=1) on 3 image-folder images (not eval)" in artifact.note
    from qatbench.targets.base import EvalSet

    eval_colours = {tuple(np.round(img[0, 0], 2)) for img in EvalSet.load(Path(build.eval_path)).x}
    (x,) = fitted
    fitted_colours = {tuple(np.round(img[0, 0], 2)) for img in x}
    assert len(eval_colours) == 3 and len(fitted_colours) == 3
    assert not eval_colours & fitted_colours
