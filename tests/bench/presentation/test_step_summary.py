"""A GitHub job summary holds each report once, however many steps write it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from qatbench.bench.presentation import plots
from qatbench.bench.presentation.report import write_report
from tests.bench.presentation.synthetic import results, row


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> pd.DataFrame:
    """Two rows of one run; no plots (not what these tests are about), and no Actions
    job inherited from the environment the suite runs in."""
    monkeypatch.setattr(plots, "write_run_plots", lambda results, plots_dir: [])
    for name in ("GITHUB_RUN_ID", "GITHUB_RUN_ATTEMPT", "GITHUB_JOB"):
        monkeypatch.delenv(name, raising=False)
    return results([row("m", "float32", "cpu-xnnpack", 1.0, 1),
                    row("m", "qat_int8", "cpu-xnnpack", 0.5, 2)])


def _reports_in(summary: Path) -> int:
    return summary.read_text().count("# qatbench report\n")


def test_two_writes_of_one_report_append_it_once(tmp_path: Path, table: pd.DataFrame,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    summary = tmp_path / "step_summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    for _ in range(2):
        write_report(table, [], tmp_path / "run")
    assert _reports_in(summary) == 1
    assert "<!-- qatbench report: 20260101T000000Z-aaaaaa -->" in summary.read_text()

    other_run = table.assign(run_id="20260102T000000Z-bbbbbb")
    write_report(other_run, [], tmp_path / "other")
    assert _reports_in(summary) == 2  # another run's report is another report


def test_the_next_step_of_the_same_job_does_not_append_it_again(
        tmp_path: Path, table: pd.DataFrame, monkeypatch: pytest.MonkeyPatch) -> None:
    """GitHub gives each step its own summary file: `qatbench run` in one step and the
    workflow's report step in the next must still show the report once in the job."""
    monkeypatch.setenv("GITHUB_RUN_ID", "42")
    monkeypatch.setenv("GITHUB_JOB", "bench")
    steps = [tmp_path / "step_run.md", tmp_path / "step_report.md"]
    for step in steps:
        monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step))
        write_report(table, [], tmp_path / "run")
    assert _reports_in(steps[0]) == 1 and not steps[1].exists()

    monkeypatch.setenv("GITHUB_RUN_ID", "43")  # the next workflow run reports it again
    write_report(table, [], tmp_path / "run")
    assert _reports_in(steps[1]) == 1


def test_compare_writes_the_job_summary_once_per_job_as_the_report_does(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`compare` in a gate step and again in a later step of the same job (or twice in
    one step) shows its verdict once; another job shows it again."""
    from typer.testing import CliRunner

    from qatbench.bench.cli import app
    from tests.bench.runs_helpers import matrix, write_run

    base = write_run(tmp_path, "base", matrix(1.0, seed=1))
    current = write_run(tmp_path, "current", matrix(1.0, seed=2))
    monkeypatch.setenv("GITHUB_RUN_ID", "7")
    monkeypatch.setenv("GITHUB_JOB", "gate")
    steps = [tmp_path / "step_gate.md", tmp_path / "step_again.md"]
    for step in [steps[0], *steps]:
        monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step))
        result = CliRunner().invoke(app, ["compare", str(base), str(current)])
        assert result.exit_code == 0, result.output
    assert steps[0].read_text().count("<!-- qatbench compare:") == 1
    assert not steps[1].exists()

    monkeypatch.setenv("GITHUB_JOB", "gate-arm64")  # another job: its own summary
    CliRunner().invoke(app, ["compare", str(base), str(current)])
    assert steps[1].read_text().count("<!-- qatbench compare:") == 1
