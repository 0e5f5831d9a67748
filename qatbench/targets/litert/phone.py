"""An AOT-compiled model timed on a phone by LiteRT's Android benchmark binary.

``benchmark_litert_model`` is built on TFLite's benchmark framework, so it takes the
same timing flags and prints the same figures as ``benchmark_model``; this reuses the
adb path of the ``nnapi`` target unchanged (push, pid-tracked run, kill at timeout,
clean-up, a vanished phone is ``unavailable``) and adds what the NPU needs: the vendor's
dispatch library pushed beside the binary with the loader pointed at it, and
``--use_npu``. A model the plug-in took whole runs with ``--require_full_delegation``
and no CPU accelerator, so a figure can only be the NPU's; a partly placed model keeps
the CPU for the ops left there and the row says how many those are.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from qatbench.targets.android.adb import DeviceEntry
from qatbench.targets.android.benchmark_model_output import BenchmarkOutput
from qatbench.targets.android.target import AndroidOptions, AndroidTarget
from qatbench.targets.base import Measurement, MeasureSpec, Prepared, Status, TargetUnavailable
from qatbench.targets.litert.options import LITERT_BENCHMARK_ENV, LiteRtNpuOptions
from qatbench.targets.litert.vendors import Vendor
from qatbench.targets.tools import ToolLocation, find_tool

GET_LITERT_BENCHMARK = (
    "build LiteRT's Android benchmark binary (`bazel build -c opt --config=android_arm64 "
    "//litert/tools:benchmark_litert_model` in github.com/google-ai-edge/LiteRT) and set "
    f"{LITERT_BENCHMARK_ENV} to it, or `benchmark_binary = \"PATH\"` under [targets.NAME]")


def find_benchmark_binary(configured: str | None) -> ToolLocation:
    return find_tool("benchmark_litert_model", LITERT_BENCHMARK_ENV, configured)


def dispatch_env(vendor: Vendor) -> str:
    return f"QATBENCH_LITERT_DISPATCH_{vendor.key.upper().replace('-', '_')}"


class LiteRtPhone(AndroidTarget):
    """The adb path of ``AndroidTarget`` with LiteRT's benchmark binary and NPU dispatch."""

    def __init__(self, vendor: Vendor, soc: str, options: LiteRtNpuOptions, *, name: str
                 ) -> None:
        super().__init__(name, use_nnapi=False, description=f"{vendor.label} {soc} on a phone",
                         options=AndroidOptions(
                             device=options.device, adb=options.adb,
                             benchmark_model=options.benchmark_binary,
                             cpu_mask=options.cpu_mask, timeout_s=options.timeout_s,
                             adb_timeout_s=options.adb_timeout_s,
                             extra_flags=list(options.extra_flags)))
        self.vendor = vendor
        self.soc = soc
        self.litert_options = options
        self.full_delegation = True
        self.placement = ""

    def _binary(self) -> Path:
        tool = find_benchmark_binary(self.litert_options.benchmark_binary)
        if not tool.found:
            raise FileNotFoundError(f"benchmark_litert_model not found ({tool.searched}); "
                                    f"{GET_LITERT_BENCHMARK}")
        return tool.path

    def _dispatch_dir(self) -> Path:
        value = os.environ.get(dispatch_env(self.vendor)) or self.litert_options.dispatch_libs
        directory = Path(value).expanduser() if value else None
        if directory is None or not any(directory.glob("libLiteRtDispatch*.so")):
            where = f"{directory} has no libLiteRtDispatch*.so" if directory else "none given"
            raise TargetUnavailable(
                f"no {self.vendor.label} dispatch library for the phone ({where}): set "
                f"{dispatch_env(self.vendor)} (or `dispatch_libs = \"DIR\"`) to a directory "
                f"with LiteRT's Android libLiteRtDispatch_*.so for {self.vendor.label} and "
                "the vendor runtime libraries it loads")
        return directory

    def prepare_compiled(self, prepared: Prepared) -> Prepared:
        """The compiled model with what the adb path needs beside ``Prepared.job`` (from
        which ``AndroidTarget.measure`` names the job's own device folder)."""
        work = prepared.model.parent
        total, on_npu = prepared.ops_total, prepared.ops_on_accelerator
        self.full_delegation = total is not None and on_npu == total
        self.placement = f"{on_npu} of {total} ops on the NPU"
        self._dispatch_dir()  # unavailable before anything is pushed
        return dataclasses.replace(prepared, extra={
            **prepared.extra, "log": str(work / "benchmark_litert_model.log")})

    def support_files(self, remote: str) -> tuple[list[tuple[Path, str]], list[str]]:
        files = sorted(p for p in self._dispatch_dir().iterdir() if p.is_file())
        return ([(p, f"{remote}/{p.name}") for p in files],
                ["env", f"LD_LIBRARY_PATH={remote}", f"ADSP_LIBRARY_PATH={remote}"])

    def flags(self, graph: str, spec: MeasureSpec) -> list[str]:
        remote = graph.rsplit("/", 1)[0]
        flags = [f"--graph={graph}", f"--num_threads={spec.threads}",
                 f"--warmup_runs={spec.warmup_runs}", f"--warmup_min_secs={spec.warmup_min_s:g}",
                 f"--num_runs={spec.min_runs}", f"--min_secs={spec.min_s:g}",
                 f"--max_secs={spec.max_s:g}", "--report_peak_memory_footprint=true",
                 "--use_npu=true", f"--dispatch_library_path={remote}"]
        if self.full_delegation:
            flags += ["--use_cpu=false", "--require_full_delegation=true"]
        else:
            flags += ["--use_cpu=true"]
        return flags + self.extra_flags

    def _measurement(self, out: BenchmarkOutput, returncode: int | None, tail: str,
                     entry: DeviceEntry, props: dict[str, str]) -> Measurement:
        base = super()._measurement(out, returncode, tail, entry, props)
        extra = {k: v for k, v in base.extra.items() if k != "delegation"}
        extra.update({"soc": self.soc, "vendor": self.vendor.label,
                      "full_delegation_required": self.full_delegation})
        error = base.error.replace("benchmark_model failed", "benchmark_litert_model failed")
        delegate = f"litert npu dispatch ({self.vendor.label} {self.soc}"
        delegate += ", full delegation)" if self.full_delegation else \
            f", partial: {self.placement})"
        return dataclasses.replace(base, delegate=delegate if base.status is Status.OK else "",
                                   runtime="benchmark_litert_model (LiteRT Android)",
                                   error=error, extra=extra)
