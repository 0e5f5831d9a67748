"""``[goals]`` and ``[models.NAME.goals]``: validated like every key, merged per model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from qatbench.bench.orchestration.config import ConfigError, build_config, load_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "run.toml"
    path.write_text(text)
    return path


def test_run_goals_with_a_model_of_its_own_on_top(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, """
[goals]
max_top1_drop = 1
max_latency_ms = 5
[models.mnist_cnn.goals]
max_latency_ms = 2
prefer = "size"
"""))
    goals = config.goals_for("mnist_cnn")
    assert (goals.max_top1_drop, goals.max_latency_ms, goals.prefer) == (1, 2, "size")
    assert config.goals_for("mobilenet_v2").max_latency_ms == 5
    # a goals-only table is no model source and does not pick the run's models
    assert config.run.models == ["mnist_cnn", "mobilenet_v2"] and config.models == {}
    # what config.json keeps (and --resume reads back) gives the same goals
    again = build_config(json.loads(json.dumps(config.model_dump())))
    assert again.goals_for("mnist_cnn") == goals


@pytest.mark.parametrize(("text", "expected"), [
    ('[goals]\nmax_latency_ms = "5 ms"', "goals.max_latency_ms: give a number in "
                                          "milliseconds of p50 latency"),
    ('[goals]\nmax_top1_drop = "1%"', "goals.max_top1_drop: give a number in percentage "
                                      "points"),
    ("[goals]\nmin_agreement = 99", "min_agreement is a fraction (0.99 = 99%), not a "
                                    "percentage: write min_agreement = 0.99"),
    ("[goals]\nmax_drop = 1", "goals.max_drop: unknown key"),
    ('[goals]\nprefer = "speed"', "goals.prefer: Input should be 'latency' or 'size'"),
    ("[goals]\nmax_size_mb = -1", "goals.max_size_mb: Input should be greater than 0"),
    ('[models.mnist_cnn.goals]\nmax_latency_ms = "fast"',
     "models.mnist_cnn.goals.max_latency_ms: give a number"),
    ("[models.mnist_cnnn.goals]\nmax_latency_ms = 1",
     "models.mnist_cnnn.goals: mnist_cnnn is not a model of this run"),
])
def test_a_bad_goal_names_its_key_and_unit(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(write(tmp_path, text))
    assert expected in str(error.value)


def test_the_cli_refuses_a_bad_goal_with_exit_2_before_anything_runs(tmp_path: Path) -> None:
    config = write(tmp_path, '[goals]\nmax_latency_ms = "5 s"\n')
    result = subprocess.run([sys.executable, "-m", "qatbench", "run", "--config", str(config),
                             "--out", str(tmp_path / "out")], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2
    assert "goals.max_latency_ms: give a number in milliseconds" in result.stderr
    assert not (tmp_path / "out").exists()
