"""``report.md`` and a self-contained ``report.html`` (plots embedded) for one or more runs.

Both are rendered from the same list of sections, so the markdown a CI job summary
shows and the HTML a person opens never disagree. When ``GITHUB_STEP_SUMMARY`` is set
the markdown is appended there.
"""

from __future__ import annotations

import base64
import html
import json
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from qatbench.bench.store import atomic_write_text
from qatbench.bench.summary import problems_frame, summary_frame
from qatbench.bench.tables import markdown_table

LATENCY_COLUMNS = ["model", "variant", "target", "threads", "status", "latency_ms_p50",
                   "latency_ms_p50_ci_low", "latency_ms_p50_ci_high", "latency_ms_p90",
                   "latency_ms_p99", "latency_ms_std", "n_samples", "noisy", "init_ms",
                   "first_inference_ms", "peak_memory_mb", "delegate"]


@dataclass(frozen=True)
class Section:
    title: str
    text: str = ""
    table: pd.DataFrame | None = None
    image: Path | None = None


def _fmt(value: object, spec: str) -> str:
    return "" if pd.isna(value) else format(float(value), spec)


def _pct(value: object) -> str:
    return "" if pd.isna(value) else f"{100 * float(value):.1f}%"


def classic_table(results: pd.DataFrame, target: str) -> pd.DataFrame:
    """The table of the QAT literature, on one target: top-1, size, p50 float → int8."""
    rows = []
    on_target = results[results["target"] == target]
    for (model, threads), group in on_target.groupby(["model", "threads"], sort=False):
        by = {str(r["variant"]): r for _, r in group.iterrows()}
        float_row, qat, ptq = by.get("float32"), by.get("qat_int8"), by.get("ptq_int8")
        int8 = qat if qat is not None else ptq

        def get(row: pd.Series | None, column: str) -> object:
            return pd.NA if row is None else row[column]

        size = p50 = ""
        if int8 is not None and float_row is not None:
            size = (f"{_fmt(float_row['size_bytes'] / 1e6, '.2f')} → "
                    f"{_fmt(int8['size_bytes'] / 1e6, '.2f')} MB "
                    f"({_fmt(int8['size_ratio_vs_float'], '.2f')}x)")
            if pd.notna(int8["speedup_vs_float"]):
                basis = "" if int8["speedup_basis"] == "p50" else " mean"
                stat = "latency_ms_p50" if not basis else "latency_ms_mean"
                p50 = (f"{_fmt(float_row[stat], '.3g')} → {_fmt(int8[stat], '.3g')} ms"
                       f"{basis} ({_fmt(int8['speedup_vs_float'], '.2f')}x)")
        rows.append({"model": model, "threads": threads,
                     "float top-1": _pct(get(float_row, "accuracy_top1")),
                     "QAT int8 top-1": _pct(get(qat, "accuracy_top1")),
                     "PTQ int8 top-1": _pct(get(ptq, "accuracy_top1")),
                     f"size float → {'QAT' if qat is not None else 'PTQ'} int8 (shrink)": size,
                     f"p50 float → {'QAT' if qat is not None else 'PTQ'} int8 (speedup)": p50})
    return pd.DataFrame(rows)


def latency_frame(results: pd.DataFrame) -> pd.DataFrame:
    frame = results[LATENCY_COLUMNS].copy()
    for column in LATENCY_COLUMNS:
        if column.startswith("latency") or column.endswith(("_ms", "_mb")):
            frame[column] = frame[column].map(lambda v: _fmt(v, ".4g"))
    frame["noisy"] = frame["noisy"].map(lambda v: "NOISY" if v is True else "")
    return frame.rename(columns=lambda c: c.replace("latency_ms_", "").replace("p50_ci_", "ci "))


