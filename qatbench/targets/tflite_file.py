"""What a ``.tflite`` file holds: validity, inputs, outputs, operators and their types.

Used before anything is timed (a corrupt file must give a clear message, not a crash
inside a child process) and to decide whether a model truly is full-integer.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qatbench.errors import UserError
from qatbench.targets.runtime import resolve_runtime

TFLITE_MAGIC = b"TFL3"  # flatbuffer file identifier, bytes 4..8 of every .tflite
# Boundary ops allowed to touch float in a full-integer model with float I/O.
_BOUNDARY_OPS = frozenset({"QUANTIZE", "DEQUANTIZE"})
_FLOAT_DTYPES = (np.float32, np.float16, np.float64)


class InvalidModelFile(UserError, ValueError):
    """The file is missing, empty, truncated or not a TFLite flatbuffer."""


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    dtype: str
    scale: float
    zero_point: int

    @property
    def is_quantized_integer(self) -> bool:
        return self.dtype in ("int8", "uint8", "int16") and self.scale != 0.0


@dataclass(frozen=True)
class ModelInfo:
    """A summary of one .tflite, taken from the interpreter's own view of it."""

    path: Path
    size_bytes: int
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    op_counts: dict[str, int] = field(default_factory=dict)
    float_ops: tuple[str, ...] = ()  # compute ops with a float input or output

    @property
    def ops_total(self) -> int:
        return sum(self.op_counts.values())

    @property
    def is_full_integer(self) -> bool:
        """No float compute left anywhere (QUANTIZE/DEQUANTIZE at the edges allowed)."""
        return not self.float_ops and self.ops_total > 0

    @property
    def has_integer_io(self) -> bool:
        return all(t.is_quantized_integer for t in (*self.inputs, *self.outputs))

    @property
    def kind(self) -> str:
        """``int8`` (full-integer), ``float32`` (no integer compute) or ``mixed``."""
        if self.is_full_integer:
            return "int8"
        if len(self.float_ops) == self.ops_total:
            return "float32"
        return "mixed"


def check_tflite_file(path: Path) -> None:
    """Raise ``InvalidModelFile`` naming the file and what is wrong with it."""
    if not path.exists():
        raise InvalidModelFile(f"{path}: no such file")
    if path.is_dir():
        raise InvalidModelFile(f"{path}: is a directory, not a .tflite file")
    size = path.stat().st_size
    if size == 0:
        raise InvalidModelFile(f"{path}: the file is empty")
    with path.open("rb") as handle:
        head = handle.read(8)
    if len(head) < 8 or head[4:8] != TFLITE_MAGIC:
        raise InvalidModelFile(
            f"{path}: not a TFLite model (no 'TFL3' flatbuffer identifier); "
            "convert it with tf.lite.TFLiteConverter first"
        )


def _tensor_info(detail: dict) -> TensorInfo:
    scale, zero_point = detail.get("quantization", (0.0, 0))
    return TensorInfo(
        name=str(detail["name"]),
        shape=tuple(int(d) for d in detail["shape"]),
        dtype=np.dtype(detail["dtype"]).name,
        scale=float(scale),
        zero_point=int(zero_point),
    )


def inspect_tflite(path: Path) -> ModelInfo:
    """Validate and summarise a model file; ``InvalidModelFile`` if it cannot be loaded."""
    path = Path(path)
    check_tflite_file(path)
    runtime = resolve_runtime()
    try:
        interpreter = runtime.interpreter(str(path), threads=1, use_default_delegates=False)
    except (ValueError, RuntimeError) as error:
        raise InvalidModelFile(
            f"{path}: the TFLite runtime cannot load it ({error}); the file is truncated "
            "or corrupt -- re-export or re-download it"
        ) from error
    tensor_dtypes = {d["index"]: np.dtype(d["dtype"]) for d in interpreter.get_tensor_details()}
    op_counts: Counter[str] = Counter()
    float_ops: list[str] = []
    for op in interpreter._get_ops_details():  # the public API has no op listing
        name = str(op["op_name"])
        op_counts[name] += 1
        if name in _BOUNDARY_OPS:
            continue
        indices = [i for i in (*op["inputs"], *op["outputs"]) if i >= 0]
        if any(tensor_dtypes.get(i) in _FLOAT_DTYPES for i in indices):
            float_ops.append(name)
    return ModelInfo(
        path=path,
        size_bytes=path.stat().st_size,
        inputs=tuple(_tensor_info(d) for d in interpreter.get_input_details()),
        outputs=tuple(_tensor_info(d) for d in interpreter.get_output_details()),
        op_counts=dict(op_counts),
        float_ops=tuple(float_ops),
    )
