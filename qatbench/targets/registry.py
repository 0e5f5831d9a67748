"""Targets by name: the built-in ones plus any installed under the ``qatbench.targets``
entry-point group, so a third-party target plugs in without touching qatbench.

A factory takes the target's options (a ``[targets.NAME]`` table of the run config)
as keyword arguments and returns a ``Target``.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module, metadata
from typing import Any

from qatbench.targets.base import Target

TargetFactory = Callable[..., Target]
ENTRY_POINT_GROUP = "qatbench.targets"

# name -> "module:function"; imported on use so a host pays only for what it runs.
_BUILTIN: dict[str, str] = {
    "cpu-xnnpack": "qatbench.targets.cpu:cpu_xnnpack",
    "cpu-ref": "qatbench.targets.cpu:cpu_ref",
    "edgetpu": "qatbench.targets.edgetpu:edgetpu",
    "nnapi": "qatbench.targets.android:nnapi",
    "android-cpu": "qatbench.targets.android:android_cpu",
}


class UnknownTarget(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def load_reference(reference: str) -> Any:
    """The object named by ``"package.module:attribute"``."""
    module_name, _, attribute = reference.partition(":")
    return getattr(import_module(module_name), attribute)


def _plugins() -> dict[str, metadata.EntryPoint]:
    return {ep.name: ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}


def target_names() -> list[str]:
    """Every registered target: built-ins first, then plug-ins in name order."""
    plugins = sorted(name for name in _plugins() if name not in _BUILTIN)
    return [*_BUILTIN, *plugins]


def create_target(name: str, options: dict[str, Any] | None = None) -> Target:
    """Build the target called ``name`` with its options from the run config."""
    options = options or {}
    if name in _BUILTIN:
        return load_reference(_BUILTIN[name])(**options)
    if ":" in name:  # "package.module:factory": an unpackaged target, e.g. in a lab repo
        try:
            return load_reference(name)(**options)
        except (ImportError, AttributeError) as error:
            raise UnknownTarget(f"target {name!r} cannot be loaded: {error}") from error
    plugin = _plugins().get(name)
    if plugin is None:
        raise UnknownTarget(
            f"target {name!r} is not registered; known targets: {', '.join(target_names())}. "
            f"A plug-in registers under the entry-point group {ENTRY_POINT_GROUP!r}."
        )
    return plugin.load()(**options)
