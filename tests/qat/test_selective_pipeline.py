"""qat_selective through the pipeline: built, runnable, and the row says what stayed float."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("tensorflow_model_optimization")

from qatbench.models.zoo import get_model_spec
from qatbench.qat.budget import TrainingBudget
from qatbench.qat.pipeline import build_variants
from qatbench.targets.tflite_file import inspect_tflite


def test_selective_variant_keeps_named_layers_float(tmp_path: Path) -> None:
    budget = TrainingBudget(float_epochs=2, qat_epochs=1, representative_samples=32,
                            layer_error_samples=0, qat_layers=("conv*",))
    build = build_variants(get_model_spec("digits_cnn"), ["qat_selective"], tmp_path, budget)
    artifact = build.variants["qat_selective"]
    assert artifact.ok, artifact.error
    assert "kept float (selective QAT): pool1, flatten, fc1, logits" in artifact.note
    info = inspect_tflite(Path(artifact.path))
    assert info.kind == "mixed" and "FULLY_CONNECTED" in info.float_ops
    assert artifact.keras_top1 > 0.5


def test_selective_without_layers_fails_that_variant_only(tmp_path: Path) -> None:
    budget = TrainingBudget(float_epochs=1, qat_epochs=0, representative_samples=16,
                            layer_error_samples=0)
    build = build_variants(get_model_spec("digits_cnn"), ["float32", "qat_selective"],
                           tmp_path, budget)
    assert build.variants["float32"].ok
    assert "qat_selective needs [training] qat_layers" in build.variants["qat_selective"].error
