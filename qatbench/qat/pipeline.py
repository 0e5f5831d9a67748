"""One zoo model -> its ``.tflite`` variants, an eval set, and per-layer error tables.

QAT variants also get their conversion gap (the fake-quant Keras model beside its
converted file, on the same inputs) and record which objective fine-tuning used: labels
where the model has labelled training data, else distillation from the float model on
inputs that are never the eval images (see ``train.py``).

A variant that fails to build is recorded with its error and the others still build,
so one bad conversion costs one row, not the run. A ``manifest.json`` beside the files
lets an interrupted run reuse what was already built.
"""

from __future__ import annotations

import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qatbench.models.arrays import as_float32, count, take
from qatbench.models.datasets import Dataset, synthetic_inputs
from qatbench.models.user_data import truth_rows
from qatbench.models.zoo import ModelSpec
from qatbench.qat import eager
from qatbench.qat.artifacts import ModelBuild, VariantArtifact, keep_float_ops_for
from qatbench.qat.budget import TrainingBudget
from qatbench.qat.chance import chance_note
from qatbench.qat.conversion_hints import conversion_hint
from qatbench.qat.errors import QatModelError
from qatbench.qat.export import Variant, export_from_float_file, export_variant
from qatbench.qat.quantize import LayerSelection, quantize_for_training
from qatbench.qat.train import (
    Placement,
    fine_tune_qat,
    left_out_note,
    placement_for,
    seed_everything,
    train_float,
)
from qatbench.targets.base import NO_LABEL, EvalSet, OutputSpec

FLOAT_WEIGHTS = "float_weights.h5"  # the trained float model, for a later mixed_int8 build
IMAGE_FOLDER_DEFAULT_LIMIT = 500  # eval images kept from an --imagenet-dir (float16 on disk)
# inputs of the label-free eval set of a model with no data (agreement with float only)
SYNTHETIC_EVAL_DEFAULT = 200


def error_text(error: BaseException) -> str:
    """One line for a row's error: type, message and the file:line that raised it."""
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
    note: str = ""  # why accuracy is missing, when it is
    # inputs QAT may distil on when there is no training split: never the eval images
    unlabelled: np.ndarray | None = None
    unlabelled_source: str = "calibration inputs"
    data_note: str = ""  # what the data is (folder split and coverage), for every row
    # inputs without labels the targets run when there is no labelled eval set: drawn
    # apart from the calibration inputs, so int8 is compared with float on inputs PTQ
    # was not calibrated on (agreement and SNR only; top-1 stays empty)
    unlabelled_eval: np.ndarray | None = field(default=None, repr=False)
    float_outputs: np.ndarray | None = field(default=None, repr=False)  # on fidelity_inputs
    # a user's data set: eval inputs are real even where no output has class labels
    has_eval_inputs: bool = False
    # the eval labels of every output as the data gave them (regression targets too):
    # what the rows' error against the truth (MAE, RMSE) is measured on
    eval_truth: Any = field(default=None, repr=False)

    @property
    def fidelity_inputs(self) -> tuple[np.ndarray, np.ndarray | None, str]:
        """Where Keras and .tflite are compared: the eval set, else the calibration inputs."""
        if self.eval_x is not None:
            return self.eval_x, self.eval_y, f"{count(self.eval_x)} eval inputs"
        return self.calibration, None, f"{count(self.calibration)} {self.unlabelled_source}"


def _class_labels(spec: ModelSpec, y: Any) -> np.ndarray | None:
    """The labels of the model's class output (None: no class output, or no labels)."""
    index = spec.class_output
    if index is None:
        return None
    if isinstance(y, dict):
        name = list(spec.output_tasks or {})[index]
        return np.asarray(y[name]) if name in y else None
    return np.asarray(y)


def _labels_cover_outputs(spec: ModelSpec, y: Any) -> bool:
    return not isinstance(y, dict) or all(name in y for name in spec.output_tasks or {})


def _synthetic(spec: ModelSpec, count: int, seed: int) -> Any:
    """Synthetic inputs in ``input_range`` (token ids below their table's rows): an
    array, or a dict for several inputs."""
    rows = spec.index_inputs or {}
    if spec.input_shapes and len(spec.input_shapes) > 1:
        return {name: synthetic_inputs(shape, count, seed + i, *spec.input_range,
                                       index_rows=rows.get(name))
                for i, (name, shape) in enumerate(spec.input_shapes.items())}
    only = next(iter(spec.input_shapes or {}), None)
    return synthetic_inputs(spec.input_shape, count, seed, *spec.input_range,
                            index_rows=rows.get(only) if only else None)


