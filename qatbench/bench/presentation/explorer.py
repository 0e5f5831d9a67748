"""Overlays for Google's Model Explorer: what a run measured, painted on a ``.tflite`` graph.

Model Explorer (``ai-edge-model-explorer``) shows a ``.tflite`` as a graph whose op nodes
are keyed by the op's index in the subgraph, as a string; node data is a JSON file that
gives nodes a value and a colour scale. Each overlay here is one measurement of the run,
one file: an op's per-op time (``profile.parquet``), a variant's time over float32's for
the same op, its per-layer quantization error (the build's layer-error table), and
where it ran (inside the delegate or on the CPU fallback). Nothing is estimated: an op
that was not measured has no value, and an overlay the run has no measurement for is not
made at all.

The payloads are built with Model Explorer's own node-data builder
(``model_explorer.node_data_builder``), imported only when an overlay is written, so the
rest of ``bench`` imports without the ``explore`` extra.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from qatbench.errors import UserError

EXTRA_HINT = ("qatbench explore needs Google's Model Explorer: pip install 'qatbench[explore]' "
              "(the ai-edge-model-explorer package)")

TIME = "time_ms"
RATIO = "over_float32"
LAYER_ERROR = "layer_error"
PLACEMENT = "placement"

# colour scales (Model Explorer interpolates between stops; 0 is the smallest value)
_LOW, _HIGH = "#fff7ec", "#d7301f"  # time, error: pale to red
_FASTER, _EVEN, _SLOWER = "#1a9850", "#ffffff", "#d73027"  # ratio: green, white at 1, red
_DELEGATE, _FALLBACK = "#a6dba0", "#fdb863"  # placement: inside the delegate, CPU fallback


class ExplorerMissing(UserError, RuntimeError):
    """``ai-edge-model-explorer`` is not installed; the message names the extra."""


def node_data_builder() -> Any:
    """Model Explorer's node-data builder module (``ExplorerMissing`` without it)."""
    try:
        from model_explorer import node_data_builder as builder
    except ImportError as error:
        raise ExplorerMissing(f"{EXTRA_HINT} ({error})") from None
    return builder


@dataclass(frozen=True)
class Overlay:
    """One overlay: a value per op (by op index in the main subgraph) of one ``.tflite``.

    ``kind`` is TIME, RATIO, LAYER_ERROR or PLACEMENT; ``series`` names where it was
    measured (empty for a layer error, which does not depend on a target).
    """

    model: str
    variant: str
    kind: str
    series: str
    title: str
    values: dict[int, float]
    notes: tuple[str, ...] = field(default=())


def _timed(lines: pd.DataFrame) -> pd.DataFrame:
    times = pd.to_numeric(lines["p50_ms"].astype("Float64"), errors="coerce")
    indices = lines["op_index"].astype("Int64")
    return lines[times.notna().to_numpy() & indices.notna().to_numpy()]


def time_overlay(lines: pd.DataFrame, model: str, variant: str, series: str) -> Overlay | None:
    """Each op's p50 in ms, from one profile's lines (None when no op was timed)."""
    timed = _timed(lines)
    if timed.empty:
        return None
    values = {int(i): float(ms) for i, ms in zip(timed["op_index"], timed["p50_ms"],
                                                  strict=True)}
    return Overlay(model, variant, TIME, series, f"{variant} ms per op ({series})", values)


def pair_ops(float_lines: pd.DataFrame, other_lines: pd.DataFrame
             ) -> tuple[dict[int, int], list[str]]:
    """Each op of ``other_lines`` with its float32 op: the k-th op of a type with the k-th
    of that type, by op index, for types that occur equally often in both files (a
    conversion keeps an op type's order). Returns (other op index -> float op index,
    the op types left unpaired with their counts)."""
    pairs: dict[int, int] = {}
    unpaired = []
    by_type_float = {str(t): g for t, g in float_lines.groupby("op_type", sort=False)}
    for op_type, group in other_lines.groupby("op_type", sort=False):
        op_type = str(op_type)
        float_group = by_type_float.get(op_type)
        count_float = 0 if float_group is None else len(float_group)
        if count_float != len(group):
            unpaired.append(f"{op_type} ({len(group)} vs {count_float} in float32)")
            continue
        ours = sorted(int(i) for i in group["op_index"])
        theirs = sorted(int(i) for i in float_group["op_index"])
        pairs.update(zip(ours, theirs, strict=True))
    return pairs, unpaired


