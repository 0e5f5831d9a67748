"""The runtime as a dimension: the same target under two interpreters, side by side.

The second interpreter is a venv with the oldest runtime supported (``tflite-runtime``
2.14 with numpy < 2, what PyPI has for Python 3.11), built from the package registries by
``qatbench.targets.host.runtime_venv`` once and cached under ~/.cache/qatbench-test-venvs
(reruns reuse it). The timing child really runs there: the row names that venv's
runtime, Python and numpy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from qatbench.targets.host import runtime_venv
from qatbench.targets.registry import create_target

TFLITE_214 = ["tflite-runtime==2.14.0"]


@pytest.fixture(scope="session")
def tflite214_python() -> Path:
    cache = Path(os.environ.get("QATBENCH_TEST_VENVS",
                                Path.home() / ".cache" / "qatbench-test-venvs"))
    directory = cache / runtime_venv.slug(TFLITE_214, sys.executable)
    return runtime_venv.build(TFLITE_214, directory, base_python=sys.executable)


def bench(models: list[Path], config: Path, targets: str, out: Path) -> pd.DataFrame:
    done = subprocess.run(
        [sys.executable, "-m", "qatbench", "bench", *map(str, models), "--config", str(config),
         "--targets", targets, "--out", str(out), "--min-runs", "20", "--min-secs", "0"],
        capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    (run_dir,) = out.iterdir()
    return pd.read_parquet(run_dir / "results.parquet")


def compare(base: Path, current: Path) -> subprocess.CompletedProcess:
    (base_run,), (current_run,) = base.iterdir(), current.iterdir()
    return subprocess.run(
        [sys.executable, "-m", "qatbench", "compare", str(base_run), str(current_run),
         "--threshold", "1000%"], capture_output=True, text=True, timeout=300,
        env={**os.environ, "COLUMNS": "300"})


def test_tflite_runtime_gets_numpy_1_and_the_timing_side_only() -> None:
    assert runtime_venv.requirements(["tflite-runtime==2.14.0"]) == [
        "tflite-runtime==2.14.0", "pydantic>=2.6", "numpy<2"]
    assert runtime_venv.requirements(["tflite-runtime==2.14.0", "numpy<1.27"])[-1] == \
        "pydantic>=2.6"
    assert runtime_venv.requirements(["ai-edge-litert-nightly"])[-1] == "numpy"
    assert runtime_venv._split_args(["tflite-runtime==2.14.0", "numpy<2", "./venvs/old"]) == (
        ["tflite-runtime==2.14.0", "numpy<2"], Path("./venvs/old"))


def test_a_python_that_cannot_time_makes_the_target_unavailable(tmp_path: Path) -> None:
    target = create_target("cpu-xnnpack-old", {"kind": "cpu-xnnpack",
                                               "python": str(tmp_path / "bin" / "python")})
    availability = target.probe()
    assert not availability.available
    assert "cannot run" in availability.reason and "runtime-venv" in availability.fix


@pytest.mark.slow
def test_the_venv_has_the_old_runtime_and_no_heavy_packages(tflite214_python: Path) -> None:
    code = ("import json, sys, numpy, qatbench.targets.worker, qatbench.targets.host.cpu, "
            "qatbench.targets.edgetpu.target\n"
            "from qatbench.targets.runtime import resolve_runtime\n"
            "heavy = sorted({m.split('.')[0] for m in sys.modules} & "
            "{'pandas', 'scipy', 'tensorflow', 'ai_edge_litert'})\n"
            "print(json.dumps([resolve_runtime().label, numpy.__version__, heavy]))")
    done = subprocess.run([str(tflite214_python), "-c", code], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    label, numpy_version, heavy = json.loads(done.stdout)
    assert label == "tflite-runtime 2.14.0"
    assert numpy_version.startswith("1.")
    assert heavy == []


@pytest.mark.slow
def test_two_targets_that_differ_only_in_python_are_two_runtimes_two_series(
        tflite214_python: Path, int8_tflite: Path, float_tflite: Path, tmp_path: Path) -> None:
    config = tmp_path / "runtimes.toml"
    config.write_text('[targets.cpu-xnnpack-tflite214]\nkind = "cpu-xnnpack"\n'
                      f'python = "{tflite214_python}"\n')
    targets = "cpu-xnnpack,cpu-xnnpack-tflite214"
    frames = [bench([int8_tflite, float_tflite], config, targets, tmp_path / name)
              for name in ("base", "current")]
    frame = frames[1]
    assert (frame["status"] == "ok").all(), frame[["target", "status", "error"]]
    assert frame.groupby("variant")["target"].nunique().eq(2).all()  # two rows per model
    runtime = {t: set(g) for t, g in frame.groupby("target")["runtime"]}
    assert runtime["cpu-xnnpack-tflite214"] == {"tflite-runtime 2.14.0"}
    assert len(runtime["cpu-xnnpack"]) == 1 and runtime["cpu-xnnpack"] != \
        runtime["cpu-xnnpack-tflite214"]
    by_target = frame.set_index(["target", "variant"])
    old = json.loads(by_target.loc[("cpu-xnnpack-tflite214", "int8"), "fingerprint_parts"])
    new = json.loads(by_target.loc[("cpu-xnnpack", "int8"), "fingerprint_parts"])
    assert old["device.numpy"].startswith("1.") and old["runtime"] == "tflite-runtime 2.14.0"
    assert old["device.python"] == new["device.python"]  # the same 3.11, other packages
    float_old = json.loads(by_target.loc[("cpu-xnnpack-tflite214", "float32"),
                                         "fingerprint_parts"])
    assert float_old["delegate"] == new["delegate"] == "xnnpack"  # both runtimes delegate
    assert set(frame.loc[frame.target == "cpu-xnnpack", "fingerprint"]).isdisjoint(
        frame.loc[frame.target == "cpu-xnnpack-tflite214", "fingerprint"])

    # two such runs gate series by series: each target against itself, never across
    gated = compare(tmp_path / "base", tmp_path / "current")
    assert gated.returncode == 0, gated.stdout + gated.stderr
    assert "different host or runtime" not in gated.stdout + gated.stderr
    assert "cpu-xnnpack-tflite214" in gated.stdout


@pytest.mark.slow
def test_the_same_target_under_another_runtime_is_a_different_fingerprint(
        tflite214_python: Path, int8_tflite: Path, tmp_path: Path) -> None:
    plain = tmp_path / "plain.toml"
    plain.write_text("")
    moved = tmp_path / "moved.toml"
    moved.write_text(f'[targets.cpu-xnnpack]\npython = "{tflite214_python}"\n')
    bench([int8_tflite], plain, "cpu-xnnpack", tmp_path / "base")
    bench([int8_tflite], moved, "cpu-xnnpack", tmp_path / "current")
    gated = compare(tmp_path / "base", tmp_path / "current")
    assert gated.returncode == 2, gated.stdout + gated.stderr
    said = " ".join((gated.stdout + gated.stderr).split())
    assert "different host or runtime" in said
    assert "tflite-runtime 2.14.0" in said