def build_data(spec: ModelSpec, budget: TrainingBudget, weights: str,
               imagenet_dir: Path | None) -> BuildData:
    if spec.dataset is not None:
        data = spec.dataset().limited(budget.max_train_samples, budget.max_eval_samples)
        labelled = data if _labels_cover_outputs(spec, data.y_train) else None
        return BuildData(labelled, take(data.x_train, budget.representative_samples),
                         data.x_eval, _class_labels(spec, data.y_eval), data.name,
                         unlabelled=data.x_train,
                         unlabelled_source="training images" if spec.output_tasks is None
                         else "training samples",
                         data_note="" if labelled is not None else
                         "labels do not cover every output: QAT distils on the training "
                         "inputs", has_eval_inputs=True, eval_truth=data.y_eval)
    synthetic = _synthetic(spec, budget.representative_samples, budget.seed)
    preprocess = getattr(spec.build, "preprocess", None)
    if imagenet_dir is not None and preprocess is not None:
        from qatbench.models.image_folder import load_image_folder_split

        limit = budget.max_eval_samples or IMAGE_FOLDER_DEFAULT_LIMIT
        folder = load_image_folder_split(imagenet_dir, spec.input_shape, preprocess, limit,
                                         budget.representative_samples, budget.seed)
        if len(folder.calibration_x):
            calibration, source = folder.calibration_x, "image-folder images (not eval)"
        else:
            calibration, source = synthetic, "synthetic calibration inputs"
        note = folder.note + ("" if len(folder.calibration_x) else
                              "; calibrated on synthetic inputs")
        return BuildData(None, calibration, folder.eval_x, folder.eval_y,
                         f"image folder {imagenet_dir}", unlabelled=calibration,
                         unlabelled_source=source, data_note=note)
    eval_count = min(budget.max_eval_samples or SYNTHETIC_EVAL_DEFAULT, SYNTHETIC_EVAL_DEFAULT)
    return BuildData(None, synthetic, None, None,
                     note=f"no labelled data for {spec.name} here ({weights} weights; "
                          "calibrated on synthetic inputs): top-1 not measured; agreement "
                          f"with the float model on {eval_count} other synthetic inputs",
                     unlabelled=synthetic, unlabelled_source="synthetic calibration inputs",
                     unlabelled_eval=_synthetic(spec, eval_count, budget.seed + 1))


def keras_top1(model: Any, x: Any, y: np.ndarray, class_output: int | None = 0) -> float:
    """Top-1 of a Keras model (the reference before conversion), on its class output."""
    logits = eager.predict(model, as_float32(x), batch_size=64)
    if isinstance(logits, list):
        logits = logits[class_output or 0]
    return float(np.mean(np.argmax(logits, axis=-1) == y))


def _write_layer_errors(frame: Any, csv: Path) -> tuple[str, list[dict[str, Any]]]:
    from qatbench.qat.layer_error import worst_layers

    frame.to_csv(csv, index=False)
    return str(csv), worst_layers(frame)


def _layer_errors(variant: Variant, float_model: Any, qat_model: Any, path: Path,
                  data: BuildData, budget: TrainingBudget, out_dir: Path) -> dict[str, Any]:
    """Write the per-layer error table(s); return the artifact fields that name them."""
    from qatbench.qat.layer_error import (
        METHOD_VS_QAT_KERAS,
        ptq_layer_errors,
        qat_layer_errors,
    )

    pool = data.eval_x if data.eval_x is not None else data.calibration
    samples = take(pool, budget.layer_error_samples)
    if variant is Variant.PTQ_INT8:
        csv, worst = _write_layer_errors(
            ptq_layer_errors(float_model, data.calibration, samples),
            out_dir / f"layer_errors_{variant.value}.csv")
        return {"layer_errors": csv, "worst_layers": worst}
    vs_float, worst_float = _write_layer_errors(
        qat_layer_errors(float_model, path, samples),
        out_dir / f"layer_errors_{variant.value}_vs_float.csv")
    vs_qat, worst_qat = _write_layer_errors(
        qat_layer_errors(qat_model, path, samples, METHOD_VS_QAT_KERAS),
        out_dir / f"layer_errors_{variant.value}_vs_qat_keras.csv")
    return {"layer_errors": vs_float, "worst_layers": worst_float,
            "layer_errors_vs_float": vs_float, "worst_layers_vs_float": worst_float,
            "layer_errors_vs_qat_keras": vs_qat, "worst_layers_vs_qat_keras": worst_qat}


