"""The adb path every phone target shares: a benchmark binary pushed, run and removed.

A phone target is composed of this path and a ``BenchmarkBinary`` -- which binary,
where it is found and how to get it -- rather than subclassing another target: TFLite's
``benchmark_model`` (``nnapi``, ``android-cpu``) and LiteRT's ``benchmark_litert_model``
(an AOT-compiled model on an NPU phone) are both built on TFLite's benchmark framework,
so they take the same timing flags and print the same figures; only the binary, the
delegate flags and the files pushed beside it differ, and the target supplies those.

Each run pushes the binary and the model to
``/data/local/tmp/qatbench/<run_id>/<job>/r<repeat>/`` (``remote_dir``: named from
``Prepared.job``, so no two jobs, repeats or runs sharing a phone meet in one folder, and
one job's clean-up never removes another's files), and removes what it pushed -- also
after a failure. The binary is started through ``sh -c 'echo $$ > PIDFILE; exec ...'`` so
its pid on the phone is known: a run that reaches its timeout, or a job interrupted by
the runner, kills exactly that process (``kill PID``), never every benchmark on a shared
phone. A phone that vanishes makes the target ``unavailable``, not the job ``failed``.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from qatbench.targets.android.adb import (
    ADB_ENV,
    INSTALL_ADB,
    Adb,
    DeviceEntry,
    DeviceError,
    DeviceUnreachable,
)
from qatbench.targets.android.benchmark_model_output import (
    BenchmarkOutput,
    parse_benchmark_output,
)
from qatbench.targets.base import (
    Availability,
    JobFailed,
    JobId,
    MeasureSpec,
    Prepared,
    TargetUnavailable,
)
from qatbench.targets.options import PhoneOptions
from qatbench.targets.tools import ToolRun, find_tool

REMOTE_ROOT = "/data/local/tmp/qatbench"
CLEANUP_TIMEOUT_S = 10.0  # each clean-up command; the runner's grace after SIGTERM is short
PID_FILE = "benchmark_model.pid"
OP_PROFILING_FLAG = "--enable_op_profiling=true"

_DEVICE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,63}")


@dataclass(frozen=True)
class BenchmarkBinary:
    """A benchmark binary built on TFLite's benchmark framework, as a phone target runs it.

    ``tool`` is its name (in messages and the tool search), ``env`` the variable that
    points at it, ``configured`` the path a ``[targets.NAME]`` table gave (it wins),
    ``get_it`` how a user gets one, and ``runtime`` the row's runtime label.
    """

    tool: str
    env: str
    configured: str | None
    get_it: str
    runtime: str

    def find(self) -> Path:
        """The binary's path. Raises ``FileNotFoundError`` saying where it looked and how
        to get it (a probe shows the part before ``;``)."""
        found = find_tool(self.tool, self.env, self.configured)
        if not found.found:
            raise FileNotFoundError(f"{self.tool} not found ({found.searched}); {self.get_it}")
        return found.path


@dataclass(frozen=True)
class PhoneRun:
    """What one job's run on the phone left: the timed run (and the op-profiling run
    beside it, when asked), its parsed output, the phone and the binary."""

    run: ToolRun
    output: BenchmarkOutput
    entry: DeviceEntry
    props: dict[str, str]
    binary: Path
    profiled: ToolRun | None = None


@dataclass(frozen=True)
class RunPlan:
    """What the target adds to the shared path for one run: the benchmark's flags for the
    model's path on the phone, the files pushed beside the binary (local path, phone
    path) and the words the binary runs under (``env VAR=...``)."""

    flags: Callable[[str], list[str]]
    support: list[tuple[Path, str]] = field(default_factory=list)
    prefix: list[str] = field(default_factory=list)


def safe_name(text: str) -> str:
    """A device-side file name from anything (quoting is done anyway; this keeps it legible)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)[:80] or "model"


def folder_name(text: str) -> str:
    """One folder name that any device shell takes as it is and ``rm -rf`` cannot misread.

    A name of ``[A-Za-z0-9._-]`` (not starting with ``.`` or ``-``, at most 64
    characters) stays as it is; any other gets its legible part plus a hash of the whole,
    so two different names never become one folder (and ``..`` never climbs out).
    """
    if _DEVICE_NAME.fullmatch(text):
        return text
    legible = re.sub(r"[^A-Za-z0-9._-]", "_", text).lstrip(".-")[:48]
    return f"{legible or 'x'}-{hashlib.sha256(text.encode()).hexdigest()[:10]}"


def remote_dir(job: JobId) -> str:
    """The phone folder of one repeat of one job of one run:
    ``REMOTE_ROOT/<run_id>/<job>/r<repeat>``, the job's alone (pushed, run, removed)."""
    return (f"{REMOTE_ROOT}/{folder_name(job.run_id)}/{folder_name(job.job)}/"
            f"r{int(job.repeat)}")


