"""Cut a ``.tflite`` model into one-op models: the host's way to time a model op by op.

LiteRT's Python API has no per-op profiler (``Interpreter`` and ``CompiledModel`` expose
none in ai-edge-litert 2.3), but a model of a single op can be timed exactly like a
whole model. Each cut keeps the op, its operator code and options, its constant inputs
(weights, biases, shapes) with their buffers, and every tensor's type, shape and
quantization parameters; its non-constant inputs become the cut model's inputs, so the
op is fed the real tensors it sees inside the whole model (see ``op_profile``).

What a cut cannot show: fusion across ops and cache effects between them. The sum of
the ops is therefore compared with the whole model (coverage) before it is trusted.
Built on the flatbuffer utilities LiteRT ships (``ai_edge_litert.tools``); ops that call
other subgraphs (``WHILE``, ``IF``, ``CALL_ONCE``) are not cut and say so.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# ops that run other subgraphs: a one-op model of them would need those subgraphs too
SUBGRAPH_OPS = frozenset({"WHILE", "IF", "CALL_ONCE", "CALL", "STABLEHLO_COMPOSITE"})


class CutUnavailable(RuntimeError):
    """The flatbuffer utilities are not installed (``tflite_runtime`` hosts)."""


def _flatbuffer_utils() -> Any:
    try:
        from ai_edge_litert.tools import flatbuffer_utils
    except ImportError as error:
        raise CutUnavailable("per-op profiles on the host need ai-edge-litert's flatbuffer "
                             "utilities (pip install ai-edge-litert)") from error
    return flatbuffer_utils


@dataclass(frozen=True)
class OpCut:
    """One op of the whole model as its own model (``content`` is None when not cut)."""

    index: int  # the op's index in the model's main subgraph: its node index at run time
    op_type: str  # builtin name (CONV_2D, ...), or the custom op's code
    name: str  # the name of its first output tensor (which layer it belongs to)
    input_tensors: tuple[int, ...]  # the whole model's tensors fed as the cut's inputs
    content: bytes | None
    reason: str = ""  # why it was not cut


def _op_type(fb: Any, model: Any, op: Any) -> str:
    code = model.operatorCodes[op.opcodeIndex]
    if code.customCode:
        return code.customCode.decode("ascii", "replace")
    return fb.opcode_to_name(model, op.opcodeIndex) or f"BUILTIN_{code.builtinCode}"


def _is_constant(model: Any, tensor: Any) -> bool:
    if tensor.isVariable:
        return False
    buffer = model.buffers[tensor.buffer] if tensor.buffer < len(model.buffers) else None
    return buffer is not None and buffer.data is not None and len(buffer.data) > 0


def _cut_one(fb: Any, model: Any, subgraph: Any, op: Any) -> tuple[bytes, tuple[int, ...]]:
    schema = fb.schema_fb
    buffers: list[Any] = [schema.BufferT()]
    tensors: list[Any] = []
    mapped: dict[int, int] = {}
    feeds: list[int] = []

    def add(index: int) -> int:
        if index < 0:  # an optional input left out
            return index
        if index not in mapped:
            tensor = copy.copy(subgraph.tensors[index])
            if _is_constant(model, tensor):
                buffers.append(model.buffers[tensor.buffer])
                tensor.buffer = len(buffers) - 1
            else:
                tensor.buffer = 0
            mapped[index] = len(tensors)
            tensors.append(tensor)
        return mapped[index]

    cut_op = copy.copy(op)
    cut_op.inputs = [add(i) for i in op.inputs]
    cut_op.outputs = [add(i) for i in op.outputs]
    if op.intermediates is not None and len(op.intermediates):
        cut_op.intermediates = [add(i) for i in op.intermediates]
    for index in op.inputs:
        if index >= 0 and index not in feeds and not _is_constant(
                model, subgraph.tensors[index]) and not subgraph.tensors[index].isVariable:
            feeds.append(index)
    graph = schema.SubGraphT()
    graph.tensors = tensors
    graph.inputs = [mapped[i] for i in feeds]
    graph.outputs = list(cut_op.outputs)
    graph.operators = [cut_op]
    graph.name = b"op"
    cut = schema.ModelT()
    cut.version = model.version
    cut.description = b"one op cut by qatbench"
    cut.operatorCodes = model.operatorCodes
    cut.subgraphs = [graph]
    cut.buffers = buffers
    return bytes(fb.convert_object_to_bytearray(cut)), tuple(feeds)


def _tensor_name(subgraph: Any, index: int) -> str:
    name = subgraph.tensors[index].name
    return name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name)


def list_ops(path: Path) -> list[tuple[str, tuple[str, ...]]]:
    """Each op of the model's main subgraph, by index: its type and output tensor names,
    read as ``cut_model`` reads them (overlays and profiles must name the same ops)."""
    fb = _flatbuffer_utils()
    model = fb.read_model_from_bytearray(bytearray(Path(path).read_bytes()))
    subgraph = model.subgraphs[0]
    return [(_op_type(fb, model, op),
             tuple(_tensor_name(subgraph, i) for i in op.outputs if i >= 0))
            for op in subgraph.operators]


def cut_model(path: Path) -> list[OpCut]:
    """Every op of the model's main subgraph, in execution order, as its own model."""
    fb = _flatbuffer_utils()
    model = fb.read_model_from_bytearray(bytearray(Path(path).read_bytes()))
    subgraph = model.subgraphs[0]
    cuts = []
    for index, op in enumerate(subgraph.operators):
        op_type = _op_type(fb, model, op)
        outputs = [i for i in op.outputs if i >= 0]
        name = _tensor_name(subgraph, outputs[0]) if outputs else ""
        if op_type in SUBGRAPH_OPS:
            cuts.append(OpCut(index, op_type, name, (), None,
                              f"{op_type} runs other subgraphs: not cut"))
            continue
        content, feeds = _cut_one(fb, model, subgraph, op)
        cuts.append(OpCut(index, op_type, name, feeds, content))
    return cuts
