"""The CPU matrix as pytest-benchmark tests, for teams whose dashboards read pytest-benchmark.

    nox -s bench-cpu -- --pytest [--benchmark-autosave] [--benchmark-compare=0001]
                                 [--benchmark-compare-fail=median:5%]

Each test times ``invoke()`` on the same interpreter the ``cpu-xnnpack`` / ``cpu-ref``
targets build, with inputs set before the timed call. Models come from the newest run
under ``results/`` (or ``QATBENCH_RUN_DIR``); if there is none they are built once with
the ``--quick`` training budget. Not collected by ``nox -s tests``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from qatbench.targets.inputs import random_input
from qatbench.targets.registry import create_target

MODELS = ("mnist_cnn", "mobilenet_v2")
VARIANTS = ("float32", "ptq_int8", "qat_int8")
TARGETS = ("cpu-xnnpack", "cpu-ref")
THREADS = int(os.environ.get("QATBENCH_THREADS", "1"))


def _newest_run_with(model: str) -> Path | None:
    root = Path(os.environ.get("QATBENCH_RUN_DIR", "results"))
    candidates = [root] if (root / "artifacts").is_dir() else sorted(
        root.glob("*/"), key=lambda p: p.stat().st_mtime, reverse=True)
    for run_dir in candidates:
        if (run_dir / "artifacts" / model / "manifest.json").is_file():
            return run_dir / "artifacts" / model
    return None


@pytest.fixture(scope="session")
def model_files(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path]:
    files: dict[tuple[str, str], Path] = {}
    for model in MODELS:
        directory = _newest_run_with(model)
        if directory is None:
            from qatbench.bench.orchestration.config import load_config
            from qatbench.models.zoo import get_model_spec
            from qatbench.qat.budget import TrainingBudget
            from qatbench.qat.pipeline import build_variants

            budget = TrainingBudget(**load_config(quick=True).training.model_dump())
            directory = tmp_path_factory.mktemp(model)
            build_variants(get_model_spec(model), list(VARIANTS), directory, budget)
        for variant in VARIANTS:
            path = directory / f"{variant}.tflite"
            if path.is_file():
                files[model, variant] = path
    return files


@pytest.mark.parametrize("target_name", TARGETS)
@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("model", MODELS)
def test_invoke_latency(benchmark, model_files, model: str, variant: str,
                        target_name: str) -> None:
    path = model_files.get((model, variant))
    if path is None:
        pytest.skip(f"{model}/{variant} was not built")
    target = create_target(target_name)
    interpreter = target.build_interpreter(path, THREADS)
    interpreter.allocate_tensors()
    rng = np.random.default_rng(0)
    for detail in interpreter.get_input_details():
        interpreter.set_tensor(detail["index"], random_input(detail, rng))
    benchmark.group = f"{model} on {target_name} x{THREADS}"
    benchmark.extra_info.update({"model": model, "variant": variant, "target": target_name,
                                 "threads": THREADS, "size_bytes": path.stat().st_size,
                                 "delegate": target.delegate_label(interpreter)})
    benchmark.pedantic(interpreter.invoke, warmup_rounds=5, rounds=50, iterations=1)
    output = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    assert np.all(np.isfinite(output.astype(np.float64)))
