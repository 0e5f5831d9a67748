"""The one writer of GitHub's job summary (``$GITHUB_STEP_SUMMARY``).

``run`` / ``report`` append their report and ``compare`` its verdict through
``append_to_step_summary``, so both follow the same rules: nothing outside Actions,
and each document at most once per job however many steps write it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from qatbench.bench.presentation.sections import runs_line

# What the step-summary stamp in a document's directory is called (see append_to_step_summary).
STEP_SUMMARY_STAMP = ".step_summary_appended"


def step_summary_marker(results: pd.DataFrame) -> str:
    """The invisible line that tells a step summary this report is already in it."""
    return f"<!-- qatbench report: {runs_line(results)} -->"


def comparison_marker(base: str, current: str) -> str:
    """The invisible line that tells a step summary this comparison is already in it."""
    return f"<!-- qatbench compare: {base} -> {current} -->"


def _actions_job() -> str:
    """This GitHub Actions job (run, attempt, job id), or "" outside Actions."""
    run = os.environ.get("GITHUB_RUN_ID", "")
    if not run:
        return ""
    return (f"{run}.{os.environ.get('GITHUB_RUN_ATTEMPT', '1')}."
            f"{os.environ.get('GITHUB_JOB', '')}")


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""


def append_to_step_summary(markdown: str, marker: str, out_dir: Path) -> bool:
    """Append ``markdown`` to ``$GITHUB_STEP_SUMMARY`` unless this job already has it.

    ``qatbench run`` writes the report, and a workflow's report step writes it again.
    GitHub gives every *step* its own summary file, so the marker in the file only
    catches repeats within one step; a stamp in the document's directory (``out_dir``),
    naming the job, catches the next step's. Returns whether it appended.
    """
    summary_file = os.environ.get("GITHUB_STEP_SUMMARY")
    if not summary_file:
        return False
    job = _actions_job()
    stamp = out_dir / STEP_SUMMARY_STAMP
    stamped = f"{job} {marker}"
    if marker in _read_text(Path(summary_file)) or (
            job and stamped in _read_text(stamp).splitlines()):
        return False
    with open(summary_file, "a", encoding="utf-8") as handle:
        handle.write(f"{marker}\n{markdown}\n")
    if job:
        with stamp.open("a", encoding="utf-8") as handle:
            handle.write(stamped + "\n")
    return True
