"""Instructions per inference: counted by perf where the CPU has a counter, stated
otherwise -- with the tests' perf simulator, which counts like the real one (work done)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from qatbench.targets.host.instructions import count_per_inference
from tests.tools.install import install_tool


def spin(units: int, attached: Path | None = None):
    """A call doing ``units`` of work; with ``attached``, the first call waits until the
    perf simulator counts (on a busy host it can start after the product's attach
    delay, and work done before it counts would be lost to the comparison)."""

    def invoke() -> None:
        if attached is not None:
            deadline = time.monotonic() + 60
            while not attached.exists() and time.monotonic() < deadline:
                time.sleep(0.01)
        total = 0
        for value in range(units):
            total += value * value

    return invoke


@pytest.fixture
def perf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    tool = install_tool(tmp_path / "bin", "perf", "perf.py")
    monkeypatch.setenv("QATBENCH_PERF", str(tool))
    return tool


def test_more_work_per_inference_counts_more_instructions(
        perf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ten times the work, more than three times the count: CPU time is the work done
    whatever else runs on the host, and each count starts only once perf counts."""
    counts = {}
    for name, units in (("light", 20_000), ("heavy", 200_000)):
        ready = tmp_path / f"{name}.attached"
        monkeypatch.setenv("PERF_SIM_READY", str(ready))
        counts[name] = count_per_inference(spin(units, ready), 20)
    light, heavy = counts["light"], counts["heavy"]
    assert light.per_inference and heavy.per_inference
    assert heavy.per_inference > 3 * light.per_inference
    assert light.note == "perf stat -e instructions:u over 20 inferences"


def test_a_host_without_the_counter_or_without_perf_says_so(
        perf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERF_SIM_MODE", "unsupported")
    ready = tmp_path / "attached"  # perf answers once it runs, however late on a busy host
    monkeypatch.setenv("PERF_SIM_READY", str(ready))
    counted = count_per_inference(spin(1000, ready), 5)
    assert counted.per_inference is None and "<not supported>" in counted.note
    monkeypatch.setenv("QATBENCH_PERF", "/nonexistent/perf")
    missing = count_per_inference(spin(1000), 5)
    assert missing.per_inference is None
    assert "perf is not installed" in missing.note and "linux-perf" in missing.note


def test_the_cpu_target_records_them_when_asked(perf: Path, float_tflite: Path,
                                                tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from qatbench.targets.base import MeasureSpec
    from qatbench.targets.host import instructions
    from qatbench.targets.host.cpu import CpuOptions, cpu_xnnpack

    # the product waits ATTACH_S for perf to attach; a busy host can take longer to even
    # start the simulator's Python, and a SIGINT before it runs leaves no count
    monkeypatch.setattr(instructions, "ATTACH_S", 3.0)

    target = cpu_xnnpack(CpuOptions(count_instructions=True))
    prepared = target.prepare(float_tflite, tmp_path)
    measured = target.measure(prepared, MeasureSpec(min_runs=20, min_s=0, warmup_min_s=0))
    assert measured.extra["instructions_per_inference"] is not None
    assert measured.extra["instructions_note"].startswith("perf stat")
    plain = cpu_xnnpack().measure(prepared, MeasureSpec(min_runs=5, min_s=0,
                                                        warmup_min_s=0))
    assert "instructions_per_inference" not in plain.extra  # off unless asked
