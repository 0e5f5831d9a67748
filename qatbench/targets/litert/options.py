"""The options of LiteRT's targets, apart from the targets that read them.

``litert_npu`` (compile for a phone SoC, or run through OpenVINO here) and
``litert_phone`` (time the compiled model on a phone) both read
``LiteRtNpuOptions``; living here, the two modules import it from below instead of
from each other (which was an import cycle).
"""

from __future__ import annotations

from pydantic import Field

from qatbench.targets.options import PhoneOptions, TargetOptions

LITERT_BENCHMARK_ENV = "QATBENCH_LITERT_BENCHMARK_MODEL"


class LiteRtCompileOptions(TargetOptions):
    """What every LiteRT AOT target compiles with: the SoC, the vendor SDK, the plug-in's
    flags and budget, and whether float models are skipped without compiling."""

    soc: str | None = None  # one of LiteRT's SoC names for the vendor; default per vendor
    sdk_libs: str | None = None  # local vendor SDK libraries; else $QATBENCH_LITERT_SDK_<V>
    compile_timeout_s: float = Field(default=600, gt=0)
    # vendor flags of LiteRT's apply_plugin, e.g. {qualcomm_optimization_level = "O3"}
    compiler_flags: dict[str, str] = Field(default_factory=dict)
    int8_only: bool = False  # skip float32 without compiling (an int8-only NPU)


class LiteRtNpuOptions(LiteRtCompileOptions, PhoneOptions):
    """``[targets.litert-<vendor>]``: the SoC, where the vendor SDK is, how to compile,
    and (optionally) the phone to time the compiled model on."""

    # the phone: LiteRT's Android benchmark binary (else $QATBENCH_LITERT_BENCHMARK_MODEL)
    # and a directory with the vendor's Android dispatch library (+ its runtime libraries)
    benchmark_binary: str | None = None
    dispatch_libs: str | None = None  # else $QATBENCH_LITERT_DISPATCH_<VENDOR>


class OpenVinoOptions(LiteRtCompileOptions):
    """``[targets.litert-intel]`` / ``[targets.litert-openvino-cpu]`` (``soc``: LiteRT's
    Intel SoC names, LNL or PTL; ``sdk_libs`` else $QATBENCH_LITERT_SDK_INTEL)."""

    # OpenVINO's performance hint at run time: latency (the default) or throughput
    performance_mode: str = Field(default="latency", pattern="^(latency|throughput)$")


class LiteRtCpuOptions(TargetOptions):
    """``litert-cpu`` has nothing to set beyond ``kind`` and ``python``: threads and timing
    come from the run's measurement settings, as for ``cpu-xnnpack``."""
