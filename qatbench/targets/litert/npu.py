"""LiteRT's NPU path: ahead-of-time compilation per phone SoC, and the CompiledModel API.

NNAPI is deprecated from Android 15; LiteRT's successor compiles a model ahead of time
for one SoC with the vendor's compiler plug-in and runs it with ``CompiledModel`` and
the vendor's dispatch library. Three kinds of target live here:

* ``litert-qualcomm``, ``litert-mediatek``, ``litert-google-tensor``, ``litert-samsung``
  -- one SoC each (``soc = "SM8650"``; a user-named target with ``kind = ...`` per
  further SoC). ``prepare`` compiles and reads the placement (ops offloaded, partitions,
  op types left on the CPU) from the plug-in and the compiled flatbuffer. Without a
  phone the row is ``compiled``; with LiteRT's Android benchmark binary and a phone it
  is timed there (``litert_phone``).
* ``litert-intel`` (an Intel NPU through OpenVINO) and ``litert-openvino-cpu`` (the same
  plug-in with OpenVINO's CPU device as graph backend), timed on this host through
  ``CompiledModel`` and the OpenVINO dispatch library. The second is what lets the whole
  family run end to end on any x86-64 host; its rows say OpenVINO CPU, never NPU.
* ``litert-cpu``: ``CompiledModel`` on the host CPU, beside ``cpu-xnnpack`` (the
  ``Interpreter`` API), so both APIs are compared on the same model and rules.
"""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

from qatbench.targets.base import (
    Availability,
    EvalSet,
    Evaluation,
    JobSkipped,
    Measurement,
    MeasureSpec,
    Prepared,
    Status,
    TargetUnavailable,
)
from qatbench.targets.litert.aot import (
    CompileResult,
    apply_plugin_binary,
    classify_failure,
    compile_for_soc,
    library_path,
    plugin_call,
)
from qatbench.targets.litert.compiled_model import (
    CompiledModelTarget,
    OpenedModel,
    litert_label,
)
from qatbench.targets.litert.options import (
    LITERT_BENCHMARK_ENV,
    LiteRtCpuOptions,
    LiteRtNpuOptions,
    OpenVinoOptions,
)
from qatbench.targets.litert.phone import LiteRtPhone, find_benchmark_binary
from qatbench.targets.litert.placement import read_placement
from qatbench.targets.litert.vendors import VENDORS, Vendor, local_sdk_dir, package_version
from qatbench.targets.tflite_file import ModelInfo, inspect_tflite
from qatbench.targets.timing import usable_cores
from qatbench.targets.tools import run_tool

INSTALL_OPENVINO = ("pip install 'qatbench[npu-intel]' (ai-edge-litert-sdk-intel, which "
                    "installs openvino from the registry)")


# -- compiling, shared by every NPU target ---------------------------------------------------
def _skip_float(info: ModelInfo, vendor: Vendor, soc: str, int8_only: bool) -> None:
    if int8_only and info.kind != "int8":
        raise JobSkipped(f"{info.kind} model: {vendor.label} {soc} is configured int8-only "
                         "(int8_only = true); use the ptq_int8 or qat_int8 variant")


def compile_prepared(model: Path, work: Path, vendor: Vendor, soc: str, *,
                     sdk_libs: str | None, flags: dict[str, str], timeout_s: float,
                     int8_only: bool) -> Prepared:
    """Compile ``model`` for ``soc``; the ``Prepared`` carries placement and compile facts."""
    info = inspect_tflite(model)
    _skip_float(info, vendor, soc, int8_only)
    try:
        result = compile_for_soc(model, work, vendor, soc, sdk_dir=local_sdk_dir(vendor, sdk_libs),
                                 flags=flags, timeout_s=timeout_s)
    except ValueError as error:  # an SoC LiteRT does not know: a config mistake
        raise TargetUnavailable(str(error)) from None
    placement = read_placement(result.model)
    ops_total = result.ops_total or info.ops_total
    offloaded = result.ops_offloaded if result.partitions else \
        max(info.ops_total - placement.cpu_op_count, 0)
    if info.kind == "float32" and offloaded == 0:
        raise JobSkipped(f"float32 model: LiteRT's {vendor.label} plug-in for {soc} took none "
                         f"of its {ops_total} ops (this NPU runs integer models); use the "
                         "ptq_int8 or qat_int8 variant")
    extra = _compile_extra(result, vendor, soc, sdk_libs)
    extra.update({"partitions": sum(p.partitions for p in result.partitions)
                  if result.partitions else placement.dispatch_ops,
                  "dispatch_ops": placement.dispatch_ops, "ops_on_cpu": placement.ops_on_cpu})
    if placement.ops_on_cpu:
        ops = ", ".join(f"{n} {op}" for op, n in placement.ops_on_cpu.items())
        extra["note"] = (f"{placement.cpu_op_count} of {ops_total} ops stay on the CPU "
                         f"({ops}) in {extra['partitions']} NPU partition(s)")
    return Prepared(model=result.model, source=model, ops_total=ops_total,
                    ops_on_accelerator=offloaded, extra=extra)