def _conversion_gap(qat_model: Any, float_model: Any, path: Path, data: BuildData
                    ) -> dict[str, Any]:
    from qatbench.qat.fidelity import conversion_gap

    x, y, inputs = data.fidelity_inputs
    if data.float_outputs is None:
        data.float_outputs = eager.predict(float_model, x.astype(np.float32), batch_size=64)
    gap = conversion_gap(qat_model, path, data.float_outputs, x, y, inputs)
    fields = gap.as_fields()
    fields.pop("conversion_inputs")
    return fields


def _build_one(variant: Variant, model: Any, spec: ModelSpec, data: BuildData,
               budget: TrainingBudget, out_dir: Path, placement: Placement | None = None,
               float_note: str = "") -> VariantArtifact:
    """``placement``: the strategy QAT clones and fine-tunes under (None: the budget's);
    ``float_note``: what a non-QAT variant's note says of the float training's strategy."""
    placement = placement or placement_for(budget.strategy)
    keras_model, notes, extra = model, [], {}
    if variant.is_qat:
        selection = None
        if variant is Variant.QAT_SELECTIVE:
            if not budget.qat_layers:
                raise QatModelError("qat_selective needs [training] qat_layers: name patterns "
                                    "(e.g. \"conv*\") or layer classes (e.g. \"Dense\")")
            selection = LayerSelection(budget.qat_layers, budget.qat_layers)
        with placement.scope():  # tfmot's clones get their variables in the strategy
            keras_model, plan = quantize_for_training(model, selection)
        unlabelled = data.unlabelled if data.unlabelled is not None else data.calibration
        tuning = fine_tune_qat(keras_model, model, data.train, unlabelled,
                               data.unlabelled_source, budget, spec.name, spec.output_tasks,
                               spec.losses, placement)
        notes += [tuning.describe(), plan.describe()]
        extra["qat_objective"] = tuning.objective
    else:
        notes.append(float_note)
    keep_float = _keep_float_ops(budget, out_dir) if variant is Variant.MIXED_INT8 else ()
    top1 = keras_top1(keras_model, data.eval_x, data.eval_y, spec.class_output) \
        if data.eval_x is not None and data.eval_y is not None \
        and variant is not Variant.MIXED_INT8 else None
    path = out_dir / f"{variant.value}.tflite"
    info = export_variant(keras_model, variant, data.calibration, path, keep_float)
    if variant is Variant.MIXED_INT8:
        in_file = sorted(set(info.float_ops))
        extra.update(keep_float_ops=list(keep_float), float_ops_in_file=in_file)
        notes.append(f"mixed int8: asked to keep {', '.join(keep_float)} float; float in "
                     f"the file: {', '.join(in_file) or 'none (the converter quantized them)'}")
    if variant.is_qat and spec.single_class_output:  # argmax agreement needs a class vector
        try:
            extra.update(_conversion_gap(keras_model, model, path, data))
        except Exception as error:  # a diagnostic; the variant itself is fine
            notes.append(f"conversion gap not measured: {error_text(error)}")
    if variant.is_int8 and budget.layer_error_samples:
        try:
            extra.update(_layer_errors(variant, model, keras_model, path, data, budget,
                                       out_dir))
        except Exception as error:  # a diagnostic; the variant itself is fine
            notes.append(f"per-layer error not computed: {error_text(error)}")
    return VariantArtifact(variant.value, str(path), info.size_bytes, top1,
                           note="; ".join(n for n in notes if n), **extra)


def _needs_float_file(name: str) -> bool:
    return name in {v.value for v in Variant if v.from_float_file}


