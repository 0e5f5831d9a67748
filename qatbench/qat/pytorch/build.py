"""A PyTorch source -> its ``.tflite`` variants, eval set and manifest (the build child's
work for ``torch`` sources; ``qat/build_worker.py`` reaches it by name).

The same contract as the Keras pipeline (``qat/pipeline.py``): one ``VariantArtifact``
per variant (a failure costs that row only), the eval set with the float32 file's own
outputs as the reference, and for ``qat_int8`` the conversion gap -- the PT2E module's
top-1 (int8 simulated in PyTorch after ``convert_pt2e``) beside its ``.tflite``'s on the
same eval inputs. The ``keras_*`` fields of the manifest hold the PyTorch module's
figures here (the framework model before conversion). ``dynamic_int8``,
``int8_weights``, ``int4_weights`` and ``fp16`` are the float32 file through Google's
LiteRT Quantizer, as for any model. ``qat_selective`` and ``mixed_int8`` (tfmot's layer
scoping) are not built for PyTorch sources: their rows say so.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from qatbench.models.sources import ModelSource
from qatbench.qat.artifacts import ModelBuild, VariantArtifact
from qatbench.qat.budget import TrainingBudget
from qatbench.qat.export import Variant, export_from_float_file, verify_variant
from qatbench.qat.fidelity import argmax_agreement, tflite_outputs, top1
from qatbench.qat.pipeline import error_text
from qatbench.qat.pytorch import pt2e
from qatbench.qat.pytorch.source import TorchModel, prepare_torch_model
from qatbench.qat.pytorch.train import Objective, fit, seed_torch
from qatbench.targets.base import EvalSet, OutputSpec

NOT_FOR_TORCH = ("qat_selective", "mixed_int8")
FLOAT_STATE = "float_state.pt"  # the trained float module's weights


def _budget_problems(budget: TrainingBudget) -> list[str]:
    problems = []
    if budget.fit is not None:
        problems.append("[training] fit (a Keras training loop) does not apply to a PyTorch "
                        "source")
    if budget.strategy != "default":
        problems.append(f"[training] strategy = {budget.strategy!r} is tf.distribute's; a "
                        "PyTorch source trains on one device")
    return problems


def _objective(model: TorchModel, budget: TrainingBudget, kind: str) -> Objective:
    loss = None
    if kind == "labels" and isinstance(model.source.loss, str):
        from qatbench.qat.user_model import load_callable

        loss = load_callable(model.source.loss, f"models.{model.name}.loss")
    return Objective(kind, model.classification, loss, budget.distill_temperature)


def _train_float(model: TorchModel, budget: TrainingBudget, out_dir: Path) -> str:
    """``trained = false``: float training on the labels first; the note."""
    state = out_dir / FLOAT_STATE
    import torch

    if model.source.trained:
        return ""
    if state.exists():  # a later build of the same folder: the same float module
        model.module.load_state_dict(torch.load(state))
        return "float module: trained earlier in this folder"
    model.module.train()
    loss = fit(model.module, np.asarray(model.data.x_train), np.asarray(model.data.y_train),
               _objective(model, budget, "labels"), budget.float_epochs,
               budget.learning_rate, budget)
    model.module.eval()
    torch.save(model.module.state_dict(), state)
    return f"float training: {budget.float_epochs} epoch(s) on {len(model.data.x_train)} " \
           f"samples (last batch loss {loss:.4f})" if loss is not None else ""


def _framework_top1(outputs: np.ndarray, model: TorchModel) -> float | None:
    return top1(outputs, np.asarray(model.data.y_eval)) if model.classification else None


def _gap_fields(quantized: Any, path: Path, model: TorchModel, float_outputs: np.ndarray
                ) -> dict[str, Any]:
    """The conversion gap on the eval inputs: the PT2E module (after ``convert_pt2e``)
    beside its file on TFLite's reference kernels."""
    x = np.asarray(model.data.x_eval, dtype=np.float32)
    simulated = pt2e.outputs(quantized, x)
    converted = tflite_outputs(path, x)
    fields: dict[str, Any] = {
        "keras_qat_agreement": argmax_agreement(simulated, float_outputs),
        "tflite_agreement": argmax_agreement(converted, float_outputs),
        "tflite_qat_keras_agreement": argmax_agreement(converted, simulated),
        "conversion_samples": len(x)}
    if model.classification:
        labels = np.asarray(model.data.y_eval)
        fields.update(keras_qat_top1=top1(simulated, labels),
                      tflite_top1=top1(converted, labels), conversion_gap_basis="top-1")
        fields["conversion_gap_points"] = 100 * (fields["keras_qat_top1"]
                                                 - fields["tflite_top1"])
    else:
        fields["conversion_gap_basis"] = "agreement with float"
        fields["conversion_gap_points"] = 100 * (fields["keras_qat_agreement"]
                                                 - fields["tflite_agreement"])
    return fields


