"""Android phones over adb: NNAPI and the phone's CPU, timed by TFLite's ``benchmark_model``.

Each job pushes the benchmark binary and the model to
``/data/local/tmp/qatbench/<run_id>/<job>/``, runs it with the run's warm-up and timing
settings mapped onto benchmark_model's flags, parses what it prints, and removes what it
pushed -- also after a failure. The figures are benchmark_model's own, one to one; what
it did not print stays empty. A run in which NNAPI did not take the graph is never
reported as an NNAPI figure.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Any

from qatbench.targets.adb import ADB_ENV, INSTALL_ADB, Adb, DeviceEntry, DeviceError
from qatbench.targets.base import (
    Availability,
    EvalSet,
    JobFailed,
    Measurement,
    MeasureSpec,
    Prepared,
    ReportedLatency,
    Status,
)
from qatbench.targets.benchmark_model_output import BenchmarkOutput, parse_benchmark_output
from qatbench.targets.tflite_file import inspect_tflite
from qatbench.targets.tools import find_tool

BENCHMARK_MODEL_ENV = "QATBENCH_BENCHMARK_MODEL"
GET_BENCHMARK_MODEL = (
    "download TFLite's prebuilt Android benchmark_model for the phone's ABI "
    "(https://ai.google.dev/edge/litert/models/measurement#native_benchmark_binary, e.g. "
    "android_aarch64_benchmark_model) and set "
    f"{BENCHMARK_MODEL_ENV} to it, or `benchmark_model = \"PATH\"` under [targets.NAME]")
REMOTE_ROOT = "/data/local/tmp/qatbench"
NNAPI_MIN_SDK, NNAPI_DEPRECATED_SDK = 27, 35
EXECUTION_PREFERENCES = ("fast_single_answer", "sustained_speed", "low_power", "undefined")


def _ms(microseconds: float | None) -> float | None:
    return None if microseconds is None else microseconds / 1000.0


def _safe_name(text: str) -> str:
    """A device-side file name from anything (quoting is done anyway; this keeps it legible)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)[:80] or "model"


class AndroidTarget:
    """A phone over adb; ``use_nnapi`` picks NNAPI, otherwise XNNPACK on the phone's CPU."""

    def __init__(self, name: str, *, use_nnapi: bool, description: str,
                 device: str | None = None, adb: str | None = None,
                 benchmark_model: str | None = None, accelerator: str | None = None,
                 execution_preference: str | None = None, cpu_mask: str | None = None,
                 timeout_s: float = 900, extra_flags: list[str] | None = None) -> None:
        if execution_preference and execution_preference not in EXECUTION_PREFERENCES:
            raise ValueError(f"execution_preference {execution_preference!r} is not one of "
                             f"{', '.join(EXECUTION_PREFERENCES)}")
        if cpu_mask and not re.fullmatch(r"(0x)?[0-9a-fA-F]+", cpu_mask):
            raise ValueError(f"cpu_mask {cpu_mask!r} is not a hexadecimal affinity mask (f0)")
        self.name = name
        self.description = description
        self.use_nnapi = use_nnapi
        self.device = device
        self.adb_path = adb
        self.benchmark_model = benchmark_model
        self.accelerator = accelerator
        self.execution_preference = execution_preference
        self.cpu_mask = cpu_mask
        self.timeout_s = timeout_s
        self.extra_flags = list(extra_flags or [])
        self.host_accuracy = f"host cpu-xnnpack interpreter (same file; {name} is not evaluated)"

    # -- tools and device ------------------------------------------------------------------
    def _adb(self) -> Adb:
        tool = find_tool("adb", ADB_ENV, self.adb_path)
        if not tool.found:
            raise DeviceError(f"adb not found ({tool.searched}); {INSTALL_ADB}")
        return Adb(tool.path)

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
        # the job's work dir is RUN_DIR/jobs/JOB: one device dir per run and job
        remote = f"{REMOTE_ROOT}/{_safe_name(work.parent.parent.name)}/{_safe_name(work.name)}"
        return Prepared(model=model, source=model, ops_total=info.ops_total,
                        extra={"remote_dir": remote, "log": str(work / "benchmark_model.log")})

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

    def measure(self, prepared: Prepared, spec: MeasureSpec) -> Measurement:
        try:
            binary = self._binary()
            adb = self._adb()
            entry = adb.choose(self.device)
            props = adb.properties()
        except (DeviceError, FileNotFoundError) as error:
            raise JobFailed(str(error)) from None
        remote = str(prepared.extra["remote_dir"])
        remote_binary = f"{remote}/benchmark_model"
        remote_model = f"{remote}/{_safe_name(prepared.model.stem)}.tflite"
        command = [remote_binary, *self.flags(remote_model, spec)]
        if self.cpu_mask:
            command = ["taskset", self.cpu_mask, *command]
        try:
            adb.shell_ok(["mkdir", "-p", remote])
            adb.push(binary, remote_binary)
            adb.shell_ok(["chmod", "755", remote_binary])
            adb.push(prepared.model, remote_model)
            run = adb.shell(command, timeout_s=self.timeout_s)
        except DeviceError as error:
            raise JobFailed(f"{self.name} on {entry.serial}: {error}") from None
        finally:
            with contextlib.suppress(DeviceError):  # a device that is gone needs no cleaning
                adb.shell(["rm", "-rf", remote])
        Path(prepared.extra["log"]).write_text(run.stdout + run.stderr)
        return self._measurement(parse_benchmark_output(run.stdout + "\n" + run.stderr),
                                 run.returncode, run.tail(), entry, props)

    def _measurement(self, out: BenchmarkOutput, returncode: int | None, tail: str,
                     entry: DeviceEntry, props: dict[str, str]) -> Measurement:
        device = " ".join(v for v in (props.get("ro.product.manufacturer"),
                                      props.get("ro.product.model")) if v)
        device = f"{device} ({entry.serial})" if device else entry.serial
        extra: dict[str, Any] = {"device_properties": props,
                                 "benchmark_model_exit": returncode}
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

    def evaluate(self, prepared: Prepared, data: EvalSet) -> float | None:
        """benchmark_model does not evaluate: top-1 of the same file on the host's LiteRT."""
        from qatbench.targets.cpu import cpu_xnnpack

        return cpu_xnnpack().evaluate(prepared, data)

    @property
    def accuracy_source(self) -> str:
        return self.host_accuracy


def nnapi(**options: Any) -> AndroidTarget:
    return AndroidTarget("nnapi", use_nnapi=True,
                         description="Android NNAPI over adb, timed by benchmark_model",
                         **options)


def android_cpu(**options: Any) -> AndroidTarget:
    return AndroidTarget("android-cpu", use_nnapi=False,
                         description="the phone's CPU (XNNPACK) over adb, timed by "
                                     "benchmark_model", **options)
