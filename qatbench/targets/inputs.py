"""Inputs for a TFLite interpreter: random ones for timing, quantized ones for evaluation.

An integer input without a quantization scale is not a number but an index (token ids
into an ``Embedding``, which the converter makes a ``GATHER``): any value outside the
table is an error ("gather index out of bounds"), and scaling a float into it means
nothing. Such inputs are drawn from the table's own rows (``index_bounds``) for timing
and passed as they are for evaluation.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

# ops an index passes through unchanged on its way to the table it indexes
_INDEX_PASS_THROUGH = frozenset({"CAST", "RESHAPE", "SQUEEZE", "EXPAND_DIMS", "IDENTITY"})
# op -> position of its indices among its inputs, and of the table they index
_INDEX_OPS = {"GATHER": (1, 0), "EMBEDDING_LOOKUP": (0, 1)}


def is_index_input(detail: Mapping[str, Any]) -> bool:
    """An integer input with no quantization scale: indices (token ids), not values."""
    dtype = np.dtype(detail["dtype"])
    scale = (detail.get("quantization") or (0.0, 0))[0]
    return np.issubdtype(dtype, np.integer) and not scale


def index_bounds(interpreter: Any) -> dict[str, int]:
    """Input tensor name -> how many rows the table it indexes has (valid indices are
    ``0 .. rows - 1``), for every index input that reaches a ``GATHER`` /
    ``EMBEDDING_LOOKUP`` (through casts and reshapes); the smallest table where it feeds
    several. Inputs with no such op are left out."""
    shapes = {d["index"]: tuple(int(s) for s in d["shape"])
              for d in interpreter.get_tensor_details()}
    ops = interpreter._get_ops_details()  # the public API has no op listing
    bounds: dict[int, int] = {}
    for detail in interpreter.get_input_details():
        if not is_index_input(detail):
            continue
        reached, frontier = set(), {int(detail["index"])}
        while frontier:
            reached |= frontier
            frontier = {int(out) for op in ops if op["op_name"] in _INDEX_PASS_THROUGH
                        and op["inputs"][0] in reached for out in op["outputs"]} - reached
        rows = []
        for op in ops:
            if op["op_name"] not in _INDEX_OPS:
                continue
            position, table = _INDEX_OPS[op["op_name"]]
            operands = [int(i) for i in op["inputs"]]
            if len(operands) > max(position, table) and operands[position] in reached \
                    and shapes.get(operands[table]):
                rows.append(shapes[operands[table]][0])
        if rows:
            bounds[str(detail["name"])] = min(rows)
    return bounds


def index_bounds_of_file(path: Path) -> dict[str, int]:
    """``index_bounds`` read on the reference kernels (a delegate may hide the ops), for
    any runtime that runs this file; {} when the file has no index input."""
    from qatbench.targets.runtime import resolve_runtime

    try:
        interpreter = resolve_runtime().interpreter(str(path), threads=1,
                                                    use_default_delegates=False)
    except (ValueError, RuntimeError):  # a file only a device's runtime loads
        return {}
    if not any(is_index_input(d) for d in interpreter.get_input_details()):
        return {}
    return index_bounds(interpreter)


def random_input(detail: dict[str, Any], rng: np.random.Generator,
                 bounds: Mapping[str, int] | None = None) -> np.ndarray:
    """A random tensor of the input's shape and dtype (latency does not depend on values).

    An index input draws from ``0 .. rows - 1`` of the table it indexes (``bounds``, from
    ``index_bounds``); one whose table is unknown is all zeros, the one index every table
    has. A quantized integer input may take any value of its type."""
    dtype = np.dtype(detail["dtype"])
    shape = tuple(int(d) for d in detail["shape"])
    if is_index_input(detail):
        rows = (bounds or {}).get(str(detail["name"]), 1)
        return rng.integers(0, max(rows, 1), size=shape, dtype=dtype)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)
    if dtype == np.bool_:
        return rng.integers(0, 2, size=shape).astype(np.bool_)
    return rng.standard_normal(size=shape).astype(dtype)


def quantize_for_input(x: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    """Convert an input to the model's input dtype: a float input as it is, an index
    input as the integers it holds, a quantized input with the model's own scale and
    zero point."""
    dtype = np.dtype(detail["dtype"])
    if not np.issubdtype(dtype, np.integer):
        return np.asarray(x).astype(dtype)
    if is_index_input(detail):
        values = np.asarray(x)
        if not np.issubdtype(values.dtype, np.integer) and not np.all(
                values == np.round(values)):
            raise ValueError(f"input {detail['name']!r} takes {dtype} indices (token ids) "
                             "and carries no quantization scale, but the data holds "
                             "fractional values; give it the integer ids")
        return values.astype(dtype)
    scale, zero_point = detail["quantization"]
    info = np.iinfo(dtype)
    q = np.round(x / scale + zero_point)
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize_output(y: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    """Back to float so that argmax and comparisons mean the same for every variant."""
    scale, zero_point = detail["quantization"]
    if np.issubdtype(y.dtype, np.integer) and scale:
        return (y.astype(np.float32) - zero_point) * scale
    return y.astype(np.float32)
