"""The history plot makes a 5% step visible and names runs by commit and date."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pytest
from typer.testing import CliRunner

from qatbench.bench.cli import app
from qatbench.bench.presentation import history_plot
from qatbench.bench.statistics.history import find_history_steps, load_history
from tests.bench.runs_helpers import lognormal, write_run


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A 3 ms model stepping up 5% at the fifth run, beside a 12 µs model that does not."""
    for index in range(8):
        scale = 1.05 if index >= 4 else 1.0
        write_run(tmp_path, f"202602{index + 1:02d}T000000Z-r", [
            {"model": "mobilenet_v2", "variant": "qat_int8", "target": "cpu-xnnpack",
             "samples": lognormal(3.0 * scale, 0.005, 200, index)},
            {"model": "mnist_cnn", "variant": "qat_int8", "target": "cpu-xnnpack",
             "samples": lognormal(0.012, 0.005, 200, 100 + index)},
        ], git_commit=f"c0ffee{index}" + "0" * 33)
    return tmp_path


def test_a_5_percent_step_is_visible_and_runs_are_named_by_commit(
        root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    figures: list[plt.Figure] = []
    monkeypatch.setattr(plt.Figure, "savefig", lambda self, *a, **k: figures.append(self))
    history = load_history(root)
    steps = find_history_steps(history)
    assert list(steps["model"]) == ["mobilenet_v2"]
    history_plot.plot_history(history, root / "h.png", steps)
    (fig,) = figures
    fig.canvas.draw()
    panels = {ax.get_title().split(":")[0]: ax for ax in fig.axes}
    assert set(panels) == {"mobilenet_v2", "mnist_cnn"}  # one panel per model
    ax = panels["mobilenet_v2"]
    (line,) = [ln for ln in ax.lines if len(ln.get_xdata()) == 8]
    y = line.get_ydata()
    # relative to the series' start, the 5% step spans most of the panel's height
    low, high = ax.get_ylim()
    assert (y[4:].mean() - y[:4].mean()) > 0.5 * (high - low)
    assert any(len(ln.get_xdata()) == 2 and ln.get_linestyle() == "--" for ln in ax.lines)
    labels = [t.get_text() for t in fig.axes[-1].get_xticklabels()]
    assert labels[0] == "c0ffee0\n2026-02-01"


def test_plot_history_command_writes_the_png(root: Path) -> None:
    result = CliRunner().invoke(app, ["plot", "history", str(root)])
    assert result.exit_code == 0, result.output
    assert "1 step(s) drawn" in result.stdout
    assert (root / "history.png").stat().st_size > 10_000
