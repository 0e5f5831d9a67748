"""What `nox -s bench-edgetpu` and `nox -s bench-nnapi` run (`qatbench run --config edgetpu`
/ `nnapi`), end to end against the simulated compiler and phone, on a reduced budget."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.accuracy_bounds import assert_floor
from tests.targets.android.test_target import PIXEL
from tests.tools.install import install_tool

pytestmark = pytest.mark.slow


def run(config: str, out: Path, env: dict[str, str], *extra: str) -> Path:
    pytest.importorskip("tensorflow")
    result = subprocess.run(
        [sys.executable, "-m", "qatbench", "run", "--config", config, "--quick", "--models",
         "mnist_cnn", "--out", str(out), "--min-runs", "5", "--min-secs", "0", *extra],
        capture_output=True, text=True, timeout=900, env={**os.environ, **env})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (run_dir,) = out.iterdir()
    return run_dir


def test_bench_edgetpu_session_without_a_tpu_gives_compiled_rows(tmp_path: Path) -> None:
    compiler = install_tool(tmp_path / "bin", "edgetpu_compiler", "edgetpu_compiler.py")
    run_dir = run("edgetpu", tmp_path / "results", {"QATBENCH_EDGETPU_COMPILER": str(compiler)})
    frame = pd.read_parquet(run_dir / "results.parquet").set_index(["variant", "target"])
    assert frame.loc[("float32", "edgetpu"), "status"] == "skipped"
    for variant in ("ptq_int8", "qat_int8"):
        row = frame.loc[(variant, "edgetpu")]
        assert row["status"] == "compiled"
        assert row["ops_on_accelerator"] == row["ops_total"] > 0  # int8 I/O: all on the TPU
        assert json.loads(row["extra"])["compiler"]["on_chip_used_bytes"] > 0
        assert frame.loc[(variant, "cpu-xnnpack"), "status"] == "ok"
    report = (run_dir / "report.md").read_text()
    assert "## Op placement per operator" in report
    assert "| mnist_cnn | qat_int8 | edgetpu | CONV_2D | 2 | Mapped to Edge TPU |" in report


def test_bench_nnapi_session_on_a_phone(tmp_path: Path) -> None:
    home = tmp_path / "adb-home"
    home.mkdir()
    (home / "devices.json").write_text(json.dumps({"PIXEL7": PIXEL, "OTHER": PIXEL}))
    env = {"QATBENCH_ADB": str(install_tool(tmp_path / "bin", "adb", "adb.py")),
           "QATBENCH_BENCHMARK_MODEL": str(install_tool(tmp_path / "bin", "benchmark_model",
                                                        "benchmark_model.py")),
           "SIM_ADB_HOME": str(home)}
    run_dir = run("nnapi", tmp_path / "results", env, "--device", "PIXEL7")
    frame = pd.read_parquet(run_dir / "results.parquet")
    assert len(frame) == 3 * 2 and set(frame["status"]) == {"ok"}
    assert set(frame["target"]) == {"nnapi", "android-cpu"}
    # nullable columns: NA compares to NA, which .all() skips -- so NA must count as False
    assert frame["latency_ms_p50"].gt(0).fillna(False).all()
    # one quick-budget model on 500 digits (it differs by host): the sample shows each
    # row's top-1 above 80% (chance is 10%) -- catches an accuracy taken from the wrong
    # model or rows, or a phone row that lost the host evaluation
    assert frame["accuracy_top1"].notna().all() and frame["eval_samples"].notna().all()
    for _, row in frame.iterrows():
        assert_floor(row["accuracy_top1"], 0.8, f"{row['variant']} on {row['target']}",
                     n=int(row["eval_samples"]))
    assert frame["accuracy_source"].str.startswith("host cpu-xnnpack interpreter"
                                                   ).fillna(False).all()
    assert "p50 latency (ms) on each target" in (run_dir / "report.md").read_text()
    assert not list((home / "fs").rglob("*.tflite"))  # nothing left on the phone
