"""The whole CPU pipeline on real MNIST through the CLI, on a reduced training budget."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from qatbench.bench.storage.key import RowKey
from qatbench.bench.storage.predictions import Predictions, load_predictions
from qatbench.bench.storage.schema import RESULT_COLUMNS, SAMPLE_COLUMNS
from tests.accuracy_bounds import assert_floor, assert_no_drop_beyond

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


def _answers(run_dir: Path, group: pd.DataFrame) -> dict[str, Predictions]:
    """Each row's per-digit predictions, by variant: one target's rows answer the same
    1,000 digits, so they are compared digit by digit."""
    answers = {}
    for _, row in group.iterrows():
        predictions = load_predictions(run_dir, RowKey.of(row))
        assert predictions is not None, f"no predictions kept for {row['variant']}"
        assert predictions.has_labels and len(predictions.labels) == row["eval_samples"]
        # the row's top-1 is what its kept predictions say, not another figure
        assert row["accuracy_top1"] == pytest.approx(predictions.correct.mean())
        answers[str(row["variant"])] = predictions
    assert all(p.pairs_with(answers["float32"]) for p in answers.values())
    return answers


def test_qat_accuracy_within_1_5_points_of_float(mnist_run: Path) -> None:
    """One training run on 1,000 digits: each top-1 is known to about a point and the
    trained model differs by host (TensorFlow's kernels differ by instruction set). So:
    float32 is shown far above chance (its 95% interval above 90%), and qat_int8 is not
    worse than float32 by more than 1.5 points beyond what the paired digits explain
    (McNemar, the product's gate rule). Catches: a QAT variant that loses accuracy in
    training or conversion (a wrong scale, a broken fine-tune: tens of points, p << 0.05),
    an untrained or mis-fed float model, rows whose top-1 is not their predictions'."""
    frame = pd.read_parquet(mnist_run / "results.parquet")
    for target, group in frame.groupby("target"):
        assert (group["eval_samples"] == 1000).all()
        answers = _answers(mnist_run, group)
        assert_floor(answers["float32"].correct, 0.9, f"float32 top-1 on {target}")
        assert_no_drop_beyond(answers["float32"].correct, answers["qat_int8"].correct,
                              points=1.5, what=f"qat_int8 top-1 vs float32 on {target}")


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
    # agreement with float on 1,000 digits: the sample shows it above 90% (a QAT file
    # that decides differently from its float model -- a broken conversion -- does not)
    for _, row in int8.iterrows():
        predictions = load_predictions(mnist_run, RowKey.of(row))
        assert predictions is not None and predictions.has_reference
        assert row["agreement_top1"] == pytest.approx(predictions.agrees.mean())
        assert_floor(predictions.agrees, 0.9,
                     f"{row['variant']} agreement with float on {row['target']}")
    qat = frame[frame["variant"] == "qat_int8"]
    assert qat["conversion_gap_points"].notna().all() and qat["keras_qat_top1"].notna().all()
    assert len(list((mnist_run / "predictions").glob("*.npz"))) == len(frame)
    report = (mnist_run / "report.md").read_text()
    assert "## Accuracy differences" in report and "## Conversion gap" in report