def _from_float_file(variant: Variant, model: Any, data: BuildData, out_dir: Path,
                     float_artifact: VariantArtifact | None) -> VariantArtifact:
    """A LiteRT Quantizer variant of this build's float32 file (converted here first when
    float32 is not among the variants); its note names the quantizer, recipe and file."""
    notes = []
    if float_artifact is not None and float_artifact.ok:
        float_path = Path(str(float_artifact.path))
    else:
        float_path = out_dir / "float32_source.tflite"  # never another build's float32 row
        export_variant(model, Variant.FLOAT32, data.calibration, float_path)
        notes.append("the float model converted for it (float32 " + (
            "failed)" if float_artifact is not None else "is not among the variants)"))
    path = out_dir / f"{variant.value}.tflite"
    info, applied, recipe = export_from_float_file(float_path, variant, path)
    return VariantArtifact(variant.value, str(path), info.size_bytes,
                           note="; ".join([applied, *notes]), quantizer_recipe=recipe)


def _keep_float_ops(budget: TrainingBudget, out_dir: Path) -> tuple[str, ...]:
    """``[training] keep_float_ops``, else the op types a profile proposed for this model."""
    return keep_float_ops_for(budget.keep_float_ops, out_dir)


def _output_specs(spec: ModelSpec, model: Any) -> tuple[OutputSpec, ...]:
    """A user model's outputs (name, task, width) in the Keras model's order; () for the zoo."""
    if spec.output_tasks is None:
        return ()
    widths = [int(np.prod([d for d in t.shape[1:] if d is not None])) for t in model.outputs]
    return tuple(OutputSpec(name, task, width) for (name, task), width in
                 zip(spec.output_tasks.items(), widths, strict=True))


def _keras_reference(model: Any, inputs: Any) -> np.ndarray:
    predicted = eager.predict(model, inputs, batch_size=64)
    predicted = predicted if isinstance(predicted, list) else [predicted]
    return np.concatenate([np.asarray(p).reshape(len(p), -1) for p in predicted], axis=1)


def _eval_set(data: BuildData, float_model: Any, float_artifact: VariantArtifact | None,
              out_dir: Path, spec: ModelSpec | None = None) -> EvalSet | None:
    """What every target runs: the labelled eval set, else unlabelled inputs (labels
    ``NO_LABEL``), with the float32 model's outputs on exactly the stored inputs.

    The reference is the float32 ``.tflite`` on TFLite's reference kernels when that
    variant was built (the float row's own file, no delegate in between), else the float
    Keras model. Inputs of a model without training data are stored as float16 (an image
    folder's 500 images are 300 MB as float32), and the reference is computed on those
    rounded inputs, so every target and the reference see the same numbers.
    """
    outputs = _output_specs(spec, float_model) if spec is not None else ()
    if data.eval_x is not None:
        x = data.eval_x
        y = data.eval_y if data.eval_y is not None else np.full(count(x), NO_LABEL, np.int64)
    elif data.unlabelled_eval is not None:
        x, y = data.unlabelled_eval, np.full(count(data.unlabelled_eval), NO_LABEL, np.int64)
    else:
        return None
    # an image folder's 500 images are 300 MB as float32: inputs of a model without data
    # of its own are kept as float16 (and the reference computed on those)
    stored = x if data.train is not None or data.has_eval_inputs or isinstance(x, dict) \
        or np.issubdtype(x.dtype, np.integer) else x.astype(np.float16)  # ids stay exact
    inputs = as_float32(stored)
    reference, source = None, ""
    names = [o.name for o in outputs] or None
    if float_artifact is not None and float_artifact.ok:
        from qatbench.qat.fidelity import tflite_outputs

        try:
            reference = tflite_outputs(Path(str(float_artifact.path)), inputs, names)
            source = f"{Path(str(float_artifact.path)).name}, TFLite reference kernels"
        except Exception:  # the Keras model below is the same float model
            reference = None
    if reference is None:
        reference = _keras_reference(float_model, inputs)
        source = "float Keras model"
    reference = np.asarray(reference, dtype=np.float32).reshape(count(inputs), -1)
    name = data.eval_name if data.eval_x is not None else \
        f"{count(inputs)} synthetic inputs (no labels; not the calibration inputs)"
    truth = truth_rows([(o.name, o.task, o.width) for o in outputs], data.eval_truth,
                       count(inputs)) if data.eval_x is not None and outputs else None
    return EvalSet(stored, y, name, reference=reference, reference_source=source,
                   outputs=outputs, truth=truth)


