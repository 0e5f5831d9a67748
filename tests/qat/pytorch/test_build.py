"""A PyTorch CNN (conv, BatchNorm, ReLU, pooling, linear) through `qatbench run`, as a user
runs it: three rows from the same weights (and the LiteRT Quantizer's dynamic_int8 of the
float32 file), PT2E PTQ and QAT within the paired-test noise
of float, the conversion gap reported, the recipe and versions in the manifest -- and
the same model built twice is one build (a cache hit)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from qatbench.bench.storage.key import RowKey
from qatbench.bench.storage.predictions import load_predictions
from tests.accuracy_bounds import assert_floor, assert_no_drop_beyond

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "examples" / "torch_digits"
# the example's table at a quick budget (--quick: 2 float epochs, 1 QAT epoch)
CONFIG = """
[run]
variants = ["float32", "ptq_int8", "qat_int8", "dynamic_int8"]
targets = ["cpu-ref"]

[models.torch_digits]
torch = "model.py:digits_cnn"
trained = false
data = "model.py:digits"

[models.torch_digits.training]
float_epochs = 4
batch_size = 32
"""
TIMING = ["--min-runs", "5", "--min-secs", "0.05", "--max-secs", "2"]


@pytest.fixture(scope="module")
def torch_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(the run directory, the config, the build cache)."""
    pytest.importorskip("torch")
    root = tmp_path_factory.mktemp("torch_digits")
    shutil.copy(EXAMPLE / "model.py", root / "model.py")
    config = root / "qatbench.toml"
    config.write_text(CONFIG)
    cache = root / "cache"
    result = subprocess.run(
        [sys.executable, "-m", "qatbench", "run", "--config", str(config), "--quick",
         *TIMING, "--out", str(root / "results"), "--cache-dir", str(cache)],
        capture_output=True, text=True, cwd=root, timeout=1500)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (run_dir,) = (root / "results").iterdir()
    return run_dir, config, cache


def test_three_rows_from_the_same_weights(torch_run: tuple[Path, Path, Path]) -> None:
    run_dir, _, _ = torch_run
    frame = pd.read_parquet(run_dir / "results.parquet")
    assert sorted(frame["variant"]) == ["dynamic_int8", "float32", "ptq_int8", "qat_int8"]
    assert set(frame["status"]) == {"ok"}, frame[["variant", "error"]]
    manifest = json.loads((run_dir / "artifacts" / "torch_digits" / "manifest.json")
                          .read_text())
    assert manifest["framework"]["name"] == "pytorch"
    assert {"torch", "torchao", "litert-torch"} <= set(manifest["framework"])
    assert "moved to NCHW" in manifest["data_note"]  # channels-last digits, NCHW module
    for variant in ("ptq_int8", "qat_int8"):
        recipe = manifest["variants"][variant]["quantizer_recipe"]
        assert recipe and "PT2EQuantizer" in recipe[0]["quantizer"]
    # int8 weights: the file is far smaller than float32's (~1/4 for the weights)
    int8 = frame[frame["variant"] != "float32"]
    assert (int8["size_ratio_vs_float"] >= 2.0).all(), int8[["variant", "size_ratio_vs_float"]]
    # the LiteRT Quantizer's variant is made from the float32 file litert-torch wrote
    dynamic = manifest["variants"]["dynamic_int8"]
    assert "from float32.tflite" in dynamic["note"] and dynamic["quantizer_recipe"]