def _compile_extra(result: CompileResult, vendor: Vendor, soc: str, sdk_libs: str | None
                   ) -> dict[str, Any]:
    local = local_sdk_dir(vendor, sdk_libs)
    return {"vendor": vendor.label, "soc": soc,
            "soc_manufacturer": result.call.soc_manufacturer,
            "sdk_version": f"local copy {local}" if local else vendor.sdk_version(),
            "compiler": f"{litert_label()} apply_plugin",
            "compile_time_s": round(result.seconds, 4),
            "compiled_size_bytes": result.size_bytes,
            "subgraphs": [p.__dict__ for p in result.partitions],
            "plugin_log": str(result.log)}


def probe_plugin(vendor: Vendor, soc: str, sdk_libs: str | None) -> Availability:
    """Load the vendor's plug-in once (``apply_plugin_main --cmd=info``): a missing SDK
    library that the plug-in needs at load time shows up here, before any job."""
    try:
        if soc not in vendor.socs():
            return Availability(False, reason=f"{soc!r} is not a {vendor.label} SoC LiteRT "
                                f"knows", fix=f"set soc to one of {', '.join(vendor.socs())}")
        call = plugin_call(vendor, soc, Path("probe.tflite"), Path("probe_out.tflite"))
        binary = apply_plugin_binary()
    except TargetUnavailable as error:
        return Availability(False, reason=str(error))
    except ImportError as error:
        return Availability(False, reason=f"ai-edge-litert is missing ({error})",
                            fix="pip install ai-edge-litert")
    args = ["env", f"LD_LIBRARY_PATH={library_path(call, local_sdk_dir(vendor, sdk_libs))}",
            str(binary), "--cmd=info", f"--soc_manufacturer={call.soc_manufacturer}",
            f"--soc_model={call.soc_model}", "--err=--", "--o=-",
            *(f"--{k}={v}" for k, v in call.flags.items() if k == "libs")]
    run = run_tool(args, timeout_s=60)
    text = run.stdout + "\n" + run.stderr
    if run.timed_out or "Loaded 0 plugins" in text or "cannot open shared object" in text \
            or "Failed to load" in text:
        outcome = classify_failure(vendor, soc, text, run.returncode)
        reason, _, fix = str(outcome).partition(" -- ")
        return Availability(False, reason=reason, fix=fix)
    return Availability(True, details={"vendor": vendor.label, "soc": soc,
                                       "sdk": vendor.sdk_version(), "litert": litert_label()})


# -- phone vendors -------------------------------------------------------------------------
class LiteRtNpuTarget:
    """A phone SoC: AOT-compiled here; timed on a phone when LiteRT's Android benchmark
    binary is given, ``compiled`` otherwise."""

    takes_device = True

    def __init__(self, vendor: Vendor, options: LiteRtNpuOptions | None = None, *,
                 name: str) -> None:
        self.vendor = vendor
        self.options = options or LiteRtNpuOptions()
        self.name = name
        self.soc = self.options.soc or vendor.default_soc
        self.description = (f"{vendor.label} NPU ({self.soc}): LiteRT AOT compile, op "
                            "placement; timed on a phone with LiteRT's benchmark binary")
        self.accuracy_source = (f"host cpu-xnnpack interpreter (source model; {name} is "
                                "not evaluated)")

    def probe(self) -> Availability:
        return probe_plugin(self.vendor, self.soc, self.options.sdk_libs)

    def prepare(self, model: Path, work: Path) -> Prepared:
        return compile_prepared(model, work, self.vendor, self.soc,
                                sdk_libs=self.options.sdk_libs,
                                flags=dict(self.options.compiler_flags),
                                timeout_s=self.options.compile_timeout_s,
                                int8_only=self.options.int8_only)

    def _phone(self) -> LiteRtPhone | None:
        if not find_benchmark_binary(self.options.benchmark_binary).found:
            return None
        return LiteRtPhone(self.vendor, self.soc, self.options, name=self.name)

    def measure(self, prepared: Prepared, spec: MeasureSpec) -> Measurement:
        phone = self._phone()
        if phone is not None:
            return phone.measure(phone.prepare_compiled(prepared), spec)
        return Measurement(
            status=Status.COMPILED, device=f"{self.vendor.label} {self.soc} (not attached)",
            delegate=f"litert npu dispatch ({self.vendor.label} {self.soc}, compiled only)",
            runtime=f"{litert_label()} apply_plugin + {prepared.extra.get('sdk_version')}",
            extra={**prepared.extra, "note": "; ".join(n for n in (
                str(prepared.extra.get("note", "")),
                f"compiled only: no LiteRT Android benchmark binary ({LITERT_BENCHMARK_ENV}) "
                "to time it on a phone") if n)})

    def evaluate(self, prepared: Prepared, data: EvalSet) -> Evaluation | None:
        """The NPU is not reachable from here: the source model's outputs on the host."""
        from qatbench.targets.host.cpu import cpu_xnnpack

        source = Prepared(model=prepared.source, source=prepared.source)
        return cpu_xnnpack().evaluate(source, data)


