"""Timing and evaluation on a LiteRT interpreter in this process, shared by the targets
that run on the host's interpreter (the CPU targets, the Edge TPU through its delegate).

A subclass says only how to build its interpreter; init time, warm-up, timed runs,
peak memory and on-target top-1 are measured the same way for all of them.
"""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from qatbench.targets.base import (
    EvalSet,
    Evaluation,
    Measurement,
    MeasureSpec,
    Prepared,
    Status,
)
from qatbench.targets.inputs import index_bounds_of_file, random_input
from qatbench.targets.runtime import runtime_facts
from qatbench.targets.signature_io import invoke_all, model_io
from qatbench.targets.timing import time_invocations

PROC_STATUS = Path("/proc/self/status")
VMHWM_SOURCE = "VmHWM of the measuring process (/proc/self/status)"
RU_MAXRSS_SOURCE = ("ru_maxrss (no /proc here): may include the high-water mark of the "
                    "process that started the measurement")


def peak_memory_mb(status_file: Path = PROC_STATUS) -> tuple[float, str]:
    """Peak resident memory of this process in MiB, and where the figure comes from.

    ``VmHWM`` belongs to the address space and starts fresh at exec, so it is the
    measuring child's own. ``ru_maxrss`` is kept across fork and exec on Linux: a child
    started by a large parent reports the parent's peak (1.5 GB for a 127 KB model), so
    it is only the fallback where ``/proc`` is missing (macOS, some BSDs).
    """
    try:
        text = status_file.read_text()
    except OSError:
        text = ""
    for line in text.splitlines():
        if line.startswith("VmHWM:"):
            kib = float(line.split()[1])  # "VmHWM:     41236 kB"
            return kib / 1024, VMHWM_SOURCE
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return (peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024), \
        RU_MAXRSS_SOURCE


def delegate_kernels(interpreter: Any) -> int:
    """How many delegate kernels took over part of the graph after allocation."""
    return sum(1 for op in interpreter._get_ops_details() if op["op_name"] == "DELEGATE")


def delegated_op_indices(interpreter: Any) -> set[int]:
    """Indices of the original ops a delegate took (after allocation).

    The node list keeps every original op beside the DELEGATE nodes that replaced some
    of them; an op is covered when it lies between a DELEGATE node's inputs and outputs.
    """
    ops = interpreter._get_ops_details()
    by_index = {op["index"]: op for op in ops}
    producer = {t: op["index"] for op in ops if op["op_name"] != "DELEGATE"
                for t in op["outputs"]}
    covered: set[int] = set()
    for delegate in (op for op in ops if op["op_name"] == "DELEGATE"):
        boundary = set(delegate["inputs"])
        stack = [producer[t] for t in delegate["outputs"] if t in producer]
        while stack:
            index = stack.pop()
            if index in covered:
                continue
            covered.add(index)
            stack.extend(producer[t] for t in by_index[index]["inputs"]
                         if t >= 0 and t not in boundary and t in producer)
    return covered


def ops_outside_delegate(interpreter: Any) -> dict[str, int]:
    """Op counts the delegates left to the builtin kernels (what explains a slow model)."""
    covered = delegated_op_indices(interpreter)
    counts: dict[str, int] = {}
    for op in interpreter._get_ops_details():
        if op["op_name"] != "DELEGATE" and op["index"] not in covered:
            counts[op["op_name"]] = counts.get(op["op_name"], 0) + 1
    return counts


def merge_extra(*parts: Mapping[str, Any]) -> dict[str, Any]:
    """Later parts win, except ``note`` (joined) and ``fingerprint`` (merged): a
    compiler's fingerprint from ``prepare`` and the runtime's from ``measure`` both stay."""
    merged: dict[str, Any] = {}
    for part in parts:
        for key, value in part.items():
            if key == "note" and merged.get("note") and value:
                merged["note"] = f"{merged['note']}; {value}"
            elif key == "fingerprint" and isinstance(merged.get(key), Mapping):
                merged[key] = {**merged[key], **value}
            else:
                merged[key] = value
    return merged


class InterpreterTarget:
    """Base for targets whose model runs in a TFLite interpreter inside this process."""

    name = "interpreter"
    description = ""
    takes_device = False
    accuracy_source = "interpreter"

    def build_interpreter(self, model: Path, threads: int) -> Any:
        raise NotImplementedError

    def delegate_label(self, interpreter: Any) -> str:
        return ""

    def measurement_extra(self, interpreter: Any) -> dict[str, Any]:
        return {}

    def device_label(self) -> str:
        return ""

    def runtime_label(self) -> str:
        return ""

    def instructions_requested(self) -> bool:
        """Whether ``measure`` counts instructions per inference: a subclass that declares
        ``Capability.COUNT_INSTRUCTIONS`` answers from its typed options."""
        return False

    def prepare(self, model: Path, work: Path) -> Prepared:
        return Prepared(model=model, source=model)

    def measure(self, prepared: Prepared, spec: MeasureSpec) -> Measurement:
        start = time.perf_counter_ns()
        interpreter = self.build_interpreter(prepared.model, spec.threads)
        interpreter.allocate_tensors()
        init_ms = (time.perf_counter_ns() - start) / 1e6
        rng = np.random.default_rng(spec.seed)
        bounds = index_bounds_of_file(prepared.source)  # token ids stay inside their table
        for detail in interpreter.get_input_details():
            interpreter.set_tensor(detail["index"], random_input(detail, rng, bounds))
        runs = time_invocations(interpreter.invoke, spec)
        extra = merge_extra(prepared.extra, self.measurement_extra(interpreter),
                            {"fingerprint": runtime_facts()})  # this child's Python, numpy
        peak_mb, peak_source = peak_memory_mb()
        extra["peak_memory_source"] = peak_source
        if self.instructions_requested():
            from qatbench.targets.host.instructions import count_per_inference

            counted = count_per_inference(interpreter.invoke, max(10, len(runs.samples_ms)))
            extra["instructions_per_inference"] = counted.per_inference
            extra["instructions_note"] = counted.note
        if runs.hit_max_duration:
            extra = merge_extra(extra, {"note": f"stopped at max_s={spec.max_s}s before the "
                                                "run count was met"})
        return Measurement(
            status=Status.OK,
            samples_ms=runs.samples_ms,
            init_ms=init_ms,
            first_inference_ms=runs.first_inference_ms,
            peak_memory_mb=peak_mb,
            device=self.device_label(),
            delegate=self.delegate_label(interpreter),
            runtime=self.runtime_label(),
            extra=extra,
        )

    def evaluate(self, prepared: Prepared, data: EvalSet) -> Evaluation | None:
        """Every output on this target's own interpreter, one sample per invoke as
        deployed (top-1 scored from them where the inputs carry labels)."""
        interpreter = self.build_interpreter(prepared.model, 1)
        interpreter.allocate_tensors()
        io = model_io(interpreter, data.input_names, data.output_names)
        if len(io.inputs) != (len(data.input_names) if data.input_names else 1):
            return None  # the eval set was made for another model's inputs
        for name, detail in io.inputs:
            values = data.x[name] if isinstance(data.x, dict) else data.x
            expected = tuple(int(d) for d in detail["shape"][1:])
            if tuple(np.asarray(values).shape[1:]) != expected:
                raise ValueError(f"eval inputs ({name}) have shape "
                                 f"{np.asarray(values).shape[1:]} but the model expects "
                                 f"{expected}")
        if not data.outputs:
            io = type(io)(io.inputs, io.outputs[:1])  # the zoo's: the one class output
        return Evaluation.of_outputs(invoke_all(interpreter, io, data.x, data.samples), data)
