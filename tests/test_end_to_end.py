"""The whole CPU pipeline on real MNIST through the CLI, on a reduced training budget."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from qatbench.bench.storage.schema import RESULT_COLUMNS, SAMPLE_COLUMNS

pytestmark = pytest.mark.slow

CONFIG = """
[run]
models = ["mnist_cnn"]
targets = ["cpu-xnnpack", "cpu-ref"]
[measure]
warmup_min_s = 0.05
min_runs = 10
min_s = 0.1
[training]
float_epochs = 4
qat_epochs = 1
representative_samples = 100
"""


@pytest.fixture(scope="module")
def mnist_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("tensorflow")
    root = tmp_path_factory.mktemp("e2e")
    config = root / "mnist.toml"
    config.write_text(CONFIG)
    result = subprocess.run([sys.executable, "-m", "qatbench", "run", "--config", str(config),
                             "--out", str(root / "results")], capture_output=True, text=True,
                            timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "float → int8" in result.stdout
    (run_dir,) = (root / "results").iterdir()
    return run_dir


def test_every_row_is_ok_with_the_documented_columns(mnist_run: Path) -> None:
    frame = pd.read_parquet(mnist_run / "results.parquet")
    assert list(frame.columns)[: len(RESULT_COLUMNS)] == list(RESULT_COLUMNS)
    assert len(frame) == 3 * 2
    assert set(frame["status"]) == {"ok"}, frame[["variant", "target", "error"]]
    csv = pd.read_csv(mnist_run / "results.csv")
    assert len(csv) == len(frame)
    samples = pd.read_parquet(mnist_run / "samples.parquet")
    assert list(samples.columns) == list(SAMPLE_COLUMNS)
    assert len(samples) == frame["n_samples"].sum()
    assert (mnist_run / "report.md").read_text().count("mnist_cnn") >= 6


def test_qat_accuracy_within_1_5_points_of_float(mnist_run: Path) -> None:
    frame = pd.read_parquet(mnist_run / "results.parquet")
    for target, group in frame.groupby("target"):
        top1 = group.set_index("variant")["accuracy_top1"]
        assert top1["float32"] > 0.9, target
        assert top1["qat_int8"] >= top1["float32"] - 0.015, (target, top1.to_dict())
        assert (group["eval_samples"] == 1000).all()


def test_int8_files_are_at_least_3x_smaller(mnist_run: Path) -> None:
    frame = pd.read_parquet(mnist_run / "results.parquet")
    int8 = frame[frame["variant"] != "float32"]
    assert (int8["size_ratio_vs_float"] >= 3.0).all(), int8[["variant", "size_ratio_vs_float"]]
    assert int8["speedup_vs_float"].notna().all()


def test_int8_rows_carry_agreement_with_float_and_intervals(mnist_run: Path) -> None:
    frame = pd.read_parquet(mnist_run / "results.parquet")
    int8 = frame[frame["variant"] != "float32"]
    for column in ("agreement_top1", "agreement_top1_ci_low", "agreement_top1_ci_high",
                   "agreement_top5", "output_snr_db", "accuracy_top1_ci_low",
                   "accuracy_top1_ci_high"):
        assert int8[column].notna().all(), (column, int8[column].tolist())
    assert int8["agreement_top1"].between(0.9, 1.0).all()
    qat = frame[frame["variant"] == "qat_int8"]
    assert qat["conversion_gap_points"].notna().all() and qat["keras_qat_top1"].notna().all()
    assert len(list((mnist_run / "predictions").glob("*.npz"))) == len(frame)
    report = (mnist_run / "report.md").read_text()
    assert "## Accuracy differences" in report and "## Conversion gap" in report