# -- OpenVINO on this host -------------------------------------------------------------------
def _openvino_device_present(device: str) -> bool:
    import openvino

    return any(d.split(".")[0] == device for d in openvino.Core().available_devices)


class OpenVinoTarget(CompiledModelTarget):
    """Intel's LiteRT plug-in, compiled for OpenVINO's ``graph_backend`` device and run here
    through ``CompiledModel`` with the OpenVINO dispatch library."""

    takes_device = False

    def __init__(self, graph_backend: str, options: OpenVinoOptions | None = None, *,
                 name: str) -> None:
        self.vendor = VENDORS["intel"]
        self.graph_backend = graph_backend  # cpu or npu: OpenVINO's device for the partitions
        self.device = graph_backend.upper()
        self.options = options or OpenVinoOptions()
        self.name = name
        self.soc = self.options.soc or self.vendor.default_soc
        what = ("OpenVINO's CPU device (not an NPU)" if graph_backend == "cpu"
                else f"the Intel NPU ({self.soc})")
        self.description = (f"{what} through LiteRT's Intel plug-in, CompiledModel and "
                            "dispatch, timed on this host")
        self.accuracy_source = f"{name} compiled model"

    def _dispatch_dir(self) -> Path | None:
        import ai_edge_litert

        path = Path(ai_edge_litert.__file__).parent / "vendors" / "intel_openvino" / "dispatch"
        return path if any(path.glob("libLiteRtDispatch_*")) else None

    def probe(self) -> Availability:
        if package_version("openvino") is None:
            return Availability(False, reason="openvino is not installed", fix=INSTALL_OPENVINO)
        try:
            if self._dispatch_dir() is None:
                return Availability(False, reason="this ai-edge-litert has no Intel OpenVINO "
                                    "dispatch library", fix="install ai-edge-litert 2.3 or "
                                    "newer on x86-64 Linux")
        except ImportError as error:
            return Availability(False, reason=str(error), fix="pip install ai-edge-litert")
        if self.graph_backend == "npu":
            plugin = probe_plugin(self.vendor, self.soc, self.options.sdk_libs)
            if not plugin.available:
                return plugin
        return Availability(True, details={"runtime": self.runtime_label(),
                                           "openvino_device": self.device,
                                           "device_present": str(
                                               _openvino_device_present(self.device))})

    def prepare(self, model: Path, work: Path) -> Prepared:
        flags = {"intel_openvino_graph_backends": self.graph_backend,
                 "intel_openvino_performance_mode": self.options.performance_mode,
                 **self.options.compiler_flags}
        return compile_prepared(model, work, self.vendor, self.soc,
                                sdk_libs=self.options.sdk_libs, flags=flags,
                                timeout_s=self.options.compile_timeout_s,
                                int8_only=self.options.int8_only)

    def environment_options(self) -> dict[str, str]:
        dispatch = self._dispatch_dir()
        if dispatch is None:
            raise TargetUnavailable("this ai-edge-litert has no Intel OpenVINO dispatch library")
        return {"dispatch_library_path": str(dispatch)}

    def model_options(self, threads: int) -> Any:
        from ai_edge_litert.hardware_accelerator import HardwareAccelerator
        from ai_edge_litert.options import CpuOptions, IntelOpenVinoOptions, Options

        configs = {"INFERENCE_NUM_THREADS": str(threads)} if self.graph_backend == "cpu" else {}
        return Options(hardware_accelerators=HardwareAccelerator.NPU | HardwareAccelerator.CPU,
                       cpu_options=CpuOptions(num_threads=threads),
                       intel_openvino_options=IntelOpenVinoOptions(configs_map=configs))

    def measure(self, prepared: Prepared, spec: MeasureSpec) -> Measurement:
        if not _openvino_device_present(self.device):
            return Measurement(
                status=Status.COMPILED, device=f"no OpenVINO {self.device} device here",
                delegate=self.delegate_label(None), runtime=self.runtime_label(),
                extra={**prepared.extra, "note": f"compiled only: OpenVINO lists no "
                       f"{self.device} device on this host (install the NPU driver on an "
                       f"Intel {self.soc} machine to time it)"})
        return super().measure(prepared, spec)

    def delegate_label(self, opened: OpenedModel | None) -> str:
        label = f"openvino {self.device} device via LiteRT NPU dispatch"
        if opened is not None and not opened.model.is_fully_accelerated():
            label += " (partial: some ops on LiteRT's CPU)"
        return label

    def device_label(self) -> str:
        if self.graph_backend == "cpu":
            return f"host-{platform.machine()} CPU via OpenVINO (not an NPU)"
        return f"Intel NPU ({self.soc}) via OpenVINO"

    def runtime_label(self) -> str:
        return (f"{litert_label()} CompiledModel + openvino "
                f"{package_version('openvino') or 'missing'} "
                f"({self.vendor.sdk_version()})")

    def measurement_extra(self, opened: OpenedModel, threads: int) -> dict[str, Any]:
        if self.graph_backend == "cpu":
            return {"openvino_threads": threads,
                    "openvino_threads_source": "INFERENCE_NUM_THREADS set per run",
                    "openvino_device": self.device}
        return {"openvino_device": self.device,
                "openvino_threads_source": "the NPU; CPU threads only for ops left on CPU"}


