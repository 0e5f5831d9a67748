"""One zoo model -> its ``.tflite`` variants, an eval set, and per-layer error tables.

A variant that fails to build is recorded with its error and the others still build,
so one bad conversion costs one row, not the run. A ``manifest.json`` beside the files
lets an interrupted run reuse what was already built.
"""

from __future__ import annotations

import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qatbench.models.datasets import Dataset, synthetic_inputs
from qatbench.models.zoo import ModelSpec
from qatbench.qat.artifacts import ModelBuild, VariantArtifact
from qatbench.qat.budget import TrainingBudget
from qatbench.qat.errors import QatModelError
from qatbench.qat.export import Variant, export_variant
from qatbench.qat.quantize import LayerSelection, quantize_for_training
from qatbench.qat.train import fine_tune_qat, seed_everything, train_float
from qatbench.targets.base import EvalSet

IMAGE_FOLDER_DEFAULT_LIMIT = 500  # eval images kept from an --imagenet-dir (float16 on disk)


def _error_text(error: BaseException) -> str:
    frames = traceback.extract_tb(error.__traceback__)
    where = f" (at {frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno})" if frames else ""
    return f"{type(error).__name__}: {error}{where}"


@dataclass
class BuildData:
    """What a model trains, calibrates and is evaluated on, and why anything is missing."""

    train: Dataset | None  # labelled training data (float training and QAT fine-tuning)
    calibration: np.ndarray
    eval_x: np.ndarray | None
    eval_y: np.ndarray | None
    eval_name: str = ""
    note: str = ""


def build_data(spec: ModelSpec, budget: TrainingBudget, weights: str,
               imagenet_dir: Path | None) -> BuildData:
    if spec.dataset is not None:
        data = spec.dataset().limited(budget.max_train_samples, budget.max_eval_samples)
        return BuildData(data, data.x_train[: budget.representative_samples], data.x_eval,
                         data.y_eval, data.name)
    preprocess = getattr(spec.build, "preprocess", None)
    if imagenet_dir is not None and preprocess is not None:
        from qatbench.models.image_folder import load_image_folder

        limit = budget.max_eval_samples or IMAGE_FOLDER_DEFAULT_LIMIT
        x, y = load_image_folder(imagenet_dir, spec.input_shape, preprocess, limit)
        return BuildData(None, x[: budget.representative_samples], x, y,
                         f"image folder {imagenet_dir}",
                         note=f"calibrated on the {min(len(x), budget.representative_samples)} "
                              "first images of the eval folder")
    calibration = synthetic_inputs(spec.input_shape, budget.representative_samples,
                                   budget.seed, *spec.input_range)
    return BuildData(None, calibration, None, None,
                     note=f"no labelled data for {spec.name} here ({weights} weights; "
                          "calibrated on synthetic inputs): accuracy not measured")


def keras_top1(model: Any, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 of a Keras model (the reference before conversion)."""
    logits = model.predict(x.astype(np.float32), batch_size=64, verbose=0)
    return float(np.mean(np.argmax(logits, axis=-1) == y))


def _layer_errors(variant: Variant, float_model: Any, path: Path, data: BuildData,
                  budget: TrainingBudget, out_dir: Path) -> tuple[str, list[dict[str, Any]]]:
    """Write the per-layer error table; return its path and its worst layers."""
    from qatbench.qat.layer_error import ptq_layer_errors, qat_layer_errors, worst_layers

    pool = data.eval_x if data.eval_x is not None else data.calibration
    samples = pool[: budget.layer_error_samples]
    if variant is Variant.PTQ_INT8:
        frame = ptq_layer_errors(float_model, data.calibration, samples)
    else:
        frame = qat_layer_errors(float_model, path, samples)
    csv = out_dir / f"layer_errors_{variant.value}.csv"
    frame.to_csv(csv, index=False)
    return str(csv), worst_layers(frame)


def _build_one(variant: Variant, model: Any, spec: ModelSpec, data: BuildData,
               budget: TrainingBudget, out_dir: Path) -> VariantArtifact:
    keras_model, notes = model, []
    if variant.is_qat:
        selection = None
        if variant is Variant.QAT_SELECTIVE:
            if not budget.qat_layers:
                raise QatModelError("qat_selective needs [training] qat_layers: name patterns "
                                    "(e.g. \"conv*\") or layer classes (e.g. \"Dense\")")
            selection = LayerSelection(budget.qat_layers, budget.qat_layers)
        keras_model, plan = quantize_for_training(model, selection)
        fine_tune_qat(keras_model, data.train, spec.input_shape, spec.input_range, budget)
        notes.append(plan.describe())
    top1 = keras_top1(keras_model, data.eval_x, data.eval_y) \
        if data.eval_x is not None else None
    path = out_dir / f"{variant.value}.tflite"
    info = export_variant(keras_model, variant, data.calibration, path)
    layer_errors, worst = None, []
    if variant.is_int8 and budget.layer_error_samples:
        try:
            layer_errors, worst = _layer_errors(variant, model, path, data, budget, out_dir)
        except Exception as error:  # a diagnostic; the variant itself is fine
            notes.append(f"per-layer error not computed: {_error_text(error)}")
    return VariantArtifact(variant.value, str(path), info.size_bytes, top1,
                           note="; ".join(n for n in notes if n), layer_errors=layer_errors,
                           worst_layers=worst)


def build_variants(spec: ModelSpec, variants: Sequence[str], out_dir: Path,
                   budget: TrainingBudget, imagenet_dir: Path | None = None) -> ModelBuild:
    """Train (when the model has data), quantize and export every requested variant.

    Example (seconds on a laptop)::

        build = build_variants(get_model_spec("digits_cnn"), ["float32", "qat_int8"],
                               Path("out"), TrainingBudget(float_epochs=3))
        build.variants["qat_int8"].path  # 'out/qat_int8.tflite'
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    seed_everything(budget.seed)
    built = spec.build()
    model = built.model
    data = build_data(spec, budget, built.weights, imagenet_dir)
    if data.train is not None:
        train_float(model, data.train, budget)
    eval_path = None
    if data.eval_x is not None:
        eval_file = out_dir / "eval.npz"
        stored = data.eval_x if data.train is not None else data.eval_x.astype(np.float16)
        EvalSet(stored, data.eval_y, data.eval_name).save(eval_file)
        eval_path = str(eval_file)

    artifacts: dict[str, VariantArtifact] = {}
    for name in variants:
        try:
            artifacts[name] = _build_one(Variant(name), model, spec, data, budget, out_dir)
        except Exception as error:  # one bad variant must not cost the others
            artifacts[name] = VariantArtifact(name, error=_error_text(error))
    accuracy_note = data.note if data.eval_x is None else ""
    build = ModelBuild(spec.name, built.weights, eval_path, accuracy_note, artifacts)
    build.save(out_dir)
    return build
