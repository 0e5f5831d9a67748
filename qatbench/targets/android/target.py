"""Android phones over adb: NNAPI and the phone's CPU, timed by TFLite's ``benchmark_model``.

Each job pushes the benchmark binary and the model to
``/data/local/tmp/qatbench/<run_id>/<job>/r<repeat>/`` (``remote_dir``: named from
``Prepared.job``, so no two jobs, repeats or runs sharing a phone meet in one folder, and
one job's clean-up never removes another's files), runs it with the run's warm-up and timing
settings mapped onto benchmark_model's flags, parses what it prints, and removes what it
pushed -- also after a failure. The binary is started through ``sh -c 'echo $$ > PIDFILE;
exec ...'`` so its pid on the phone is known: a run that reaches its timeout, or a job
interrupted by the runner, kills exactly that process (``kill PID``), never every
``benchmark_model`` on a shared phone. A phone that vanishes makes the target
``unavailable``, not the job ``failed``. The figures are benchmark_model's own, one to one; what
it did not print stays empty. A run in which NNAPI did not take the graph is never
reported as an NNAPI figure.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import hashlib
import re
import shlex
from pathlib import Path
from typing import Any, ClassVar, Literal

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
    profile_from_benchmark_output,
)
from qatbench.targets.base import (
    Availability,
    Capability,
    EvalSet,
    Evaluation,
    JobFailed,
    JobId,
    Measurement,
    MeasureSpec,
    Prepared,
    ProfileSpec,
    ReportedLatency,
    Status,
    TargetUnavailable,
)
from qatbench.targets.op_profile import OpProfile
from qatbench.targets.options import PhoneOptions
from qatbench.targets.tflite_file import inspect_tflite
from qatbench.targets.tools import ToolRun, find_tool

BENCHMARK_MODEL_ENV = "QATBENCH_BENCHMARK_MODEL"
GET_BENCHMARK_MODEL = (
    "download TFLite's prebuilt Android benchmark_model for the phone's ABI "
    "(https://ai.google.dev/edge/litert/models/measurement#native_benchmark_binary, e.g. "
    "android_aarch64_benchmark_model) and set "
    f"{BENCHMARK_MODEL_ENV} to it, or `benchmark_model = \"PATH\"` under [targets.NAME]")
REMOTE_ROOT = "/data/local/tmp/qatbench"
NNAPI_MIN_SDK, NNAPI_DEPRECATED_SDK = 27, 35
CLEANUP_TIMEOUT_S = 10.0  # each clean-up command; the runner's grace after SIGTERM is short
PID_FILE = "benchmark_model.pid"


class AndroidOptions(PhoneOptions):
    """``[targets.nnapi]`` / ``[targets.android-cpu]``: which phone, which tools, how to
    run (the phone's own fields -- device, adb, cpu_mask, timeouts, extra_flags -- are
    ``PhoneOptions``', shared with LiteRT's phone targets)."""

    benchmark_model: str | None = None  # else $QATBENCH_BENCHMARK_MODEL
    accelerator: str | None = None  # --nnapi_accelerator_name
    execution_preference: Literal["fast_single_answer", "sustained_speed", "low_power",
                                  "undefined"] | None = None
    # a second benchmark_model run with --enable_op_profiling=true for the per-op profile;
    # the timing row always comes from the first, unprofiled run (profiling costs time).
    # With --repeats K only the first repeat profiles: one profile per job is the result,
    # and the phone is not kept busy K times for it.
    op_profiling: bool = False

    FIRST_REPEAT_ONLY: ClassVar[frozenset[str]] = frozenset({"op_profiling"})


def _ms(microseconds: float | None) -> float | None:
    return None if microseconds is None else microseconds / 1000.0


def _safe_name(text: str) -> str:
    """A device-side file name from anything (quoting is done anyway; this keeps it legible)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)[:80] or "model"


_DEVICE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,63}")


def _folder_name(text: str) -> str:
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
    return (f"{REMOTE_ROOT}/{_folder_name(job.run_id)}/{_folder_name(job.job)}/"
            f"r{int(job.repeat)}")