def _at_chance(spec: ModelSpec, model: Any, data: BuildData,
               artifacts: dict[str, VariantArtifact]) -> str:
    """A note when the float model's top-1 is within noise of guessing (``chance``)."""
    if data.eval_x is None or data.eval_y is None or spec.class_output is None:
        return ""
    built = artifacts.get(Variant.FLOAT32.value)
    top1 = built.keras_top1 if built is not None and built.keras_top1 is not None else keras_top1(
        model, data.eval_x, data.eval_y, spec.class_output)
    labels = np.asarray(data.eval_y)
    majority = float(np.max(np.unique(labels, return_counts=True)[1]) / len(labels)) \
        if len(labels) else None
    return chance_note(top1, count(data.eval_x), spec.num_classes, majority)


def build_variants(spec: ModelSpec, variants: Sequence[str], out_dir: Path,
                   budget: TrainingBudget, imagenet_dir: Path | None = None) -> ModelBuild:
    """Train (when the model has data), quantize and export every requested variant.

    Under ``budget.strategy`` (``train.placement_for``) the model is built (or cloned)
    in the strategy's scope, and float training, QAT and distillation fit there with
    ``batch_size`` as the global batch; "default" enters no scope.

    Example (seconds on a laptop)::

        build = build_variants(get_model_spec("digits_cnn"), ["float32", "qat_int8"],
                               Path("out"), TrainingBudget(float_epochs=3))
        build.variants["qat_int8"].path  # 'out/qat_int8.tflite'
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    placement = placement_for(budget.strategy)  # "default": no tf.distribute scope at all
    seed_everything(budget.seed)
    with placement.scope():  # a model loaded before the strategy existed is cloned into it
        built = spec.build()
        model = placement.adopt(built.model)
    data = build_data(spec, budget, built.weights, imagenet_dir)
    weights = out_dir / FLOAT_WEIGHTS
    float_note = ""
    if data.train is not None and not spec.pretrained:
        if Variant.MIXED_INT8.value in variants and weights.exists():
            model.load_weights(weights)  # mixed_int8 after a profile: the same float model
        else:
            left_out = train_float(model, data.train, budget, spec.output_tasks,
                                   spec.losses, placement)
            model.save_weights(weights)
            if placement.distributed and budget.float_epochs:
                float_note = f"float training: {placement.describe()}" + \
                    (f" ({left_out_note(left_out, placement.replicas)})" if left_out else "")
    artifacts: dict[str, VariantArtifact] = {}
    for name in sorted(variants, key=_needs_float_file):  # float32 before what needs its file
        try:
            if _needs_float_file(name):
                artifacts[name] = _from_float_file(Variant(name), model, data, out_dir,
                                                   artifacts.get(Variant.FLOAT32.value))
                continue
            artifacts[name] = _build_one(Variant(name), model, spec, data, budget, out_dir,
                                         placement, float_note)
        except Exception as error:  # one bad variant must not cost the others
            artifacts[name] = VariantArtifact(name, error=error_text(error)
                                              + conversion_hint(model, error))
    artifacts = {name: artifacts[name] for name in variants}  # the order asked for
    previous = ModelBuild.load(out_dir)  # a later build (mixed_int8) adds to the first
    if previous is not None:
        artifacts = {**previous.variants, **artifacts}
    eval_set = _eval_set(data, model, artifacts.get(Variant.FLOAT32.value), out_dir, spec)
    eval_path = None
    if eval_set is not None:
        eval_set.save(out_dir / "eval.npz")
        eval_path = str(out_dir / "eval.npz")
    against_truth = "; its labelled outputs against their true values (MAE, RMSE)" \
        if eval_set is not None and eval_set.truth is not None else ""
    accuracy_note = data.note if data.eval_x is None else "" if data.eval_y is not None else \
        f"top-1 not measured: {spec.name} has no class output with labels; every output " \
        f"is compared with the float model (SNR, cosine, max abs error){against_truth}"
    data_note = "; ".join(n for n in (*spec.user_notes, data.data_note,
                                       _at_chance(spec, model, data, artifacts)) if n)
    build = ModelBuild(spec.name, built.weights, eval_path, accuracy_note, artifacts,
                       data_note=data_note)
    build.save(out_dir)
    return build
