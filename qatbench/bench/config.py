"""Run configuration: a TOML file (defaults ship in ``qatbench/bench/configs/``), validated
with errors that name the key and the allowed values; CLI flags override it.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Literal

import tomllib
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from qatbench.models.zoo import ZOO
from qatbench.qat.budget import TrainingBudget
from qatbench.targets.base import MeasureSpec
from qatbench.targets.registry import target_names

# qat_selective (QAT on [training] qat_layers only, the rest float) is built when asked for
VariantName = Literal["float32", "ptq_int8", "qat_int8", "qat_selective"]
VARIANTS: tuple[str, ...] = ("float32", "ptq_int8", "qat_int8")


class ConfigError(ValueError):
    """The configuration is unreadable or invalid; the message names the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MeasureConfig(_Strict):
    """Timing rules; defaults are benchmark_model's."""

    warmup_runs: int = Field(1, ge=0)
    warmup_min_s: float = Field(0.5, ge=0)
    min_runs: int = Field(50, ge=1)
    min_s: float = Field(1.0, ge=0)
    max_s: float = Field(150.0, gt=0)

    def spec(self, threads: int) -> MeasureSpec:
        return MeasureSpec(threads=threads, **self.model_dump())


class RunSection(_Strict):
    models: list[str] = Field(default_factory=lambda: ["mnist_cnn", "mobilenet_v2"], min_length=1)
    variants: list[VariantName] = Field(default_factory=lambda: list(VARIANTS), min_length=1)
    targets: list[str] = Field(default_factory=lambda: ["cpu-xnnpack", "cpu-ref"], min_length=1)
    threads: list[int] = Field(default_factory=lambda: [1], min_length=1)
    timeout_s: float = Field(900.0, gt=0)
    out: str = "results"
    # an ImageNet-style folder (class subfolders of images) to evaluate ImageNet models on
    imagenet_dir: str | None = None

    @field_validator("models")
    @classmethod
    def _known_models(cls, models: list[str]) -> list[str]:
        unknown = [m for m in models if m not in ZOO]
        if unknown:
            raise ValueError(f"unknown model(s) {', '.join(unknown)}; allowed: {', '.join(ZOO)}")
        return models

    @field_validator("targets")
    @classmethod
    def _known_targets(cls, targets: list[str]) -> list[str]:
        known = target_names()
        unknown = [t for t in targets if t not in known and ":" not in t]
        if unknown:
            raise ValueError(f"unknown target(s) {', '.join(unknown)}; allowed: {', '.join(known)}")
        return targets

    @field_validator("threads")
    @classmethod
    def _positive_threads(cls, threads: list[int]) -> list[int]:
        if any(t < 1 for t in threads):
            raise ValueError("every thread count must be >= 1")
        return threads


class RunConfig(_Strict):
    run: RunSection = Field(default_factory=RunSection)
    measure: MeasureConfig = Field(default_factory=MeasureConfig)
    training: TrainingBudget = Field(default_factory=TrainingBudget)
    # Per-target options, e.g. [targets.edgetpu] device = "usb:0"; passed to the factory.
    targets: dict[str, dict[str, Any]] = Field(default_factory=dict)


def _format(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"])
        message = item["msg"]
        if item["type"] == "literal_error":
            message = f"{message} (got {item['input']!r})"
        if item["type"] == "extra_forbidden":
            message = "unknown key"
        lines.append(f"  {key}: {message}")
    return "invalid configuration:\n" + "\n".join(lines)


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config file {path} is not valid TOML: {error}") from None


SHIPPED_CONFIGS = ("cpu", "edgetpu", "nnapi", "reference")


def shipped_config(name: str) -> dict[str, Any]:
    """A config shipped inside the package (``cpu``, ``quick``, ``edgetpu``, ``nnapi``)."""
    text = resources.files("qatbench.bench.configs").joinpath(f"{name}.toml").read_text()
    return tomllib.loads(text)


def build_config(data: dict[str, Any]) -> RunConfig:
    try:
        return RunConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(_format(error)) from None


def load_config(path: Path | None = None, *, quick: bool = False,
                overrides: dict[str, Any] | None = None) -> RunConfig:
    """The default CPU config, or ``path``, with ``--quick`` and CLI flags on top."""
    if path is None:
        data = shipped_config("cpu")
    elif not path.exists() and path.suffix == "" and str(path) in SHIPPED_CONFIGS:
        data = shipped_config(str(path))  # `--config edgetpu`: a config shipped by name
    else:
        data = read_toml(path)
    if quick:
        data = deep_merge(data, shipped_config("quick"))
    if overrides:
        data = deep_merge(data, overrides)
    return build_config(data)
