"""One zoo model -> its float32 / ptq_int8 / qat_int8 ``.tflite`` files and an eval set.

A variant that fails to build is recorded with its error and the others still build,
so one bad conversion costs one row, not the run. A ``manifest.json`` beside the files
lets an interrupted run reuse what was already built.
"""

from __future__ import annotations

import traceback
from collections.abc import Sequence
from pathlib import Path

from qatbench.models.datasets import synthetic_inputs
from qatbench.models.zoo import ModelSpec
from qatbench.qat.artifacts import ModelBuild, VariantArtifact
from qatbench.qat.budget import TrainingBudget
from qatbench.qat.export import Variant, export_variant
from qatbench.qat.train import (
    fine_tune_qat,
    keras_top1,
    quantize_for_training,
    seed_everything,
    train_float,
)
from qatbench.targets.base import EvalSet


def _error_text(error: BaseException) -> str:
    frames = traceback.extract_tb(error.__traceback__)
    where = f" (at {frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno})" if frames else ""
    return f"{type(error).__name__}: {error}{where}"


def build_variants(spec: ModelSpec, variants: Sequence[str], out_dir: Path,
                   budget: TrainingBudget) -> ModelBuild:
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
    data = spec.dataset() if spec.dataset else None
    eval_path: str | None = None
    accuracy_note = ""
    if data is not None:
        data = data.limited(budget.max_train_samples, budget.max_eval_samples)
        train_float(model, data, budget)
        calibration = data.x_train[: budget.representative_samples]
        eval_file = out_dir / "eval.npz"
        EvalSet(data.x_eval, data.y_eval, data.name).save(eval_file)
        eval_path = str(eval_file)
    else:
        calibration = synthetic_inputs(spec.input_shape, budget.representative_samples,
                                       budget.seed, *spec.input_range)
        accuracy_note = (f"no labelled data for {spec.name} here ({built.weights} weights; "
                         "calibrated on synthetic inputs): accuracy not measured")

    artifacts: dict[str, VariantArtifact] = {}
    for name in variants:
        variant = Variant(name)
        path = out_dir / f"{variant.value}.tflite"
        try:
            keras_model = model
            if variant is Variant.QAT_INT8:
                keras_model = quantize_for_training(model)
                fine_tune_qat(keras_model, data, spec.input_shape, spec.input_range, budget)
            top1 = keras_top1(keras_model, data) if data is not None else None
            info = export_variant(keras_model, variant, calibration, path)
            artifacts[name] = VariantArtifact(name, str(path), info.size_bytes, top1)
        except Exception as error:  # one bad variant must not cost the others
            artifacts[name] = VariantArtifact(name, error=_error_text(error))
    build = ModelBuild(spec.name, built.weights, eval_path, accuracy_note, artifacts)
    build.save(out_dir)
    return build
