"""The Coral Edge TPU: ``edgetpu_compiler`` decides op placement, libedgetpu runs the model.

``prepare`` compiles the full-integer model and parses what the compiler reports (op
placement, on-chip/off-chip parameter memory). ``measure`` opens the TPU with the real
pycoral when it is importable, otherwise through LiteRT with ``libedgetpu.so.1`` as a
delegate. A host with the compiler but no TPU gets ``compiled`` rows: placement and
memory, no latency -- a useful report on its own, not an error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qatbench.targets.base import (
    Availability,
    JobFailed,
    JobSkipped,
    Measurement,
    MeasureSpec,
    Prepared,
    Status,
)
from qatbench.targets.edgetpu_report import CompilerReport, parse_compiler_output
from qatbench.targets.interpreter_target import InterpreterTarget, delegate_kernels
from qatbench.targets.registry import load_reference
from qatbench.targets.runtime import resolve_runtime
from qatbench.targets.tflite_file import inspect_tflite
from qatbench.targets.tools import find_tool, run_tool

COMPILER_ENV = "QATBENCH_EDGETPU_COMPILER"
EDGETPU_LIBRARY = "libedgetpu.so.1"
INSTALL_COMPILER = (
    "install the Edge TPU compiler on an x86-64 Linux host: add Coral's apt repository "
    "(https://coral.ai/software/#debian-packages) and `sudo apt-get install edgetpu-compiler`"
    f", or set {COMPILER_ENV} to the executable")
INSTALL_RUNTIME = (
    "to time on the TPU, plug in the Coral accelerator and install its runtime: "
    "`sudo apt-get install libedgetpu1-std` from Coral's apt repository")


class NoEdgeTpu(RuntimeError):
    """The model compiled, but no Edge TPU (or no runtime for it) can be opened here."""


class EdgeTpuTarget(InterpreterTarget):
    name = "edgetpu"
    description = "Coral Edge TPU: edgetpu_compiler placement, pycoral / libedgetpu timing"

    def __init__(self, *, device: str = "usb", compiler: str | None = None,
                 compile_timeout_s: float = 600, min_runtime_version: str | None = None,
                 compiler_args: list[str] | None = None,
                 interpreter_factory: str | None = None) -> None:
        self.device = device
        self.compiler = compiler
        self.compile_timeout_s = compile_timeout_s
        self.min_runtime_version = min_runtime_version
        self.compiler_args = list(compiler_args or [])
        # "module:function(model_path=, device=, threads=)" -> interpreter; for labs with
        # their own way to open a TPU, and for tests
        self.interpreter_factory = interpreter_factory
        self._runtime_label = ""

    # -- availability ----------------------------------------------------------------------
    def probe(self) -> Availability:
        tool = find_tool("edgetpu_compiler", COMPILER_ENV, self.compiler)
        if not tool.found:
            return Availability(False, reason=f"edgetpu_compiler not found ({tool.searched})",
                                fix=INSTALL_COMPILER)
        version = run_tool([tool.path, "--version"], timeout_s=60)
        report = parse_compiler_output(version.stdout)
        return Availability(True, details={"compiler": str(tool.path),
                                           "version": report.version or "unknown",
                                           "device": self.device})

    # -- compile ---------------------------------------------------------------------------
    def _compile(self, model: Path, work: Path) -> tuple[Path, CompilerReport]:
        tool = find_tool("edgetpu_compiler", COMPILER_ENV, self.compiler)
        if not tool.found:
            raise JobFailed(f"edgetpu_compiler not found ({tool.searched}); {INSTALL_COMPILER}")
        args: list[Any] = [tool.path, "-s", "-o", work]
        if self.min_runtime_version:
            args += ["-m", self.min_runtime_version]
        args += [*self.compiler_args, model]
        run = run_tool(args, timeout_s=self.compile_timeout_s)
        if run.timed_out:
            raise JobFailed(f"edgetpu_compiler did not finish in {self.compile_timeout_s:g} s "
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
                                 "placement": report.placement_by_status()}
        if notes:
            extra["note"] = "; ".join(notes)
        return Prepared(model=compiled, source=model, ops_total=report.ops_total,
                        ops_on_accelerator=report.ops_on_tpu, extra=extra)

    # -- run on the TPU --------------------------------------------------------------------
    def build_interpreter(self, model: Path, threads: int) -> Any:
        if self.interpreter_factory:
            self._runtime_label = self.interpreter_factory
            factory = load_reference(self.interpreter_factory)
            return factory(model_path=str(model), device=self.device, threads=threads)
        try:
            from pycoral.utils import edgetpu as coral  # the real pycoral, from Coral's repo
        except ImportError:
            coral = None
        if coral is not None and hasattr(coral, "make_interpreter"):
            if not coral.list_edge_tpus():
                raise NoEdgeTpu("pycoral finds no Edge TPU (list_edge_tpus() is empty); "
                                + INSTALL_RUNTIME)
            self._runtime_label = "pycoral"
            return coral.make_interpreter(str(model), device=self.device or None)
        runtime = resolve_runtime()
        try:
            delegate = runtime.load_delegate(EDGETPU_LIBRARY,
                                             {"device": self.device} if self.device else {})
        except (ValueError, OSError, RuntimeError) as error:
            raise NoEdgeTpu(f"cannot open an Edge TPU ({self.device}) through "
                            f"{EDGETPU_LIBRARY}: {error}; {INSTALL_RUNTIME}") from None
        self._runtime_label = f"{runtime.label} + {EDGETPU_LIBRARY}"
        return runtime.interpreter(str(model), threads=threads, delegates=[delegate])

    def measure(self, prepared: Prepared, spec: MeasureSpec) -> Measurement:
        try:
            return super().measure(prepared, spec)
        except NoEdgeTpu as reason:
            notes = [str(prepared.extra.get("note", "")), f"compiled only: {reason}"]
            return Measurement(status=Status.COMPILED, device=self.device,
                               extra={**prepared.extra,
                                      "note": "; ".join(n for n in notes if n)})

    def delegate_label(self, interpreter: Any) -> str:
        return f"edgetpu ({delegate_kernels(interpreter)} kernels)"

    def device_label(self) -> str:
        return self.device

    def runtime_label(self) -> str:
        return self._runtime_label

    @property
    def accuracy_source(self) -> str:
        return f"edgetpu interpreter ({self.device})"


def edgetpu(**options: Any) -> EdgeTpuTarget:
    return EdgeTpuTarget(**options)
