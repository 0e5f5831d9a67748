"""The Coral Edge TPU: ``edgetpu_compiler`` decides op placement, libedgetpu runs the model.

``prepare`` compiles the full-integer model and parses what the compiler reports (op
placement, on-chip/off-chip parameter memory). ``measure`` first finds out which
libedgetpu will load and whether the chosen TFLite runtime survives it
(``edgetpu_runtime``: a known-bad pair is ``unavailable`` with the fix, not a SIGSEGV),
then opens the TPU through pycoral, ``tflite_runtime`` or LiteRT with libedgetpu as a
delegate (``runtime = "auto"`` picks what the library supports). A host with the
compiler but no TPU gets ``compiled`` rows: placement and memory, no latency -- a useful
report on its own, not an error.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import Field

from qatbench.targets.base import (
    Availability,
    JobFailed,
    JobSkipped,
    Measurement,
    MeasureSpec,
    Prepared,
    Status,
    TargetUnavailable,
)
from qatbench.targets.edgetpu.report import CompilerReport, parse_compiler_output
from qatbench.targets.edgetpu.runtime import (
    FIX_MISMATCH,
    WORKING_MATRIX,
    EdgeTpuRuntime,
    RuntimeChoice,
    as_details,
    detect,
    run_detection,
    with_retries,
)
from qatbench.targets.host.interpreter_target import InterpreterTarget, delegate_kernels
from qatbench.targets.options import TargetOptions
from qatbench.targets.runtime import resolve_runtime
from qatbench.targets.tflite_file import inspect_tflite
from qatbench.targets.tools import find_tool, run_tool

COMPILER_ENV = "QATBENCH_EDGETPU_COMPILER"
EDGETPU_LIBRARY = "libedgetpu.so.1"
INSTALL_COMPILER = (
    "install the Edge TPU compiler (16.0, x86-64 Linux only): add Coral's apt repository "
    "(https://coral.ai/software/#debian-packages) and `sudo apt-get install edgetpu-compiler`"
    f", or set {COMPILER_ENV} to the executable. On an ARM board or a Mac, compile in an "
    "x86-64 Linux container (`docker run --platform linux/amd64 ...` with edgetpu-compiler "
    "installed, e.g. through a wrapper script named in compiler = ...) or on another host. "
    "min_runtime_version = \"13\" (`edgetpu_compiler -m 13`) makes models that older "
    "Edge TPU runtimes load as well")
INSTALL_RUNTIME = (
    "to time on the TPU, plug in the Coral accelerator and install a libedgetpu that "
    "matches your TFLite runtime. " + WORKING_MATRIX)


class NoEdgeTpu(RuntimeError):
    """The model compiled, but no Edge TPU (or no runtime for it) can be opened here."""


class EdgeTpuOptions(TargetOptions):
    """``[targets.edgetpu]``: where the TPU is and how to call the compiler."""

    device: str = "usb"  # usb, usb:0, pci:0 (libedgetpu's device string)
    compiler: str | None = None  # else $QATBENCH_EDGETPU_COMPILER, else PATH
    compile_timeout_s: float = Field(default=600, gt=0)
    min_runtime_version: str | None = None  # edgetpu_compiler -m
    compiler_args: list[str] = Field(default_factory=list)
    # true on a host that has a TPU: a missing TPU is then `unavailable` (it vanished),
    # not a `compiled` row; false (the default) suits hosts with only the compiler
    require_tpu: bool = False
    # which TFLite runtime applies the delegate; auto: the safest one for the libedgetpu
    # found (see edgetpu_runtime.compatibility)
    runtime: RuntimeChoice = "auto"
    library: str | None = None  # libedgetpu to load; else $QATBENCH_LIBEDGETPU, else soname
    # a USB accelerator re-enumerates after use: load_delegate fails now and then
    load_delegate_attempts: int = Field(default=3, ge=1, le=10)
    load_delegate_backoff_s: float = Field(default=0.5, ge=0, le=30)


# model_path=, device=, threads= -> an interpreter; how a test opens a stand-in TPU
InterpreterFactory = Callable[..., Any]


class EdgeTpuTarget(InterpreterTarget):
    """The Edge TPU. ``interpreter_factory`` is for tests only and unreachable from a
    config: a configured target always opens the real TPU, so its rows never carry CPU time.
    """

    description = "Coral Edge TPU: edgetpu_compiler placement, pycoral / libedgetpu timing"
    takes_device = True

    def __init__(self, options: EdgeTpuOptions | None = None, *, name: str = "edgetpu",
                 interpreter_factory: InterpreterFactory | None = None) -> None:
        self.options = options or EdgeTpuOptions()
        self.name = name
        self.interpreter_factory = interpreter_factory
        self.accuracy_source = f"edgetpu interpreter ({self.options.device})"
        self._runtime_label = ""
        self._facts: EdgeTpuRuntime | None = None
        self._open_extra: dict[str, Any] = {}
        self._retry_wait_ms = 0.0

    # -- availability ----------------------------------------------------------------------
    def probe(self) -> Availability:
        """The compiler, plus the libedgetpu / runtime facts of the timing child's own
        interpreter (asked in a child: the library never loads into the orchestrator)."""
        facts = run_detection(self.options.python or sys.executable, self.options.runtime,
                              self.options.library)
        runtime: dict[str, str] = {}
        if isinstance(facts, str):
            runtime["runtime_verdict"] = facts
        else:
            runtime = as_details(facts)
            runtime["crash_hint"] = facts.crash_hint()
            if facts.verdict in ("crashes", "missing"):
                runtime["runtime_fix"] = FIX_MISMATCH
        tool = find_tool("edgetpu_compiler", COMPILER_ENV, self.options.compiler)
        if not tool.found:
            return Availability(False, reason=f"edgetpu_compiler not found ({tool.searched})",
                                fix=INSTALL_COMPILER, details=runtime)
        version = run_tool([tool.path, "--version"], timeout_s=60)
        report = parse_compiler_output(version.stdout)
        return Availability(True, details={"compiler": str(tool.path),
                                           "version": report.version or "unknown",
                                           "device": self.options.device, **runtime})

    # -- compile ---------------------------------------------------------------------------
    def _compile(self, model: Path, work: Path) -> tuple[Path, CompilerReport]:
        tool = find_tool("edgetpu_compiler", COMPILER_ENV, self.options.compiler)
        if not tool.found:
            raise TargetUnavailable(f"edgetpu_compiler not found ({tool.searched}); "
                                    f"{INSTALL_COMPILER}")
        args: list[Any] = [tool.path, "-s", "-o", work]
        if self.options.min_runtime_version:
            args += ["-m", self.options.min_runtime_version]
        args += [*self.options.compiler_args, model]
        run = run_tool(args, timeout_s=self.options.compile_timeout_s)
        if run.timed_out:
            raise JobFailed("edgetpu_compiler did not finish in "
                            f"{self.options.compile_timeout_s:g} s "
                            f"(compile_timeout_s); last output:\n{run.tail()}")
        report = parse_compiler_output(run.stdout + "\n" + run.stderr)
        log = work / f"{model.stem}_edgetpu.log"
        if log.is_file():
            report.merge(parse_compiler_output(log.read_text(errors="replace")))
        report.resolve_counts()
        compiled = work / f"{model.stem}_edgetpu.tflite"
        if run.returncode != 0 or report.succeeded is False or not compiled.is_file():
            lines = report.errors or [run.tail()]
            raise JobFailed(
                f"edgetpu_compiler {report.version or ''} failed on {model.name} "
                f"(exit {run.returncode}):\n" + "\n".join(lines))
        return compiled, report

    def prepare(self, model: Path, work: Path) -> Prepared:
        info = inspect_tflite(model)
        if info.kind == "float32":
            raise JobSkipped("float32 model: the Edge TPU runs only full-integer models "
                             "(use the ptq_int8 or qat_int8 variant)")
        if not info.is_full_integer:
            ops = ", ".join(sorted(set(info.float_ops)))
            raise JobSkipped(f"not a full-integer model (float ops: {ops}); only full-integer "
                             "models go to edgetpu_compiler")
        compiled, report = self._compile(model, work)
        notes = []
        if not info.has_integer_io:
            notes.append("float input/output: QUANTIZE/DEQUANTIZE run on the CPU; export "
                         "with int8 (or uint8) input and output for the Edge TPU")
        if report.ops_on_cpu:
            notes.append(f"{report.ops_on_cpu} of {report.ops_total} ops run on the CPU "
                         "(see the placement table)")
        extra: dict[str, Any] = {"compiler": report.summary(),
                                 "placement": report.placement_by_status(),
                                 # placement depends on the compiler and its -m target
                                 "fingerprint": {"edgetpu_compiler": report.version or "",
                                                 "min_runtime": self.options.min_runtime_version
                                                 or ""}}
        if notes:
            extra["note"] = "; ".join(notes)
        return Prepared(model=compiled, source=model, ops_total=report.ops_total,
                        ops_on_accelerator=report.ops_on_tpu, extra=extra)

    # -- run on the TPU --------------------------------------------------------------------
    def runtime_facts(self) -> EdgeTpuRuntime:
        """Which libedgetpu loads here, the TPUs it lists, the runtime chosen (once)."""
        if self._facts is None:
            self._facts = detect(self.options.runtime, self.options.library)
        return self._facts

    def _checked_facts(self) -> EdgeTpuRuntime:
        """The facts, or why no TPU can be timed: ``NoEdgeTpu`` (a ``compiled`` row) or
        ``TargetUnavailable`` (a TPU is there but the runtime pair would crash)."""
        facts = self.runtime_facts()
        library = facts.library
        if not library.loaded or library.error:
            raise NoEdgeTpu(f"cannot load {library.path}: {library.error}; {INSTALL_RUNTIME}")
        kind = self.options.device.partition(":")[0]
        listed = [d for d in library.devices if kind not in ("usb", "pci")
                  or d.startswith(kind + ":")]
        if not listed:
            raise NoEdgeTpu(
                f"{library.path} ({facts.build_label}) lists no {kind or 'Edge'} TPU "
                f"(edgetpu_list_devices: {', '.join(library.devices) or 'none'}); check "
                "`lsusb` for 1a6e:089a or 18d1:9302, `ls /dev/apex_0` for PCIe")
        if facts.verdict == "missing":
            raise TargetUnavailable(f"{facts.reason}; {INSTALL_RUNTIME}")
        if facts.verdict == "crashes":
            raise TargetUnavailable(f"not timed, because it would crash: {facts.reason}. "
                                    f"Fix: {FIX_MISMATCH}")
        return facts

    def build_interpreter(self, model: Path, threads: int) -> Any:
        if self.interpreter_factory is not None:
            self._runtime_label = getattr(self.interpreter_factory, "__qualname__", "injected")
            return self.interpreter_factory(model_path=str(model), device=self.options.device,
                                            threads=threads)
        facts = self._checked_facts()
        opener: Callable[[], Any]
        if facts.chosen == "pycoral":
            from pycoral.utils import edgetpu as coral  # Coral's (or feranick's) pycoral

            def opener() -> Any:
                return coral.make_interpreter(str(model), device=self.options.device or None)

            label = facts.runtime_label
        else:
            runtime = resolve_runtime(facts.chosen)
            options = {"device": self.options.device} if self.options.device else {}

            def opener() -> Any:
                delegate = runtime.load_delegate(facts.library.path, options)
                return runtime.interpreter(str(model), threads=threads, delegates=[delegate])

            label = f"{runtime.label} + {EDGETPU_LIBRARY}"
        attempts = self.options.load_delegate_attempts
        waited: list[float] = []

        def sleep(seconds: float) -> None:
            waited.append(seconds)
            time.sleep(seconds)

        try:
            interpreter, errors = with_retries(opener, attempts,
                                               self.options.load_delegate_backoff_s,
                                               sleep=sleep)
        except (ValueError, RuntimeError, OSError) as error:
            raise NoEdgeTpu(f"cannot open an Edge TPU ({self.options.device}) through "
                            f"{facts.library.path} with {label} ({attempts} attempts): "
                            f"{' '.join(str(error).split())}; {INSTALL_RUNTIME}") from None
        self._runtime_label = label
        self._retry_wait_ms = sum(waited) * 1000
        self._open_extra = {"load_delegate_attempts": len(errors) + 1}
        if errors:
            self._open_extra["note"] = (
                f"load_delegate needed {len(errors) + 1} attempts (a USB accelerator "
                f"re-enumerates after use); first error: {errors[0]}")
        return interpreter

    def measurement_extra(self, interpreter: Any) -> dict[str, Any]:
        if self._facts is None:  # an injected interpreter: nothing was detected
            return dict(self._open_extra)
        facts = self._facts.facts()
        return {**self._open_extra, **facts, "tpus": list(self._facts.library.devices),
                # the latency depends on the library build and its runtime version
                "fingerprint": {"libedgetpu": facts["libedgetpu"],
                                "edgetpu_runtime": facts["edgetpu_runtime"]}}

    def measure(self, prepared: Prepared, spec: MeasureSpec) -> Measurement:
        try:
            if self.interpreter_factory is None:
                self.runtime_facts()  # detected before the clock starts: not in init_ms
            measured = super().measure(prepared, spec)
        except NoEdgeTpu as reason:
            if self.options.require_tpu:
                raise TargetUnavailable(
                    f"no Edge TPU at {self.options.device!r}, and this target requires one "
                    f"(require_tpu = true): {reason}. Reconnect the accelerator (check "
                    "`lsusb` for 18d1:9302 or 1a6e:089a, `ls /dev/apex_0` for PCIe) or set "
                    "require_tpu = false to get compiled rows") from None
            notes = [str(prepared.extra.get("note", "")), f"compiled only: {reason}"]
            # placement does not depend on the library, so the facts stay out of the
            # fingerprint of a compiled row; they are kept for the reader
            facts = self._facts.facts() if self._facts is not None else {}
            return Measurement(status=Status.COMPILED, device=self.options.device,
                               extra={**prepared.extra, **facts,
                                      "note": "; ".join(n for n in notes if n)})
        if self._retry_wait_ms and measured.init_ms is not None:
            # the back-off sleeps are ours, not the runtime's interpreter creation
            measured = dataclasses.replace(
                measured, init_ms=max(0.0, measured.init_ms - self._retry_wait_ms))
        return measured

    def delegate_label(self, interpreter: Any) -> str:
        return f"edgetpu ({delegate_kernels(interpreter)} kernels)"

    def device_label(self) -> str:
        return self.options.device

    def runtime_label(self) -> str:
        return self._runtime_label


def edgetpu(options: EdgeTpuOptions | None = None, *, name: str = "edgetpu") -> EdgeTpuTarget:
    return EdgeTpuTarget(options, name=name)
