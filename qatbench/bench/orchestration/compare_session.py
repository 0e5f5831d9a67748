"""``qatbench compare BASE CURRENT`` as one typed call: ``CompareRequest`` is the gate's
settings as the user gives them (validated here, so a bad metric, alpha or accuracy drop
is a ``UserError`` naming the flag before anything is read), ``run_compare`` loads both
sides, finds this host's noise, runs the gate and writes ``compare.md`` (and the GitHub
job summary).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo, field_validator

from qatbench.errors import UserError

# field -> the flag that sets it, for messages
FLAGS = {"threshold": "--threshold", "metric": "--metric", "alpha": "--alpha",
         "accuracy_drop": "--accuracy-drop"}
UNITS = {"threshold": "finite change like 5% or 0.05", "accuracy_drop": "number of points"}


class CompareRequestError(UserError, ValueError):
    """A gate setting out of its range; the message names the flag."""


class CompareRequest(BaseModel):
    """What ``compare`` is asked: the two sides, the gate's settings, where to write."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base: Path
    current: Path
    threshold: float = 0.05  # a fraction (the CLI's parser reads 5% or 0.05)
    metric: Literal["p50", "p90"] = "p50"
    alpha: float = 0.05
    accuracy_drop: float = 1.0  # top-1 points
    allow_missing: bool = False
    allow_broken: bool = False
    allow_host_change: bool = False
    fail_on_unknown: bool = False
    noise_floor: Path | None = None
    out: Path | None = None

    @field_validator("metric", mode="before")
    @classmethod
    def _metric(cls, value: Any) -> Any:
        if value not in ("p50", "p90"):
            raise ValueError(f"--metric: {value!r} is not one of p50, p90")
        return value

    @field_validator("threshold", "accuracy_drop")
    @classmethod
    def _non_negative(cls, value: float, info: ValidationInfo) -> float:
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{FLAGS[info.field_name]} must be a non-negative "
                             f"{UNITS[info.field_name]} (got {value:g})")
        return value

    @field_validator("alpha")
    @classmethod
    def _alpha(cls, value: float) -> float:
        if not 0 < value < 1:
            raise ValueError(f"--alpha must be between 0 and 1, exclusive (got {value:g})")
        return value

    @field_validator("accuracy_drop")
    @classmethod
    def _accuracy_drop(cls, value: float) -> float:
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"--accuracy-drop must be a non-negative number of points "
                             f"(got {value:g})")
        return value

    @classmethod
    def of(cls, **values: Any) -> CompareRequest:
        """The request, or a ``CompareRequestError`` naming every bad flag."""
        try:
            return cls(**values)
        except ValidationError as error:
            raise CompareRequestError("; ".join(
                str(item["msg"]).removeprefix("Value error, ") for item in error.errors()
            )) from None

    @property
    def run_dir(self) -> Path:
        """CURRENT's run directory (where compare.md goes by default)."""
        return self.current if self.current.is_dir() else self.current.parent


@dataclass
class CompareResult:
    comparison: Any  # pandas DataFrame: one row per series, the gate's columns
    settings: Any  # the GateSettings it was decided with
    markdown: Path  # compare.md
    exit_code: int  # the gate's one rule: 1 if anything is missing, broken, slower,
    # bigger or less accurate


def noise_floor(request: CompareRequest) -> Any:
    """This host's measured noise floor: ``--noise-floor``, else $QATBENCH_NOISE_FLOOR,
    else one beside CURRENT's or BASE's runs, else the built-in default."""
    from qatbench.bench.statistics.noise import find_noise_floor

    floor = find_noise_floor(request.noise_floor, request.run_dir.parent)
    if floor.source == "built-in default":  # `nox -s regress` runs CURRENT in a tmp dir
        base_dir = request.base if request.base.is_dir() else request.base.parent
        floor = find_noise_floor(None, base_dir.parent)
    return floor


def gate_settings(request: CompareRequest, floor: Any, current_runs: Any) -> Any:
    """The gate's settings with this host's noise: the floor and each series' cross-run
    noise from both results roots (what a K = 1 SLOWER needs)."""
    from qatbench.bench.statistics.compare import GateSettings
    from qatbench.bench.statistics.series_noise import history_noise

    base_dir = request.base if request.base.is_dir() else request.base.parent
    history = history_noise(
        [request.run_dir.parent, base_dir.parent],
        {request.run_dir.name, *current_runs.results["run_id"].astype(str)}, request.metric)
    return GateSettings(threshold=request.threshold, metric=request.metric,
                        alpha=request.alpha, accuracy_drop_points=request.accuracy_drop,
                        allow_missing=request.allow_missing,
                        allow_broken=request.allow_broken,
                        allow_host_change=request.allow_host_change,
                        fail_on_unknown=request.fail_on_unknown, noise=floor,
                        history=history)


def run_compare(request: CompareRequest, destination: Path | None = None) -> CompareResult:
    """Gate CURRENT against BASE and write compare.md (``destination``, else the
    request's ``out``, else CURRENT's run directory) and the job summary. Every input
    problem (no runs, nothing matched, another host, a bad noise floor) is a
    ``UserError`` naming it."""
    from qatbench.atomic import atomic_write_text, ensure_writable_dir
    from qatbench.bench.presentation.gate_report import comparison_markdown
    from qatbench.bench.presentation.step_summary import (
        append_to_step_summary,
        comparison_marker,
    )
    from qatbench.bench.statistics.compare import compare_runs, gate_exit_code
    from qatbench.bench.storage import runs

    floor = noise_floor(request)
    current_runs = runs.load_runs([request.current])
    settings = gate_settings(request, floor, current_runs)
    comparison = compare_runs(runs.load_runs([request.base]), current_runs, settings)
    markdown = comparison_markdown(comparison, settings, str(request.base),
                                   str(request.current))
    written = destination or request.out or request.run_dir / "compare.md"
    ensure_writable_dir(written.parent)  # UnwritableOutput: exit 2 naming it
    atomic_write_text(written, markdown)
    append_to_step_summary(markdown, comparison_marker(str(request.base),
                                                       str(request.current)),
                           written.parent)
    return CompareResult(comparison, settings, written, gate_exit_code(comparison))
