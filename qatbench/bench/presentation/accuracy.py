"""The report's accuracy sections: figures with their intervals, paired differences, and
the Keras→TFLite conversion gap of each QAT variant.

A difference is only called a difference when the paired per-input predictions resolve
it (McNemar's exact test, ``statistics.accuracy``); anything else reads "no measurable
difference", however the two percentages look side by side.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from qatbench.bench.presentation.summary import with_shared_fingerprint
from qatbench.bench.statistics.accuracy import paired_hits
from qatbench.bench.storage.key import RowKey
from qatbench.bench.storage.predictions import Predictions, load_predictions

CONVERSION_GAP_THRESHOLD_POINTS = 1.0  # |Keras - .tflite| above this is flagged
# (A, B) pairs tested, in this order: what a QAT study asks first
COMPARISONS = (("qat_int8", "ptq_int8"), ("qat_int8", "float32"), ("ptq_int8", "float32"),
               ("qat_selective", "qat_int8"), ("qat_selective", "float32"))
LABELS = {"float32": "float", "ptq_int8": "PTQ", "qat_int8": "QAT",
          "qat_selective": "selective QAT"}

ACCURACY_NOTES = (
    "Top-1 and agreement are shown with their Wilson 95% interval [low–high] over the "
    "eval inputs. Agreement is the fraction of inputs on which the model picks the float32 "
    "model's class (its .tflite on TFLite's reference kernels, on the same inputs); top-5 "
    "agreement whether the float class is among the model's five best; SNR compares the "
    "whole output with the float output (dB; inf: identical).")
RANDOM_WEIGHTS_NOTE = (
    "Models with random (or no labelled) ImageNet weights have no meaningful top-1: for "
    "them, agreement with the float model is the honest accuracy signal -- it says how "
    "much int8 changed the model's decisions, not how good those decisions are.")


def _is_na(value: object) -> bool:
    return value is None or (not isinstance(value, str) and pd.isna(value))


def pct(value: object) -> str:
    return "" if _is_na(value) else f"{100 * float(value):.1f}%"


def pct_with_ci(value: object, low: object, high: object) -> str:
    """``96.3% [95.0–97.3]``; the bare figure when the row has no interval (measured
    before qatbench stored one: the report shows what was measured, nothing derived)."""
    if _is_na(value):
        return ""
    if _is_na(low) or _is_na(high):
        return pct(value)
    return f"{pct(value)} [{100 * float(low):.1f}–{100 * float(high):.1f}]"


def top1_cell(row: pd.Series | dict | None) -> str:
    if row is None:
        return ""
    return pct_with_ci(row.get("accuracy_top1"), row.get("accuracy_top1_ci_low"),
                       row.get("accuracy_top1_ci_high"))


def agreement_cell(row: pd.Series | dict | None) -> str:
    if row is None:
        return ""
    return pct_with_ci(row.get("agreement_top1"), row.get("agreement_top1_ci_low"),
                       row.get("agreement_top1_ci_high"))


def needs_agreement_note(results: pd.DataFrame) -> bool:
    """Rows that carry agreement but no top-1 (random weights, no labelled data)."""
    if "agreement_top1" not in results:
        return False
    return bool((results["agreement_top1"].notna() & results["accuracy_top1"].isna()).any()
                or (results["weights"].astype(str) == "random").any())


def _run_dir_of(run_id: object, run_dirs: Sequence[Path]) -> list[Path]:
    named = [d for d in run_dirs if d.name == str(run_id)]
    return named or list(run_dirs)


def predictions_of(row: dict, run_dirs: Sequence[Path]) -> Predictions | None:
    """The row's stored per-input predictions, from the run directory it came from."""
    key = RowKey.of(row)
    for run_dir in _run_dir_of(row.get("run_id"), run_dirs):
        found = load_predictions(run_dir, key)
        if found is not None:
            return found
    return None


def _basis(a: Predictions, b: Predictions, variants: tuple[str, str]) -> str | None:
    if a.has_labels and b.has_labels:
        return "top1"
    if "float32" not in variants and a.has_reference and b.has_reference:
        return "agreement"  # int8 against int8, judged by the float model's classes
    return None


