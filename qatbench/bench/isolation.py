"""Run one job in a fresh child process with a timeout; a crash or hang becomes a row.

The child is ``python -m qatbench.targets.worker`` in its own process group, so a hung
delegate and anything it spawned (an ``adb`` call, a compiler) are killed together.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

from qatbench.targets.base import Measurement, Status
from qatbench.targets.worker import JobRequest, JobResult

_STDERR_TAIL_LINES = 12


def _tail(path: Path, lines: int = _STDERR_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


def _failed(error: str) -> JobResult:
    return JobResult(measurement=Measurement(status=Status.FAILED, error=error))


def _kill_group(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def run_in_child(request: JobRequest, timeout_s: float) -> JobResult:
    """Run ``request`` in a child; never raises for what happens inside the child."""
    work = Path(request.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    request_path = work / "job.json"
    result_path = Path(request.result_path)
    result_path.unlink(missing_ok=True)
    request.save(request_path)
    log_path = work / "child.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "qatbench.targets.worker", str(request_path)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
        try:
            returncode = process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            return _failed(f"timed out after {timeout_s:g}s (the child was killed); raise "
                           f"--timeout if the model is just slow\n{_tail(log_path)}".strip())
        except BaseException:  # Ctrl-C: take the child down with us, then stop
            _kill_group(process)
            raise
    if returncode < 0:
        name = signal.Signals(-returncode).name
        return _failed(f"the measuring process died of {name} (a crash inside the runtime or "
                       f"delegate)\n{_tail(log_path)}".strip())
    if not result_path.exists():
        return _failed(f"the measuring process exited with status {returncode} and no result"
                       f"\n{_tail(log_path)}".strip())
    return JobResult.from_json(result_path.read_text())
