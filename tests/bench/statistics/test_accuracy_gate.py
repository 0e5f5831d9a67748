"""The gate's top-1 drop check decides on the paired per-image predictions (McNemar),
so it cannot fail on a difference its sample cannot resolve."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from qatbench.bench.statistics.compare import GateSettings, compare_runs
from qatbench.bench.storage.key import RowKey
from qatbench.bench.storage.predictions import Predictions, save_predictions
from qatbench.bench.storage.runs import load_runs
from tests.bench.runs_helpers import lognormal, write_run

N = 1000


def run_with_predictions(root: Path, run_id: str, correct: np.ndarray) -> Path:
    labels = np.arange(N) % 10
    predicted = np.where(correct, labels, (labels + 1) % 10)
    row = {"model": "mnist_cnn", "variant": "qat_int8", "target": "cpu-xnnpack",
           "size_bytes": 126_000, "accuracy_top1": float(correct.mean()),
           "eval_samples": N, "samples": lognormal(0.012, 0.02, 200, 1)}
    run_dir = write_run(root, run_id, [row])
    stored = load_runs([run_dir]).results.iloc[0]
    save_predictions(run_dir, RowKey.of(stored),
                     Predictions(predicted, labels, labels, digest="same-1000-digits"))
    return run_dir


def gate_of(tmp_path: Path, base_correct: np.ndarray, current_correct: np.ndarray) -> str:
    base = run_with_predictions(tmp_path, "base", base_correct)
    current = run_with_predictions(tmp_path, "current", current_correct)
    comparison = compare_runs(load_runs([base]), load_runs([current]),
                              GateSettings(accuracy_drop_points=1.0))
    return str(comparison["gate"].iloc[0])


def test_a_resolved_drop_fails(tmp_path: Path) -> None:
    base = np.ones(N, bool)
    base[:40] = False  # 96.0%
    current = base.copy()
    current[40:55] = False  # 94.5%: 15 images lost, none gained
    gate = gate_of(tmp_path, base, current)
    assert "top-1 dropped 1.5 points" in gate and "McNemar" in gate


def test_a_drop_the_sample_cannot_resolve_passes(tmp_path: Path) -> None:
    base = np.ones(N, bool)
    base[:40] = False  # 96.0%
    current = np.ones(N, bool)
    current[40:95] = False  # 94.5%: 55 images lost, but 40 others gained
    assert gate_of(tmp_path, base, current) == ""