def vacuous_agreement_reason(reference: Predictions | None) -> str | None:
    """Why agreement with float is no figure for these inputs, or None when it is one.

    The rows' rule (``targets.worker``, ``agreement.uninformative_reference``), applied to
    the float classes a row stored: when the float model gives one class for every input,
    any model that always answers that class agrees 100%, so a table built on agreement
    leaves its cells empty with this reason rather than print "100%" or "no measurable
    difference"."""
    if reference is None or not reference.has_reference:
        return None
    classes = np.unique(reference.reference)
    if len(reference.reference) < 2 or len(classes) > 1:
        return None
    return (f"agreement with float not reported: the float model gives class "
            f"{int(classes[0])} for every one of the {len(reference.reference)} inputs, so "
            "any model that does the same would agree 100%")


def accuracy_differences_frame(results: pd.DataFrame, run_dirs: Sequence[Path]
                               ) -> pd.DataFrame:
    """McNemar's exact test for QAT vs PTQ and int8 vs float on each target, paired on
    the per-input predictions (same inputs, same target, same setup)."""
    rows = []
    shared = with_shared_fingerprint(results)
    evaluated = shared[shared["status"] == "ok"]
    for (model, target, device, threads, _), group in evaluated.groupby(
            ["model", "target", "device", "threads", "fingerprint"], sort=False, dropna=False):
        by_variant = {str(r["variant"]): r for r in group.to_dict("records")}
        for a_name, b_name in COMPARISONS:
            if a_name not in by_variant or b_name not in by_variant:
                continue
            a = predictions_of(by_variant[a_name], run_dirs)
            b = predictions_of(by_variant[b_name], run_dirs)
            if a is None or b is None or not a.pairs_with(b):
                continue
            basis = _basis(a, b, (a_name, b_name))
            if basis is None:
                continue
            label_a, label_b = LABELS.get(a_name, a_name), LABELS.get(b_name, b_name)
            vacuous = vacuous_agreement_reason(a) if basis == "agreement" else None
            if vacuous:  # empty, with the reason, as the rows are
                rows.append({"model": model, "target": target, "device": device,
                             "thr": threads, "comparison": f"{label_a} vs {label_b}",
                             "on": "agreement with float", "n": len(a.predicted),
                             "A": "", "B": "", "only A right": "", "only B right": "",
                             "p (McNemar exact)": "", "verdict": vacuous})
                continue
            hits_a, hits_b = a.hits(basis), b.hits(basis)
            assert hits_a is not None and hits_b is not None
            test = paired_hits(hits_a, hits_b)
            rows.append({
                "model": model, "target": target, "device": device, "thr": threads,
                "comparison": f"{label_a} vs {label_b}",
                "on": "top-1" if basis == "top1" else "agreement with float",
                "n": test.n, "A": pct(test.a_rate), "B": pct(test.b_rate),
                "only A right": test.only_a, "only B right": test.only_b,
                "p (McNemar exact)": f"{test.p_value:.2g}",
                "verdict": test.verdict(label_a, label_b)})
    frame = pd.DataFrame(rows)
    if not frame.empty and frame["device"].astype(str).nunique() <= 1:
        frame = frame.drop(columns="device")
    return frame


def _extra(row: dict) -> dict:
    try:
        return json.loads(row["extra"]) if not _is_na(row.get("extra")) else {}
    except json.JSONDecodeError:
        return {}


def _number(value: object) -> float | None:
    return None if _is_na(value) or not math.isfinite(float(value)) else float(value)


def conversion_gap_frame(results: pd.DataFrame,
                         threshold_points: float = CONVERSION_GAP_THRESHOLD_POINTS,
                         run_dirs: Sequence[Path] = ()) -> pd.DataFrame:
    """One line per QAT variant: the fake-quant Keras model beside its converted file,
    on the same inputs (build host, reference kernels), and whether the gap is flagged.
    A gap on agreement with a float model that gives one class for every input (the
    float classes the row stored in ``run_dirs``) is left empty with that reason."""
    rows, seen = [], set()
    for row in results.to_dict("records"):
        gap = _extra(row).get("conversion_gap") or {}
        key = (row["model"], row["variant"], row.get("run_id"))
        if not gap or key in seen:
            continue
        seen.add(key)
        by_top1 = gap.get("conversion_gap_basis") == "top-1"
        keras = gap.get("keras_qat_top1") if by_top1 else gap.get("keras_qat_agreement")
        tflite = gap.get("tflite_top1") if by_top1 else gap.get("tflite_agreement")
        points = _number(gap.get("conversion_gap_points"))
        vacuous = None if by_top1 or not run_dirs else vacuous_agreement_reason(
            predictions_of(row, run_dirs))
        if vacuous:
            keras = tflite = points = None
        flagged = points is not None and abs(points) > threshold_points
        rows.append({
            "model": row["model"], "variant": row["variant"],
            "QAT objective": "" if _is_na(row.get("qat_objective")) else row["qat_objective"],
            "on": gap.get("conversion_gap_basis") or "",
            "QAT model (fake-quant)": pct(keras), ".tflite int8": pct(tflite),
            "gap (points)": "" if points is None else f"{points:+.1f}",
            ".tflite vs QAT model agreement": pct(gap.get("tflite_qat_keras_agreement")),
            "n": gap.get("conversion_samples") or "",
            "flag": (f"GAP > {threshold_points:g} point"
                     + ("s" if threshold_points != 1 else "")
                     + (" (conversion lost accuracy)" if points and points > 0 else
                        " (the file does better than its Keras model)"))
            if flagged else vacuous or ""})
    return pd.DataFrame(rows)


