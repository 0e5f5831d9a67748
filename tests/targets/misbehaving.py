"""Test-only targets that crash or hang inside the measuring child, the way a broken
delegate or a stuck device does. Loaded by the worker as ``tests.targets.misbehaving:NAME``.
"""

from __future__ import annotations

import ctypes
import os
import time
from pathlib import Path
from typing import Any

from qatbench.targets.base import Availability, EvalSet, Measurement, MeasureSpec, Prepared


class _Misbehaving:
    description = "test-only"

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
        raise AssertionError(self.action)

    def evaluate(self, prepared: Prepared, data: EvalSet) -> float | None:
        return None


def segfault(**_: Any) -> _Misbehaving:
    return _Misbehaving("segfault", "segfault")


def abort(**_: Any) -> _Misbehaving:
    return _Misbehaving("abort", "abort")


def hang(**_: Any) -> _Misbehaving:
    return _Misbehaving("hang", "hang")


def raises(**_: Any) -> _Misbehaving:
    return _Misbehaving("raises", "raise")
