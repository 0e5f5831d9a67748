"""What a tune is made of: the request, the plan checked before anything is built, and
the state ``tune.json`` keeps after every candidate (the search path). See ``tune.py``."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from qatbench.bench.orchestration.config import RunConfig
from qatbench.bench.statistics.decision import GroupDecision
from qatbench.bench.statistics.goals import Goals
from qatbench.bench.statistics.keep_float import RankedOp
from qatbench.bench.storage.store import atomic_write_json
from qatbench.errors import UserError

TUNE_FILE = "tune.json"
RECIPE_FILE = "recipe.toml"
CANDIDATES_RUN = "candidates"
DATA_FILE = "tune_data.npz"
FULL_INT8 = ("ptq_int8", "qat_int8")
# goals that one more float op can only move further away: a miss on one ends the search
COST_GOALS = ("max_latency_ms", "max_size_mb", "max_peak_memory_mb")
REFERENCE = "float32"
CANDIDATE_VARIANT = "mixed_int8"


class TuneError(UserError, ValueError):
    """The tune cannot start: the message names what is missing and how to get it."""


@dataclass(frozen=True)
class TuneRequest:
    run_dir: Path
    model: str
    target: str
    threads: int
    goals: Goals
    budget_s: float | None = None
    out_dir: Path | None = None

    @property
    def directory(self) -> Path:
        return self.out_dir or (self.run_dir / "tune" /
                                f"{self.model}-{self.target.replace(':', '_')}-t{self.threads}")

    def identity(self) -> dict[str, Any]:
        """What a continued tune must share with the one it continues."""
        return {"run_dir": str(self.run_dir.resolve()), "model": self.model,
                "target": self.target, "threads": self.threads,
                "goals": self.goals.model_dump(exclude_none=True)}


@dataclass
class Tried:
    """One candidate of the search path, with the figures it was decided on."""

    name: str
    kept: list[str]  # the error table's layer names of the ops kept float
    keep_float_ops: list[str]  # as a [models.NAME.training] key takes them
    outcome: str = ""
    checks: list[str] = field(default_factory=list)
    latency_ms: float | None = None
    latency_ci: list[float | None] = field(default_factory=list)
    top1: float | None = None
    agreement: float | None = None
    size_bytes: int | None = None
    faster_than_float32: str = ""
    file: str = ""
    seconds: float = 0.0
    # goals on what keeping ops float only makes worse (latency, size, memory) it misses
    missed_costs: list[str] = field(default_factory=list)


@dataclass
class TuneState:
    identity: dict[str, Any]
    start: dict[str, Any]
    ranking: list[dict[str, Any]]
    ranking_basis: str
    reference: dict[str, Any] = field(default_factory=dict)
    candidates: list[Tried] = field(default_factory=list)
    chosen: str | None = None
    stopped: str = ""
    elapsed_s: float = 0.0

    def save(self, directory: Path) -> None:
        atomic_write_json(directory / TUNE_FILE, asdict(self))

    @classmethod
    def load(cls, directory: Path) -> TuneState | None:
        path = directory / TUNE_FILE
        if not path.is_file():
            return None
        data = json.loads(path.read_text())
        data["candidates"] = [Tried(**c) for c in data.get("candidates", [])]
        return cls(**data)


@dataclass(frozen=True)
class TunePlan:
    """Everything checked before anything is built: the run, its files, the ranking."""

    request: TuneRequest
    config: RunConfig
    results: pd.DataFrame  # the run's rows of this model, target and threads
    float_path: Path
    eval_path: Path
    calibration: np.ndarray | dict[str, np.ndarray] | None
    ranking: list[RankedOp]
    ranking_basis: str
    start: GroupDecision
    start_variant: str
