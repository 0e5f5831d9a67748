"""A crash or hang inside the measuring child becomes a failed row; the run goes on."""

from __future__ import annotations

from pathlib import Path

import pytest

from qatbench.bench.orchestration.launcher import run_in_child
from qatbench.targets.base import Status
from qatbench.targets.child import save_request
from qatbench.targets.worker import JobRequest

SPEC = {"warmup_runs": 1, "warmup_min_s": 0.0, "min_runs": 5, "min_s": 0.0, "max_s": 10.0}


def request(tmp_path: Path, target: str, model: Path) -> JobRequest:
    return JobRequest(target=target, model=str(model), work_dir=str(tmp_path / "job"),
                      result_path=str(tmp_path / "job" / "result.json"), spec=SPEC)


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("tests.targets.misbehaving:segfault", "SIGSEGV"),
        ("tests.targets.misbehaving:abort", "SIGABRT"),
        ("tests.targets.misbehaving:raises", "delegate rejected the graph"),
    ],
)
def test_crashes_become_failed_results(tmp_path: Path, int8_tflite: Path, target: str,
                                       expected: str) -> None:
    result = run_in_child(request(tmp_path, target, int8_tflite), timeout_s=60)
    assert result.measurement.status is Status.FAILED
    assert expected in result.measurement.error


def test_crash_reports_the_tail_of_the_childs_output(tmp_path: Path, int8_tflite: Path) -> None:
    result = run_in_child(request(tmp_path, "tests.targets.misbehaving:segfault", int8_tflite),
                          timeout_s=60)
    assert "delegate: applying to 12 nodes" in result.measurement.error


def test_hang_is_killed_at_the_timeout(tmp_path: Path, int8_tflite: Path) -> None:
    result = run_in_child(request(tmp_path, "tests.targets.misbehaving:hang", int8_tflite),
                          timeout_s=3)
    assert result.measurement.status is Status.FAILED
    assert "timed out after 3s" in result.measurement.error


def test_a_healthy_job_returns_samples_and_accuracy(tmp_path: Path, digits_build) -> None:
    job = JobRequest(target="cpu-xnnpack", model=digits_build.variants["qat_int8"].path,
                     work_dir=str(tmp_path / "ok"), result_path=str(tmp_path / "ok" / "r.json"),
                     spec=SPEC, eval_path=digits_build.eval_path)
    result = run_in_child(job, timeout_s=120)
    assert result.measurement.status is Status.OK, result.measurement.error
    assert len(result.measurement.samples_ms) == 5
    assert result.accuracy_top1 is not None and result.accuracy_top1 > 0.5
    assert result.eval_samples == 360


def test_a_timed_out_child_gets_sigterm_and_time_to_clean_up(tmp_path: Path, int8_tflite: Path,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    monkeypatch.setenv("QATBENCH_KILL_GRACE_S", "10")
    job = request(tmp_path, "tests.bench.orchestration.sleepy:sleepy", int8_tflite)
    result = run_in_child(job, timeout_s=3)
    assert result.measurement.status is Status.FAILED
    assert "timed out after 3s" in result.measurement.error
    assert (tmp_path / "job" / "cleaned-up").exists()  # its finally block ran


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text in cmdline.read_bytes().decode(errors="replace"):
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return found


def test_sigterm_to_the_cli_leaves_no_child_and_a_resumable_run(tmp_path: Path,
                                                                int8_tflite: Path) -> None:
    """A CI cancel: the run stops as on Ctrl-C, its timing child goes with it."""
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "results"
    environment = {**os.environ, "QATBENCH_KILL_GRACE_S": "10"}
    parent = subprocess.Popen(
        [sys.executable, "-m", "qatbench", "bench", str(int8_tflite), "--out", str(out),
         "--targets", "tests.bench.orchestration.sleepy:sleepy"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment)
    deadline = time.monotonic() + 60
    while not list(out.glob("*/jobs/*/r0/measuring.pid")) and time.monotonic() < deadline:
        time.sleep(0.1)
    (pid_file,) = out.glob("*/jobs/*/r0/measuring.pid")
    child = int(pid_file.read_text())
    parent.send_signal(signal.SIGTERM)
    output, _ = parent.communicate(timeout=60)
    assert parent.returncode == 130, output
    assert not Path(f"/proc/{child}").exists() or child not in _processes_mentioning(
        "qatbench.targets.child")
    assert (pid_file.parent / "cleaned-up").exists()
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    from qatbench.bench.storage.store import RunStore

    RunStore.open_existing(run_dir).close()  # not left locked: it can be resumed


def test_a_child_ends_with_its_parent_even_when_the_parent_is_sigkilled(
        tmp_path: Path, int8_tflite: Path) -> None:
    """A parent killed with SIGKILL (an OOM kill, a host's watchdog) cannot stop its
    timing child, which lives in its own process group: the child gets SIGTERM from the
    kernel (parent-death signal), runs its clean-up and ends, instead of timing on as an
    orphan beside the resumed run."""
    import os
    import signal
    import subprocess
    import sys
    import time

    job = request(tmp_path, "tests.bench.orchestration.sleepy:sleepy", int8_tflite)
    save_request(tmp_path / "job.json", job)
    parent = subprocess.Popen(
        [sys.executable, "-c",
         "import sys; from pathlib import Path;"
         "from qatbench.bench.orchestration.launcher import run_in_child;"
         "from qatbench.targets.child import load_request;"
         "from qatbench.targets.worker import JobRequest;"
         "run_in_child(load_request(Path(sys.argv[1]), JobRequest), timeout_s=120)",
         str(tmp_path / "job.json")], env={**os.environ, "SLEEPY_SECONDS": "60"})
    deadline = time.monotonic() + 60
    while not _processes_mentioning(str(tmp_path / "job" / "request.json")):
        assert time.monotonic() < deadline, "the timing child never started"
        time.sleep(0.1)
    (child,) = _processes_mentioning(str(tmp_path / "job" / "request.json"))
    while not (tmp_path / "job" / "measuring.pid").exists():  # inside its measurement (a
        assert time.monotonic() < deadline, "the child never began measuring"  # busy host
        time.sleep(0.1)  # takes longer than a second to import the timing side)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 20
    while child in _processes_mentioning(str(tmp_path / "job" / "request.json")):
        assert time.monotonic() < deadline, "the orphaned timing child kept running"
        time.sleep(0.1)
    assert (tmp_path / "job" / "cleaned-up").exists()  # SIGTERM: its finally block ran
