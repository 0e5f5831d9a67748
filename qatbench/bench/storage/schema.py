"""The results table: the contract every part writes to (see ARCHITECTURE.md).

One row per row key (``key.RowKey``: model, variant, target, device, threads,
fingerprint). ``size_ratio_vs_float`` is the shrink factor (float size / this size: 4.0
means four times smaller) and ``speedup_vs_float`` is float p50 / this p50, both against
the float32 row of the same model, target, device, threads and fingerprint.

A measurement may be repeated in K fresh child processes (``--repeats K``): the row
then summarises all repeats (``repeats`` = K done), ``repeats.parquet`` holds one line
per repeat (its own median: the unit the gate decides on), and every sample in
``samples.parquet`` names its repeat.
"""

from __future__ import annotations

import pandas as pd

from qatbench.bench.storage.key import KEY_COLUMNS as KEY_COLUMNS
from qatbench.bench.storage.key import SERIES_COLUMNS as SERIES_COLUMNS

RESULT_COLUMNS: dict[str, str] = {
    "run_id": "string",
    "started_at": "string",
    "git_commit": "string",
    "host": "string",
    "model": "string",
    "variant": "string",
    "target": "string",
    "device": "string",
    "threads": "Int64",
    "fingerprint": "string",  # short hash of fingerprint_parts: same host, runtime, device
    "fingerprint_parts": "string",  # JSON: what the fingerprint is made of, to name a change
    "status": "string",
    "error": "string",
    "size_bytes": "Int64",
    "size_ratio_vs_float": "Float64",
    "latency_ms_min": "Float64",
    "latency_ms_p50": "Float64",
    "latency_ms_mean": "Float64",
    "latency_ms_p90": "Float64",
    "latency_ms_p99": "Float64",
    "latency_ms_max": "Float64",
    "latency_ms_std": "Float64",
    "latency_ms_p50_ci_low": "Float64",
    "latency_ms_p50_ci_high": "Float64",
    "n_samples": "Int64",
    "repeats": "Int64",  # independent child processes this row summarises
    "init_ms": "Float64",
    "first_inference_ms": "Float64",
    "peak_memory_mb": "Float64",
    "speedup_vs_float": "Float64",
    "speedup_basis": "string",  # which statistic the speedup compares: p50, or mean
    "accuracy_top1": "Float64",
    "accuracy_top1_ci_low": "Float64",  # Wilson 95% interval over eval_samples
    "accuracy_top1_ci_high": "Float64",
    "accuracy_source": "string",  # where top-1 and agreement were measured
    "eval_samples": "Int64",
    # against the float32 model's outputs on the same inputs (its .tflite on the reference
    # kernels): fraction of inputs with the same class, the float class among this
    # model's top 5 (>= 5 classes), and output SNR in dB (inf: identical outputs)
    "agreement_top1": "Float64",
    "agreement_top1_ci_low": "Float64",  # Wilson 95%
    "agreement_top1_ci_high": "Float64",
    "agreement_top5": "Float64",
    "output_snr_db": "Float64",  # a model with several outputs: its worst output's
    # every output against float, for models whose outputs are not (only) one class
    # vector: the lowest pooled cosine similarity and the largest absolute error of any
    # output (each output's own figures are in ``extra["outputs"]``)
    "output_cosine": "Float64",
    "output_max_abs_error": "Float64",
    # a regression (non-class) output with labels: its error against the true values,
    # MAE and RMSE with bootstrap 95% intervals over the eval inputs (the first such
    # output; each labelled output's own MAE and RMSE are in ``extra["outputs"]``)
    "truth_output": "string",
    "error_samples": "Int64",
    "mae": "Float64",
    "mae_ci_low": "Float64",
    "mae_ci_high": "Float64",
    "rmse": "Float64",
    "rmse_ci_low": "Float64",
    "rmse_ci_high": "Float64",
    # QAT rows: the build's conversion gap (see qat/fidelity.py) and fine-tuning objective
    "keras_qat_top1": "Float64",  # the fake-quant Keras model, on the eval set
    "conversion_gap_points": "Float64",  # Keras minus .tflite, percentage points
    "conversion_gap_basis": "string",  # "top-1" or "agreement with float"
    "qat_objective": "string",  # "labels" or "distill"
    "ops_total": "Int64",
    "ops_on_accelerator": "Int64",
    "noisy": "boolean",
    "delegate": "string",
    "runtime": "string",
    "cpu_model": "string",
    "cpu_count": "Int64",
    "weights": "string",
    # the build cache key of the model file (qatbench build / run): two rows with one key
    # timed the same bytes, so a change between them is the host's or the runtime's
    "build_key": "string",
    # the file the row measured: relative to the run directory when it is the run's own
    # (artifacts/<model>/<variant>.tflite), else absolute (a file ``qatbench bench`` timed)
    "model_file": "string",
    "note": "string",
    # what to ship (statistics/decision.py): this variant against the run's goals on its
    # model × target × threads -- "ship: ...", "tie ...", "meets ...", "misses: ...",
    # "undecided: ..." naming the figure; written when the run finishes
    "decision": "string",
    "extra": "string",  # free-form JSON: placement tables, device properties, ...
}

# run, row key and repeat: what names one repeat of one row in the side tables
_REPEAT_KEY: dict[str, str] = {
    "run_id": "string",
    **{column: RESULT_COLUMNS[column] for column in KEY_COLUMNS},
    "repeat": "Int64",
}

SAMPLE_COLUMNS: dict[str, str] = {
    **_REPEAT_KEY,
    "sample_index": "Int64",
    "latency_ms": "float64",
}

# every figure one repeat measures of its own: kept per repeat so that a row is
# summarised from its repeats' lines (medians of start-up, max of memory, ...)
REPEAT_FIGURES: tuple[str, ...] = (
    "latency_ms_min", "latency_ms_p50", "latency_ms_mean", "latency_ms_max",
    "latency_ms_std", "n_samples", "init_ms", "first_inference_ms", "peak_memory_mb")

REPEAT_COLUMNS: dict[str, str] = {
    **_REPEAT_KEY,
    "started_at": "string",
    "status": "string",
    "error": "string",
    # latency_ms_p50: the repeat's own median (or the tool's reported mean: repeat_figure)
    **{column: RESULT_COLUMNS[column] for column in REPEAT_FIGURES},
}

# Jobs with these statuses are finished: ``--resume`` does not repeat them.
FINISHED_STATUSES = frozenset({"ok", "compiled", "failed", "skipped", "unavailable"})


def empty_results() -> pd.DataFrame:
    return conform(pd.DataFrame(columns=list(RESULT_COLUMNS)), RESULT_COLUMNS)


def conform(frame: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    """Every documented column present, in order, with its dtype (missing -> NA)."""
    out = frame.copy()
    for column in columns:
        if column not in out.columns:
            out[column] = pd.NA
    extra_columns = [c for c in out.columns if c not in columns]
    out = out[[*columns, *extra_columns]]
    return out.astype({c: t for c, t in columns.items()})
