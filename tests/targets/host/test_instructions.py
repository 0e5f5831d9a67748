"""Instructions per inference: counted by perf where the CPU has a counter, stated
otherwise -- with the tests' perf simulator, which counts like the real one (work done)."""

from __future__ import annotations

from pathlib import Path

import pytest

from qatbench.targets.host.instructions import count_per_inference
from tests.tools.install import install_tool


def spin(units: int):
    def invoke() -> None:
        total = 0
        for value in range(units):
            total += value * value

    return invoke


@pytest.fixture
def perf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    tool = install_tool(tmp_path / "bin", "perf", "perf.py")
    monkeypatch.setenv("QATBENCH_PERF", str(tool))
    return tool


def test_more_work_per_inference_counts_more_instructions(perf: Path) -> None:
    light = count_per_inference(spin(20_000), 20)
    heavy = count_per_inference(spin(200_000), 20)
    assert light.per_inference and heavy.per_inference
    assert heavy.per_inference > 3 * light.per_inference
    assert light.note == "perf stat -e instructions:u over 20 inferences"


def test_a_host_without_the_counter_or_without_perf_says_so(
        perf: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERF_SIM_MODE", "unsupported")
    counted = count_per_inference(spin(1000), 5)
    assert counted.per_inference is None and "<not supported>" in counted.note
    monkeypatch.setenv("QATBENCH_PERF", "/nonexistent/perf")
    missing = count_per_inference(spin(1000), 5)
    assert missing.per_inference is None
    assert "perf is not installed" in missing.note and "linux-perf" in missing.note


def test_the_cpu_target_records_them_when_asked(perf: Path, float_tflite: Path,
                                                tmp_path: Path) -> None:
    from qatbench.targets.base import MeasureSpec
    from qatbench.targets.host.cpu import CpuOptions, cpu_xnnpack

    target = cpu_xnnpack(CpuOptions(count_instructions=True))
    prepared = target.prepare(float_tflite, tmp_path)
    measured = target.measure(prepared, MeasureSpec(min_runs=20, min_s=0, warmup_min_s=0))
    assert measured.extra["instructions_per_inference"] is not None
    assert measured.extra["instructions_note"].startswith("perf stat")
    plain = cpu_xnnpack().measure(prepared, MeasureSpec(min_runs=5, min_s=0,
                                                        warmup_min_s=0))
    assert "instructions_per_inference" not in plain.extra  # off unless asked
