"""Android phones over adb: NNAPI and the phone's CPU, timed by TFLite's ``benchmark_model``.

The adb path -- push to the job's own device folder, a pid-tracked run, a kill at the
timeout, clean-up also after a failure, a vanished phone ``unavailable`` -- is
``android/phone.py``'s ``PhoneBenchmark``, composed here with ``benchmark_model``'s
``BenchmarkBinary``. This module maps the run's warm-up and timing settings onto
benchmark_model's flags and reads what it prints. The figures are benchmark_model's own,
one to one; what it did not print stays empty. A run in which NNAPI did not take the
graph is never reported as an NNAPI figure.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import re
from pathlib import Path
from typing import Any, Literal

import numpy as np

from qatbench.targets.android.adb import DeviceEntry
from qatbench.targets.android.benchmark_model_output import (
    BenchmarkOutput,
    parse_benchmark_output,
    profile_from_benchmark_output,
)
from qatbench.targets.android.phone import BenchmarkBinary, PhoneBenchmark, RunPlan
from qatbench.targets.base import (
    Availability,
    Capability,
    EvalSet,
    Evaluation,
    JobFailed,
    Measurement,
    MeasureSpec,
    Prepared,
    ProfileSpec,
    ReportedLatency,
    Status,
)
from qatbench.targets.op_profile import OpProfile
from qatbench.targets.options import PhoneOptions
from qatbench.targets.tflite_file import TensorInfo, inspect_tflite
from qatbench.targets.tools import ToolRun

BENCHMARK_MODEL_ENV = "QATBENCH_BENCHMARK_MODEL"
GET_BENCHMARK_MODEL = (
    "download TFLite's prebuilt Android benchmark_model for the phone's ABI "
    "(https://ai.google.dev/edge/litert/models/measurement#native_benchmark_binary, e.g. "
    "android_aarch64_benchmark_model) and set "
    f"{BENCHMARK_MODEL_ENV} to it, or `benchmark_model = \"PATH\"` under [targets.NAME]")
NNAPI_MIN_SDK, NNAPI_DEPRECATED_SDK = 27, 35


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
    # (``Capability.PROFILE_IN_JOB``, once per job).
    op_profiling: bool = False


def _ms(microseconds: float | None) -> float | None:
    return None if microseconds is None else microseconds / 1000.0


def benchmark_model_binary(configured: str | None) -> BenchmarkBinary:
    """TFLite's ``benchmark_model``: ``configured`` (the table's ``benchmark_model``),
    else $QATBENCH_BENCHMARK_MODEL, else PATH."""
    return BenchmarkBinary("benchmark_model", BENCHMARK_MODEL_ENV, configured,
                           GET_BENCHMARK_MODEL, runtime="benchmark_model")


def timing_flags(graph: str, spec: MeasureSpec) -> list[str]:
    """The run's measurement settings as the flags of TFLite's benchmark framework
    (``benchmark_model`` and LiteRT's ``benchmark_litert_model`` alike)."""
    return [f"--graph={graph}", f"--num_threads={spec.threads}",
            f"--warmup_runs={spec.warmup_runs}", f"--warmup_min_secs={spec.warmup_min_s:g}",
            f"--num_runs={spec.min_runs}", f"--min_secs={spec.min_s:g}",
            f"--max_secs={spec.max_s:g}", "--report_peak_memory_footprint=true"]


def _flag_names(tensor_names: list[str]) -> list[str]:
    """Names the flags can carry: the framework splits its lists at ',' and ':', which
    converter names hold ("serving_default_tokens:0"). It matches inputs by position and
    only warns when a name differs, so ``tokens:0`` goes as ``tokens`` (``input<i>`` where
    two would clash)."""
    names = [re.sub(r"[,:]", "_", name.rsplit(":", 1)[0]) or f"input{i}"
             for i, name in enumerate(tensor_names)]
    return names if len(set(names)) == len(names) else [f"input{i}" for i in range(len(names))]


def input_layer_flags(model: Path, inputs: tuple[TensorInfo, ...] | None = None
                      ) -> list[str]:
    """benchmark_model's input flags for a model with index inputs (token ids), else none.

    The benchmark framework fills an integer input with random values in 0..99 unless
    ``--input_layer_value_range`` says otherwise: an ``Embedding`` of fewer rows then
    fails ("gather index out of bounds"), and a larger one is timed on its first 100
    rows only. Every index input gets the rows of the table it indexes (0..0 when no
    table is found, the one index every table has). The framework reads the ranges only
    with ``--input_layer`` and ``--input_layer_shape`` naming every input, in order.
    ``inputs``: the file's inputs when the caller has read them (``inspect_tflite``);
    the tables are looked up only when an input is an index."""
    from qatbench.targets.inputs import index_bounds_of_file

    inputs = inspect_tflite(model).inputs if inputs is None else inputs
    indices = [t.name for t in inputs
               if np.issubdtype(np.dtype(t.dtype), np.integer) and not t.scale]
    if not indices:
        return []
    bounds = index_bounds_of_file(model)
    names = _flag_names([tensor.name for tensor in inputs])
    ranges = [f"{name},0,{max(bounds.get(tensor.name, 1), 1) - 1}"
              for name, tensor in zip(names, inputs, strict=True) if tensor.name in indices]
    return [f"--input_layer={','.join(names)}",
            "--input_layer_shape=" + ":".join(",".join(str(d) for d in tensor.shape)
                                              for tensor in inputs),
            f"--input_layer_value_range={':'.join(ranges)}"]


class AndroidTarget:
    """A phone over adb; ``use_nnapi`` picks NNAPI, otherwise XNNPACK on the phone's CPU.

    ``benchmark_model`` on ``PhoneBenchmark``'s adb path; everything it is told comes from
    its typed ``options``.
    """

    takes_device = True
    capabilities = frozenset({Capability.PROFILE, Capability.PROFILE_IN_JOB})

    def __init__(self, name: str, *, use_nnapi: bool, description: str,
                 options: AndroidOptions | None = None) -> None:
        self.options = options or AndroidOptions()
        self.name = name
        self.description = description
        self.use_nnapi = use_nnapi
        self.phone = PhoneBenchmark(name, benchmark_model_binary(self.options.benchmark_model),
                                    self.options)
        self.accuracy_source = (f"host cpu-xnnpack interpreter (same file; {name} is not "
                                "evaluated)")

    def probe(self) -> Availability:
        unavailable, entry, props = self.phone.probe()
        if unavailable is not None or entry is None:
            return unavailable or Availability(False, reason="no device")
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
                        extra={"log": str(work / "benchmark_model.log"),
                               "input_flags": input_layer_flags(model, info.inputs)})

    def flags(self, graph: str, spec: MeasureSpec) -> list[str]:
        """The run's measurement settings and the delegate as benchmark_model flags."""
        flags = timing_flags(graph, spec)
        if self.use_nnapi:
            flags += ["--use_nnapi=true", "--use_xnnpack=false"]
            if self.options.accelerator:
                flags.append(f"--nnapi_accelerator_name={self.options.accelerator}")
            if self.options.execution_preference:
                flags.append("--nnapi_execution_preference="
                             f"{self.options.execution_preference}")
        else:
            flags += ["--use_xnnpack=true", "--use_nnapi=false"]
        return flags + list(self.options.extra_flags)

    def measure(self, prepared: Prepared, spec: MeasureSpec) -> Measurement:
        inputs = list(prepared.extra.get("input_flags", ()))
        done = self.phone.run(prepared, spec,
                              lambda remote: RunPlan(lambda graph: [*self.flags(graph, spec),
                                                                    *inputs]),
                              op_profiling=self.options.op_profiling)
        measurement = phone_measurement(done.output, done.run.returncode, done.run.tail(),
                                        done.entry, done.props, binary=done.binary,
                                        use_nnapi=self.use_nnapi,
                                        cpu_mask=self.options.cpu_mask)
        if done.profiled is None or measurement.status is not Status.OK:
            return measurement
        return with_op_profile(measurement, done.profiled, Path(prepared.extra["log"]).parent)

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

    def evaluate(self, prepared: Prepared, data: EvalSet) -> Evaluation | None:
        """benchmark_model does not evaluate: the same file's outputs on the host's LiteRT."""
        from qatbench.targets.host.cpu import cpu_xnnpack

        return cpu_xnnpack().evaluate(prepared, data)


