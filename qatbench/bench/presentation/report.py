"""``report.md`` and a self-contained ``report.html`` (plots embedded) for one or more runs.

Both are rendered from the same list of sections, so the markdown a CI job summary
shows and the HTML a person opens never disagree. When ``GITHUB_STEP_SUMMARY`` is set
the markdown is appended there, once per report (``step_summary.py``, shared with
``compare``). ``Section`` and the two renderers live in ``sections.py``."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from qatbench.bench.presentation.accuracy import (
    ACCURACY_NOTES,
    CONVERSION_GAP_THRESHOLD_POINTS,
    RANDOM_WEIGHTS_NOTE,
    accuracy_differences_frame,
    agreement_cell,
    conversion_gap_frame,
    layer_error_frame,
    needs_agreement_note,
    top1_cell,
    truth_error_frame,
)
from qatbench.bench.presentation.outputs import per_output_frame
from qatbench.bench.presentation.profile_report import profile_sections
from qatbench.bench.presentation.sections import Section, render_html, render_markdown
from qatbench.bench.presentation.step_summary import (
    append_to_step_summary,
    step_summary_marker,
)
from qatbench.bench.presentation.summary import (
    SETUP_DIGITS,
    problems_frame,
    setup_differences,
    setup_labels,
    size_text,
    size_unit,
    summary_frame,
    targets_with_several_setups,
    with_shared_fingerprint,
)
from qatbench.bench.presentation.what_to_ship import (
    PARETO_PREFIX,
    decide_results,
    what_to_ship_section,
)
from qatbench.bench.storage.store import atomic_write_text, read_environment

# Latency-detail columns shown even when empty: they name the row.
LATENCY_KEY_COLUMNS = ["model", "variant", "target"]


def _fmt(value: object, spec: str) -> str:
    return "" if pd.isna(value) else format(float(value), spec)


def _pct(value: object) -> str:
    return "" if pd.isna(value) else f"{100 * float(value):.1f}%"


def classic_table(results: pd.DataFrame, target: str) -> pd.DataFrame:
    """The table of the QAT literature, on one target: top-1, size, p50 float → int8."""
    rows = []
    shared = with_shared_fingerprint(results)
    on_target = shared[shared["target"] == target]
    several_setups = target in targets_with_several_setups(results)
    several_devices = on_target["device"].astype(str).nunique() > 1
    unit, divisor = size_unit(results["size_bytes"])  # the console summary's unit too
    for (model, threads, device, fingerprint), group in on_target.groupby(
            ["model", "threads", "device", "fingerprint"], sort=False, dropna=False):
        by = {str(r["variant"]): r for _, r in group.iterrows()}
        float_row, qat, ptq = by.get("float32"), by.get("qat_int8"), by.get("ptq_int8")
        int8 = qat if qat is not None else ptq
        size = p50 = ""
        if int8 is not None and float_row is not None:
            size = (f"{size_text(float_row['size_bytes'], divisor)} → "
                    f"{size_text(int8['size_bytes'], divisor)} {unit} "
                    f"({_fmt(int8['size_ratio_vs_float'], '.2f')}x)")
            if pd.notna(int8["speedup_vs_float"]):
                basis = "" if int8["speedup_basis"] == "p50" else " mean"
                stat = "latency_ms_p50" if not basis else "latency_ms_mean"
                p50 = (f"{_fmt(float_row[stat], '.3g')} → {_fmt(int8[stat], '.3g')} ms"
                       f"{basis} ({_fmt(int8['speedup_vs_float'], '.2f')}x)")
        rows.append({"model": model,
                     **({"device": device} if several_devices else {}),
                     **({"setup": fingerprint[:SETUP_DIGITS]} if several_setups else {}),
                     "threads": threads,
                     "float top-1": top1_cell(float_row),
                     "QAT int8 top-1": top1_cell(qat),
                     "PTQ int8 top-1": top1_cell(ptq),
                     "agreement QAT / PTQ": _slash(agreement_cell(qat), agreement_cell(ptq)),
                     f"size float → {'QAT' if qat is not None else 'PTQ'} int8 (shrink)": size,
                     f"p50 float → {'QAT' if qat is not None else 'PTQ'} int8 (speedup)": p50})
    return pd.DataFrame(rows)


def _slash(first: str, second: str) -> str:
    return f"{first or '–'} / {second or '–'}" if first or second else ""


def _range(low: object, high: object, spec: str = ".4g") -> str:
    """``low–high`` in one cell (no spaces: a narrow column does not break it)."""
    low_text, high_text = _fmt(low, spec), _fmt(high, spec)
    return f"{low_text}–{high_text}" if low_text or high_text else ""


def _pair(first: object, second: object, spec: str = ".4g") -> str:
    first_text, second_text = _fmt(first, spec), _fmt(second, spec)
    return f"{first_text or '–'} / {second_text or '–'}" if first_text or second_text else ""


def _p50_with_ci(row: dict) -> str:
    """``p50 [low–high]``; a row that is not ok says its status here instead (a status
    column, empty on almost every row, would cost the table its width)."""
    p50 = _fmt(row["latency_ms_p50"], ".4g")
    ci = _range(row["latency_ms_p50_ci_low"], row["latency_ms_p50_ci_high"])
    cell = f"{p50} [{ci}]" if p50 and ci else p50
    status = _text(row["status"])
    return cell if status == "ok" else f"{cell} ({status})" if cell else status


def _cv(row: dict) -> str:
    std, mean = row["latency_ms_std"], row["latency_ms_mean"]
    return "" if pd.isna(std) or pd.isna(mean) or not mean else _pct(float(std) / float(mean))


def _text(value: object) -> str:
    return "" if value is None or pd.isna(value) else str(value)


def repeats_of(results: pd.DataFrame) -> pd.Series:
    """How many child processes each row summarises (a row never timed: one)."""
    return results["repeats"].astype("Int64").fillna(1)


def latency_frame(results: pd.DataFrame) -> pd.DataFrame:
    """Every row's latency in one page-wide table: p50 and its CI share a cell, min and
    max form a range, and columns no row fills (no noisy row, no repeats) are left out."""
    records = results.to_dict("records")
    repeats = repeats_of(results).tolist()
    show_repeats = any(k > 1 for k in repeats)
    frame = pd.DataFrame([{
        "model": row["model"], "variant": row["variant"], "target": row["target"],
        "device": _text(row["device"]), "setup": setup, "thr": _text(row["threads"]),
        "p50 ms [95% CI]": _p50_with_ci(row),
        "min–max": _range(row["latency_ms_min"], row["latency_ms_max"]),
        "p90 / p99": _pair(row["latency_ms_p90"], row["latency_ms_p99"]),
        "cv": _cv(row), "n": _text(row["n_samples"]),
        "K": str(k) if show_repeats and pd.notna(row["latency_ms_p50"]) else "",
        "noisy": "NOISY" if row["noisy"] is True else "",
        "init / 1st ms": _pair(row["init_ms"], row["first_inference_ms"], ".3g"),
        "peak MB": _fmt(row["peak_memory_mb"], ".3g"), "delegate": _text(row["delegate"]),
    } for row, setup, k in zip(records, setup_labels(results), repeats, strict=True)])
    if frame.empty:
        return frame
    blank = [c for c in frame.columns
             if c not in LATENCY_KEY_COLUMNS and (frame[c] == "").all()]
    if frame["device"].nunique() <= 1:
        blank.append("device")  # one device: said once, in the environment
    return frame.drop(columns=list(dict.fromkeys(blank)))


def latency_notes(results: pd.DataFrame) -> str:
    """What the latency-detail columns mean, and which kind of CI each row carries.

    The two CIs answer different questions: a bootstrap of one process's samples says
    how well *that run's* median is known and is blind to run-to-run shifts (boot,
    frequency, memory placement); an interval over K processes includes them.
    """
    measured = results["latency_ms_p50"].notna()
    repeats = repeats_of(results)[measured]
    lines = ["p50 in ms with its 95% confidence interval [low–high]; min–max: the fastest "
             "and slowest timed run; cv: standard deviation / mean; init / 1st: "
             "interpreter set-up and first inference. NOISY marks a cv above 10% or a CI "
             "wider than 5% of the median. A row that is not ok shows its status in place "
             "of its p50 (why: under Not measured)."]
    single = "Rows with K = 1 (one child process)" if (repeats > 1).any() else \
        "Each row was measured in one child process, so its"
    if (repeats <= 1).any():
        lines.append(f"{single} CI is a bootstrap of that process's own samples: it says "
                     "how well that run's median is known, and cannot see shifts between "
                     "runs (another boot, CPU frequency, memory placement), which are often "
                     "larger. Measure in several processes (`--repeats K`) for an interval "
                     "that includes them.")
    if (repeats > 1).any():
        lines.append("Rows with K > 1 summarise K independent child processes: their CI is "
                     "a t-interval on the K per-process medians, so it includes the "
                     "run-to-run shifts a single process cannot see.")
    return "\n\n".join(lines)  # paragraphs, in markdown and HTML alike


def _target_columns(measured: pd.DataFrame) -> pd.Series:
    """The column each row goes to in the by-target table: its target, and its device or
    setup when that target has several (two phones, two hosts never share a column)."""
    shared = with_shared_fingerprint(measured)
    labels = shared["target"].astype(str)
    devices = shared.groupby("target")["device"].transform("nunique")
    labels = labels.where(devices <= 1, labels + " [" + shared["device"].astype(str) + "]")
    setups = setup_labels(measured)
    return labels.where(setups == "", labels + " @" + setups)


def by_target_frame(results: pd.DataFrame) -> pd.DataFrame:
    """p50 of each model × variant side by side on every target (Edge TPU next to CPU)."""
    measured = results[results["latency_ms_p50"].notna()]
    if measured["target"].nunique() < 2:
        return pd.DataFrame()
    columns = _target_columns(measured)
    pivot = measured.assign(column=columns.to_numpy()).pivot_table(
        index=["model", "variant", "threads"], columns="column", values="latency_ms_p50",
        aggfunc="first", sort=False)
    pivot = pivot.reindex(columns=list(dict.fromkeys(columns))).map(lambda v: _fmt(v, ".4g"))
    # the columns' axis name would become a header over an empty column in to_html
    return pivot.rename_axis(columns=None).reset_index()


def placement_frame(results: pd.DataFrame) -> pd.DataFrame:
    """Per-operator placement on accelerator targets (from the compiler or delegate)."""
    rows = []
    for _, row in results.iterrows():
        for entry in _extra(row).get("placement", []):
            rows.append({"model": row["model"], "variant": row["variant"],
                         "target": row["target"], "operator": entry.get("operator"),
                         "count": entry.get("count"), "status": entry.get("status")})
    return pd.DataFrame(rows)


def _extra(row: pd.Series) -> dict:
    try:
        return json.loads(row["extra"]) if pd.notna(row["extra"]) else {}
    except json.JSONDecodeError:
        return {}


def worst_layers_frame(results: pd.DataFrame) -> pd.DataFrame:
    """The layers each int8 variant quantizes worst, against the float model (one table
    across models)."""
    return layer_error_frame(results, "worst_layers")


def slower_than_float_frame(results: pd.DataFrame, profiles: pd.DataFrame | None = None
                            ) -> pd.DataFrame:
    """int8 rows slower than their float32 sibling, with the causes this run measured
    (``statistics/explain.py``): the host's int8 instructions, op types that lost time
    (when profiled), what the delegate left out, quantize/dequantize boundaries."""
    from qatbench.bench.statistics.explain import explain

    rows = []
    shared = with_shared_fingerprint(results)
    slow = shared[(shared["variant"] != "float32")
                  & (shared["speedup_vs_float"].astype("Float64") < 1.0).fillna(False)]
    for _, row in slow.iterrows():
        sibling = shared[(shared["variant"] == "float32") & (shared["model"] == row["model"])
                         & (shared["target"] == row["target"])
                         & (shared["threads"] == row["threads"])
                         & (shared["device"] == row["device"])
                         & (shared["fingerprint"] == row["fingerprint"])]
        float_left = _extra(sibling.iloc[0]).get("ops_outside_delegate", {}) \
            if not sibling.empty else {}
        int8_left = _extra(row).get("ops_outside_delegate", {})
        extra_ops = {op: n - float_left.get(op, 0) for op, n in int8_left.items()
                     if n > float_left.get(op, 0)}
        float_lines, int8_lines = _profile_lines(profiles, row)
        causes = explain(row, extra_ops, float_lines, int8_lines)
        rows.append({
            "model": row["model"], "variant": row["variant"], "target": row["target"],
            "speedup": _fmt(row["speedup_vs_float"], ".2f") + "x",
            "int8 delegate": row["delegate"],
            "float32 delegate": sibling.iloc[0]["delegate"] if not sibling.empty else "",
            "ops outside the delegate (int8)": _ops(int8_left),
            "ops outside the delegate (float32)": _ops(float_left),
            "left out only in int8": _ops(extra_ops) or "none",
            "measured causes, most time first": "; ".join(c.text for c in causes) or
            "none measured in this run: `[run] profile = true` times every op of both "
            "files"})
    return pd.DataFrame(rows)


def _profile_lines(profiles: pd.DataFrame | None, row: pd.Series
                   ) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """The float32 and this int8 variant's per-op lines on the row's series, if profiled."""
    if profiles is None or profiles.empty:
        return None, None
    same = profiles[(profiles["model"] == row["model"]) & (profiles["target"] == row["target"])
                    & (profiles["threads"] == row["threads"])]
    if "fingerprint" in same and pd.notna(row.get("fingerprint")):
        same = same[same["fingerprint"] == row["fingerprint"]]
    return same[same["variant"] == "float32"], same[same["variant"] == row["variant"]]


def _ops(counts: dict[str, int]) -> str:
    return ", ".join(f"{op}×{n}" for op, n in sorted(counts.items(), key=lambda kv: -kv[1]))


def accelerator_frame(results: pd.DataFrame) -> pd.DataFrame:
    rows = results[results["ops_total"].notna()]
    if rows.empty:
        return pd.DataFrame()
    frame = rows[["model", "variant", "target", "status", "ops_total", "ops_on_accelerator",
                  "delegate"]].copy()
    frame["on accelerator"] = [
        f"{100 * a / t:.0f}%" if pd.notna(a) and t else ""
        for a, t in zip(rows["ops_on_accelerator"], rows["ops_total"], strict=True)]
    return frame


def environment_lines(run_dir: Path) -> list[str]:
    env = read_environment(run_dir)  # a damaged file: exit 2 naming it, not a traceback
    if env is None:
        return []
    packages = ", ".join(f"{k} {v}" for k, v in env.get("packages", {}).items())
    load = env.get("load_average")
    return [
        f"- host `{env['host']}`: {env['cpu_model']}, {env['cpu_count']} logical cores, "
        f"{env['machine']}, governor {env.get('governor') or 'not readable'}, "
        f"load at start {', '.join(f'{x:.2f}' for x in load) if load else 'unknown'}",
        f"- Python {env['python']}; {packages}",
        f"- git {env['git_commit'][:12]}{' (dirty tree)' if env.get('git_dirty') else ''}",
    ]


def build_sections(results: pd.DataFrame, run_dirs: list[Path], plots: list[Path],
                   gap_threshold_points: float = CONVERSION_GAP_THRESHOLD_POINTS
                   ) -> list[Section]:
    sections = []
    setups = setup_differences(results)
    if setups:
        sections.append(Section(
            "Measured on different setups",
            "This report merges rows measured under different fingerprints (host, runtime, "
            "device): figures of different setups are not comparable.\n" + "\n".join(setups)))
    accuracy_text = ACCURACY_NOTES + ("\n" + RANDOM_WEIGHTS_NOTE
                                      if needs_agreement_note(results) else "")
    sections.append(Section("Float vs int8: size, latency, top-1",
                        "Shrink and speedup are float32 / int8 on the same target and thread "
                        "count. Top-1 and agreement are measured on each target's own "
                        "interpreter (see `accuracy_source` in results.csv).\n"
                        + accuracy_text))
    for target in dict.fromkeys(results["target"].astype(str)):
        table = classic_table(results, target)
        if not table.empty:
            sections.append(Section(f"On {target}", table=table))
    ship = what_to_ship_section(decide_results(results, run_dirs))
    if ship is not None:  # the first section after the headline tables
        sections.append(ship)
    pareto = [plot for plot in plots if plot.stem.startswith(PARETO_PREFIX)]
    sections.extend(Section(f"Pareto: {plot.stem.removeprefix(PARETO_PREFIX)}", image=plot)
                    for plot in pareto)
    differences = accuracy_differences_frame(results, run_dirs)
    if not differences.empty:
        sections.append(Section(
            "Accuracy differences",
            "Each pair was evaluated on the same inputs on the same target; McNemar's "
            "exact test looks only at the inputs exactly one of the two got right (only "
            "A / only B). p below 0.05 names the better model; otherwise the sample "
            "cannot resolve the difference and it reads \"no measurable difference\". "
            "Without labels the pair is judged on agreement with the float model.",
            table=differences))
    outputs = per_output_frame(results)
    if not outputs.empty:
        sections.append(Section(
            "Every output against float",
            "For models whose outputs are not (only) one class vector: each output of "
            "each row against the float32 model on the same inputs -- SNR in dB, cosine "
            "similarity pooled over the inputs, and the largest absolute error. The "
            "row's `output_snr_db` is its worst output's; the gate fails an int8 row "
            "whose worst-output SNR fell by more than 3 dB.",
            table=outputs))
    gap = conversion_gap_frame(results, gap_threshold_points, run_dirs)
    if not gap.empty:
        sections.append(Section(
            "Conversion gap (the QAT model vs its .tflite)",
            "The fake-quant QAT model (Keras, or the PT2E module of a PyTorch source) beside "
            "the int8 file converted from it, on the same "
            "inputs, on the build host (the file on TFLite's reference kernels): top-1 "
            "where labels exist, else agreement with the float model. A gap above "
            f"{gap_threshold_points:g} point(s) is flagged: conversion changed what the "
            "QAT model learnt. Per-layer detail in the table \"int8 vs QAT Keras model\".",
            table=gap))
    sections.append(Section("Summary by model and target", table=summary_frame(results)))
    errors = truth_error_frame(results)
    if not errors.empty:
        sections.append(Section(
            "Error against the true values (regression outputs)",
            "Each labelled non-class output against its true values: mean absolute and "
            "root-mean-square error over the eval inputs, with bootstrap 95% intervals "
            "(BCa, inputs resampled), beside the output's SNR against the float32 "
            "model.", table=errors))
    side_by_side = by_target_frame(results)
    if not side_by_side.empty:
        sections.append(Section("p50 latency (ms) on each target", table=side_by_side))
    sections.append(Section("Latency detail", latency_notes(results),
                            table=latency_frame(results), css_class="figures"))
    from qatbench.bench.storage.profiles import load_profiles

    slower = slower_than_float_frame(results, load_profiles(run_dirs))
    if not slower.empty:
        sections.append(Section(
            "int8 slower than float32",
            "These int8 models run slower than their float32 model on the same target. "
            "Each cause is named only where this run measured it, with its figure: the "
            "host's int8 dot-product instructions (from the CPU flags the run recorded), "
            "the op types that lost time in int8 and their share of the gap (per-op "
            "profiles), ops the delegate left out only in int8, and quantize/dequantize "
            "boundaries.",
            table=slower))
    sections.extend(profile_sections(results, run_dirs, plots))
    worst = worst_layers_frame(results)
    if not worst.empty:
        sections.append(Section(
            "Per-layer error: int8 vs float model (quantization + fine-tuning)",
            "RMS error of each layer's int8 output against the float model, in quantization "
            "steps of that tensor (about 0.29 is rounding noise alone). For QAT this "
            "includes what fine-tuning moved. Full tables in "
            "artifacts/<model>/layer_errors_<variant>[_vs_float].csv.", table=worst))
    vs_keras = layer_error_frame(results, "worst_layers_vs_qat_keras")
    if not vs_keras.empty:
        sections.append(Section(
            "Per-layer error: int8 vs QAT Keras model (what conversion changed)",
            "The same measure against the fake-quant Keras model the file was converted "
            "from: only what conversion changed (near 0.29 steps: rounding alone). Full "
            "tables in artifacts/<model>/layer_errors_<variant>_vs_qat_keras.csv.",
            table=vs_keras))
    accelerator = accelerator_frame(results)
    if not accelerator.empty:
        sections.append(Section("Ops on the accelerator", table=accelerator))
    placement = placement_frame(results)
    if not placement.empty:
        sections.append(Section("Op placement per operator", table=placement))
    problems = problems_frame(results)
    if not problems.empty:
        sections.append(Section("Not measured", table=problems))
    notes = results[results["note"].fillna("") != ""][["model", "variant", "target", "note"]]
    if not notes.empty:
        sections.append(Section("Notes", table=notes.drop_duplicates()))
    for plot in plots:
        if plot not in pareto:
            sections.append(Section(f"Plot: {plot.stem.replace('_', ' ')}", image=plot))
    for run_dir in run_dirs:
        lines = environment_lines(run_dir)
        if lines:
            sections.append(Section(f"Environment ({run_dir.name})", "\n".join(lines)))
    return sections


def write_report(results: pd.DataFrame, run_dirs: list[Path], out_dir: Path) -> Path:
    """Write plots, ``report.md`` and ``report.html`` into ``out_dir``; return report.md."""
    from qatbench.bench.presentation.plots import write_run_plots

    out_dir.mkdir(parents=True, exist_ok=True)
    plots = write_run_plots(results, out_dir / "plots") if not results.empty else []
    if not results.empty:
        from qatbench.bench.presentation.pareto import write_pareto_plots

        plots += write_pareto_plots(results, decide_results(results, run_dirs),
                                    out_dir / "plots")
    sections = build_sections(results, run_dirs, plots)
    markdown = render_markdown(sections, results, out_dir)
    path = out_dir / "report.md"
    atomic_write_text(path, markdown)
    atomic_write_text(out_dir / "report.html", render_html(sections, results))
    append_to_step_summary(markdown, step_summary_marker(results), out_dir)
    return path
