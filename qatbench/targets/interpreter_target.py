"""Timing and evaluation on a LiteRT interpreter in this process, shared by the targets
that run on the host's interpreter (the CPU targets, the Edge TPU through its delegate).

A subclass says only how to build its interpreter; init time, warm-up, timed runs,
peak memory and on-target top-1 are measured the same way for all of them.
"""

from __future__ import annotations

import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from qatbench.targets.base import EvalSet, Measurement, MeasureSpec, Prepared, Status
from qatbench.targets.inputs import dequantize_output, quantize_for_input, random_input
from qatbench.targets.timing import time_invocations


def peak_rss_mb() -> float:
    """Peak resident memory of this process (the child that measured) in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def delegate_kernels(interpreter: Any) -> int:
    """How many delegate kernels took over part of the graph after allocation."""
    return sum(1 for op in interpreter._get_ops_details() if op["op_name"] == "DELEGATE")


def ops_outside_delegate(interpreter: Any) -> dict[str, int]:
    """Op counts the delegates left to the builtin kernels (what explains a slow model).

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
    counts: dict[str, int] = {}
    for op in ops:
        if op["op_name"] != "DELEGATE" and op["index"] not in covered:
            counts[op["op_name"]] = counts.get(op["op_name"], 0) + 1
    return counts


class InterpreterTarget:
    """Base for targets whose model runs in a TFLite interpreter inside this process."""

    name = "interpreter"
    description = ""

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

    def prepare(self, model: Path, work: Path) -> Prepared:
        return Prepared(model=model, source=model)

    def measure(self, prepared: Prepared, spec: MeasureSpec) -> Measurement:
        start = time.perf_counter_ns()
        interpreter = self.build_interpreter(prepared.model, spec.threads)
        interpreter.allocate_tensors()
        init_ms = (time.perf_counter_ns() - start) / 1e6
        rng = np.random.default_rng(spec.seed)
        for detail in interpreter.get_input_details():
            interpreter.set_tensor(detail["index"], random_input(detail, rng))
        runs = time_invocations(interpreter.invoke, spec)
        extra = {**prepared.extra, **self.measurement_extra(interpreter)}
        if runs.hit_max_duration:
            extra["note"] = f"stopped at max_s={spec.max_s}s before the run count was met"
        return Measurement(
            status=Status.OK,
            samples_ms=runs.samples_ms,
            init_ms=init_ms,
            first_inference_ms=runs.first_inference_ms,
            peak_memory_mb=peak_rss_mb(),
            device=self.device_label(),
            delegate=self.delegate_label(interpreter),
            runtime=self.runtime_label(),
            extra=extra,
        )

    def evaluate(self, prepared: Prepared, data: EvalSet) -> float | None:
        """Top-1 on this target's own interpreter, one sample per invoke as deployed."""
        interpreter = self.build_interpreter(prepared.model, 1)
        interpreter.allocate_tensors()
        inputs = interpreter.get_input_details()
        if len(inputs) != 1:
            return None  # the zoo's eval sets are single-input classifiers
        (input_detail,) = inputs
        output_detail = interpreter.get_output_details()[0]
        expected = tuple(int(d) for d in input_detail["shape"][1:])
        if tuple(data.x.shape[1:]) != expected:
            raise ValueError(
                f"eval inputs have shape {data.x.shape[1:]} but the model expects {expected}"
            )
        correct = 0
        for x, label in zip(data.x, data.y, strict=True):
            interpreter.set_tensor(input_detail["index"],
                                   quantize_for_input(x[np.newaxis], input_detail))
            interpreter.invoke()
            logits = dequantize_output(interpreter.get_tensor(output_detail["index"]),
                                       output_detail)
            correct += int(np.argmax(logits.reshape(-1)) == int(label))
        return correct / len(data.y)
