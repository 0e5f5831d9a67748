"""Timing and evaluation through LiteRT's ``CompiledModel`` API in this process.

``CompiledModel`` is LiteRT's successor to the ``Interpreter``: it picks accelerators
(CPU, GPU, NPU through a vendor dispatch library) and runs a model with pre-allocated
tensor buffers. Targets built on it share this base so that warm-up, timed runs (the
same ``time_invocations`` the interpreter targets use), init time, peak memory and
top-1 are measured exactly as for ``cpu-xnnpack``: only ``run_by_index`` is timed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
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
from qatbench.targets.host.interpreter_target import peak_memory_mb
from qatbench.targets.inputs import (
    dequantize_output,
    index_bounds_of_file,
    quantize_for_input,
    random_input,
)
from qatbench.targets.litert.vendors import package_version
from qatbench.targets.tflite_file import TensorInfo, inspect_tflite
from qatbench.targets.timing import time_invocations


@dataclass
class OpenedModel:
    """A compiled model with its buffers, ready to run signature 0."""

    model: Any
    environment: Any
    inputs: list[Any]
    outputs: list[Any]
    input_details: list[dict[str, Any]]
    output_details: list[dict[str, Any]]
    init_ms: float

    def run(self) -> None:
        self.model.run_by_index(0, self.inputs, self.outputs)


def litert_label() -> str:
    return f"ai-edge-litert {package_version('ai-edge-litert') or 'unknown'}"


def _detail(info: TensorInfo, runtime_detail: dict[str, Any]) -> dict[str, Any]:
    """The interpreter-style detail the input helpers take: the compiled model's dtype and
    shape, the source model's quantization (CompiledModel does not report it)."""
    return {"name": info.name, "dtype": np.dtype(runtime_detail["dtype"]),
            "shape": [int(d) for d in runtime_detail["shape"]],
            "quantization": (info.scale, info.zero_point)}


class CompiledModelTarget:
    """Base for targets that run a model through ``CompiledModel`` on this host."""

    name = "compiled-model"
    description = ""
    takes_device = False
    accuracy_source = "compiled model"

    # -- what a subclass says --------------------------------------------------------------
    def environment_options(self) -> dict[str, str]:
        """Paths for ``Environment.create`` (a dispatch library directory ...)."""
        return {}

    def model_options(self, threads: int) -> Any:
        raise NotImplementedError

    def delegate_label(self, opened: OpenedModel) -> str:
        return ""

    def device_label(self) -> str:
        return ""

    def runtime_label(self) -> str:
        return litert_label()

    def measurement_extra(self, opened: OpenedModel, threads: int) -> dict[str, Any]:
        return {}

    # -- shared ----------------------------------------------------------------------------
    def open(self, prepared: Prepared, threads: int) -> OpenedModel:
        from ai_edge_litert.compiled_model import CompiledModel
        from ai_edge_litert.environment import Environment, EnvironmentOptions

        start = time.perf_counter_ns()
        environment = Environment.create(options=EnvironmentOptions(
            **self.environment_options()))
        model = CompiledModel.from_file(str(prepared.model), environment=environment,
                                        options=self.model_options(threads))
        signature = next(iter(model.get_signature_list()), None)
        if signature is None:
            raise ValueError(f"{prepared.model.name} has no signature to run")
        inputs = model.create_input_buffers(0)
        outputs = model.create_output_buffers(0)
        init_ms = (time.perf_counter_ns() - start) / 1e6
        info = inspect_tflite(prepared.source)
        in_runtime = list(model.get_input_tensor_details(signature).values())
        out_runtime = list(model.get_output_tensor_details(signature).values())
        return OpenedModel(
            model=model, environment=environment, inputs=inputs, outputs=outputs,
            input_details=[_detail(i, r) for i, r in zip(info.inputs, in_runtime, strict=False)],
            output_details=[_detail(i, r) for i, r in zip(info.outputs, out_runtime,
                                                           strict=False)],
            init_ms=init_ms)

    def prepare(self, model: Path, work: Path) -> Prepared:
        return Prepared(model=model, source=model)

    def measure(self, prepared: Prepared, spec: MeasureSpec) -> Measurement:
        opened = self.open(prepared, spec.threads)
        rng = np.random.default_rng(spec.seed)
        bounds = index_bounds_of_file(prepared.source)
        for buffer, detail in zip(opened.inputs, opened.input_details, strict=False):
            buffer.write(random_input(detail, rng, bounds))
        runs = time_invocations(opened.run, spec)
        extra = {**prepared.extra, **self.measurement_extra(opened, spec.threads),
                 "fully_accelerated": opened.model.is_fully_accelerated()}
        peak_mb, peak_source = peak_memory_mb()
        extra["peak_memory_source"] = peak_source
        if runs.hit_max_duration:
            extra["note"] = f"stopped at max_s={spec.max_s}s before the run count was met"
        return Measurement(
            status=Status.OK, samples_ms=runs.samples_ms, init_ms=opened.init_ms,
            first_inference_ms=runs.first_inference_ms, peak_memory_mb=peak_mb,
            device=self.device_label(), delegate=self.delegate_label(opened),
            runtime=self.runtime_label(), extra=extra)

    def evaluate(self, prepared: Prepared, data: EvalSet) -> Evaluation | None:
        """Every output through the same compiled model, one sample per run as deployed."""
        opened = self.open(prepared, 1)
        if len(opened.inputs) != 1 or not opened.output_details:
            return None
        (detail,) = opened.input_details
        expected = tuple(detail["shape"][1:])
        if tuple(data.x.shape[1:]) != expected:
            raise ValueError(f"eval inputs have shape {data.x.shape[1:]} but the model "
                             f"expects {expected}")
        out = opened.output_details[0]
        size = int(np.prod(out["shape"]))
        outputs = []
        for x in data.x:
            opened.inputs[0].write(quantize_for_input(x[np.newaxis], detail))
            opened.run()
            outputs.append(dequantize_output(opened.outputs[0].read(size, out["dtype"]), out)
                           .reshape(-1))
        return Evaluation.of_outputs(np.stack(outputs), data)
