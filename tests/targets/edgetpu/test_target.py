"""The Edge TPU target against a simulated edgetpu_compiler: compiled, skipped, failed,
unavailable, and timed through an injected interpreter factory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from qatbench.targets.base import JobFailed, JobSkipped, MeasureSpec, Status, TargetUnavailable
from qatbench.targets.edgetpu.target import EdgeTpuOptions, EdgeTpuTarget
from qatbench.targets.registry import TargetOptionsError, create_target
from tests.targets.edgetpu.doubles import cpu_backed_tpu
from tests.tools.install import install_tool

QUICK = MeasureSpec(warmup_runs=1, warmup_min_s=0, min_runs=5, min_s=0)


@pytest.fixture
def compiler(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = install_tool(tmp_path / "bin", "edgetpu_compiler", "edgetpu_compiler.py")
    monkeypatch.setenv("QATBENCH_EDGETPU_COMPILER", str(path))
    monkeypatch.setenv("SIM_EDGETPU_ARGV_LOG", str(tmp_path / "argv.log"))
    return path


def test_no_compiler_is_unavailable_with_how_to_install(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("QATBENCH_EDGETPU_COMPILER", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    availability = EdgeTpuTarget().probe()
    assert not availability.available
    assert "edgetpu_compiler not found" in availability.message()
    assert "apt-get install edgetpu-compiler" in availability.message()


def test_probe_reports_the_compiler_version(compiler: Path) -> None:
    availability = EdgeTpuTarget().probe()
    assert availability.available
    assert availability.details["version"] == "16.0.384591198"


def test_prepare_compiles_and_reads_the_placement(compiler: Path, int8_tflite: Path,
                                                  tmp_path: Path) -> None:
    target = EdgeTpuTarget(EdgeTpuOptions(min_runtime_version="13"))
    prepared = target.prepare(int8_tflite, tmp_path / "work")
    assert prepared.model == tmp_path / "work" / f"{int8_tflite.stem}_edgetpu.tflite"
    assert prepared.ops_total == prepared.ops_on_accelerator > 0
    assert prepared.extra["compiler"]["version"] == "16.0.384591198"
    assert prepared.extra["compiler"]["on_chip_used_bytes"] > 0
    assert sum(r["count"] for r in prepared.extra["placement"]) == prepared.ops_total
    argv = (tmp_path / "argv.log").read_text()
    assert argv.startswith(f"-s -o {tmp_path / 'work'} -m 13 ")


def test_without_a_tpu_the_row_is_compiled_not_failed(compiler: Path, int8_tflite: Path,
                                                      tmp_path: Path) -> None:
    target = create_target("edgetpu", {"device": "usb:0"})
    prepared = target.prepare(int8_tflite, tmp_path / "work")
    measurement = target.measure(prepared, QUICK)
    assert measurement.status is Status.COMPILED
    assert measurement.samples_ms == ()
    assert "libedgetpu.so.1" in measurement.extra["note"]
    assert measurement.extra["placement"]


def test_a_required_tpu_that_is_missing_makes_the_target_unavailable(
        compiler: Path, int8_tflite: Path, tmp_path: Path) -> None:
    target = create_target("edgetpu", {"device": "usb:0", "require_tpu": True})
    prepared = target.prepare(int8_tflite, tmp_path / "work")
    with pytest.raises(TargetUnavailable, match=r"no Edge TPU at 'usb:0'.*Reconnect"):
        target.measure(prepared, QUICK)


def test_the_test_only_interpreter_factory_is_not_a_config_option() -> None:
    with pytest.raises(TargetOptionsError, match="unknown option 'interpreter_factory'"):
        create_target("edgetpu", {"interpreter_factory": "tests.targets.edgetpu.doubles:"
                                                         "cpu_backed_tpu"})


def test_float32_is_skipped_and_mixed_models_too(compiler: Path, float_tflite: Path,
                                                 tmp_path: Path) -> None:
    with pytest.raises(JobSkipped, match="full-integer"):
        EdgeTpuTarget().prepare(float_tflite, tmp_path / "work")
    assert not (tmp_path / "argv.log").exists()  # the compiler was never called


@pytest.mark.parametrize("version", ["15", "16"])
def test_compiler_failure_carries_its_error_lines(compiler: Path, int8_tflite: Path,
                                                  tmp_path: Path, monkeypatch,
                                                  version: str) -> None:
    monkeypatch.setenv("SIM_EDGETPU_VERSION", version)
    monkeypatch.setenv("SIM_EDGETPU_FAIL", "Didn't find op for builtin opcode 'GELU'")
    with pytest.raises(JobFailed) as failure:
        EdgeTpuTarget().prepare(int8_tflite, tmp_path / "work")
    assert "ERROR: Didn't find op for builtin opcode 'GELU'" in str(failure.value)
    assert "Compilation failed" in str(failure.value)


def test_a_hung_compiler_is_stopped_at_the_timeout(compiler: Path, int8_tflite: Path,
                                                   tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SIM_EDGETPU_HANG", "30")
    with pytest.raises(JobFailed, match="did not finish in 2 s"):
        EdgeTpuTarget(EdgeTpuOptions(compile_timeout_s=2)).prepare(int8_tflite, tmp_path / "work")


def test_injected_interpreter_times_and_evaluates_on_the_compiled_model(
        compiler: Path, digits_build, tmp_path: Path, monkeypatch) -> None:
    from qatbench.targets.base import EvalSet

    monkeypatch.setenv("EDGETPU_DOUBLE_RECORD", str(tmp_path / "opened.jsonl"))
    target = EdgeTpuTarget(EdgeTpuOptions(device="pci:0"), interpreter_factory=cpu_backed_tpu)
    prepared = target.prepare(Path(digits_build.variants["qat_int8"].path), tmp_path / "w")
    measurement = target.measure(prepared, QUICK)
    assert measurement.status is Status.OK
    assert len(measurement.samples_ms) >= 5
    assert measurement.first_inference_ms is not None
    assert measurement.device == "pci:0"
    evaluation = target.evaluate(prepared, EvalSet.load(Path(digits_build.eval_path)))
    assert evaluation is not None and evaluation.top1 is not None and evaluation.top1 > 0.8
    assert evaluation.outputs is not None and len(evaluation.outputs) == evaluation.samples
    opened = [json.loads(line) for line in (tmp_path / "opened.jsonl").read_text().splitlines()]
    assert {o["model"] for o in opened} == {str(prepared.model)}  # the compiled file
    assert {o["device"] for o in opened} == {"pci:0"}


def test_bench_any_int8_file_gives_compiled_rows_and_exit_0(compiler: Path, float_tflite: Path,
                                                            int8_tflite: Path,
                                                            tmp_path: Path) -> None:
    out = tmp_path / "results"
    result = subprocess.run(
        [sys.executable, "-m", "qatbench", "bench", str(int8_tflite), str(float_tflite),
         "--targets", "edgetpu", "--out", str(out)],
        capture_output=True, text=True, timeout=300, env={**os.environ})
    assert result.returncode == 0, result.stdout + result.stderr
    (run_dir,) = out.iterdir()
    frame = pd.read_parquet(run_dir / "results.parquet").set_index("variant")
    assert frame.loc["int8", "status"] == "compiled"
    assert frame.loc["int8", "ops_on_accelerator"] == frame.loc["int8", "ops_total"]
    assert frame.loc["float32", "status"] == "skipped"
    report = (run_dir / "report.md").read_text()
    assert "## Op placement per operator" in report
    assert "Mapped to Edge TPU" in report


def test_compiler_failure_is_a_failed_row_and_exit_1(compiler: Path, int8_tflite: Path,
                                                     tmp_path: Path) -> None:
    out = tmp_path / "results"
    result = subprocess.run(
        [sys.executable, "-m", "qatbench", "bench", str(int8_tflite), "--targets",
         "edgetpu,cpu-xnnpack", "--out", str(out), "--min-runs", "5", "--min-secs", "0"],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "SIM_EDGETPU_FAIL": "Model not quantized"})
    assert result.returncode == 1, result.stdout + result.stderr
    (run_dir,) = out.iterdir()
    frame = pd.read_parquet(run_dir / "results.parquet").set_index("target")
    assert frame.loc["edgetpu", "status"] == "failed"
    assert "ERROR: Model not quantized" in frame.loc["edgetpu", "error"]
    assert frame.loc["cpu-xnnpack", "status"] == "ok"  # the other job still ran
