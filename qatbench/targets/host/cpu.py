"""CPU targets on the host's LiteRT interpreter: XNNPACK, and the builtin kernels as control.

``cpu-xnnpack`` is what LiteRT runs by default. ``cpu-ref`` uses
``OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES``: TFLite's builtin kernels with no
delegate, the control that shows what XNNPACK itself contributes.
"""

from __future__ import annotations

import dataclasses
import platform
import tempfile
from pathlib import Path
from typing import Any

from qatbench.targets.base import Availability, Capability, Prepared, ProfileSpec
from qatbench.targets.host.interpreter_target import (
    InterpreterTarget,
    delegate_kernels,
    ops_outside_delegate,
)
from qatbench.targets.host.op_profile import profile_on_host
from qatbench.targets.op_profile import OpProfile
from qatbench.targets.options import TargetOptions
from qatbench.targets.runtime import Runtime, RuntimeMissing, resolve_runtime, runtime_label_in
from qatbench.targets.timing import usable_cores


class CpuOptions(TargetOptions):
    """Threads and timing come from the run's measurement settings. ``count_instructions``
    adds instructions retired per inference (``perf stat``, after the timed samples; see
    ``targets/host/instructions.py``): an explanation beside latency, never a verdict."""

    count_instructions: bool = False


class CpuTarget(InterpreterTarget):
    """The host CPU through LiteRT, with or without the XNNPACK delegate."""

    takes_device = False
    capabilities = frozenset({Capability.PROFILE, Capability.COUNT_INSTRUCTIONS})

    def __init__(self, name: str, *, use_xnnpack: bool, description: str,
                 options: CpuOptions | None = None) -> None:
        self.name = name
        self.description = description
        self.use_xnnpack = use_xnnpack
        self.options = options or CpuOptions()
        self.accuracy_source = f"{name} interpreter"
        self._runtime: Runtime | None = None

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            self._runtime = resolve_runtime()
        return self._runtime

    def probe(self) -> Availability:
        """With ``python = ...`` the runtime is that interpreter's (asked of it), since the
        timing child runs there, not here."""
        try:
            label = (runtime_label_in(self.options.python) if self.options.python
                     else self.runtime.label)
        except RuntimeMissing as error:
            fix = ("make a runtime venv: `nox -s runtime-venv -- SPEC` prints the path for "
                   "python = ..." if self.options.python else "pip install ai-edge-litert")
            return Availability(False, reason=str(error), fix=fix)
        return Availability(True, details={"runtime": label,
                                           "cpu": platform.machine(),
                                           "cores": str(usable_cores())})

    def build_interpreter(self, model: Path, threads: int) -> Any:
        return self.runtime.interpreter(str(model), threads=threads,
                                        use_default_delegates=self.use_xnnpack)

    def delegate_label(self, interpreter: Any) -> str:
        if not self.use_xnnpack:
            return "none"
        kernels = delegate_kernels(interpreter)
        return f"xnnpack ({kernels} kernels)" if kernels else "none (xnnpack took no ops)"

    def measurement_extra(self, interpreter: Any) -> dict[str, Any]:
        if not self.use_xnnpack:
            return {}
        return {"delegate_kernels": delegate_kernels(interpreter),
                "ops_outside_delegate": ops_outside_delegate(interpreter)}

    def device_label(self) -> str:
        return f"host-{platform.machine()}"

    def runtime_label(self) -> str:
        return self.runtime.label

    def instructions_requested(self) -> bool:
        return self.options.count_instructions

    def profile(self, prepared: Prepared, spec: ProfileSpec) -> OpProfile:
        """Each op cut out as a one-op model and timed on the kernels the whole model
        gave it (``op_profile.profile_on_host``); the cut models are scratch."""
        with tempfile.TemporaryDirectory(prefix="qatbench-ops-") as scratch:
            found = profile_on_host(self.runtime, prepared.model, Path(scratch), spec,
                                    use_delegate=self.use_xnnpack, op_s=spec.op_s)
        return dataclasses.replace(found, extra={
            **found.extra, "device": self.device_label(), "runtime": self.runtime_label()})


def cpu_xnnpack(options: CpuOptions | None = None, *, name: str = "cpu-xnnpack") -> CpuTarget:
    return CpuTarget(name, use_xnnpack=True, options=options,
                     description="host CPU, LiteRT with the XNNPACK delegate")


def cpu_ref(options: CpuOptions | None = None, *, name: str = "cpu-ref") -> CpuTarget:
    return CpuTarget(name, use_xnnpack=False, options=options,
                     description="host CPU, LiteRT builtin kernels without any delegate (control)")
