"""Where a job's files go inside a run directory: one function, used by the runner and
the tests alike, so nobody rebuilds the layout by hand.

A job's timing child works in ``RUN_DIR/jobs/<job slug>/r<repeat>/`` (its request, its
result, its tool logs). Targets never read anything from the shape of that path: which
run, job and repeat they serve reaches them as ``Prepared.job`` (``targets/base.py``).
"""

from __future__ import annotations

from pathlib import Path

JOBS_DIR = "jobs"


def job_work_dir(run_dir: Path, slug: str, repeat: int) -> Path:
    """The work directory of repeat ``repeat`` (0-based) of the job named ``slug``."""
    if repeat < 0:
        raise ValueError(f"repeat must be >= 0, got {repeat}")
    return Path(run_dir) / JOBS_DIR / slug / f"r{repeat}"
