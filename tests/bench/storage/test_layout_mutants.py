"""The run layout's promise that `nox -s mutation` found no test holding: the first
repeat of a job (0) has its own work folder, ``r0``."""

from __future__ import annotations

from pathlib import Path

from qatbench.bench.storage import layout


def test_the_first_repeat_has_a_work_folder() -> None:
    assert layout.job_work_dir(Path("/results/run-1"), "slug", 0) == Path(
        "/results/run-1/jobs/slug/r0")