def by_target_frame(results: pd.DataFrame) -> pd.DataFrame:
    """p50 of each model × variant side by side on every target (Edge TPU next to CPU)."""
    measured = results[results["latency_ms_p50"].notna()]
    if measured["target"].nunique() < 2:
        return pd.DataFrame()
    pivot = measured.pivot_table(index=["model", "variant", "threads"], columns="target",
                                 values="latency_ms_p50", aggfunc="first")
    return pivot.map(lambda v: _fmt(v, ".4g")).reset_index()


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
    """The layers each int8 variant quantizes worst (one table across models)."""
    rows, seen = [], set()
    for _, row in results.iterrows():
        key = (row["model"], row["variant"])
        layers = _extra(row).get("worst_layers") or []
        if key in seen or not layers:
            continue
        seen.add(key)
        for rank, layer in enumerate(layers, 1):
            rows.append({"model": row["model"], "variant": row["variant"], "rank": rank,
                         "layer": layer.get("layer"), "op": layer.get("op"),
                         "rmse (quant. steps)": _fmt(layer.get("rmse_over_scale"), ".3g"),
                         "rmse / std": _fmt(layer.get("rel_rmse"), ".3g"),
                         "method": layer.get("method")})
    return pd.DataFrame(rows)


def slower_than_float_frame(results: pd.DataFrame) -> pd.DataFrame:
    """int8 rows slower than their float32 sibling, explained by what the delegate left out."""
    rows = []
    slow = results[(results["variant"] != "float32")
                   & (results["speedup_vs_float"].astype("Float64") < 1.0).fillna(False)]
    for _, row in slow.iterrows():
        sibling = results[(results["model"] == row["model"]) & (results["target"] ==
                          row["target"]) & (results["threads"] == row["threads"])
                          & (results["variant"] == "float32")]
        float_left = _extra(sibling.iloc[0]).get("ops_outside_delegate", {}) \
            if not sibling.empty else {}
        int8_left = _extra(row).get("ops_outside_delegate", {})
        extra_ops = {op: n - float_left.get(op, 0) for op, n in int8_left.items()
                     if n > float_left.get(op, 0)}
        rows.append({
            "model": row["model"], "variant": row["variant"], "target": row["target"],
            "speedup": _fmt(row["speedup_vs_float"], ".2f") + "x",
            "int8 delegate": row["delegate"],
            "float32 delegate": sibling.iloc[0]["delegate"] if not sibling.empty else "",
            "ops outside the delegate (int8)": _ops(int8_left),
            "ops outside the delegate (float32)": _ops(float_left),
            "left out only in int8": _ops(extra_ops) or "none: compare the delegate "
                                                        "partitions and kernels"})
    return pd.DataFrame(rows)


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
    path = run_dir / "environment.json"
    if not path.exists():
        return []
    env = json.loads(path.read_text())
    packages = ", ".join(f"{k} {v}" for k, v in env.get("packages", {}).items())
    load = env.get("load_average")
    return [
        f"- host `{env['host']}`: {env['cpu_model']}, {env['cpu_count']} logical cores, "
        f"{env['machine']}, governor {env.get('governor') or 'not readable'}, "
        f"load at start {', '.join(f'{x:.2f}' for x in load) if load else 'unknown'}",
        f"- Python {env['python']}; {packages}",
        f"- git {env['git_commit'][:12]}{' (dirty tree)' if env.get('git_dirty') else ''}",
    ]


