"""Which run made it slower: a step in a history is found at the run that made it, with
its commit (the detector on one series of levels: test_changepoints.py)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from qatbench.bench.cli import app
from qatbench.bench.statistics.history import find_history_steps, load_history
from tests.bench.runs_helpers import lognormal, repeated, write_run

MS = 3.0


def history_root(tmp_path: Path, scales: list[float], k: int = 1) -> Path:
    for index, scale in enumerate(scales):
        run_id = f"202601{index + 1:02d}T000000Z-r"
        samples = (repeated(MS * scale, [0.0, 0.01, -0.01][:k], seed=index) if k > 1
                   else lognormal(MS * scale, 0.01, 100, index))
        write_run(tmp_path, run_id, [{"model": "mobilenet_v2", "variant": "qat_int8",
                                      "target": "cpu-xnnpack", "samples": samples}],
                  git_commit=f"{index:02d}" + "ab" * 19)
    return tmp_path


def test_the_history_names_the_commit_before_and_after_the_step(tmp_path: Path) -> None:
    scales = [1.0, 1.005, 0.995, 1.0, 1.002, 1.06, 1.058, 1.062, 1.06]
    root = history_root(tmp_path, scales, k=3)
    history = load_history(root)
    assert len(history) == len(scales) and set(history["repeats"]) == {3}
    assert (history["band_low_ms"] < history["level_ms"]).all()
    (step,) = find_history_steps(history).to_dict("records")
    assert step["first_run_after"] == "20260106T000000Z-r"
    assert (step["commit_before"], step["commit_after"]) == ("04ababa", "05ababa")
    assert step["date_after"] == "2026-01-06"
    result = CliRunner().invoke(app, ["history", str(root)])
    assert result.exit_code == 0, result.output
    assert "04ababa" in result.stdout and "05ababa" in result.stdout
    assert "1 step(s)" in result.stdout


def test_history_without_runs_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["history", str(tmp_path)])
    assert result.exit_code == 2
    result = CliRunner().invoke(app, ["history", str(tmp_path), "--min-step", "5"])
    assert result.exit_code == 2
