"""A real run of the digits models: every evaluated row carries top-1 and agreement with
their intervals, QAT rows their conversion gap, and the run keeps per-input predictions
that the report pairs with McNemar's test."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from qatbench.bench.orchestration.config import build_config
from qatbench.bench.orchestration.runner import JobRunner, RunContext, plan_jobs
from qatbench.bench.presentation.accuracy import accuracy_differences_frame
from qatbench.bench.presentation.report import write_report
from qatbench.bench.storage.environment import capture_environment
from qatbench.bench.storage.key import RowKey
from qatbench.bench.storage.predictions import load_predictions
from qatbench.bench.storage.runs import load_runs
from qatbench.bench.storage.store import RunStore

CONFIG = {"run": {"models": ["digits_cnn"], "targets": ["cpu-xnnpack", "cpu-ref"]},
          "measure": {"warmup_runs": 1, "warmup_min_s": 0, "min_runs": 5, "min_s": 0}}


@pytest.fixture(scope="module")
def digits_run(digits_build, tmp_path_factory: pytest.TempPathFactory) -> Path:
    store = RunStore.create(tmp_path_factory.mktemp("fidelity"))
    store.write_json("config.json", CONFIG)
    context = RunContext(build_config(CONFIG), store, capture_environment())
    jobs = plan_jobs(["digits_cnn"], ["float32", "ptq_int8", "qat_int8"],
                     ["cpu-xnnpack", "cpu-ref"], [1])
    JobRunner(context, lambda m, v: digits_build).run(jobs)
    store.close()
    return store.run_dir


def _finite(value: object) -> bool:
    return value is not None and not pd.isna(value) and math.isfinite(float(value))


def test_every_int8_row_has_agreement_and_intervals(digits_run: Path) -> None:
    results = load_runs([digits_run]).results
    assert set(results["status"]) == {"ok"} and len(results) == 6
    int8 = results[results["variant"] != "float32"]
    for column in ("agreement_top1", "agreement_top1_ci_low", "agreement_top1_ci_high",
                   "agreement_top5", "output_snr_db", "accuracy_top1",
                   "accuracy_top1_ci_low", "accuracy_top1_ci_high"):
        assert int8[column].notna().all(), (column, int8[column].tolist())
        assert all(_finite(v) for v in int8[column]), column
    assert (int8["agreement_top1_ci_low"] <= int8["agreement_top1"]).all()
    assert (int8["agreement_top1"] <= int8["agreement_top1_ci_high"]).all()
    assert (int8["accuracy_top1_ci_low"] < int8["accuracy_top1"]).all()
    assert (int8["accuracy_top1_ci_high"] - int8["accuracy_top1_ci_low"] < 0.1).all()  # n=360
    assert int8["agreement_top1"].between(0.85, 1.0).all()
    float_ref = results.query("variant == 'float32' and target == 'cpu-ref'").iloc[0]
    assert float_ref["agreement_top1"] == 1.0  # the reference itself, on its own kernels


def test_qat_rows_carry_their_conversion_gap(digits_run: Path) -> None:
    results = load_runs([digits_run]).results
    qat = results[results["variant"] == "qat_int8"]
    assert len(qat) == 2
    for column in ("keras_qat_top1", "conversion_gap_points"):
        assert all(_finite(v) for v in qat[column]), (column, qat[column].tolist())
    assert set(qat["conversion_gap_basis"]) == {"top-1"}
    assert set(qat["qat_objective"]) == {"labels"}
    extra = json.loads(qat.iloc[0]["extra"])
    assert extra["conversion_gap"]["tflite_top1"] is not None
    assert extra["worst_layers_vs_qat_keras"]
    others = results[results["variant"] != "qat_int8"]
    assert others["conversion_gap_points"].isna().all()


def test_predictions_are_kept_per_row_and_paired_in_the_report(digits_run: Path) -> None:
    results = load_runs([digits_run]).results
    for row in results.to_dict("records"):
        kept = load_predictions(digits_run, RowKey.of(row))
        assert kept is not None and len(kept.predicted) == row["eval_samples"]
        assert np.mean(kept.correct) == pytest.approx(row["accuracy_top1"])
        assert np.mean(kept.agrees) == pytest.approx(row["agreement_top1"])
    differences = accuracy_differences_frame(results, [digits_run])
    assert len(differences) == 2 * 3  # QAT vs PTQ, QAT vs float, PTQ vs float per target
    assert set(differences["on"]) == {"top-1"}
    # each verdict is the one the kept digits determine: the discordant pairs counted
    # here, McNemar's exact p from the binomial sum, the better side by its hits
    names = {"QAT": "qat_int8", "PTQ": "ptq_int8", "float": "float32"}
    for line in differences.to_dict("records"):
        label_a, label_b = line["comparison"].split(" vs ")
        hits = {}
        for label in (label_a, label_b):
            row = results.query(f"target == '{line['target']}' and "
                                f"variant == '{names[label]}'").iloc[0]
            hits[label] = load_predictions(digits_run, RowKey.of(row)).correct
        only_a = int(np.sum(hits[label_a] & ~hits[label_b]))
        only_b = int(np.sum(~hits[label_a] & hits[label_b]))
        assert (line["only A right"], line["only B right"]) == (only_a, only_b)
        discordant = only_a + only_b
        tail = sum(math.comb(discordant, k) for k in range(min(only_a, only_b) + 1))
        p_value = min(1.0, 2 * tail / 2 ** discordant) if discordant else 1.0
        if p_value >= 0.05:
            assert line["verdict"].startswith("no measurable difference"), line
        else:
            better, worse = (label_a, label_b) if only_a > only_b else (label_b, label_a)
            assert line["verdict"].startswith(f"{better} better than {worse} by "), line
    markdown = write_report(results, [digits_run], digits_run).read_text()
    for title in ("## Accuracy differences", "## Conversion gap",
                  "int8 vs float model (quantization + fine-tuning)",
                  "int8 vs QAT Keras model (what conversion changed)"):
        assert title in markdown, title
