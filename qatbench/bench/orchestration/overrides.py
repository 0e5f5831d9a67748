"""The one way command-line values reach a run config: ``ConfigOverrides`` holds what the
flags set (``None``: not given, the config's value stands), ``settings`` loads the config
with them on top and gives ``--device`` to the targets that talk to a device.

Every command that loads a config (``run``, ``bench``, ``profile``, ``build``,
``fingerprint``) goes through here, so a flag means the same in each and a bad value is
the config's ``ConfigError`` (exit 2) before anything is built or timed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from qatbench.bench.orchestration.config import ConfigError, RunConfig, load_config

# field -> the [measure] key it sets; every other field sets the [run] key of its name
MEASURE_KEYS = {"warmup_runs": "warmup_runs", "min_runs": "min_runs", "min_secs": "min_s",
                "max_secs": "max_s"}


@dataclass(frozen=True)
class ConfigOverrides:
    """What the command line sets in ``[run]`` and ``[measure]``; ``None`` is unset."""

    models: Sequence[str] | None = None
    variants: Sequence[str] | None = None
    targets: Sequence[str] | None = None
    threads: Sequence[int] | None = None
    out: Path | None = None
    timeout_s: float | None = None
    imagenet_dir: Path | None = None
    repeats: int | None = None
    shard: tuple[int, int] | None = None
    profile_op_s: float | None = None
    warmup_runs: int | None = None
    min_runs: int | None = None
    min_secs: float | None = None
    max_secs: float | None = None

    def tables(self) -> dict[str, dict[str, Any]]:
        """The ``{"run": ..., "measure": ...}`` tables merged over the config."""
        run: dict[str, Any] = {}
        measure: dict[str, Any] = {}
        for field in fields(self):
            value = getattr(self, field.name)
            if value is None:
                continue
            if isinstance(value, Path):
                value = str(value)
            elif isinstance(value, tuple | list):
                value = list(value)
            if field.name in MEASURE_KEYS:
                measure[MEASURE_KEYS[field.name]] = value
            else:
                run[field.name] = value
        return {"run": run, "measure": measure}


def with_device(settings: RunConfig, device: str | None) -> RunConfig:
    """``--device`` goes to every target of the run that talks to a device (a property of
    the target, not of its name)."""
    if not device:
        return settings
    from qatbench.targets.registry import TargetOptionsError, target_takes_device

    for target in settings.run.targets:
        if target_takes_device(target, settings.target_options(target)):
            try:
                settings = settings.with_target_options(target, device=device)
            except TargetOptionsError as error:
                raise ConfigError(f"--device: {error}") from None
    return settings


def settings(config: Path | None, overrides: ConfigOverrides | None = None, *,
             device: str | None = None, quick: bool = False, check_files: bool = True,
             models: dict[str, Any] | None = None) -> RunConfig:
    """The run config ``config`` (the shipped CPU one by default) with the command line
    on top: ``overrides``, ``--quick``, ad-hoc ``[models.NAME]`` tables and ``--device``.
    ``ConfigError`` (exit 2) names whatever is wrong."""
    tables: dict[str, Any] = (overrides or ConfigOverrides()).tables()
    if models:
        tables["models"] = models
    return with_device(load_config(config, quick=quick, overrides=tables,
                                   check_files=check_files), device)