def layer_error_frame(results: pd.DataFrame, field: str) -> pd.DataFrame:
    """The worst layers of each int8 variant from ``extra[field]`` (one table for all)."""
    rows, seen = [], set()
    for row in results.to_dict("records"):
        layers = _extra(row).get(field) or []
        key = (row["model"], row["variant"])
        if key in seen or not layers:
            continue
        seen.add(key)
        for rank, layer in enumerate(layers, 1):
            rmse = layer.get("rmse_over_scale")
            rel = layer.get("rel_rmse")
            flat = near_constant_reason(rmse, rel)
            rows.append({"model": row["model"], "variant": row["variant"], "rank": rank,
                         "layer": layer.get("layer"), "op": layer.get("op"),
                         "rmse (quant. steps)": "" if _is_na(rmse) else f"{float(rmse):.3g}",
                         "rmse / std": "" if _is_na(rel) or flat else f"{float(rel):.3g}",
                         "method": layer.get("method"), "note": flat or ""})
    frame = pd.DataFrame(rows)
    if not frame.empty and not frame["note"].astype(bool).any():
        frame = frame.drop(columns="note")
    return frame


def near_constant_reason(rmse_over_scale: object, rel_rmse: object) -> str | None:
    """Why ``rmse / std`` is no figure for a layer, or None when it is one.

    A layer's output is near-constant when the float values vary by less than one
    quantization step of the tensor: std < scale. The threshold is the data's own scale
    (the step int8 can resolve), not an absolute number, because layer outputs span many
    orders of magnitude; below it the int8 tensor cannot represent the variation at
    all, and rmse / std is a ratio to a vanishing denominator (a softmax that is almost
    one-hot for every input gave 8.59e+06). Both figures share the rmse, so
    std / scale = (rmse / scale) / (rmse / std)."""
    if _is_na(rmse_over_scale) or _is_na(rel_rmse):
        return None
    steps, ratio = float(rmse_over_scale), float(rel_rmse)
    if not (math.isfinite(steps) and math.isfinite(ratio)) or ratio <= 0:
        return None
    std_in_steps = steps / ratio
    if std_in_steps >= 1.0:
        return None
    return (f"rmse / std not shown: the float output is near-constant (its std is "
            f"{std_in_steps:.2g} of one quantization step), so a ratio to it is no figure")


def _number_with_ci(value: object, low: object, high: object) -> str:
    from qatbench.bench.presentation.summary import three_digits

    if _is_na(value):
        return ""
    text = three_digits(float(value))
    if _is_na(low) or _is_na(high):
        return text
    return f"{text} [{three_digits(float(low))}–{three_digits(float(high))}]"


def truth_error_frame(results: pd.DataFrame) -> pd.DataFrame:
    """One line per row with an error against the true values (a labelled regression
    output): MAE and RMSE with their bootstrap 95% intervals, beside SNR against float."""
    if "mae" not in results:
        return pd.DataFrame()
    rows = []
    for row in results[results["mae"].notna()].to_dict("records"):
        snr = row.get("output_snr_db")
        rows.append({
            "model": row["model"], "variant": row["variant"], "target": row["target"],
            "thr": row["threads"], "output": row.get("truth_output") or "",
            "MAE [95%]": _number_with_ci(row["mae"], row.get("mae_ci_low"),
                                         row.get("mae_ci_high")),
            "RMSE [95%]": _number_with_ci(row.get("rmse"), row.get("rmse_ci_low"),
                                          row.get("rmse_ci_high")),
            "SNR vs float (dB)": "" if _is_na(snr) else
            "inf" if math.isinf(float(snr)) else f"{float(snr):.1f}",
            "n": row.get("error_samples") if not _is_na(row.get("error_samples")) else ""})
    return pd.DataFrame(rows)
