"""Model inputs and labels as one array or as a dict of arrays keyed by input/output name.

A single-input model takes an array; a multi-input model a dict keyed by its input
names (Keras' own convention, and what a user's ``.npz`` or data function gives). These
helpers let the pipeline slice, count and convert either without branching.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Union

import numpy as np

# one array, a dict keyed by name, or (labels in a model's output order) a list
Arrays = Union[np.ndarray, dict[str, np.ndarray], list[np.ndarray]]  # noqa: UP007


def count(arrays: Arrays) -> int:
    """How many samples (the first axis; every array of a dict or list has the same)."""
    if isinstance(arrays, dict):
        return len(next(iter(arrays.values()))) if arrays else 0
    if isinstance(arrays, list | tuple):
        return len(arrays[0]) if arrays else 0
    return len(arrays)


def take(arrays: Arrays, index: int | slice | np.ndarray | Sequence[int] | None) -> Arrays:
    """``arrays[:index]`` for an int (None: all), else ``arrays[index]``, for either form."""
    selector = slice(None, index) if index is None or isinstance(index, int) else index
    if isinstance(arrays, dict):
        return {name: np.asarray(a)[selector] for name, a in arrays.items()}
    if isinstance(arrays, list | tuple):
        return [np.asarray(a)[selector] for a in arrays]
    return np.asarray(arrays)[selector]


def as_float32(arrays: Arrays) -> Arrays:
    if isinstance(arrays, dict):
        return {name: np.asarray(a, dtype=np.float32) for name, a in arrays.items()}
    return np.asarray(arrays, dtype=np.float32)


def as_list(arrays: Arrays, names: Sequence[str]) -> list[np.ndarray]:
    """The arrays in the model's input order (``names``): a dict by name, else the one."""
    if isinstance(arrays, dict):
        return [np.asarray(arrays[name]) for name in names]
    return [np.asarray(arrays)]


def non_finite(arrays: Arrays) -> list[str]:
    """Names (``""`` for a plain array) of the arrays holding NaN or infinity."""
    items = arrays.items() if isinstance(arrays, dict) else [("", arrays)]
    return [name for name, a in items
            if np.issubdtype(np.asarray(a).dtype, np.floating) and not np.all(np.isfinite(a))]
