"""A ``.tflite`` as Model Explorer sees it, beside what the file says its ops are.

Overlays key nodes by the ids Model Explorer gives them, so they are taken from Model
Explorer's own converter (its built-in flatbuffer adapter), not assumed: the main
subgraph's graph id and its node ids. The file's own op list (LiteRT's flatbuffer
utilities: op type and output tensor names per op index) is what a profile's op types
are checked against and what a layer-error table's tensor names are found in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qatbench.bench.presentation.explorer import EXTRA_HINT, ExplorerMissing
from qatbench.targets.host.op_cut import list_ops


@dataclass(frozen=True)
class ExplorerGraph:
    """The main subgraph of one ``.tflite``: Model Explorer's graph id and node ids, and
    each op's type and output tensors by op index."""

    path: Path
    graph_id: str
    node_ids: frozenset[str]
    op_types: tuple[str, ...]
    op_outputs: tuple[tuple[str, ...], ...]

    def op_of_tensor(self) -> dict[str, int]:
        """Output tensor name -> the op index that writes it."""
        return {name: index for index, names in enumerate(self.op_outputs) for name in names}

    def node_id(self, op_index: int) -> str | None:
        """The node id Model Explorer shows for op ``op_index`` (None: no such op node)."""
        node = str(op_index)
        return node if 0 <= op_index < len(self.op_types) and node in self.node_ids else None


def _field(item: Any, name: str) -> Any:
    return item.get(name) if isinstance(item, Mapping) else getattr(item, name, None)


def _explorer_main_graph(path: Path) -> tuple[str, frozenset[str]]:
    """(graph id, node ids) of subgraph 0 as Model Explorer's tflite adapter converts it."""
    try:
        from model_explorer.builtin_tflite_flatbuffer_adapter import (
            BuiltinTfliteFlatbufferAdapter,
        )
    except ImportError as error:
        raise ExplorerMissing(f"{EXTRA_HINT} ({error})") from None
    converted = BuiltinTfliteFlatbufferAdapter().convert(str(path), {})
    for collection in converted["graphCollections"]:
        for graph in _field(collection, "graphs"):
            if _field(graph, "subgraphIndex") in (0, None):
                return str(_field(graph, "id")), frozenset(
                    str(_field(node, "id")) for node in _field(graph, "nodes"))
    raise ValueError("Model Explorer found no main subgraph in it")


def _file_ops(path: Path) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
    """Op types and output tensor names of the main subgraph, by op index: the host
    profiler's own reading of the file (``op_cut.list_ops``)."""
    ops = list_ops(path)
    return tuple(t for t, _ in ops), tuple(names for _, names in ops)


def read_explorer_graph(path: Path) -> ExplorerGraph:
    """The file as Model Explorer shows it; ``ValueError`` when it cannot be read."""
    try:
        graph_id, node_ids = _explorer_main_graph(path)
        op_types, op_outputs = _file_ops(path)
    except ExplorerMissing:
        raise
    except Exception as error:  # the adapter's RuntimeError, flatbuffer errors, ...
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise ValueError(f"{path}: cannot be read as a .tflite graph ({first})") from None
    return ExplorerGraph(path, graph_id, node_ids, op_types, op_outputs)
