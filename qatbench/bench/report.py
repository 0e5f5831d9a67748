"""``report.md``: what a run measured, readable on GitHub and as a CI job summary."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from qatbench.bench.store import atomic_write_text
from qatbench.bench.summary import problems_frame, summary_frame
from qatbench.bench.tables import markdown_table

LATENCY_COLUMNS = ["model", "variant", "target", "threads", "status", "latency_ms_p50",
                   "latency_ms_p50_ci_low", "latency_ms_p50_ci_high", "latency_ms_p90",
                   "latency_ms_p99", "latency_ms_std", "n_samples", "noisy", "init_ms",
                   "first_inference_ms", "peak_memory_mb", "delegate"]


def _latency_frame(results: pd.DataFrame) -> pd.DataFrame:
    frame = results[LATENCY_COLUMNS].copy()
    for column in frame.columns:
        if column.endswith(("_ms", "_low", "_high", "_p50", "_p90", "_p99", "_std", "_mb")):
            frame[column] = frame[column].map(lambda v: "" if pd.isna(v) else f"{v:.3f}")
    frame["noisy"] = frame["noisy"].map(lambda v: "NOISY" if v is True else "")
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


def render_markdown(results: pd.DataFrame, run_dirs: list[Path]) -> str:
    runs = ", ".join(sorted({str(r) for r in results["run_id"].dropna()})) or "?"
    parts = [f"# qatbench report\n\nRun(s): {runs}\n",
             "## Float vs int8: size, latency, top-1\n",
             "Size shrink and speedup are float32 / int8 on the same target and thread "
             "count; p50 latency in milliseconds.\n",
             markdown_table(summary_frame(results)),
             "\n## Latency detail\n",
             "p50 with its bootstrap 95% confidence interval; NOISY marks a coefficient of "
             "variation above 10% or a CI wider than 5% of the median.\n",
             markdown_table(_latency_frame(results))]
    problems = problems_frame(results)
    if not problems.empty:
        parts += ["\n## Not measured\n", markdown_table(problems)]
    notes = results[results["note"].fillna("") != ""][["model", "variant", "target", "note"]]
    if not notes.empty:
        parts += ["\n## Notes\n", markdown_table(notes.drop_duplicates())]
    for run_dir in run_dirs:
        lines = environment_lines(run_dir)
        if lines:
            parts += [f"\n## Environment ({run_dir.name})\n", "\n".join(lines) + "\n"]
    return "\n".join(parts)


def write_report(results: pd.DataFrame, run_dirs: list[Path], out_dir: Path) -> Path:
    """Write ``report.md`` into ``out_dir``; append it to a GitHub job summary if set."""
    markdown = render_markdown(results, run_dirs)
    path = out_dir / "report.md"
    atomic_write_text(path, markdown)
    summary_file = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary_file:
        with open(summary_file, "a", encoding="utf-8") as handle:
            handle.write(markdown + "\n")
    return path