def ratio_overlay(float_lines: pd.DataFrame, other_lines: pd.DataFrame, model: str,
                  variant: str, series: str) -> Overlay | None:
    """``variant`` ms over float32 ms of the same op (above 1: slower than float), on the
    ``variant`` file's ops; ops whose type cannot be paired are named in the notes."""
    pairs, unpaired = pair_ops(float_lines, other_lines)
    float_ms = {int(i): float(ms) for i, ms in
                zip(_timed(float_lines)["op_index"], _timed(float_lines)["p50_ms"], strict=True)}
    timed = _timed(other_lines)
    values = {}
    for index, ms in zip(timed["op_index"], timed["p50_ms"], strict=True):
        reference = float_ms.get(pairs.get(int(index), -1))
        if reference:
            values[int(index)] = float(ms) / reference
    if not values:
        return None
    notes = (f"no float32 op to compare with: {', '.join(unpaired)}",) if unpaired else ()
    return Overlay(model, variant, RATIO, series,
                   f"{variant} / float32 time per op ({series})", values, notes)


def placement_overlay(lines: pd.DataFrame, model: str, variant: str, series: str
                      ) -> Overlay | None:
    """1 for an op the delegate took, 0 for one left to the CPU's builtin kernels; None
    when the target has no delegate (nothing to be placed)."""
    delegated = lines["delegated"].astype("boolean")
    indices = lines["op_index"].astype("Int64")
    known = delegated.notna().to_numpy() & indices.notna().to_numpy()
    if not known.any():
        return None
    delegate = str(lines["delegate"].dropna().iloc[0]) if lines["delegate"].notna().any() \
        else "the delegate"
    values = {int(i): 1.0 if bool(d) else 0.0
              for i, d in zip(indices[known], delegated[known], strict=True)}
    return Overlay(model, variant, PLACEMENT, series,
                   f"{variant} placement: 1 inside {delegate}, 0 CPU fallback ({series})",
                   values)


def layer_error_overlay(table: pd.DataFrame, op_of_tensor: Mapping[str, int], model: str,
                        variant: str, method: str) -> Overlay | None:
    """A layer-error table's ``rmse_over_scale`` (RMS error in quantization steps of the
    layer's output) on the op that writes that tensor in the file; rows whose tensor the
    file does not hold are counted in the notes."""
    values: dict[int, float] = {}
    missing = []
    for tensor, error in zip(table["tensor"], table["rmse_over_scale"], strict=True):
        if error is None or pd.isna(error):
            continue
        index = op_of_tensor.get(str(tensor))
        if index is None:
            missing.append(str(tensor))
            continue
        values[index] = float(error)
    if not values:
        return None
    notes = (f"{len(missing)} layers' tensors are not in the file: "
             f"{', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}",) \
        if missing else ()
    return Overlay(model, variant, LAYER_ERROR, "",
                   f"{variant} quantization error, rmse in quantization steps ({method})",
                   values, notes)


def _gradient(builder: Any, overlay: Overlay) -> list[Any]:
    item = builder.GradientItem
    if overlay.kind != RATIO:
        return [item(stop=0, bgColor=_LOW), item(stop=1, bgColor=_HIGH)]
    low, high = min(overlay.values.values()), max(overlay.values.values())
    if high <= 1.0:
        return [item(stop=0, bgColor=_FASTER), item(stop=1, bgColor=_EVEN)]
    if low >= 1.0:
        return [item(stop=0, bgColor=_EVEN), item(stop=1, bgColor=_SLOWER)]
    even = (1.0 - low) / (high - low)  # where the ratio is 1: white
    return [item(stop=0, bgColor=_FASTER), item(stop=even, bgColor=_EVEN),
            item(stop=1, bgColor=_SLOWER)]


def _uniform_colour(kind: str, value: float) -> str:
    if kind != RATIO:
        return _HIGH
    return _FASTER if value < 1.0 else _SLOWER if value > 1.0 else _EVEN


def model_node_data(overlay: Overlay, graph_id: str) -> Any:
    """The overlay as Model Explorer's ``ModelNodeData`` for graph ``graph_id``: node ids
    are op indices as strings; numeric overlays on a gradient, placement on two
    thresholds (it has two values)."""
    builder = node_data_builder()
    # Model Explorer scales a gradient by (value - min) / (max - min): with one distinct
    # value that is 0/0 and every node would stay blank, so such nodes get their colour
    uniform = overlay.kind != PLACEMENT and len(set(overlay.values.values())) == 1
    results = {str(index): builder.NodeDataResult(
        value=value, bgColor=_uniform_colour(overlay.kind, value) if uniform else None)
        for index, value in sorted(overlay.values.items())}
    if overlay.kind == PLACEMENT:
        graph = builder.GraphNodeData(name=overlay.title, results=results, thresholds=[
            builder.ThresholdItem(value=0, bgColor=_FALLBACK),
            builder.ThresholdItem(value=1, bgColor=_DELEGATE)])
    else:
        graph = builder.GraphNodeData(name=overlay.title, results=results,
                                      gradient=_gradient(builder, overlay))
    return builder.ModelNodeData(graphsData={graph_id: graph})
