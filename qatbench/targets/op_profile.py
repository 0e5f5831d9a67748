"""What a per-op profile is, whichever family measured it: the type every target's
``profile`` returns (``Capability.PROFILE``), the profile worker writes and ``bench``
reads.

Host (``source="host-cut"``, ``host/op_profile.py``): one-op models cut from the file,
timed where the whole model runs each op. Phone (``source="benchmark_model"``,
``android/benchmark_model_output.py``): the op tables ``benchmark_model
--enable_op_profiling=true`` prints. Either way the profile's *coverage* -- the sum of
the ops' times over the whole model's -- says how far the sum can be trusted.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

HOST_CUT = "host-cut"
BENCHMARK_MODEL = "benchmark_model"
# coverage (sum of ops / whole model) outside this band: the profile is marked unreliable
RELIABLE_COVERAGE = (0.8, 1.2)


@dataclass(frozen=True)
class OpTiming:
    """One op (or, on a phone, one delegate partition) and its median time."""

    op_index: int
    op_type: str
    name: str
    delegated: bool | None  # None: the target has no delegate to take it
    p50_ms: float | None  # None: not timed (``note`` says why)
    n_samples: int = 0
    note: str = ""


@dataclass(frozen=True)
class OpProfile:
    source: str  # HOST_CUT or BENCHMARK_MODEL
    ops: tuple[OpTiming, ...]
    whole_p50_ms: float | None  # the whole model, same rules, same process (host)
    delegate: str = ""
    notes: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def total_ms(self) -> float | None:
        times = [op.p50_ms for op in self.ops if op.p50_ms is not None]
        return float(sum(times)) if times else None

    @property
    def coverage(self) -> float | None:
        """Sum of the ops over the whole model; None when either is missing."""
        total = self.total_ms
        if total is None or not self.whole_p50_ms:
            return None
        return total / self.whole_p50_ms

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), default=str)

    @classmethod
    def from_json(cls, text: str) -> OpProfile:
        data = json.loads(text)
        data["ops"] = tuple(OpTiming(**op) for op in data["ops"])
        data["notes"] = tuple(data.get("notes", ()))
        return cls(**data)
