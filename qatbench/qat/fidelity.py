"""The conversion gap: does the converted int8 ``.tflite`` do what its QAT Keras model did?

tfmot users' most common complaint is a QAT model whose Keras accuracy does not survive
conversion. For each QAT variant the build measures, on the same inputs, the fake-quant
Keras model and the converted file: top-1 where labels exist, and top-1 *agreement* with
the float Keras model (the fraction of inputs whose argmax matches) everywhere -- the
only accuracy signal a model without labelled data has. The file runs on TFLite's
builtin reference kernels: the converter's output as written, no delegate in between.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qatbench.qat import eager


def argmax_agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Fraction of inputs where the two outputs pick the same class."""
    if len(a) == 0:
        return math.nan
    return float(np.mean(np.argmax(a, axis=-1) == np.argmax(b, axis=-1)))


def top1(outputs: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.argmax(outputs, axis=-1) == labels))


def tflite_outputs(path: Path, x: Any, output_names: list[str] | None = None) -> np.ndarray:
    """The file's (dequantized) outputs on ``x``, one input at a time, reference kernels:
    one row per input, every output side by side in ``output_names`` order (the first
    output only when no names are given: the zoo's one class output)."""
    from qatbench.models.arrays import count
    from qatbench.targets.runtime import resolve_runtime
    from qatbench.targets.signature_io import ModelIO, invoke_all, model_io

    interpreter = resolve_runtime().interpreter(str(path), threads=1,
                                                use_default_delegates=False)
    interpreter.allocate_tensors()
    io = model_io(interpreter, list(x) if isinstance(x, dict) else None, output_names)
    if output_names is None:
        io = ModelIO(io.inputs, [(d["name"], d) for d in interpreter.get_output_details()[:1]])
    return invoke_all(interpreter, io, x, count(x))


@dataclass(frozen=True)
class ConversionGap:
    """Keras QAT model beside its converted file, on the same inputs (fractions in [0, 1])."""

    keras_qat_top1: float | None  # None where the inputs have no labels
    tflite_top1: float | None
    keras_qat_agreement: float  # argmax agreement with the float Keras model
    tflite_agreement: float
    tflite_qat_keras_agreement: float  # the file against the model it was converted from
    conversion_gap_points: float  # (Keras - .tflite) in percentage points, on the basis below
    conversion_gap_basis: str  # "top-1" or "agreement with float"
    conversion_samples: int
    conversion_inputs: str  # what the inputs were

    def as_fields(self) -> dict[str, Any]:
        return asdict(self)


def conversion_gap(qat_model: Any, path: Path, float_outputs: np.ndarray, x: np.ndarray,
                   y: np.ndarray | None, inputs: str) -> ConversionGap:
    keras = eager.predict(qat_model, x.astype(np.float32), batch_size=64)
    converted = tflite_outputs(path, x)
    keras_agree = argmax_agreement(keras, float_outputs)
    tflite_agree = argmax_agreement(converted, float_outputs)
    if y is not None:
        keras_top1, tflite_top1 = top1(keras, y), top1(converted, y)
        gap, basis = 100 * (keras_top1 - tflite_top1), "top-1"
    else:
        keras_top1 = tflite_top1 = None
        gap, basis = 100 * (keras_agree - tflite_agree), "agreement with float"
    return ConversionGap(keras_top1, tflite_top1, keras_agree, tflite_agree,
                         argmax_agreement(converted, keras), gap, basis, len(x), inputs)
