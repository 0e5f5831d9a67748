"""Which ops to keep float first: the most int8 error per millisecond int8 saves.

``qatbench tune`` keeps ops of the float32 file float one more at a time until a
candidate meets the goals. The order comes from the run's own measurements:

- the error each op's int8 output carries, from the run's per-layer error table of the
  full-int8 file (``rmse_over_scale``: RMS error in quantization steps of that tensor;
  about 0.29 is rounding alone) -- matched to the float file's op by the op's output
  tensor name, else by the Keras layer named in it;
- the time int8 saves on that op on the target: its p50 in the float32 profile less
  its p50 in the int8 profile (``qatbench profile`` or ``[run] profile = true``).

An op whose error is at rounding noise has nothing to give back and goes last; an op
int8 does not make faster (saved ≤ 0) costs nothing to keep float and goes first among
those with error; the rest by error per millisecond saved. Without a profile the order
is by error alone, and the search says so.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

ROUNDING_STEPS = 0.5  # rmse_over_scale at or below: rounding noise, nothing to win back
MIN_SAVED_MS = 1e-6


@dataclass(frozen=True)
class FloatFileOp:
    """One op of the float32 file, as the LiteRT Quantizer names it."""

    index: int
    op_type: str
    scope: str  # its output tensor names, joined by ";"


@dataclass(frozen=True)
class RankedOp:
    index: int
    op_type: str
    scope: str
    layer: str  # what the error table calls it
    error_steps: float | None  # rmse in quantization steps of its int8 output
    float_ms: float | None
    int8_ms: float | None

    @property
    def saved_ms(self) -> float | None:
        if self.float_ms is None or self.int8_ms is None:
            return None
        return self.float_ms - self.int8_ms

    @property
    def score(self) -> float:
        """Error per millisecond saved (infinite when int8 saves nothing on it)."""
        if self.error_steps is None:
            return 0.0
        saved = self.saved_ms
        if saved is None:
            return self.error_steps
        return math.inf if saved <= MIN_SAVED_MS else self.error_steps / saved

    def describe(self) -> str:
        error = "no error figure" if self.error_steps is None else \
            f"int8 error {self.error_steps:.3g} steps"
        saved = self.saved_ms
        timing = "" if saved is None else (
            f", int8 saves {saved * 1000:.3g} µs" if saved > 0 else
            f", int8 {abs(saved) * 1000:.3g} µs slower")
        return f"{self.layer} ({self.op_type}): {error}{timing}"


def _name(scope: str) -> str:
    return str(scope).rstrip(";")


def _segments(text: str) -> set[str]:
    return {part for part in re.split(r"[/;]", str(text)) if part}


def _layer_of(scope: str, layers: Sequence[str]) -> str | None:
    """The error table's layer a float op belongs to: its tensor name when the table
    has it, else the longest layer name found as a segment of the op's name."""
    parts = _segments(scope)
    found = [layer for layer in layers if layer in parts or f"quant_{layer}" in parts]
    return max(found, key=len) if found else None


def _error_by_op(ops: Sequence[FloatFileOp], errors: pd.DataFrame) -> dict[int, tuple[str,
                                                                                     float]]:
    by_tensor = {_name(t): (str(layer), float(e)) for t, layer, e in zip(
        errors["tensor"], errors["layer"], errors["rmse_over_scale"], strict=True)
        if pd.notna(e)}
    by_layer = {layer: e for layer, e in by_tensor.values()}
    found = {}
    for op in ops:
        if _name(op.scope) in by_tensor:
            found[op.index] = by_tensor[_name(op.scope)]
            continue
        layer = _layer_of(op.scope, list(by_layer))
        if layer is not None:
            found[op.index] = (layer, by_layer[layer])
    return found


def _times(profile: pd.DataFrame | None) -> dict[str, float]:
    """Each profiled op's p50 by its output tensor name (ops of one name summed)."""
    if profile is None or profile.empty:
        return {}
    timed = profile[profile["p50_ms"].notna()]
    return {str(k): float(v) for k, v in
            timed.groupby(timed["name"].astype(str).map(_name))["p50_ms"].sum().items()}


def _time_of(op: FloatFileOp, layer: str, times: dict[str, float]) -> float | None:
    if _name(op.scope) in times:
        return times[_name(op.scope)]
    matching = [t for name, t in times.items() if layer in _segments(name)
                or f"quant_{layer}" in _segments(name)]
    return float(sum(matching)) if matching else None


def rank_ops(ops: Sequence[FloatFileOp], errors: pd.DataFrame,
             float_profile: pd.DataFrame | None = None,
             int8_profile: pd.DataFrame | None = None) -> list[RankedOp]:
    """The float file's ops with an error figure, in the order to keep them float."""
    error_of = _error_by_op(ops, errors)
    float_times, int8_times = _times(float_profile), _times(int8_profile)
    ranked = []
    for op in ops:
        if op.index not in error_of:
            continue
        layer, error = error_of[op.index]
        ranked.append(RankedOp(op.index, op.op_type, op.scope, layer, error,
                               _time_of(op, layer, float_times) if float_times else None,
                               _time_of(op, layer, int8_times) if int8_times else None))

    def order(item: RankedOp) -> tuple[int, float, float]:
        noise = item.error_steps is None or item.error_steps <= ROUNDING_STEPS
        return (1 if noise else 0, -item.score, -(item.error_steps or 0.0))

    return sorted(ranked, key=order)