def phone_measurement(out: BenchmarkOutput, returncode: int | None, tail: str,
                      entry: DeviceEntry, props: dict[str, str], *, binary: Path,
                      use_nnapi: bool, cpu_mask: str | None) -> Measurement:
    """What a benchmark of TFLite's framework printed on a phone, as a ``Measurement``
    (NNAPI's when ``use_nnapi``, else XNNPACK's on the phone's CPU)."""
    device = " ".join(v for v in (props.get("ro.product.manufacturer"),
                                  props.get("ro.product.model")) if v)
    device = f"{device} ({entry.serial})" if device else entry.serial
    extra: dict[str, Any] = {"device_properties": props,
                             "benchmark_model_exit": returncode,
                             "fingerprint": device_fingerprint(props, binary)}
    notes = []
    sdk = int(props.get("ro.build.version.sdk", "0") or 0)
    if use_nnapi and sdk >= NNAPI_DEPRECATED_SDK:
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
    delegate_name = "NNAPI" if use_nnapi else "XNNPACK"
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
    if use_nnapi and (delegation is None or delegation.extent not in
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
    if cpu_mask:
        extra["cpu_mask"] = cpu_mask
    if notes:
        extra["note"] = "; ".join(notes)
    return Measurement(
        status=Status.OK, reported=reported, init_ms=_ms(out.init_us),
        first_inference_ms=_ms(out.first_inference_us), peak_memory_mb=out.best_memory_mb,
        device=device, delegate=label, runtime="benchmark_model", extra=extra)


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
