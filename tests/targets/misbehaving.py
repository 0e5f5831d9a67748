"""Test-only targets that crash or hang inside the measuring child, the way a broken
delegate or a stuck device does. Loaded by the worker as ``tests.targets.misbehaving:NAME``.
"""

from __future__ import annotations

import ctypes
import os
import time
from pathlib import Path

from qatbench.targets.base import (
    Availability,
    EvalSet,
    Evaluation,
    Measurement,
    MeasureSpec,
    Prepared,
)


class _Misbehaving:
    description = "test-only"
    takes_device = False
    accuracy_source = "nowhere (test-only)"

    def __init__(self, name: str, action: str) -> None:
        self.name = name
        self.action = action

    def probe(self) -> Availability:
        return Availability(True)

    def prepare(self, model: Path, work: Path) -> Prepared:
        return Prepared(model=model, source=model)

    def measure(self, prepared: Prepared, spec: MeasureSpec) -> Measurement:
        print("delegate: applying to 12 nodes", flush=True)
        if self.action == "segfault":
            ctypes.string_at(0)  # a null dereference, as a broken delegate does
        if self.action == "abort":
            os.abort()
        if self.action == "hang":
            time.sleep(3600)
        if self.action == "raise":
            raise RuntimeError("delegate rejected the graph: unsupported op CUSTOM")
        if self.action in ("slow_eval", "bare_float"):
            return Measurement(samples_ms=(1.0, 1.1, 0.9))
        raise AssertionError(self.action)

    def evaluate(self, prepared: Prepared, data: EvalSet) -> Evaluation | None:
        if self.action == "slow_eval":  # one sample at a time, each slow, as on a tiny board
            for _ in data.y:
                time.sleep(0.05)
            return Evaluation(top1=1.0, samples=len(data.y))
        if self.action == "bare_float":  # a plug-in written before Evaluation existed
            return 0.5  # type: ignore[return-value]
        return None


def segfault() -> _Misbehaving:
    return _Misbehaving("segfault", "segfault")


def abort() -> _Misbehaving:
    return _Misbehaving("abort", "abort")


def hang() -> _Misbehaving:
    return _Misbehaving("hang", "hang")


def raises() -> _Misbehaving:
    return _Misbehaving("raises", "raise")


def slow_eval() -> _Misbehaving:
    """Measures at once, then evaluates far slower than any budget."""
    return _Misbehaving("slow_eval", "slow_eval")


def bare_float() -> _Misbehaving:
    """Evaluates the old way: top-1 as a bare float."""
    return _Misbehaving("bare_float", "bare_float")