def _float32(model: TorchModel, out_dir: Path, float_outputs: np.ndarray, note: str
             ) -> VariantArtifact:
    path = out_dir / "float32.tflite"
    started = time.perf_counter()
    pt2e.to_tflite(model.module, np.asarray(model.data.x_train), path)
    info = verify_variant(path, Variant.FLOAT32)
    notes = [note, f"litert-torch conversion {time.perf_counter() - started:.1f} s"]
    return VariantArtifact("float32", str(path), info.size_bytes,
                           _framework_top1(float_outputs, model),
                           note="; ".join(n for n in notes if n))


def _int8(variant: Variant, model: TorchModel, budget: TrainingBudget, out_dir: Path,
          float_outputs: np.ndarray) -> VariantArtifact:
    """``ptq_int8`` (calibrated on training inputs) or ``qat_int8`` (fine-tuned), by PT2E."""
    import copy

    x_train = np.asarray(model.data.x_train, dtype=np.float32)
    notes: list[str] = []
    extra: dict[str, Any] = {}
    if variant is Variant.QAT_INT8:
        student = copy.deepcopy(model.module)
        prepared, chosen = pt2e.prepare_qat(student, x_train)
        objective = budget.qat_objective or "labels"
        fit(prepared, x_train, np.asarray(model.data.y_train), _objective(model, budget,
            objective), budget.qat_epochs, budget.qat_learning_rate, budget,
            teacher=model.module)
        notes.append(Objective(objective, model.classification).describe(
            budget.qat_epochs, len(x_train)))
        extra["qat_objective"] = objective
    else:
        prepared, chosen = pt2e.prepare_ptq(model.module, x_train)
        calibration = x_train[:budget.representative_samples]
        pt2e.calibrate(prepared, calibration)
        notes.append(f"PT2E static int8, calibrated on {len(calibration)} training inputs")
    quantized = pt2e.finish(prepared, is_qat=variant is Variant.QAT_INT8)
    path = out_dir / f"{variant.value}.tflite"
    started = time.perf_counter()
    pt2e.to_tflite(quantized, x_train, path, chosen)
    notes.append(f"litert-torch conversion {time.perf_counter() - started:.1f} s")
    info = verify_variant(path, variant)  # ops left float: refused the int8 label
    x_eval = np.asarray(model.data.x_eval, dtype=np.float32)
    simulated = pt2e.outputs(quantized, x_eval)
    if variant is Variant.QAT_INT8:
        try:
            extra.update(_gap_fields(quantized, path, model, float_outputs))
        except Exception as error:  # a diagnostic; the variant itself is fine
            notes.append(f"conversion gap not measured: {error_text(error)}")
    notes.append(f"recipe: {pt2e.RECIPE['qat' if variant.is_qat else 'ptq']}")
    if budget.layer_error_samples:
        try:
            extra.update(_layer_errors(variant, model, path, budget, out_dir))
        except Exception as error:  # a diagnostic; the variant itself is fine
            notes.append(f"per-layer error not computed: {error_text(error)}")
    return VariantArtifact(variant.value, str(path), info.size_bytes,
                           _framework_top1(simulated, model), note="; ".join(notes),
                           quantizer_recipe=[dict(pt2e.RECIPE)], **extra)


def _layer_errors(variant: Variant, model: TorchModel, path: Path, budget: TrainingBudget,
                  out_dir: Path) -> dict[str, Any]:
    """The int8 file against the float module, module by module (``layer_error.py``);
    for qat_int8 that is quantization and fine-tuning together, as the Keras vs_float
    table."""
    from qatbench.qat.layer_error import worst_layers
    from qatbench.qat.pytorch.layer_error import int8_layer_errors

    samples = np.asarray(model.data.x_eval, dtype=np.float32)[:budget.layer_error_samples]
    frame = int8_layer_errors(model.module, path, samples)
    suffix = "_vs_float" if variant.is_qat else ""
    csv = out_dir / f"layer_errors_{variant.value}{suffix}.csv"
    frame.to_csv(csv, index=False)
    worst = worst_layers(frame)
    fields: dict[str, Any] = {"layer_errors": str(csv), "worst_layers": worst}
    if variant.is_qat:
        fields.update(layer_errors_vs_float=str(csv), worst_layers_vs_float=worst)
    return fields


