"""``qatbench bench FILE.tflite``: jobs for model files made anywhere, by any tool.

Each file is checked before anything runs (a corrupt file is a usage error naming the
file); its variant is what the file really is -- ``float32``, ``int8`` (full-integer)
or ``mixed`` -- read from its operators, not from its name.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qatbench.bench.config import RunConfig
from qatbench.bench.runner import Job, ModelProvider, plan_jobs
from qatbench.qat.artifacts import ModelBuild, VariantArtifact
from qatbench.targets.tflite_file import inspect_tflite


def plan_file_jobs(files: Sequence[Path], config: RunConfig
                   ) -> tuple[list[Job], dict[str, ModelBuild]]:
    builds: dict[str, ModelBuild] = {}
    jobs: list[Job] = []
    for path in files:
        info = inspect_tflite(path)  # raises InvalidModelFile with the reason
        name = path.stem
        while name in builds:  # two files with one stem stay two models
            name += "_"
        variant = info.kind
        builds[name] = ModelBuild(
            model=name, weights="from file", eval_path=None,
            accuracy_note="external file: no evaluation data",
            variants={variant: VariantArtifact(variant, str(path.resolve()), info.size_bytes)})
        jobs += plan_jobs([name], [variant], config.run.targets, config.run.threads)
    return jobs, builds


def external_provider(builds: dict[str, ModelBuild]) -> Any:
    def factory(context: Any, on_status: Any = None) -> ModelProvider:
        return lambda model, variants: builds[model]

    return factory