def build_sections(results: pd.DataFrame, run_dirs: list[Path], plots: list[Path]
                   ) -> list[Section]:
    sections = [Section("Float vs int8: size, latency, top-1",
                        "Shrink and speedup are float32 / int8 on the same target and thread "
                        "count. Top-1 is measured on each target's own interpreter (see "
                        "`accuracy_source` in results.csv).")]
    for target in dict.fromkeys(results["target"].astype(str)):
        table = classic_table(results, target)
        if not table.empty:
            sections.append(Section(f"On {target}", table=table))
    sections.append(Section("Summary by model and target", table=summary_frame(results)))
    side_by_side = by_target_frame(results)
    if not side_by_side.empty:
        sections.append(Section("p50 latency (ms) on each target", table=side_by_side))
    sections.append(Section(
        "Latency detail",
        "p50 with its bootstrap 95% confidence interval, in ms; NOISY marks a coefficient "
        "of variation above 10% or a CI wider than 5% of the median.",
        table=latency_frame(results)))
    slower = slower_than_float_frame(results)
    if not slower.empty:
        sections.append(Section(
            "int8 slower than float32",
            "These int8 models run slower than their float32 model on the same target. What "
            "the delegate did not take (ops left to the builtin kernels) and how many "
            "partitions it split the graph into (kernels: each boundary costs a hand-over) "
            "usually say why.",
            table=slower))
    worst = worst_layers_frame(results)
    if not worst.empty:
        sections.append(Section(
            "Per-layer quantization error (worst layers)",
            "RMS error of each layer's int8 output against the float model, in quantization "
            "steps of that tensor (about 0.29 is rounding noise alone); full tables in "
            "artifacts/<model>/layer_errors_<variant>.csv.", table=worst))
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
        sections.append(Section(f"Plot: {plot.stem.replace('_', ' ')}", image=plot))
    for run_dir in run_dirs:
        lines = environment_lines(run_dir)
        if lines:
            sections.append(Section(f"Environment ({run_dir.name})", "\n".join(lines)))
    return sections


def _runs_line(results: pd.DataFrame) -> str:
    return ", ".join(sorted({str(r) for r in results["run_id"].dropna()})) or "?"


def render_markdown(sections: list[Section], results: pd.DataFrame, base: Path) -> str:
    parts = [f"# qatbench report\n\nRun(s): {_runs_line(results)}\n"]
    for section in sections:
        parts.append(f"## {section.title}\n")
        if section.text:
            parts.append(section.text + "\n")
        if section.table is not None:
            parts.append(markdown_table(section.table))
        if section.image is not None:
            parts.append(f"![{section.title}]({os.path.relpath(section.image, base)})\n")
    return "\n".join(parts)


HTML_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:.85em}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left}th{background:#f3f3f3}
img{max-width:100%;border:1px solid #eee}code{background:#f6f6f6}
"""


def render_html(sections: list[Section], results: pd.DataFrame) -> str:
    body = [f"<h1>qatbench report</h1><p>Run(s): {html.escape(_runs_line(results))}</p>"]
    for section in sections:
        body.append(f"<h2>{html.escape(section.title)}</h2>")
        if section.text:
            body.extend(f"<p>{html.escape(line.lstrip('- '))}</p>"
                        for line in section.text.splitlines())
        if section.table is not None:
            body.append(section.table.to_html(index=False, na_rep="", escape=True,
                                              border=0))
        if section.image is not None:
            encoded = base64.b64encode(section.image.read_bytes()).decode("ascii")
            body.append(f'<img alt="{html.escape(section.title)}" '
                        f'src="data:image/png;base64,{encoded}">')
    return ("<!doctype html><html><head><meta charset='utf-8'><title>qatbench report</title>"
            f"<style>{HTML_STYLE}</style></head><body>{''.join(body)}</body></html>\n")


def write_report(results: pd.DataFrame, run_dirs: list[Path], out_dir: Path) -> Path:
    """Write plots, ``report.md`` and ``report.html`` into ``out_dir``; return report.md."""
    from qatbench.bench.plots import write_run_plots

    out_dir.mkdir(parents=True, exist_ok=True)
    plots = write_run_plots(results, out_dir / "plots") if not results.empty else []
    sections = build_sections(results, run_dirs, plots)
    markdown = render_markdown(sections, results, out_dir)
    path = out_dir / "report.md"
    atomic_write_text(path, markdown)
    atomic_write_text(out_dir / "report.html", render_html(sections, results))
    summary_file = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary_file:
        with open(summary_file, "a", encoding="utf-8") as handle:
            handle.write(markdown + "\n")
    return path
