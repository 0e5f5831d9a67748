"""The child that checks every ``[models.NAME]`` source before anything trains.

Run by the child entry (``targets/child.py``, kind ``source_check``). One child for all of a run's
user models (TensorFlow is imported once): each model is loaded (a Keras 3 file rebuilt
and proved), its data loaded and checked against the model -- input shapes, label
ranges, NaN/inf, the user's import errors -- and every problem is written as
``models.NAME.KEY: what and how to fix``. The CLI turns any problem into exit 2, in
seconds, before the first model trains.
"""

from __future__ import annotations

import importlib
from dataclasses import field
from pathlib import Path
from typing import ClassVar

from pydantic.dataclasses import dataclass as pydantic_dataclass

from qatbench.models.sources import ModelSource
from qatbench.targets.child import ChildRequest, Served

# sources checked outside the Keras core, by kind (string references: see build_worker)
SOURCE_CHECKS = {"torch": "qatbench.qat.pytorch.source:check_source"}


@pydantic_dataclass(frozen=True)
class SourceCheckRequest(ChildRequest[list[str]]):
    """The user's ``[models.NAME]`` tables to check, each model's seed, and where the
    problems go (a JSON list of ``models.NAME.KEY: ...``)."""

    models: dict[str, ModelSource] = field(default_factory=dict)
    seeds: dict[str, int] = field(default_factory=dict)
    result_path: str = ""

    kind: ClassVar[str] = "source_check"  # the child entry's kind (``targets/child.py``)
    result_type: ClassVar[type] = list[str]
    # (the check's scratch folder is new: nothing old to clear; a list written before a
    # timeout is read, as the check always did)
    clears_old_result: ClassVar[bool] = False
    reads_result_after_timeout: ClassVar[bool] = True

    def without_result(self, how: str) -> list[str]:
        """One problem: the check itself failed, how, and where its log is."""
        return [f"checking the model sources {how} (log: {self.child_dir() / 'child.log'})"]


def check_op_selection(name: str, source: ModelSource) -> None:
    """``quantize`` qat_selective / mixed_int8: each ``qat_layers`` pattern and
    ``keep_float_ops`` type of ``[models.NAME.training]`` names an op of the float32 file."""
    from qatbench.qat.litert_quantize import OpSelection, selection_problems
    from qatbench.qat.user_model import SourceError

    selection = OpSelection(tuple(source.training.get("qat_layers", ())),
                            tuple(source.training.get("keep_float_ops", ())))
    float_file = Path((source.tflite or {})["float32"]).read_bytes()
    for variant, key in (("qat_selective", "qat_layers"), ("mixed_int8", "keep_float_ops")):
        if variant not in source.quantize or not source.training.get(key):
            continue
        problems = selection_problems(float_file, variant, selection)
        if problems:
            raise SourceError(f"models.{name}.training.{key}", "; ".join(problems))


def check_tflite_source(name: str, source: ModelSource, seed: int) -> None:
    """A ``tflite`` table: each file opens; the data (if any) fits the float32 file."""
    from qatbench.models.arrays import as_list
    from qatbench.qat.foreign import source_data
    from qatbench.qat.user_model import SourceError
    from qatbench.targets.runtime import resolve_runtime
    from qatbench.targets.signature_io import model_io
    from qatbench.targets.tflite_file import InvalidModelFile, inspect_tflite

    for variant, file in (source.tflite or {}).items():
        try:
            inspect_tflite(Path(file))
        except InvalidModelFile as error:
            raise SourceError(f"models.{name}.tflite.{variant}", str(error)) from None
    check_op_selection(name, source)
    try:
        data = source_data(source, seed)
    except ValueError as error:
        raise SourceError(f"models.{name}.data", str(error)) from None
    if data is None:
        return
    interpreter = resolve_runtime().interpreter(str((source.tflite or {})["float32"]),
                                                threads=1, use_default_delegates=False)
    io = model_io(interpreter, list(data.x_eval) if isinstance(data.x_eval, dict) else None)
    names = [n for n, _ in io.inputs]
    try:
        arrays = as_list(data.x_eval, names)
    except KeyError as missing:
        raise SourceError(f"models.{name}.data", f"x_eval has no array for input {missing} "
                                                 f"(the float32 file's inputs: "
                                                 f"{', '.join(names)})") from None
    for (input_name, detail), values in zip(io.inputs, arrays, strict=False):
        expected = tuple(int(d) for d in detail["shape"][1:])
        if tuple(values.shape[1:]) != expected:
            raise SourceError(f"models.{name}.data", f"x_eval input {input_name} has shape "
                                                     f"{tuple(values.shape[1:])} per sample; "
                                                     f"the float32 file expects {expected}")


def check_sources(request: SourceCheckRequest) -> list[str]:
    from qatbench.qat.user_model import SourceError, prepare_user_model

    problems = []
    for name, source in request.models.items():
        seed = request.seeds.get(name, 0)
        try:
            if source.tflite is not None:
                check_tflite_source(name, source, seed)
            elif source.kind in SOURCE_CHECKS:
                check = SOURCE_CHECKS[source.kind].split(":")
                getattr(importlib.import_module(check[0]), check[1])(
                    name, source, seed, Path(request.result_path).parent / name)
            else:
                prepare_user_model(name, source, seed)
        except SourceError as error:
            problems.append(str(error))
        except Exception as error:  # an unforeseen failure is still this model's problem
            problems.append(f"models.{name}: {type(error).__name__}: {error}")
    return problems


def serve(request: SourceCheckRequest) -> Served:
    """The ``source_check`` kind for the child entry: the problems as a JSON list; a
    crash has no result (the CLI reports the exit and the log)."""
    return Served(lambda: check_sources(request))
