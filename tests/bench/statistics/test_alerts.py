"""One alert per change point: simultaneous steps grouped, reversals marked, --since."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from qatbench.bench.cli import app
from qatbench.bench.statistics.alerts import group_alerts
from qatbench.bench.statistics.history import find_history_steps, load_history
from tests.bench.runs_helpers import lognormal, write_run

SERIES = [("mnist_cnn", 0.02), ("mobilenet_v2", 3.0), ("resnet50", 20.0)]


def history_root(tmp_path: Path, scales: dict[str, list[float]]) -> Path:
    runs = len(next(iter(scales.values())))
    for index in range(runs):
        run_id = f"202601{index + 1:02d}T000000Z-r"
        rows = [{"model": model, "variant": "qat_int8", "target": "cpu-xnnpack",
                 "samples": lognormal(ms * scales[model][index], 0.005, 100, 7 * index + k)}
                for k, (model, ms) in enumerate(SERIES)]
        write_run(tmp_path, run_id, rows, git_commit=f"{index:02d}" + "cd" * 19)
    return tmp_path


FLAT = [1.0] * 10


def test_steps_at_the_same_commit_are_one_alert_and_a_reverted_step_is_marked(
        tmp_path: Path) -> None:
    # a commit at run 5 slows two models by 8%; run 8 brings mobilenet back (reverted),
    # resnet stays slow; mnist never moves
    step = [1.0] * 4 + [1.08] * 6
    back = [1.0] * 4 + [1.08] * 3 + [1.0] * 3
    root = history_root(tmp_path, {"mnist_cnn": FLAT, "mobilenet_v2": back,
                                   "resnet50": step})
    history = load_history(root)
    steps = find_history_steps(history)
    assert len(steps) == 3  # two up at run 5, one down at run 8
    runs = list(dict.fromkeys(history["run_id"]))
    alerts = group_alerts(steps, runs, 0.025)
    assert len(alerts) == 2
    first, second = alerts.to_dict("records")
    assert first["first_run_after"] == "20260105T000000Z-r"
    assert "mobilenet_v2/qat_int8" in first["series"] and "resnet50/qat_int8" in first[
        "series"] and "mnist_cnn" not in first["series"]
    assert first["state"] == "partly went away"  # mobilenet came back, resnet did not
    assert first["went_away_at"] == "20260108T000000Z-r"
    assert second["state"] == "reverts the step at 20260105T000000Z-r"
    assert first["commits"] == "03cdcdc → 04cdcdc"


def test_since_shows_only_what_is_new_and_the_cli_says_so(tmp_path: Path) -> None:
    step = [1.0] * 3 + [1.10] * 7
    later = [1.0] * 7 + [1.10] * 3
    root = history_root(tmp_path, {"mnist_cnn": FLAT, "mobilenet_v2": step,
                                   "resnet50": later})
    result = CliRunner().invoke(app, ["history", str(root)], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "2 change point(s), 2 open" in result.output
    newer = CliRunner().invoke(app, ["history", str(root), "--since", "20260105T000000Z-r"],
                               env={"COLUMNS": "250"})
    assert newer.exit_code == 0, newer.output
    assert "resnet50" in newer.output and "mobilenet_v2" not in newer.output
    unknown = CliRunner().invoke(app, ["history", str(root), "--since", "nope"])
    assert unknown.exit_code == 2 and "--since nope" in unknown.output