def test_ptq_and_qat_top1_within_paired_noise_of_float(torch_run: tuple[Path, Path, Path]
                                                       ) -> None:
    """359 held-out digits: float32 is shown far above chance (its 95% interval above
    80%: an untrained or mis-fed module is near 10%), and neither int8 file is worse than
    float32 by more than 3 points beyond what the paired digits explain (McNemar, the
    gate's rule). A wrong scale or a broken PT2E conversion costs tens of points."""
    run_dir, _, _ = torch_run
    frame = pd.read_parquet(run_dir / "results.parquet")
    answers = {}
    for _, row in frame[frame["variant"] != "dynamic_int8"].iterrows():
        predictions = load_predictions(run_dir, RowKey.of(row))
        assert predictions is not None and predictions.has_labels
        assert row["accuracy_top1"] == pytest.approx(predictions.correct.mean())
        assert pd.notna(row["accuracy_top1_ci_low"]) and pd.notna(row["accuracy_top1_ci_high"])
        answers[str(row["variant"])] = predictions
    assert_floor(answers["float32"].correct, 0.8, "float32 top-1")
    for variant in ("ptq_int8", "qat_int8"):
        assert answers[variant].pairs_with(answers["float32"])
        assert_no_drop_beyond(answers["float32"].correct, answers[variant].correct,
                              points=3.0, what=f"{variant} top-1 vs float32")
        row = frame[frame["variant"] == variant].iloc[0]
        assert row["agreement_top1"] > 0.8 and pd.notna(row["output_snr_db"])


def test_per_layer_error_names_the_modules(torch_run: tuple[Path, Path, Path]) -> None:
    """Each int8 file's tensors matched to the CNN's modules by name: the fused conv+ReLU
    outputs (``features.2``, ``features.5``) and the pool (``features.6``). PTQ from the
    same weights departs from float by a few quantization steps at most (rounding alone
    is ~0.29 steps); a tensor read in the wrong layout or scale is off by tens."""
    run_dir, _, _ = torch_run
    variants = json.loads((run_dir / "artifacts" / "torch_digits" / "manifest.json")
                          .read_text())["variants"]
    for variant in ("ptq_int8", "qat_int8"):
        table = pd.read_csv(variants[variant]["layer_errors"])
        assert {"features.2", "features.5", "features.6"} <= set(table["layer"]), table
        assert variants[variant]["worst_layers"]
    ptq = pd.read_csv(variants["ptq_int8"]["layer_errors"])
    assert (ptq["rmse_over_scale"] < 3).all(), ptq[["layer", "rmse_over_scale"]]
    assert variants["qat_int8"]["layer_errors_vs_float"] == variants["qat_int8"]["layer_errors"]


def test_the_conversion_gap_is_reported(torch_run: tuple[Path, Path, Path]) -> None:
    """The PT2E module's top-1 (int8 simulated in PyTorch) beside its file's, on the same
    eval digits; the gap is their difference in points, as the row says."""
    run_dir, _, _ = torch_run
    qat = json.loads((run_dir / "artifacts" / "torch_digits" / "manifest.json").read_text()
                     )["variants"]["qat_int8"]
    frame = pd.read_parquet(run_dir / "results.parquet")
    row = frame[frame["variant"] == "qat_int8"].iloc[0]
    assert qat["conversion_gap_basis"] == "top-1"
    assert qat["conversion_samples"] == row["eval_samples"] > 300  # every held-out digit
    assert qat["conversion_gap_points"] == pytest.approx(
        100 * (qat["keras_qat_top1"] - qat["tflite_top1"]))
    assert row["conversion_gap_points"] == pytest.approx(qat["conversion_gap_points"])
    # the file's top-1 on the reference kernels is the row's top-1 on cpu-ref
    assert qat["tflite_top1"] == pytest.approx(row["accuracy_top1"])


def test_the_same_model_built_twice_is_a_cache_hit(torch_run: tuple[Path, Path, Path],
                                                   tmp_path: Path) -> None:
    from qatbench.bench.orchestration.build_cache import BuildCache
    from qatbench.bench.orchestration.config import load_config
    from qatbench.bench.orchestration.runner import obtain_build

    run_dir, config_path, cache = torch_run
    config = load_config(config_path, quick=True)
    again = obtain_build(config, "torch_digits", config.variants_for("torch_digits"),
                         tmp_path / "torch_digits", BuildCache(cache))
    assert again.cache == "cache hit"
    first = json.loads((run_dir / "artifacts" / "torch_digits" / "manifest.json").read_text())
    assert again.build_key == first["build_key"]
    for variant, artifact in again.variants.items():
        built = Path(first["variants"][variant]["path"])
        assert Path(str(artifact.path)).read_bytes() == built.read_bytes()
    key = json.loads((cache / again.build_key / "entry.json").read_text())
    assert {"torch", "torchao", "litert-torch"} <= set(
        key["ingredients"]["source"]["torch_packages"])
