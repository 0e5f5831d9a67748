"""``report`` as a typed call: where the report goes (the run, or merged-report/ beside
shards), the rows it holds, and the console's tables."""

from __future__ import annotations

from pathlib import Path

import pytest

from qatbench.atomic import UnwritableOutput
from qatbench.bench.orchestration.report_command import write_run_report
from tests.bench.runs_helpers import lognormal, write_run


def _run(root: Path, run_id: str, model: str) -> Path:
    rows = [{"model": model, "variant": variant, "target": "cpu-xnnpack",
             "samples": lognormal(ms, 0.01, 50, seed)}
            for seed, (variant, ms) in enumerate((("float32", 2.0), ("qat_int8", 1.0)))]
    return write_run(root, run_id, rows)


def test_one_run_is_reported_in_its_own_folder_with_its_tables(tmp_path: Path) -> None:
    run = _run(tmp_path, "20260101T000000Z-a", "mnist_cnn")
    report = write_run_report([run])
    assert report.path.parent == run and report.path.exists()
    assert report.path.with_suffix(".html").exists()
    assert (report.rows, report.runs) == (2, 1)
    assert "mnist_cnn" in report.summary.to_string()


def test_shards_merge_beside_the_first_and_an_unwritable_out_is_refused(
        tmp_path: Path) -> None:
    runs = [_run(tmp_path, "20260101T000000Z-a", "mnist_cnn"),
            _run(tmp_path, "20260101T000000Z-b", "digits_cnn")]
    report = write_run_report(runs)
    assert report.path.parent == tmp_path / "merged-report"
    assert (report.rows, report.runs) == (4, 2)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(UnwritableOutput):
        write_run_report(runs, blocker / "report")
