"""``tflite = { float32 = "PATH", qat_int8 = "PATH", ... }``: variant files made elsewhere.

Nothing is trained or converted. Each named file is checked (a corrupt one is that
variant's failed row, not a crash), copied beside a built model's files so the run
directory is self-contained, and an eval set is made as for a built model: the user's
eval inputs (else synthetic inputs in ``input_range``) and the ``float32`` file's own
outputs on them, on the reference kernels -- what every other file's rows are compared
with (agreement, SNR, per-output cosine and max abs error). No TensorFlow is needed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from qatbench.models.arrays import count
from qatbench.models.datasets import Dataset, synthetic_inputs
from qatbench.models.sources import ModelSource
from qatbench.models.user_data import load_npz
from qatbench.qat.artifacts import ModelBuild, VariantArtifact
from qatbench.qat.budget import TrainingBudget
from qatbench.qat.fidelity import tflite_outputs
from qatbench.targets.base import NO_LABEL, EvalSet, OutputSpec
from qatbench.targets.runtime import resolve_runtime
from qatbench.targets.signature_io import model_io
from qatbench.targets.tflite_file import InvalidModelFile, inspect_tflite

EVAL_DEFAULT = 200


def _data(source: ModelSource, seed: int) -> Dataset | None:
    if source.data is None:
        return None
    if source.data_is_callable:
        from qatbench.models.user_data import load_function_data
        from qatbench.qat.user_model import load_callable

        function = load_callable(source.data, "data")
        return load_function_data(function, source.data, source.eval_fraction, seed)
    return load_npz(Path(source.data), source.eval_fraction, seed)


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


def collect_files(name: str, source: ModelSource, variants: list[str], out_dir: Path,
                  budget: TrainingBudget) -> ModelBuild:
    out_dir.mkdir(parents=True, exist_ok=True)
    files = source.tflite or {}
    artifacts: dict[str, VariantArtifact] = {}
    for variant in variants:
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
    data = _data(source, budget.seed)
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
            shapes = {n: tuple(int(d) for d in detail["shape"][1:]) for n, detail in io.inputs}
            eval_count = min(budget.max_eval_samples or EVAL_DEFAULT, EVAL_DEFAULT)
            x = {n: synthetic_inputs(s, eval_count, budget.seed + 1 + i, *source.input_range)
                 for i, (n, s) in enumerate(shapes.items())}
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
        EvalSet(x, y, name_of_set, reference=reference,
                reference_source=f"{float_path.name} (made elsewhere), TFLite reference "
                                 "kernels", outputs=outputs).save(out_dir / "eval.npz")
        eval_path = str(out_dir / "eval.npz")
    build = ModelBuild(name, "from files made elsewhere", eval_path, note, artifacts,
                       data_note=f"variants from files: {', '.join(sorted(files))}")
    build.save(out_dir)
    return build
