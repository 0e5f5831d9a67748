"""Inputs for a TFLite interpreter: random ones for timing, quantized ones for evaluation."""

from __future__ import annotations

from typing import Any

import numpy as np


def random_input(detail: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
    """A random tensor of the input's shape and dtype (latency does not depend on values)."""
    dtype = np.dtype(detail["dtype"])
    shape = tuple(int(d) for d in detail["shape"])
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)
    if dtype == np.bool_:
        return rng.integers(0, 2, size=shape).astype(np.bool_)
    return rng.standard_normal(size=shape).astype(dtype)


def quantize_for_input(x: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    """Convert a float input to the model's input dtype with the model's own scale/zero point."""
    dtype = np.dtype(detail["dtype"])
    if not np.issubdtype(dtype, np.integer):
        return x.astype(dtype)
    scale, zero_point = detail["quantization"]
    if scale == 0:
        raise ValueError(f"input {detail['name']!r} is {dtype} but carries no quantization scale")
    info = np.iinfo(dtype)
    q = np.round(x / scale + zero_point)
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize_output(y: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    """Back to float so that argmax and comparisons mean the same for every variant."""
    scale, zero_point = detail["quantization"]
    if np.issubdtype(y.dtype, np.integer) and scale:
        return (y.astype(np.float32) - zero_point) * scale
    return y.astype(np.float32)
