"""``qatbench report RUN...`` as one typed call: load the runs (shards merge), write
report.md, report.html and the plots where asked, and return what the console shows."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Report:
    """Where the report went, the rows it holds and from how many runs, and the two
    console tables (float -> int8, what to ship; ``None`` when there are no rows)."""

    path: Path
    rows: int
    runs: int
    summary: Any = None
    what_to_ship: Any = None


def write_run_report(run_dirs: list[Path], out: Path | None = None) -> Report:
    """``out`` defaults to the run directory, or ``merged-report/`` beside the first of
    several. ``RunsNotFound`` / ``UnwritableOutput`` (exit 2) before anything is written."""
    from qatbench.atomic import ensure_writable_dir
    from qatbench.bench.presentation.report import write_report
    from qatbench.bench.presentation.summary import summary_frame
    from qatbench.bench.presentation.what_to_ship import decide_results, headline_frame
    from qatbench.bench.storage import runs as stored

    loaded = stored.load_runs(run_dirs)
    target_dir = out or (loaded.run_dirs[0] if len(loaded.run_dirs) == 1
                         else loaded.run_dirs[0].parent / "merged-report")
    ensure_writable_dir(target_dir)  # a file in the way, a read-only run: exit 2 naming it
    path = write_report(loaded.results, loaded.run_dirs, target_dir)
    if loaded.results.empty:
        return Report(path, 0, len(loaded.run_dirs))
    return Report(path, len(loaded.results), len(loaded.run_dirs),
                  summary_frame(loaded.results),
                  headline_frame(decide_results(loaded.results, loaded.run_dirs)))
