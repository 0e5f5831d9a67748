"""The report's accuracy tables follow the rows' rule on vacuous figures (issue 24,
item 3): where the float model gives one class for every input, agreement with it is no
figure, and a near-constant layer output has no meaningful rmse / std. Runs are written
by the product's store and predictions writer; the report by ``write_report``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from qatbench.bench.presentation.accuracy import (
    accuracy_differences_frame,
    conversion_gap_frame,
    layer_error_frame,
    near_constant_reason,
)
from qatbench.bench.presentation.report import write_report
from qatbench.bench.storage.key import RowKey
from qatbench.bench.storage.predictions import NO_LABEL, Predictions, save_predictions
from qatbench.bench.storage.runs import load_runs
from tests.bench.runs_helpers import lognormal, write_run

RUN_ID = "20260101T000000Z-aaaaaa"
N = 200


def random_weights_run(root: Path, float_classes: np.ndarray) -> Path:
    """mobilenet_v2 float32 / ptq_int8 / qat_int8 with random weights (no labels): the
    QAT row carries a conversion gap on agreement and a near-constant softmax layer."""
    gap = {"conversion_gap_basis": "agreement with float", "keras_qat_agreement": 1.0,
           "tflite_agreement": 1.0, "conversion_gap_points": 0.0,
           "tflite_qat_keras_agreement": 1.0, "conversion_samples": N}
    layers = [{"layer": "predictions", "op": "SOFTMAX", "rmse_over_scale": 0.41,
               "rel_rmse": 8.59e6, "method": "debugger"},
              {"layer": "conv1", "op": "CONV_2D", "rmse_over_scale": 0.35, "rel_rmse": 0.02,
               "method": "debugger"}]
    rows = [{"model": "mobilenet_v2", "variant": variant, "target": "cpu-xnnpack",
             "weights": "random", "samples": lognormal(ms, 0.02, 60, seed),
             "output_snr_db": 30.0, "eval_samples": N, "qat_objective": (
                 "distill" if variant == "qat_int8" else None),
             "extra": json.dumps({"conversion_gap": gap, "worst_layers": layers}
                                 if variant == "qat_int8" else {})}
            for variant, ms, seed in (("float32", 9.0, 0), ("ptq_int8", 4.0, 1),
                                      ("qat_int8", 4.0, 2))]
    run = write_run(root, RUN_ID, rows)
    no_labels = np.full(N, NO_LABEL)
    for row in pd.read_parquet(run / "results.parquet").to_dict("records"):
        save_predictions(run, RowKey.of(row), Predictions(float_classes, no_labels,
                                                          float_classes, "inputs"))
    return run


def test_one_float_class_for_every_input_leaves_agreement_tables_empty_with_the_reason(
        tmp_path: Path) -> None:
    run = random_weights_run(tmp_path, np.full(N, 7))
    loaded = load_runs([run])
    (difference,) = accuracy_differences_frame(loaded.results, [run]).to_dict("records")
    assert difference["comparison"] == "QAT vs PTQ"
    assert difference["A"] == difference["B"] == difference["p (McNemar exact)"] == ""
    assert "class 7 for every one of the 200 inputs" in difference["verdict"]
    (gap,) = conversion_gap_frame(loaded.results, run_dirs=[run]).to_dict("records")
    assert gap["QAT model (fake-quant)"] == gap[".tflite int8"] == gap["gap (points)"] == ""
    assert "class 7 for every one" in gap["flag"]
    report = write_report(loaded.results, [run], run).read_text()
    assert "| no measurable difference" not in report
    assert report.count("class 7 for every one of the 200 inputs") >= 2  # both tables


def test_agreement_with_an_informative_float_model_is_still_a_figure(tmp_path: Path) -> None:
    run = random_weights_run(tmp_path, np.arange(N) % 10)
    loaded = load_runs([run])
    (difference,) = accuracy_differences_frame(loaded.results, [run]).to_dict("records")
    assert difference["A"] == difference["B"] == "100.0%"
    assert difference["verdict"].startswith("no measurable difference")
    (gap,) = conversion_gap_frame(loaded.results, run_dirs=[run]).to_dict("records")
    assert gap["gap (points)"] == "+0.0" and gap["flag"] == ""


def test_a_near_constant_layer_output_has_no_rmse_over_std(tmp_path: Path) -> None:
    run = random_weights_run(tmp_path, np.full(N, 7))
    frame = layer_error_frame(load_runs([run]).results, "worst_layers")
    softmax, conv = frame.to_dict("records")
    assert softmax["rmse / std"] == "" and "near-constant" in softmax["note"]
    assert softmax["rmse (quant. steps)"] == "0.41"
    assert conv["rmse / std"] == "0.02" and conv["note"] == ""
    assert "8.59e+06" not in write_report(load_runs([run]).results, [run], run).read_text()


def test_near_constant_is_measured_in_quantization_steps_of_the_data() -> None:
    """std below one step of the tensor's own scale, whatever the absolute numbers."""
    # std / scale = (rmse / scale) / (rmse / std)
    assert near_constant_reason(0.3, 0.29) is None  # std = 1.03 steps: resolvable
    assert near_constant_reason(0.3, 0.31) is not None  # std = 0.97 steps
    assert near_constant_reason(0.3, 3.0) is not None  # std = 0.1 steps
    assert near_constant_reason(300.0, 0.5) is None  # large error, varied output
    assert near_constant_reason(None, 8.59e6) is None  # no scale: cannot tell
