"""An AOT-compiled model timed on a phone by LiteRT's Android benchmark binary.

``benchmark_litert_model`` is built on TFLite's benchmark framework, so it takes the
same timing flags and prints the same figures as ``benchmark_model``: this is the same
adb path as the ``nnapi`` target (``android/phone.py: PhoneBenchmark`` -- push,
pid-tracked run, kill at timeout, clean-up, a vanished phone is ``unavailable``),
composed with LiteRT's ``BenchmarkBinary``, and adds what the NPU needs: the vendor's
dispatch library pushed beside the binary with the loader pointed at it, and
``--use_npu``. A model the plug-in took whole runs with ``--require_full_delegation``
and no CPU accelerator, so a figure can only be the NPU's; a partly placed model keeps
the CPU for the ops left there and the row says how many those are.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from qatbench.targets.android.phone import BenchmarkBinary, PhoneBenchmark, RunPlan
from qatbench.targets.android.target import (
    input_layer_flags,
    phone_measurement,
    timing_flags,
)
from qatbench.targets.base import Measurement, MeasureSpec, Prepared, Status, TargetUnavailable
from qatbench.targets.litert.options import LITERT_BENCHMARK_ENV, LiteRtNpuOptions
from qatbench.targets.litert.vendors import Vendor
from qatbench.targets.tools import ToolLocation, find_tool

GET_LITERT_BENCHMARK = (
    "build LiteRT's Android benchmark binary (`bazel build -c opt --config=android_arm64 "
    "//litert/tools:benchmark_litert_model` in github.com/google-ai-edge/LiteRT) and set "
    f"{LITERT_BENCHMARK_ENV} to it, or `benchmark_binary = \"PATH\"` under [targets.NAME]")
LITERT_RUNTIME = "benchmark_litert_model (LiteRT Android)"


def find_benchmark_binary(configured: str | None) -> ToolLocation:
    return find_tool("benchmark_litert_model", LITERT_BENCHMARK_ENV, configured)


def litert_benchmark_binary(configured: str | None) -> BenchmarkBinary:
    """LiteRT's ``benchmark_litert_model``: ``configured`` (the table's
    ``benchmark_binary``), else $QATBENCH_LITERT_BENCHMARK_MODEL, else PATH."""
    return BenchmarkBinary("benchmark_litert_model", LITERT_BENCHMARK_ENV, configured,
                           GET_LITERT_BENCHMARK, runtime=LITERT_RUNTIME)


def dispatch_env(vendor: Vendor) -> str:
    return f"QATBENCH_LITERT_DISPATCH_{vendor.key.upper().replace('-', '_')}"


class LiteRtPhone:
    """A compiled model on a phone: ``PhoneBenchmark`` with LiteRT's benchmark binary and
    the vendor's NPU dispatch, told everything by the target's own ``LiteRtNpuOptions``."""

    def __init__(self, vendor: Vendor, soc: str, options: LiteRtNpuOptions, *, name: str
                 ) -> None:
        self.name = name
        self.vendor = vendor
        self.soc = soc
        self.options = options
        self.phone = PhoneBenchmark(name, litert_benchmark_binary(options.benchmark_binary),
                                    options)

    def dispatch_dir(self) -> Path:
        value = os.environ.get(dispatch_env(self.vendor)) or self.options.dispatch_libs
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
        which ``PhoneBenchmark.run`` names the job's own device folder)."""
        work = prepared.model.parent
        self.dispatch_dir()  # unavailable before anything is pushed
        return dataclasses.replace(prepared, extra={
            **prepared.extra, "log": str(work / "benchmark_litert_model.log"),
            "input_flags": input_layer_flags(prepared.source)})

    def plan(self, remote: str, spec: MeasureSpec, *, full_delegation: bool,
             inputs: list[str] | None = None) -> RunPlan:
        """The dispatch libraries pushed into the job's folder, the loader pointed there,
        the NPU flags and the index inputs' value ranges (``input_layer_flags``)."""
        inputs = inputs or []
        files = sorted(p for p in self.dispatch_dir().iterdir() if p.is_file())
        return RunPlan(lambda graph: [*self.flags(graph, spec, full_delegation=full_delegation),
                                      *inputs],
                       support=[(p, f"{remote}/{p.name}") for p in files],
                       prefix=["env", f"LD_LIBRARY_PATH={remote}",
                               f"ADSP_LIBRARY_PATH={remote}"])

    def flags(self, graph: str, spec: MeasureSpec, *, full_delegation: bool) -> list[str]:
        remote = graph.rsplit("/", 1)[0]
        flags = [*timing_flags(graph, spec), "--use_npu=true",
                 f"--dispatch_library_path={remote}"]
        if full_delegation:
            flags += ["--use_cpu=false", "--require_full_delegation=true"]
        else:
            flags += ["--use_cpu=true"]
        return flags + list(self.options.extra_flags)

    def measure(self, prepared: Prepared, spec: MeasureSpec) -> Measurement:
        """Timed on the phone; the plug-in's placement (``prepared``'s op counts) decides
        whether the NPU must take the whole graph."""
        total, on_npu = prepared.ops_total, prepared.ops_on_accelerator
        full = total is not None and on_npu == total
        done = self.phone.run(prepared, spec,
                              lambda remote: self.plan(
                                  remote, spec, full_delegation=full,
                                  inputs=list(prepared.extra.get("input_flags", ()))))
        base = phone_measurement(done.output, done.run.returncode, done.run.tail(),
                                 done.entry, done.props, binary=done.binary,
                                 use_nnapi=False, cpu_mask=self.options.cpu_mask)
        extra = {k: v for k, v in base.extra.items() if k != "delegation"}
        extra.update({"soc": self.soc, "vendor": self.vendor.label,
                      "full_delegation_required": full})
        error = base.error.replace("benchmark_model failed", "benchmark_litert_model failed")
        delegate = f"litert npu dispatch ({self.vendor.label} {self.soc}"
        delegate += ", full delegation)" if full else \
            f", partial: {on_npu} of {total} ops on the NPU)"
        return dataclasses.replace(base, delegate=delegate if base.status is Status.OK else "",
                                   runtime=self.phone.binary.runtime, error=error,
                                   extra=extra)
