"""``qatbench bench FILE.tflite``: jobs for model files made anywhere, by any tool.

Each file is checked before anything runs (a corrupt file is a usage error naming the
file); its variant is what the file really is -- ``float32``, ``int8`` (full-integer)
or ``mixed`` -- read from its operators, not from its name. The files are opened in a
child process, one per file: a file from anywhere is untrusted, and a malformed
flatbuffer that crashes its parser takes down only that child.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qatbench.bench.orchestration.config import RunConfig
from qatbench.bench.orchestration.launcher import run_child
from qatbench.bench.orchestration.runner import Job, ModelProvider, plan_jobs
from qatbench.qat.artifacts import ModelBuild, VariantArtifact
from qatbench.targets.inspect_worker import InspectRequest
from qatbench.targets.tflite_file import InvalidModelFile

INSPECT_TIMEOUT_S = 120.0


def inspect_in_child(path: Path, work: Path) -> tuple[str, int]:
    """(kind, size in bytes) of one ``.tflite`` file, read in a child process."""
    if not path.is_file():
        raise InvalidModelFile(f"{path}: no such file")
    result = work / "inspect.json"
    result.unlink(missing_ok=True)
    outcome = run_child("qatbench.targets.inspect_worker",
                        InspectRequest([str(path)], str(result)), work, INSPECT_TIMEOUT_S)
    if outcome.timed_out or not result.exists():
        raise InvalidModelFile(f"{path}: reading it as a .tflite model {outcome.describe()}")
    (found,) = json.loads(result.read_text())
    if "error" in found:
        raise InvalidModelFile(found["error"])
    return str(found["kind"]), int(found["size_bytes"])


def plan_file_jobs(files: Sequence[Path], config: RunConfig
                   ) -> tuple[list[Job], dict[str, ModelBuild]]:
    """Jobs for ``files``; raises ``InvalidModelFile`` naming the first bad one."""
    builds: dict[str, ModelBuild] = {}
    jobs: list[Job] = []
    with tempfile.TemporaryDirectory(prefix="qatbench-inspect-") as scratch:
        found = [(path, *inspect_in_child(path, Path(scratch) / str(index)))
                 for index, path in enumerate(files)]
    for path, variant, size_bytes in found:
        name = path.stem
        while name in builds:  # two files with one stem stay two models
            name += "_"
        builds[name] = ModelBuild(
            model=name, weights="from file", eval_path=None,
            accuracy_note="external file: no evaluation data",
            variants={variant: VariantArtifact(variant, str(path.resolve()), size_bytes)})
        jobs += plan_jobs([name], [variant], config.run.targets, config.run.threads)
    return jobs, builds


def external_provider(builds: dict[str, ModelBuild]) -> Any:
    def factory(context: Any, on_status: Any = None) -> ModelProvider:
        return lambda model, variants: builds[model]

    return factory
