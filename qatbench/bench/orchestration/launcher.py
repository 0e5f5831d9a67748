"""The one child-process launcher: model builds and timing jobs both run through here.

``call_child(request, timeout_s=...)`` is the one call: a typed request in, its kind's
typed result out -- whatever happened to the child. Each child is
``python -m qatbench.targets.child REQUEST.json`` -- the one child entry,
which runs what the typed request's kind names -- in its own process group (so a hung
delegate and whatever it spawned -- an ``adb`` call, a compiler -- go down together),
with its output in a log file and a typed request/result on either side of the
boundary. The rules, the same for every child:

- timeout: SIGTERM to the whole group, a grace period (``QATBENCH_KILL_GRACE_S``,
  default 5 s) for the child to clean up (an Android job kills its benchmark on the
  phone), then SIGKILL;
- the parent interrupted (Ctrl-C, or SIGTERM from a CI cancel, which the CLI turns into
  the same ``KeyboardInterrupt``): the child's group is taken down the same way before
  the interrupt goes on, so no child is orphaned and the run stays resumable;
- what a failure says: how the child ended, its log's path and its last
  ``LOG_TAIL_LINES`` lines, handed to the request's ``without_result`` (a failed row, a
  profile's error, a failed build, a rejected file).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

from qatbench.bench.storage.layout import CHILD_LOG_FILE, CHILD_REQUEST_FILE
from qatbench.qat.artifacts import BuildRequest, ModelBuild
from qatbench.targets.child import MODULE as CHILD_ENTRY
from qatbench.targets.child import PARENT_PID_VARIABLE, ChildRequest, read_record, save_request
from qatbench.targets.worker import JobRequest, JobResult

R = TypeVar("R")  # a kind's result

LOG_TAIL_LINES = 12
DEFAULT_GRACE_S = 5.0


def kill_grace_s() -> float:
    try:
        return max(0.0, float(os.environ.get("QATBENCH_KILL_GRACE_S", DEFAULT_GRACE_S)))
    except ValueError:
        return DEFAULT_GRACE_S


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


def stop_group(process: subprocess.Popen, grace_s: float | None = None) -> None:
    """SIGTERM the child's process group, wait ``grace_s``, then SIGKILL what is left."""
    grace = kill_grace_s() if grace_s is None else grace_s
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # the group: grandchildren too
    process.wait()


@dataclass(frozen=True)
class ChildOutcome:
    """How a child ended: its exit status, or that it was stopped for taking too long."""

    returncode: int | None  # None when it timed out
    timeout_s: float
    log_path: Path
    unreadable: str = ""  # why the result it wrote does not read, when it does not

    @property
    def timed_out(self) -> bool:
        return self.returncode is None

    def tail(self) -> str:
        return log_tail(self.log_path)

    def describe(self) -> str:
        """One sentence on how the child ended, and its log's tail."""
        if self.timed_out:
            head = (f"timed out after {self.timeout_s:g}s (the child was stopped); raise "
                    "--timeout if the model is just slow")
        elif self.returncode is not None and self.returncode < 0:
            head = (f"died of {signal.Signals(-self.returncode).name} (a crash inside the "
                    "runtime or delegate)")
        elif self.unreadable:
            head = (f"exited with status {self.returncode} and a result that does not read "
                    f"({self.unreadable})")
        else:
            head = f"exited with status {self.returncode} and no result"
        return f"{head}; log: {self.log_path}\n{self.tail()}".strip()


def run_child(request: ChildRequest, work: Path, timeout_s: float, *,
              python: str | None = None) -> ChildOutcome:
    """Run the child entry on ``work/request.json`` (the request's kind in it); never
    raises for what the child does."""
    work.mkdir(parents=True, exist_ok=True)
    request_path = work / CHILD_REQUEST_FILE
    save_request(request_path, request)  # its kind picks what the child runs
    log_path = work / CHILD_LOG_FILE
    with log_path.open("wb") as log:
        # no preexec_fn: code run between fork and exec can deadlock on a lock another
        # thread held at the fork (pyarrow's pools are up once a parquet is written) --
        # and it holds the parent's stdout until it execs. The child sets its own
        # parent-death signal, told who its parent is (targets/child.py).
        process = subprocess.Popen(
            [python or sys.executable, "-m", CHILD_ENTRY, str(request_path)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, env={**os.environ, PARENT_PID_VARIABLE: str(os.getpid())})
        try:
            returncode: int | None = process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            stop_group(process)
            returncode = None
        except BaseException:  # Ctrl-C or a CI cancel: take the child down, then stop
            stop_group(process)
            raise
    return ChildOutcome(returncode, timeout_s, log_path)


def call_child(request: ChildRequest[R], *, timeout_s: float, python: str | None = None
               ) -> R:
    """Run ``request`` in a child and return its kind's typed result: the one the child
    wrote, else ``request.without_result`` of how the child ended (a crash, a timeout, a
    result that does not read) -- which may raise, for a kind whose failure is an error.
    Ctrl-C takes the child down and goes on (``run_child``)."""
    result_path = request.result_file()
    if request.clears_old_result:
        result_path.unlink(missing_ok=True)
    outcome = run_child(request, request.child_dir(), timeout_s, python=python)
    if result_path.exists() and (not outcome.timed_out or request.reads_result_after_timeout):
        try:
            result: R = read_record(request.result_type, result_path.read_text())
            return result
        except (OSError, ValueError) as error:  # pydantic's ValidationError is a ValueError
            first = str(error).strip().splitlines()[0] if str(error).strip() else ""
            outcome = replace(outcome, unreadable=f"{result_path}: {type(error).__name__}: "
                                                  f"{first}")
    return request.without_result(outcome.describe())


def run_in_child(request: JobRequest, timeout_s: float, *, python: str | None = None
                 ) -> JobResult:
    """Time one job in a child (kind ``job``: ``targets/worker.py``); a crash or hang is
    a ``failed`` row."""
    return call_child(request, timeout_s=timeout_s, python=python)


def build_in_child(request: BuildRequest, timeout_s: float) -> ModelBuild:
    """Build one zoo model's variants in a child (kind ``build``: ``qat/build_worker.py``)."""
    return call_child(request, timeout_s=timeout_s)
