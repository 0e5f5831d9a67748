"""The contract between the runner and every hardware target.

A target is one small class with four verbs -- ``probe``, ``prepare``, ``measure``,
``evaluate`` -- and the frozen value types below. The runner never branches on a
target's name: everything target-specific travels in these values.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np


class Status(str, enum.Enum):
    """What became of one job (a row of the results table)."""

    OK = "ok"
    COMPILED = "compiled"  # prepared for the accelerator (placement, sizes), not timed
    FAILED = "failed"
    SKIPPED = "skipped"  # the job makes no sense on this target (e.g. float on Edge TPU)
    UNAVAILABLE = "unavailable"  # the target cannot run here (tool or device missing)


@dataclass(frozen=True)
class Availability:
    """Whether a target can run on this host; if not, the exact reason and the fix."""

    available: bool
    reason: str = ""
    fix: str = ""
    details: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.available and not self.reason:
            raise ValueError("an unavailable target must say why")

    def message(self) -> str:
        if self.available:
            return "available"
        return f"{self.reason} -- {self.fix}" if self.fix else self.reason


@dataclass(frozen=True)
class MeasureSpec:
    """How to time a model: benchmark_model's defaults, kept configurable.

    Warm-up runs until both ``warmup_runs`` and ``warmup_min_s`` are met; timed runs
    until both ``min_runs`` and ``min_s`` are met; both phases stop at ``max_s``.
    """

    threads: int = 1
    warmup_runs: int = 1
    warmup_min_s: float = 0.5
    min_runs: int = 50
    min_s: float = 1.0
    max_s: float = 150.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.threads < 1:
            raise ValueError(f"threads must be >= 1, got {self.threads}")
        if self.min_runs < 1:
            raise ValueError(f"min_runs must be >= 1, got {self.min_runs}")
        if self.warmup_runs < 0 or self.warmup_min_s < 0 or self.min_s < 0:
            raise ValueError("warm-up runs and durations must not be negative")
        if self.max_s <= 0:
            raise ValueError(f"max_s must be > 0, got {self.max_s}")


@dataclass(frozen=True)
class Prepared:
    """A model made ready for one target (compiled, pushed, ...), plus what was learnt."""

    model: Path
    source: Path  # the .tflite the user asked for, before any target-specific compile
    ops_total: int | None = None
    ops_on_accelerator: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ReportedLatency:
    """Aggregates printed by a tool that does not hand out its samples (benchmark_model).

    A figure the tool did not print stays ``None``: never guessed, never 0.
    """

    n_samples: int | None = None
    min_ms: float | None = None
    max_ms: float | None = None
    mean_ms: float | None = None
    std_ms: float | None = None
    p50_ms: float | None = None


@dataclass(frozen=True)
class Measurement:
    """One timing of a prepared model: every sample when we timed it ourselves."""

    status: Status = Status.OK
    samples_ms: tuple[float, ...] = ()
    reported: ReportedLatency | None = None
    init_ms: float | None = None
    first_inference_ms: float | None = None
    peak_memory_mb: float | None = None
    device: str = ""
    delegate: str = ""
    runtime: str = ""
    error: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status is Status.OK and not self.samples_ms and self.reported is None:
            raise ValueError("an ok measurement needs samples or reported figures")
        if any(not math.isfinite(s) or s < 0 for s in self.samples_ms):
            raise ValueError("latency samples must be finite and non-negative")


@dataclass(frozen=True)
class EvalSet:
    """Evaluation inputs (float, in the model's training scale) and integer labels."""

    x: np.ndarray
    y: np.ndarray
    name: str = ""

    def __post_init__(self) -> None:
        if len(self.x) != len(self.y):
            raise ValueError(f"eval set has {len(self.x)} inputs but {len(self.y)} labels")

    @classmethod
    def load(cls, path: Path) -> EvalSet:
        with np.load(path) as data:
            return cls(x=data["x"], y=data["y"], name=str(data.get("name", path.stem)))

    def save(self, path: Path) -> None:
        np.savez_compressed(path, x=self.x, y=self.y, name=np.array(self.name))


class TargetError(Exception):
    """Base for target-side outcomes the runner turns into rows instead of crashes."""


class JobSkipped(TargetError):
    """The job makes no sense on this target; the message is the reason."""


class TargetUnavailable(TargetError):
    """The target cannot run here right now (tool missing, device gone)."""


class JobFailed(TargetError):
    """The tool or device reported a failure; the message carries its own words."""


@runtime_checkable
class Target(Protocol):
    """One hardware target. Implementations register by name (see ``registry``)."""

    name: str
    description: str

    def probe(self) -> Availability: ...

    def prepare(self, model: Path, work: Path) -> Prepared: ...

    def measure(self, prepared: Prepared, spec: MeasureSpec) -> Measurement: ...

    def evaluate(self, prepared: Prepared, data: EvalSet) -> float | None: ...
