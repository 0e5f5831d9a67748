"""A model's inputs and outputs by name, through its signature, in the Keras model's order.

A multi-input or multi-output ``.tflite`` lists its tensors in an order of the
converter's choosing (the signature sorts names; the tensor list follows the graph). The
Keras model's own names are what the data and the float reference are keyed by, so
every file -- a build's float32 and int8, or files made elsewhere -- is read by name:
``serving_default``'s names where the file has a signature, else the tensor order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from qatbench.targets.inputs import dequantize_output, quantize_for_input


@dataclass(frozen=True)
class ModelIO:
    """(name, tensor detail) of each input and output, in the requested order."""

    inputs: list[tuple[str, dict[str, Any]]]
    outputs: list[tuple[str, dict[str, Any]]]

    @property
    def output_names(self) -> list[str]:
        return [name for name, _ in self.outputs]


def _ordered(named: dict[str, dict[str, Any]], wanted: Sequence[str] | None
             ) -> list[tuple[str, dict[str, Any]]]:
    if wanted and set(wanted) <= set(named):
        return [(name, named[name]) for name in wanted]
    return sorted(named.items(), key=lambda item: item[1]["index"])


def model_io(interpreter: Any, input_names: Sequence[str] | None = None,
             output_names: Sequence[str] | None = None) -> ModelIO:
    """The interpreter's inputs and outputs, named, in ``*_names`` order where given."""
    by_index_in = {d["index"]: d for d in interpreter.get_input_details()}
    by_index_out = {d["index"]: d for d in interpreter.get_output_details()}
    signatures = interpreter.get_signature_list() if hasattr(
        interpreter, "get_signature_list") else {}
    if signatures:
        runner = interpreter.get_signature_runner(next(iter(signatures)))
        named_in = {n: by_index_in.get(d["index"], d) for n, d in
                    runner.get_input_details().items()}
        named_out = {n: by_index_out.get(d["index"], d) for n, d in
                     runner.get_output_details().items()}
    else:
        named_in = {d["name"]: d for d in by_index_in.values()}
        named_out = {d["name"]: d for d in by_index_out.values()}
    return ModelIO(_ordered(named_in, input_names), _ordered(named_out, output_names))


def sample_inputs(x: np.ndarray | dict[str, np.ndarray], index: int, io: ModelIO
                  ) -> list[np.ndarray]:
    """Input ``index`` of ``x`` for each of the model's inputs (a batch of one)."""
    if isinstance(x, dict):
        return [np.asarray(x[name])[index][np.newaxis] for name, _ in io.inputs]
    return [np.asarray(x)[index][np.newaxis]]


def invoke_all(interpreter: Any, io: ModelIO, x: np.ndarray | dict[str, np.ndarray],
               samples: int) -> np.ndarray:
    """Every output of every sample, dequantized and flattened, outputs side by side in
    ``io.outputs`` order: one row per sample."""
    rows = []
    for index in range(samples):
        for (_, detail), value in zip(io.inputs, sample_inputs(x, index, io), strict=True):
            interpreter.set_tensor(detail["index"], quantize_for_input(value, detail))
        interpreter.invoke()
        rows.append(np.concatenate([
            dequantize_output(interpreter.get_tensor(detail["index"]), detail).reshape(-1)
            for _, detail in io.outputs]))
    return np.stack(rows)
