"""``qatbench targets`` and ``qatbench models`` as typed calls: what each target says of
itself on this host, and which models a run can name. The commands only draw the tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from qatbench.bench.orchestration.config import RunConfig
from qatbench.models.zoo import ZOO, ModelSpec, known_models


@dataclass(frozen=True)
class TargetStatus:
    """One target on this host: ``available`` (with what it found), ``unavailable`` (the
    exact reason and how to fix it) or ``error`` (making or probing it raised: named,
    never a reason for the listing of the others to fail)."""

    name: str
    state: Literal["available", "unavailable", "error"]
    details: str


def target_statuses(config: RunConfig, names: list[str] | None = None) -> list[TargetStatus]:
    """Every registered target (or ``names``), made with the config's options and probed."""
    from qatbench.targets.registry import create_target, target_names

    statuses = []
    for name in names if names is not None else target_names():
        try:
            target = create_target(name, config.target_options(name))
            availability = target.probe()
        except Exception as error:  # a broken target is one row, not a failed listing
            statuses.append(TargetStatus(name, "error", f"{type(error).__name__}: {error}"))
            continue
        if availability.available:
            found = ", ".join(f"{k}={v}" for k, v in availability.details.items())
            statuses.append(TargetStatus(name, "available", f"{target.description}; {found}"))
        else:
            statuses.append(TargetStatus(name, "unavailable", availability.message()))
    return statuses


@dataclass(frozen=True)
class ModelListing:
    """The models a run can name, each with where it comes from, and why the plug-in zoos
    are missing when one failed to load (the built-in zoo is still listed)."""

    specs: dict[str, ModelSpec]
    origins: dict[str, Literal["zoo", "plug-in"]]
    plugin_error: str | None = None


def model_listing() -> ModelListing:
    plugin_error = None
    try:
        specs = known_models()
    except Exception as error:  # a broken plug-in: name it, list the built-in zoo
        plugin_error = (f"a plug-in zoo (entry points qatbench.models) failed to load: "
                        f"{type(error).__name__}: {error}")
        specs = dict(ZOO)
    origins = {name: "zoo" if name in ZOO else "plug-in" for name in specs}
    return ModelListing(specs, origins, plugin_error)