class PhoneBenchmark:
    """One phone (``PhoneOptions``: which device, which adb, cores, budgets) and one
    ``BenchmarkBinary``: finding both, and running the binary on a model there."""

    def __init__(self, name: str, binary: BenchmarkBinary, options: PhoneOptions) -> None:
        self.name = name
        self.binary = binary
        self.options = options

    def adb(self) -> Adb:
        tool = find_tool("adb", ADB_ENV, self.options.adb)
        if not tool.found:
            raise DeviceError(f"adb not found ({tool.searched}); {INSTALL_ADB}")
        return Adb(tool.path, timeout_s=self.options.adb_timeout_s)

    def probe(self) -> tuple[Availability | None, DeviceEntry | None, dict[str, str]]:
        """The binary and the phone: an ``Availability`` that says why not, or ``None``
        with the chosen device and its properties (the target adds its own checks)."""
        try:
            self.binary.find()
        except FileNotFoundError as error:
            return (Availability(False, reason=str(error).split(";")[0],
                                 fix=self.binary.get_it), None, {})
        try:
            adb = self.adb()
            entry = adb.choose(self.options.device)
            props = adb.properties()
        except DeviceError as error:
            return Availability(False, reason=str(error)), None, {}
        return None, entry, props

    def run(self, prepared: Prepared, spec: MeasureSpec, plan: Callable[[str], RunPlan], *,
            op_profiling: bool = False) -> PhoneRun:
        """Push, run (and, with ``op_profiling``, run again with the op tables on), clean
        up; the run's output is written to ``prepared.extra["log"]``.

        ``plan`` is given the job's phone folder and says what this target adds.
        Raises ``TargetUnavailable`` (binary, adb or phone missing or gone) or
        ``JobFailed`` (adb failed, the run outlived ``timeout_s``).
        """
        if prepared.job is None:  # never guessed: a shared folder is how jobs clobber
            raise ValueError(f"{self.name}: Prepared.job is not set, so there is no device "
                             "folder of this job's own (the worker sets it; a caller "
                             "driving the target by hand sets it with dataclasses.replace)")
        remote = remote_dir(prepared.job)
        try:
            binary = self.binary.find()
            adb = self.adb()
            entry = adb.choose(self.options.device)
            props = adb.properties()
        except FileNotFoundError as error:
            raise TargetUnavailable(str(error)) from None
        except DeviceError as error:
            raise TargetUnavailable(f"{self.name}: {error}") from None
        remote_binary = f"{remote}/benchmark_model"
        remote_model = f"{remote}/{safe_name(prepared.model.stem)}.tflite"
        pid_file = f"{remote}/{PID_FILE}"
        planned = plan(remote)
        command = [*planned.prefix, remote_binary, *planned.flags(remote_model)]
        if self.options.cpu_mask:
            command = ["taskset", self.options.cpu_mask, *command]
        # the device shell records the pid, then becomes the command (exec keeps the pid)
        launch = ["sh", "-c", f'echo $$ > {shlex.quote(pid_file)} && exec "$0" "$@"',
                  *command]
        timeout_s = self.options.timeout_s or 2 * spec.max_s + 120
        finished, killed = False, ""
        profiled: ToolRun | None = None
        try:
            adb.shell_ok(["mkdir", "-p", remote])
            adb.push(binary, remote_binary)
            adb.shell_ok(["chmod", "755", remote_binary])
            adb.push(prepared.model, remote_model)
            for local, remote_path in planned.support:
                adb.push(local, remote_path)
            run = adb.run_command(launch, timeout_s=timeout_s)
            finished = not run.timed_out
            if finished and op_profiling:
                profiled = adb.run_command([*launch, OP_PROFILING_FLAG], timeout_s=timeout_s)
                finished = not profiled.timed_out
        except DeviceUnreachable as error:
            raise TargetUnavailable(f"{self.name} on {entry.serial}: {error}") from None
        except DeviceError as error:
            raise JobFailed(f"{self.name} on {entry.serial}: {error}") from None
        finally:  # also on JobInterrupted: nothing of ours keeps running on the phone
            killed = clean_up(adb, remote, pid_file, kill=not finished)
        Path(prepared.extra["log"]).write_text(run.stdout + run.stderr)
        if run.timed_out:
            raise JobFailed(f"benchmark_model did not finish in {timeout_s:g} s on "
                            f"{entry.serial} (timeout_s); {killed or 'no pid to kill'}"
                            f"\n{run.tail()}")
        out = parse_benchmark_output(run.stdout + "\n" + run.stderr)
        if run.returncode != 0 and out.timed is None:
            try:  # a run cut short: did the phone go away under it?
                adb.ensure_present()
            except DeviceError as error:
                raise TargetUnavailable(f"{self.name}: {error}") from None
        return PhoneRun(run, out, entry, props, binary, profiled)


def clean_up(adb: Adb, remote: str, pid_file: str, *, kill: bool) -> str:
    """Stop our benchmark by its pid (when it may still run), remove our files.

    Returns what was killed, for the row. A device that is gone needs no cleaning.
    """
    killed = ""
    if kill:
        with contextlib.suppress(DeviceError):
            pid = adb.shell_ok(["cat", pid_file], CLEANUP_TIMEOUT_S).strip()
            if pid.isdigit():
                adb.shell(["kill", pid], CLEANUP_TIMEOUT_S)
                killed = f"killed benchmark_model (pid {pid}) on the device"
    with contextlib.suppress(DeviceError):
        adb.shell(["rm", "-rf", remote], CLEANUP_TIMEOUT_S)
    return killed
