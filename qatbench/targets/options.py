"""Typed options of a target: what a ``[targets.NAME]`` table of the run config may hold.

Every built-in target declares a pydantic model that forbids unknown keys, so a misspelt
option (``acclerator``) stops the run with the valid keys instead of being ignored.
Two keys belong to every target: ``kind`` (a user-named target reuses a built-in, e.g.
``[targets.cpu-xnnpack-nightly] kind = "cpu-xnnpack"``) and ``python`` (the interpreter
the runner starts the timing child with; the target only stores it).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from qatbench.errors import UserError

# keys the runner and the registry consume; never passed on to a plug-in factory
RUNNER_KEYS = frozenset({"kind", "python"})


class TargetOptionsError(UserError, ValueError):
    """A ``[targets.NAME]`` table that does not fit its target; the message says how to fix it."""


class TargetOptions(BaseModel):
    """Options every target accepts; a built-in's model subclasses this and adds its own."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str | None = None  # the built-in (or plug-in) this user-named target stands for
    python: str | None = None  # another interpreter for the timing child (used by the runner)


class PhoneOptions(TargetOptions):
    """What every target that times on a phone over adb accepts: which phone, which adb,
    the cores to pin, the run's and adb's budgets, flags passed on to the benchmark."""

    device: str | None = None  # serial; default: the only device attached
    adb: str | None = None  # else $QATBENCH_ADB, else PATH
    cpu_mask: str | None = Field(default=None, pattern=r"^(0x)?[0-9a-fA-F]+$")  # taskset
    # the benchmark run on the phone; default 2 * max_s + 120 s (warm-up and timed phases
    # are each capped at max_s, plus start-up)
    timeout_s: float | None = Field(default=None, gt=0)
    adb_timeout_s: float = Field(default=120, gt=0)  # every other adb command
    extra_flags: list[str] = Field(default_factory=list)


class PluginOptions(TargetOptions):
    """For a plug-in that declares no model: any key passes, the plug-in checks its own."""

    model_config = ConfigDict(extra="allow", frozen=True)


def validate_options(target: str, model: type[BaseModel], options: Mapping[str, Any]
                     ) -> BaseModel:
    """``options`` as ``model``; every problem in one ``TargetOptionsError`` naming ``target``."""
    try:
        return model.model_validate(dict(options))
    except ValidationError as error:
        raise TargetOptionsError(_describe(target, model, error)) from None


def _describe(target: str, model: type[BaseModel], error: ValidationError) -> str:
    valid = sorted(model.model_fields)
    problems = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(options)"
        if item["type"] == "extra_forbidden":
            close = difflib.get_close_matches(str(item["loc"][0]), valid, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(f"unknown option {key!r}{hint}")
        else:
            problems.append(f"option {key!r}: {item['msg']} (got {item.get('input')!r})")
    return (f"[targets.{target}]: " + "; ".join(problems)
            + f". Valid options: {', '.join(valid)}")