def _from_float_file(variant: Variant, artifacts: dict[str, VariantArtifact],
                     model: TorchModel, out_dir: Path) -> VariantArtifact:
    float_artifact = artifacts.get("float32")
    if float_artifact is not None and float_artifact.ok:
        float_path = Path(str(float_artifact.path))
    else:
        float_path = out_dir / "float32_source.tflite"
        pt2e.to_tflite(model.module, np.asarray(model.data.x_train), float_path)
    path = out_dir / f"{variant.value}.tflite"
    info, applied, recipe = export_from_float_file(float_path, variant, path)
    return VariantArtifact(variant.value, str(path), info.size_bytes, note=applied,
                           quantizer_recipe=recipe)


def _eval_set(model: TorchModel, float_artifact: VariantArtifact | None,
              float_outputs: np.ndarray) -> EvalSet:
    """The eval inputs (in the module's layout), labels, and the float32 file's outputs on
    them (the float module's where the file failed)."""
    from qatbench.targets.base import NO_LABEL

    x = np.asarray(model.data.x_eval, dtype=np.float32)
    y = np.asarray(model.data.y_eval).astype(np.int64) if model.classification else \
        np.full(len(x), NO_LABEL, np.int64)
    reference, source = float_outputs, "float PyTorch module"
    if float_artifact is not None and float_artifact.ok:
        path = Path(str(float_artifact.path))
        reference, source = tflite_outputs(path, x), f"{path.name}, TFLite reference kernels"
    outputs = () if model.classification else (
        OutputSpec("output_0", "regression", int(float_outputs.shape[1])),)
    return EvalSet(x, y, model.data.name, reference=np.asarray(reference, np.float32)
                   .reshape(len(x), -1), reference_source=source, outputs=outputs)


def build_torch_model(name: str, source: ModelSource, variants: Sequence[str], out_dir: Path,
                      budget: TrainingBudget) -> ModelBuild:
    """Train (``trained = false``), quantize and convert every requested variant."""
    out_dir.mkdir(parents=True, exist_ok=True)
    problems = _budget_problems(budget)
    if problems:
        raise ValueError("; ".join(problems))
    seed_torch(budget.seed)
    model = prepare_torch_model(name, source, budget.seed, budget.max_train_samples,
                                budget.max_eval_samples)
    float_note = _train_float(model, budget, out_dir)
    model.module.eval()
    float_outputs = pt2e.outputs(model.module, np.asarray(model.data.x_eval))
    artifacts: dict[str, VariantArtifact] = {}
    for variant_name in sorted(variants, key=lambda v: Variant(v).from_float_file):
        variant = Variant(variant_name)
        try:
            if variant_name in NOT_FOR_TORCH:
                artifacts[variant_name] = VariantArtifact(
                    variant_name, skipped=True, error=f"{variant_name} scopes tfmot's QAT or "
                    "the converter by Keras layer; it is not built for PyTorch sources")
            elif variant is Variant.FLOAT32:
                artifacts[variant_name] = _float32(model, out_dir, float_outputs, float_note)
            elif variant.from_float_file:
                artifacts[variant_name] = _from_float_file(variant, artifacts, model, out_dir)
            else:
                seed_torch(budget.seed)  # each int8 variant from the same random state
                artifacts[variant_name] = _int8(variant, model, budget, out_dir,
                                                float_outputs)
        except Exception as error:  # one bad variant must not cost the others
            artifacts[variant_name] = VariantArtifact(variant_name, error=error_text(error))
    artifacts = {v: artifacts[v] for v in variants}
    eval_set = _eval_set(model, artifacts.get("float32"), float_outputs)
    eval_set.save(out_dir / "eval.npz")
    versions = ", ".join(f"{k} {v}" for k, v in pt2e.versions().items())
    data_note = "; ".join([*model.notes, f"PyTorch module built by {source.torch} "
                                         f"({versions})"])
    accuracy_note = "" if model.classification else \
        "top-1 not measured: the module's output is not a class vector with labels; it " \
        "is compared with the float model (SNR, cosine, max abs error)"
    weights = "trained here" if not source.trained else f"from {source.torch}"
    build = ModelBuild(name, weights, str(out_dir / "eval.npz"), accuracy_note, artifacts,
                       data_note=data_note, op_determinism=True,
                       framework={"name": "pytorch", **pt2e.versions()})
    build.save(out_dir)
    return build
