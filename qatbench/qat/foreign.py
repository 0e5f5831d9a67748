"""``tflite = { float32 = "PATH", qat_int8 = "PATH", ... }``: variant files made elsewhere.

Nothing is trained or converted. Each named file is checked (a corrupt one is that
variant's failed row, not a crash), copied beside a built model's files so the run
directory is self-contained, and an eval set is made as for a built model: the user's
eval inputs (else synthetic inputs in ``input_range``) and the ``float32`` file's own
outputs on them, on the reference kernels -- what every other file's rows are compared
with (agreement, SNR, per-output cosine and max abs error). No TensorFlow is needed.

``quantize = [...]`` variants are then made from the ``float32`` file by Google's LiteRT
Quantizer (``litert_quantize``): its own variants as for a built model, and
``qat_selective`` / ``mixed_int8`` -- which tfmot makes from a Keras model -- as static
int8 scoped to the ops ``qat_layers`` match, or to every op but ``keep_float_ops``,
calibrated on the data's training inputs (else synthetic ones). The recipe is in the
manifest.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from qatbench.models.arrays import count, take
from qatbench.models.datasets import Dataset, synthetic_inputs
from qatbench.models.sources import ModelSource
from qatbench.models.user_data import load_npz, truth_rows
from qatbench.qat.artifacts import ModelBuild, VariantArtifact, keep_float_ops_for
from qatbench.qat.budget import TrainingBudget
from qatbench.qat.export import Variant, export_from_float_file
from qatbench.qat.fidelity import tflite_outputs
from qatbench.qat.litert_quantize import SCOPED_VARIANTS, Calibration, OpSelection
from qatbench.targets.base import NO_LABEL, EvalSet, OutputSpec
from qatbench.targets.inputs import index_bounds, is_index_input
from qatbench.targets.runtime import resolve_runtime
from qatbench.targets.signature_io import model_io
from qatbench.targets.tflite_file import InvalidModelFile, inspect_tflite

EVAL_DEFAULT = 200
CALIBRATION_SEED = 1000  # synthetic calibration inputs: seeds apart from the eval inputs'


def source_data(source: ModelSource, seed: int) -> Dataset | None:
    """The source's ``data`` (a ``module:function`` or an ``.npz``), split by its
    ``eval_fraction`` under ``seed``; None when it names none."""
    if source.data is None:
        return None
    if source.data_is_callable:
        from qatbench.models.user_data import load_function_data
        from qatbench.qat.user_model import load_callable

        function = load_callable(source.data, "data")
        return load_function_data(function, source.data, source.eval_fraction, seed)
    return load_npz(Path(source.data), source.eval_fraction, seed)


def index_rows(detail: dict, interpreter: object) -> int | None:
    """The rows of the table an index input (token ids) indexes; None for other inputs."""
    return index_bounds(interpreter).get(str(detail["name"]), 1) \
        if is_index_input(detail) else None


def _outputs(path: Path, source: ModelSource, labels: np.ndarray | None
             ) -> tuple[OutputSpec, ...]:
    interpreter = resolve_runtime().interpreter(str(path), threads=1,
                                                use_default_delegates=False)
    io = model_io(interpreter)
    specs = []
    for name, detail in io.outputs:
        shape = tuple(int(d) for d in detail["shape"][1:])
        width = int(np.prod(shape)) if shape else 1
        task = source.task.get(name) if isinstance(source.task, dict) else source.task
        if not task:
            vector = len(shape) == 1 and width > 1
            task = "classification" if vector and (labels is not None or len(io.outputs) == 1) \
                else "regression"
        specs.append(OutputSpec(name, task, width))
    return tuple(specs)


def _calibration(float_file: VariantArtifact | None, source: ModelSource,
                 data: Dataset | None, budget: TrainingBudget) -> Calibration | None:
    """What a static recipe is calibrated on, as the quantizer takes it: the data's
    training split (never the eval inputs), else synthetic inputs in ``input_range`` drawn
    apart from the synthetic eval inputs; ``representative_samples`` of them."""
    if float_file is None or not float_file.ok:
        return None
    interpreter = resolve_runtime().interpreter(str(float_file.path), threads=1,
                                                use_default_delegates=False)
    signatures = interpreter.get_signature_list()
    if not signatures:
        return None  # the quantizer calibrates through a signature: the variant says so
    io = model_io(interpreter)
    names = [n for n, _ in io.inputs]
    limit = budget.representative_samples
    if data is not None:
        x = take(data.x_train, limit)
    else:
        x = {n: synthetic_inputs(tuple(int(d) for d in detail["shape"][1:]), limit,
                                 budget.seed + CALIBRATION_SEED + i, *source.input_range,
                                 index_rows=index_rows(detail, interpreter))
             for i, (n, detail) in enumerate(io.inputs)}
    arrays = x if isinstance(x, dict) else {names[0]: x}
    dtypes = {n: np.dtype(detail["dtype"]) if is_index_input(detail) else np.float32
              for n, detail in io.inputs}  # token ids stay integers
    samples = [{n: np.asarray(arrays[n][i:i + 1], dtype=dtypes[n]) for n in names}
               for i in range(count(x))]
    return {next(iter(signatures)): samples}


def _quantized(variant: str, float_file: VariantArtifact | None, out_dir: Path,
               budget: TrainingBudget, calibration: Calibration | None) -> VariantArtifact:
    """``variant`` made from the float32 file by the LiteRT Quantizer: the same function
    as a built model's quantizer variants, with ``qat_layers`` / ``keep_float_ops`` as op
    scopes for the two tfmot would make from a Keras model."""
    if float_file is None or not float_file.ok:
        return VariantArtifact(variant, error=f"{variant} is made from the float32 file, "
                                              "which could not be read")
    try:
        keep = keep_float_ops_for(budget.keep_float_ops, out_dir) \
            if variant == "mixed_int8" else ()
        selection = OpSelection(tuple(budget.qat_layers), keep)
        path = out_dir / f"{variant}.tflite"
        info, applied, recipe = export_from_float_file(Path(str(float_file.path)),
                                                       Variant(variant), path, selection,
                                                       calibration)
    except Exception as error:  # one variant's failure is its own row
        return VariantArtifact(variant, error=f"{type(error).__name__}: {error}")
    extra: dict = {"keep_float_ops": list(keep),
                   "float_ops_in_file": sorted(set(info.float_ops))} if keep else {}
    return VariantArtifact(variant, str(path), info.size_bytes,
                           note=f"made by litert-quantizer from the float32 file (not "
                                f"tfmot: a file made elsewhere): {applied}",
                           quantizer_recipe=recipe, **extra)


def collect_files(name: str, source: ModelSource, variants: list[str], out_dir: Path,
                  budget: TrainingBudget) -> ModelBuild:
    out_dir.mkdir(parents=True, exist_ok=True)
    files = source.tflite or {}
    # a later build (mixed_int8 after the profiles) adds to the first, as for a built model
    previous = ModelBuild.load(out_dir)
    artifacts: dict[str, VariantArtifact] = {}
    for variant in variants:
        if variant in source.quantize:
            continue  # made from the float32 file below, once its eval set exists
        if variant not in files:
            artifacts[variant] = VariantArtifact(
                variant, error=f"no {variant} file in [models.{name}] tflite", skipped=True)
            continue
        given = Path(files[variant])
        try:
            info = inspect_tflite(given)
        except InvalidModelFile as error:
            artifacts[variant] = VariantArtifact(variant, error=str(error))
            continue
        copy = out_dir / f"{variant}.tflite"
        shutil.copyfile(given, copy)
        kind = "full-integer" if info.is_full_integer else "float ops: " + \
            ", ".join(sorted(set(info.float_ops))[:5]) if info.float_ops else "no float ops"
        artifacts[variant] = VariantArtifact(variant, str(copy), info.size_bytes,
                                             note=f"file made elsewhere: {given} ({kind})")
    eval_path = None
    note = ""
    data = source_data(source, budget.seed)
    float_file = artifacts.get("float32")
    if float_file is not None and float_file.ok:
        float_path = Path(str(float_file.path))
        interpreter = resolve_runtime().interpreter(str(float_path), threads=1,
                                                    use_default_delegates=False)
        io = model_io(interpreter)
        if data is not None:
            limited = data.limited(max_eval=budget.max_eval_samples)
            x, y_all = limited.x_eval, limited.y_eval
            labels = y_all if isinstance(y_all, np.ndarray) and y_all.ndim == 1 else None
            name_of_set = data.name
        else:
            eval_count = min(budget.max_eval_samples or EVAL_DEFAULT, EVAL_DEFAULT)
            x = {n: synthetic_inputs(tuple(int(d) for d in detail["shape"][1:]), eval_count,
                                     budget.seed + 1 + i, *source.input_range,
                                     index_rows=index_rows(detail, interpreter))
                 for i, (n, detail) in enumerate(io.inputs)}
            if len(x) == 1:
                x = next(iter(x.values()))
            labels = None
            name_of_set = f"{eval_count} synthetic inputs in {list(source.input_range)}"
            note = (f"no data for {name}: top-1 not measured; every file is compared with "
                    f"the float32 file on {eval_count} synthetic inputs")
        outputs = _outputs(float_path, source, labels)
        reference = tflite_outputs(float_path, x, [o.name for o in outputs])
        y = labels.astype(np.int64) if labels is not None and any(
            o.task == "classification" for o in outputs) else np.full(count(x), NO_LABEL,
                                                                      np.int64)
        truth = truth_rows([(o.name, o.task, o.width) for o in outputs], y_all, count(x)) \
            if data is not None else None
        EvalSet(x, y, name_of_set, reference=reference,
                reference_source=f"{float_path.name} (made elsewhere), TFLite reference "
                                 "kernels", outputs=outputs, truth=truth).save(
                                     out_dir / "eval.npz")
        eval_path = str(out_dir / "eval.npz")
    if previous is not None and float_file is None:
        float_file = previous.variants.get("float32")
        eval_path, note = previous.eval_path, previous.accuracy_note
    made = [v for v in variants if v in source.quantize]
    if made:
        calibration = _calibration(float_file, source, data, budget) if any(
            v in SCOPED_VARIANTS for v in made) else None
        for variant in made:
            artifacts[variant] = _quantized(variant, float_file, out_dir, budget, calibration)
    artifacts = {v: artifacts[v] for v in variants if v in artifacts}
    if previous is not None:
        artifacts = {**previous.variants, **artifacts}
    build = ModelBuild(name, "from files made elsewhere", eval_path, note, artifacts,
                       data_note=f"variants from files: {', '.join(sorted(files))}" + (
                           f"; made from float32 by litert-quantizer: "
                           f"{', '.join(source.quantize)}" if source.quantize else ""))
    build.save(out_dir)
    return build
