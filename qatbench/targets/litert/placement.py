"""Op placement read from a LiteRT AOT-compiled model, without a phone.

After ``apply_plugin`` every NPU partition of a subgraph is one ``DISPATCH_OP`` custom op
in that subgraph (its bytecode lives in a buffer), and every op the plug-in did not
take stays there as the op it was. Counting both in the flatbuffer says which op types
will run on the CPU and how many partitions the NPU gets -- the figures that explain a
slow model -- straight from the file that will be deployed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DISPATCH_OP = "DISPATCH_OP"


@dataclass(frozen=True)
class Placement:
    """Per compiled model: NPU partitions and the ops left to the CPU, by type."""

    dispatch_ops: int
    ops_on_cpu: dict[str, int] = field(default_factory=dict)
    subgraphs: int = 1

    @property
    def cpu_op_count(self) -> int:
        return sum(self.ops_on_cpu.values())


def _builtin_names(schema: Any) -> dict[int, str]:
    ops = schema.BuiltinOperator
    return {value: name for name, value in vars(ops).items()
            if not name.startswith("_") and isinstance(value, int)}


def read_placement(path: Path) -> Placement:
    """Count DISPATCH_OPs and the remaining ops of every subgraph of a compiled model."""
    from ai_edge_litert import schema_py_generated as schema

    data = Path(path).read_bytes()
    model = schema.Model.GetRootAsModel(data, 0)
    names = _builtin_names(schema)
    codes = []
    for index in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(index)
        custom = code.CustomCode()
        if custom:
            codes.append(custom.decode())
        else:  # newer files keep large codes in BuiltinCode, older in the deprecated byte
            builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
            codes.append(names.get(builtin, f"BUILTIN_{builtin}"))
    dispatch = 0
    on_cpu: Counter[str] = Counter()
    for s in range(model.SubgraphsLength()):
        subgraph = model.Subgraphs(s)
        for o in range(subgraph.OperatorsLength()):
            name = codes[subgraph.Operators(o).OpcodeIndex()]
            if name == DISPATCH_OP:
                dispatch += 1
            else:
                on_cpu[name] += 1
    return Placement(dispatch_ops=dispatch, ops_on_cpu=dict(sorted(on_cpu.items())),
                     subgraphs=model.SubgraphsLength())