class AndroidTarget:
    """A phone over adb; ``use_nnapi`` picks NNAPI, otherwise XNNPACK on the phone's CPU."""

    takes_device = True
    capabilities = frozenset({Capability.PROFILE})

    def __init__(self, name: str, *, use_nnapi: bool, description: str,
                 options: AndroidOptions | None = None) -> None:
        self.options = options or AndroidOptions()
        self.name = name
        self.description = description
        self.use_nnapi = use_nnapi
        self.device = self.options.device
        self.adb_path = self.options.adb
        self.benchmark_model = self.options.benchmark_model
        self.accelerator = self.options.accelerator
        self.execution_preference = self.options.execution_preference
        self.cpu_mask = self.options.cpu_mask
        self.extra_flags = list(self.options.extra_flags)
        self.accuracy_source = (f"host cpu-xnnpack interpreter (same file; {name} is not "
                                "evaluated)")

    # -- tools and device ------------------------------------------------------------------
    def _adb(self) -> Adb:
        tool = find_tool("adb", ADB_ENV, self.adb_path)
        if not tool.found:
            raise DeviceError(f"adb not found ({tool.searched}); {INSTALL_ADB}")
        return Adb(tool.path, timeout_s=self.options.adb_timeout_s)

    def _binary(self) -> Path:
        tool = find_tool("benchmark_model", BENCHMARK_MODEL_ENV, self.benchmark_model)
        if not tool.found:
            raise FileNotFoundError(f"benchmark_model not found ({tool.searched}); "
                                    f"{GET_BENCHMARK_MODEL}")
        return tool.path

    def probe(self) -> Availability:
        try:
            self._binary()
        except FileNotFoundError as error:
            return Availability(False, reason=str(error).split(";")[0],
                                fix=GET_BENCHMARK_MODEL)
        try:
            adb = self._adb()
            entry = adb.choose(self.device)
            props = adb.properties()
        except DeviceError as error:
            return Availability(False, reason=str(error))
        sdk = int(props.get("ro.build.version.sdk", "0") or 0)
        if self.use_nnapi and 0 < sdk < NNAPI_MIN_SDK:
            return Availability(False, reason=f"{entry.serial} runs Android API {sdk}; NNAPI "
                                f"needs API {NNAPI_MIN_SDK} or newer")
        return Availability(True, details={"device": entry.serial, **{
            k.split(".")[-1]: v for k, v in props.items()}})

    # -- the Target verbs ------------------------------------------------------------------
    def prepare(self, model: Path, work: Path) -> Prepared:
        info = inspect_tflite(model)  # a broken file fails here, on the host, with its reason
        # the device folder is named in measure, from Prepared.job (set by the worker)
        return Prepared(model=model, source=model, ops_total=info.ops_total,
                        extra={"log": str(work / "benchmark_model.log")})

    def flags(self, graph: str, spec: MeasureSpec) -> list[str]:
        """The run's measurement settings as benchmark_model flags."""
        flags = [f"--graph={graph}", f"--num_threads={spec.threads}",
                 f"--warmup_runs={spec.warmup_runs}", f"--warmup_min_secs={spec.warmup_min_s:g}",
                 f"--num_runs={spec.min_runs}", f"--min_secs={spec.min_s:g}",
                 f"--max_secs={spec.max_s:g}", "--report_peak_memory_footprint=true"]
        if self.use_nnapi:
            flags += ["--use_nnapi=true", "--use_xnnpack=false"]
            if self.accelerator:
                flags.append(f"--nnapi_accelerator_name={self.accelerator}")
            if self.execution_preference:
                flags.append(f"--nnapi_execution_preference={self.execution_preference}")
        else:
            flags += ["--use_xnnpack=true", "--use_nnapi=false"]
        return flags + self.extra_flags

    def support_files(self, remote: str) -> tuple[list[tuple[Path, str]], list[str]]:
        """Files to push beside the binary, and words to run it under (``env VAR=...``).

        benchmark_model needs neither; LiteRT's NPU benchmark pushes the vendor's
        dispatch library and points the loader at it (``litert_phone``).
        """
        return [], []

    def measure(self, prepared: Prepared, spec: MeasureSpec) -> Measurement:
        if prepared.job is None:  # never guessed: a shared folder is how jobs clobber
            raise ValueError(f"{self.name}: Prepared.job is not set, so there is no device "
                             "folder of this job's own (the worker sets it; a caller "
                             "driving the target by hand sets it with dataclasses.replace)")
        remote = remote_dir(prepared.job)
        try:
            binary = self._binary()
            adb = self._adb()
            entry = adb.choose(self.device)
            props = adb.properties()
        except FileNotFoundError as error:
            raise TargetUnavailable(str(error)) from None
        except DeviceError as error:
            raise TargetUnavailable(f"{self.name}: {error}") from None
        remote_binary = f"{remote}/benchmark_model"
        remote_model = f"{remote}/{_safe_name(prepared.model.stem)}.tflite"
        pid_file = f"{remote}/{PID_FILE}"
        support, prefix = self.support_files(remote)
        command = [*prefix, remote_binary, *self.flags(remote_model, spec)]
        if self.cpu_mask:
            command = ["taskset", self.cpu_mask, *command]
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
            for local, remote_path in support:
                adb.push(local, remote_path)
            run = adb.run_command(launch, timeout_s=timeout_s)
            finished = not run.timed_out
            if finished and self.options.op_profiling:
                profiled = adb.run_command([*launch, "--enable_op_profiling=true"],
                                           timeout_s=timeout_s)
                finished = not profiled.timed_out
        except DeviceUnreachable as error:
            raise TargetUnavailable(f"{self.name} on {entry.serial}: {error}") from None
        except DeviceError as error:
            raise JobFailed(f"{self.name} on {entry.serial}: {error}") from None
        finally:  # also on JobInterrupted: nothing of ours keeps running on the phone
            killed = self._clean_up(adb, remote, pid_file, kill=not finished)
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
        measurement = self._measurement(out, run.returncode, run.tail(), entry, props)
        if profiled is None or measurement.status is not Status.OK:
            return measurement
        return with_op_profile(measurement, profiled, Path(prepared.extra["log"]).parent)

    def profile(self, prepared: Prepared, spec: ProfileSpec) -> OpProfile:
        """``benchmark_model``'s own op tables (``--enable_op_profiling``) from a run
        apart from an unprofiled one, whose figure is the whole model's (the coverage's
        base): ``measure`` with ``op_profiling`` on. ``spec.op_s`` does not apply."""
        profiling = copy.copy(self)
        profiling.options = self.options.model_copy(update={"op_profiling": True})
        measured = profiling.measure(prepared, spec)
        path = measured.extra.get("op_profile")
        if measured.status is not Status.OK or not path:
            raise JobFailed(measured.error or str(measured.extra.get("op_profile_error")
                                                  or "benchmark_model printed no op tables"))
        found = OpProfile.from_json(Path(path).read_text())
        return dataclasses.replace(found, extra={
            **found.extra, "device": measured.device, "runtime": measured.runtime})

    def _clean_up(self, adb: Adb, remote: str, pid_file: str, *, kill: bool) -> str:
        """Stop our benchmark_model by its pid (when it may still run), remove our files.

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

    def _measurement(self, out: BenchmarkOutput, returncode: int | None, tail: str,
                     entry: DeviceEntry, props: dict[str, str]) -> Measurement:
        device = " ".join(v for v in (props.get("ro.product.manufacturer"),
                                      props.get("ro.product.model")) if v)
        device = f"{device} ({entry.serial})" if device else entry.serial
        extra: dict[str, Any] = {"device_properties": props,
                                 "benchmark_model_exit": returncode,
                                 "fingerprint": device_fingerprint(props, self._binary())}
        notes = []
        sdk = int(props.get("ro.build.version.sdk", "0") or 0)
        if self.use_nnapi and sdk >= NNAPI_DEPRECATED_SDK:
            notes.append(f"NNAPI is deprecated from Android 15 (API {NNAPI_DEPRECATED_SDK}); "
                         f"this device runs API {sdk}")
        if out.nnapi_accelerators is not None:
            extra["nnapi_accelerators"] = out.nnapi_accelerators
        if out.warmup is not None:
            extra["warmup"] = out.warmup.__dict__
        if out.memory_kind:
            extra["memory"] = {"init_mb": out.memory_init_mb, "overall_mb":
                               out.memory_overall_mb, "kind": out.memory_kind,
                               "peak_mb": out.peak_memory_mb}
        delegate_name = "NNAPI" if self.use_nnapi else "XNNPACK"
        delegation = out.delegation_of(delegate_name)
        extra["delegation"] = delegation.__dict__ if delegation else None
        if out.failed or out.timed is None or (returncode not in (0, None) and not out.timed):
            lines = out.errors or [tail]
            return Measurement(status=Status.FAILED, device=device, runtime="benchmark_model",
                               error="benchmark_model failed on the device:\n"
                               + "\n".join(lines), extra=extra)
        reported = ReportedLatency(
            n_samples=out.timed.count, min_ms=_ms(out.timed.min), max_ms=_ms(out.timed.max),
            mean_ms=_ms(out.timed.avg), std_ms=_ms(out.timed.std), p50_ms=_ms(out.timed.median))
        if self.use_nnapi and (delegation is None or delegation.extent not in
                               ("complete", "partial")):
            extra["cpu_fallback_latency_ms"] = reported.__dict__  # kept, but not as NNAPI
            how = "did not take the graph" if delegation else "was not reported as applied"
            return Measurement(status=Status.FAILED, device=device, runtime="benchmark_model",
                               error=f"NNAPI {how}: benchmark_model ran on the CPU, so "
                               "these are not NNAPI figures (kept in extra)", extra=extra)
        label = delegate_name.lower()
        if delegation is not None and delegation.extent == "partial":
            label += f" (partial, {delegation.kernels} kernels)"
            notes.append(f"{delegate_name} took part of the graph ({delegation.kernels} "
                         "delegate kernels); the rest ran on the CPU")
        elif delegation is None:
            label += " (delegation not reported)"
        if self.cpu_mask:
            extra["cpu_mask"] = self.cpu_mask
        if notes:
            extra["note"] = "; ".join(notes)
        return Measurement(
            status=Status.OK, reported=reported, init_ms=_ms(out.init_us),
            first_inference_ms=_ms(out.first_inference_us), peak_memory_mb=out.best_memory_mb,
            device=device, delegate=label, runtime="benchmark_model", extra=extra)

    def evaluate(self, prepared: Prepared, data: EvalSet) -> Evaluation | None:
        """benchmark_model does not evaluate: the same file's outputs on the host's LiteRT."""
        from qatbench.targets.host.cpu import cpu_xnnpack

        return cpu_xnnpack().evaluate(prepared, data)


def with_op_profile(measurement: Measurement, profiled: ToolRun, work: Path) -> Measurement:
    """The measurement (from the unprofiled run, untouched) plus the profiled run's op
    tables, written to ``op_profile.json`` in the job's work dir; the row's extra names
    the file. What the profiled run itself timed is kept apart, never as the result."""
    text = profiled.stdout + "\n" + profiled.stderr
    (work / "benchmark_model_profiled.log").write_text(text)
    out = parse_benchmark_output(text)
    reported = measurement.reported
    whole_ms = None if reported is None else (
        reported.p50_ms if reported.p50_ms is not None else reported.mean_ms)
    extra = dict(measurement.extra)
    if profiled.timed_out or not (out.op_run_order or out.op_top_by_time):
        extra["op_profile_error"] = ("the op-profiling run printed no op tables"
                                     f"{' (timed out)' if profiled.timed_out else ''}")
        return dataclasses.replace(measurement, extra=extra)
    profile = profile_from_benchmark_output(out.op_run_order, out.op_top_by_time, whole_ms,
                                            delegate=measurement.delegate)
    path = work / "op_profile.json"
    path.write_text(profile.to_json())
    extra["op_profile"] = str(path)
    if out.profiled_runs is not None and out.profiled_runs.avg is not None:
        extra["op_profiled_avg_ms"] = out.profiled_runs.avg / 1000.0  # not the result
    return dataclasses.replace(measurement, extra=extra)


def device_fingerprint(props: dict[str, str], binary: Path) -> dict[str, str]:
    """What makes two phone rows comparable: the same model of phone and SoC on the same
    Android build, timed by the same benchmark_model binary (not the same serial: a lab
    swaps one phone for another of its kind)."""
    digest = hashlib.sha256(binary.read_bytes()).hexdigest()[:12] if binary.is_file() else ""
    return {"model": props.get("ro.product.model", ""),
            "manufacturer": props.get("ro.product.manufacturer", ""),
            "soc": props.get("ro.soc.model") or props.get("ro.board.platform", ""),
            "android_build": props.get("ro.build.fingerprint")
            or props.get("ro.build.display.id", ""),
            "sdk": props.get("ro.build.version.sdk", ""),
            "benchmark_model_sha256": digest}


def nnapi(options: AndroidOptions | None = None, *, name: str = "nnapi") -> AndroidTarget:
    return AndroidTarget(name, use_nnapi=True, options=options,
                         description="Android NNAPI over adb, timed by benchmark_model")


def android_cpu(options: AndroidOptions | None = None, *, name: str = "android-cpu"
                ) -> AndroidTarget:
    return AndroidTarget(name, use_nnapi=False, options=options,
                         description="the phone's CPU (XNNPACK) over adb, timed by "
                                     "benchmark_model")