# -- CompiledModel on the host CPU -----------------------------------------------------------
class LiteRtCpuTarget(CompiledModelTarget):
    """``CompiledModel`` with the CPU accelerator (LiteRT's XNNPACK), the model as given."""

    takes_device = False

    def __init__(self, options: LiteRtCpuOptions | None = None, *, name: str = "litert-cpu"
                 ) -> None:
        self.options = options or LiteRtCpuOptions()
        self.name = name
        self.description = "host CPU, LiteRT CompiledModel API (beside cpu-xnnpack's Interpreter)"
        self.accuracy_source = f"{name} compiled model"

    def probe(self) -> Availability:
        try:
            from ai_edge_litert.compiled_model import CompiledModel  # noqa: F401
        except ImportError as error:
            return Availability(False, reason=f"no LiteRT CompiledModel API ({error})",
                                fix="pip install 'ai-edge-litert>=2'")
        return Availability(True, details={"runtime": self.runtime_label(),
                                           "cpu": platform.machine(),
                                           "cores": str(usable_cores())})

    def model_options(self, threads: int) -> Any:
        from ai_edge_litert.hardware_accelerator import HardwareAccelerator
        from ai_edge_litert.options import CpuOptions, Options

        return Options(hardware_accelerators=HardwareAccelerator.CPU,
                       cpu_options=CpuOptions(num_threads=threads))

    def delegate_label(self, opened: OpenedModel) -> str:
        return "litert cpu accelerator (xnnpack)"

    def device_label(self) -> str:
        return f"host-{platform.machine()}"

    def runtime_label(self) -> str:
        return f"{litert_label()} CompiledModel"


# -- factories (the registry's built-ins) ------------------------------------------------------
def _npu(vendor: str) -> Any:
    def factory(options: LiteRtNpuOptions | None = None, *, name: str = f"litert-{vendor}"
                ) -> LiteRtNpuTarget:
        return LiteRtNpuTarget(VENDORS[vendor], options, name=name)

    factory.__name__ = f"litert_{vendor.replace('-', '_')}"
    return factory


litert_qualcomm = _npu("qualcomm")
litert_mediatek = _npu("mediatek")
litert_google_tensor = _npu("google-tensor")
litert_samsung = _npu("samsung")


def litert_intel(options: OpenVinoOptions | None = None, *, name: str = "litert-intel"
                 ) -> OpenVinoTarget:
    return OpenVinoTarget("npu", options, name=name)


def litert_openvino_cpu(options: OpenVinoOptions | None = None, *,
                        name: str = "litert-openvino-cpu") -> OpenVinoTarget:
    return OpenVinoTarget("cpu", options, name=name)


def litert_cpu(options: LiteRtCpuOptions | None = None, *, name: str = "litert-cpu"
               ) -> LiteRtCpuTarget:
    return LiteRtCpuTarget(options, name=name)
