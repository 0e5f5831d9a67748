"""Targets by name: the built-in ones plus any installed under the ``qatbench.targets``
entry-point group, so a third-party target plugs in without touching qatbench.

A ``[targets.NAME]`` table of the run config holds a target's options. They are checked
against the target's options model before anything is built (``validate_target_options``),
so a misspelt key is an error that names the valid ones, never silently ignored.

* A built-in factory is called as ``factory(options_model_instance, name=NAME)``.
* A plug-in factory is called with the options as keyword arguments, minus ``kind`` and
  ``python`` (the runner's). If the factory has an ``options_model`` attribute (a
  subclass of ``TargetOptions``) the options are checked against it first; otherwise
  any key passes (``PluginOptions``) and the plug-in checks its own.
* ``kind = "BUILT-IN"`` makes a user-named target: ``[targets.cpu-xnnpack-nightly]
  kind = "cpu-xnnpack"`` builds a ``cpu-xnnpack`` whose ``name`` is
  ``cpu-xnnpack-nightly``, with the built-in's options model.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import import_module, metadata
from typing import Any

from pydantic import BaseModel

from qatbench.errors import UserError
from qatbench.targets.base import Capability, Target, capabilities_of
from qatbench.targets.options import (
    RUNNER_KEYS,
    PluginOptions,
    TargetOptions,
    TargetOptionsError,
    validate_options,
)

__all__ = ["ENTRY_POINT_GROUP", "TargetOptionsError", "UnknownTarget", "create_target",
           "options_for_repeat", "options_model", "resolve_kind", "target_capabilities",
           "target_names", "target_takes_device", "updated_options",
           "validate_target_options", "with_requested"]

TargetFactory = Callable[..., Target]
ENTRY_POINT_GROUP = "qatbench.targets"


@dataclass(frozen=True)
class _Builtin:
    """References imported on use, so a host pays only for the targets it runs."""

    factory: str  # "module:function(options, *, name)"
    options: str  # "module:OptionsModel"
    target_class: str  # "module:Class", read for class attributes such as takes_device


_BUILTIN: dict[str, _Builtin] = {
    "cpu-xnnpack": _Builtin("qatbench.targets.host.cpu:cpu_xnnpack",
                            "qatbench.targets.host.cpu:CpuOptions",
                            "qatbench.targets.host.cpu:CpuTarget"),
    "cpu-ref": _Builtin("qatbench.targets.host.cpu:cpu_ref",
                        "qatbench.targets.host.cpu:CpuOptions",
                        "qatbench.targets.host.cpu:CpuTarget"),
    "edgetpu": _Builtin("qatbench.targets.edgetpu.target:edgetpu",
                        "qatbench.targets.edgetpu.target:EdgeTpuOptions",
                        "qatbench.targets.edgetpu.target:EdgeTpuTarget"),
    "nnapi": _Builtin("qatbench.targets.android.target:nnapi",
                      "qatbench.targets.android.target:AndroidOptions",
                      "qatbench.targets.android.target:AndroidTarget"),
    "android-cpu": _Builtin("qatbench.targets.android.target:android_cpu",
                            "qatbench.targets.android.target:AndroidOptions",
                            "qatbench.targets.android.target:AndroidTarget"),
    **{f"litert-{vendor}": _Builtin(
        f"qatbench.targets.litert.npu:litert_{vendor.replace('-', '_')}",
        "qatbench.targets.litert.options:LiteRtNpuOptions",
        "qatbench.targets.litert.npu:LiteRtNpuTarget")
       for vendor in ("qualcomm", "mediatek", "google-tensor", "samsung")},
    "litert-intel": _Builtin("qatbench.targets.litert.npu:litert_intel",
                             "qatbench.targets.litert.options:OpenVinoOptions",
                             "qatbench.targets.litert.npu:OpenVinoTarget"),
    "litert-openvino-cpu": _Builtin("qatbench.targets.litert.npu:litert_openvino_cpu",
                                    "qatbench.targets.litert.options:OpenVinoOptions",
                                    "qatbench.targets.litert.npu:OpenVinoTarget"),
    "litert-cpu": _Builtin("qatbench.targets.litert.npu:litert_cpu",
                           "qatbench.targets.litert.options:LiteRtCpuOptions",
                           "qatbench.targets.litert.npu:LiteRtCpuTarget"),
}


class UnknownTarget(UserError, KeyError):
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


def _is_registered(name: str) -> bool:
    return name in _BUILTIN or ":" in name or name in _plugins()


def resolve_kind(name: str, options: Mapping[str, Any] | None = None) -> str:
    """The registered target ``name`` stands for: its ``kind`` option, else ``name`` itself.

    >>> resolve_kind("cpu-xnnpack-nightly", {"kind": "cpu-xnnpack"})
    'cpu-xnnpack'
    """
    kind = (options or {}).get("kind")
    if kind is None:
        if _is_registered(name):
            return name
        raise UnknownTarget(
            f"target {name!r} is not registered; known targets: {', '.join(target_names())}. "
            f"Give it `kind = \"<one of those>\"` under [targets.{name}] to reuse a built-in, "
            f"or register a plug-in under the entry-point group {ENTRY_POINT_GROUP!r}.")
    if not isinstance(kind, str):
        raise TargetOptionsError(f"[targets.{name}]: option 'kind' must be a target name, "
                                 f"got {kind!r}")
    if kind != name and name in _BUILTIN:
        raise TargetOptionsError(f"[targets.{name}]: kind = {kind!r} would redefine the "
                                 f"built-in {name!r}; give the new target its own name")
    if not _is_registered(kind):
        raise UnknownTarget(f"[targets.{name}]: kind = {kind!r} is not a registered target; "
                            f"known targets: {', '.join(target_names())}")
    return kind


def _factory(kind: str) -> Any:
    if kind in _BUILTIN:
        return load_reference(_BUILTIN[kind].factory)
    if ":" in kind:  # "package.module:factory": an unpackaged target, e.g. in a lab repo
        try:
            return load_reference(kind)
        except (ImportError, AttributeError) as error:
            raise UnknownTarget(f"target {kind!r} cannot be loaded: {error}") from error
    plugin = _plugins().get(kind)
    if plugin is None:
        raise UnknownTarget(f"target {kind!r} is not registered; known targets: "
                            f"{', '.join(target_names())}")
    return plugin.load()


def options_model(name: str) -> type[BaseModel]:
    """The options model of the registered target ``name`` (a built-in or a plug-in).

    A plug-in without an ``options_model`` attribute on its factory gets ``PluginOptions``:
    any key passes and the plug-in checks its own. For a user-named target, ask for
    ``options_model(resolve_kind(name, options))``.
    """
    if name in _BUILTIN:
        return load_reference(_BUILTIN[name].options)
    model = getattr(_factory(name), "options_model", None)
    if isinstance(model, type) and issubclass(model, TargetOptions):
        return model
    if isinstance(model, type) and issubclass(model, BaseModel):
        raise TargetOptionsError(
            f"target {name!r}: its options_model {model.__name__} must subclass "
            "qatbench.targets.options.TargetOptions (every target accepts kind and python)")
    return PluginOptions


def validate_target_options(name: str,
                            options: Mapping[str, Any] | TargetOptions | None = None
                            ) -> TargetOptions:
    """``options`` as the options model of the target ``name`` stands for.

    Options already validated (a ``TargetOptions`` of that model) are returned as they
    are: a run's options are validated once, when its config loads. Raises
    ``TargetOptionsError`` naming the target, each unknown key (with the closest valid
    one) and the valid keys, or pydantic's words for a value of the wrong type.
    """
    if isinstance(options, TargetOptions):
        model = options_model(resolve_kind(name, {"kind": options.kind}
                                           if options.kind else None))
        if isinstance(options, model):
            return options
        options = options.model_dump(exclude_unset=True)
    options = dict(options or {})
    return validate_options(name, options_model(resolve_kind(name, options)), options)


def updated_options(name: str, options: TargetOptions, **values: Any) -> TargetOptions:
    """``options`` with ``values`` set, validated as their model (``model_copy`` would
    not validate): ``--device`` on a phone, ``op_profiling`` for one profile job."""
    return validate_options(name, type(options), {**options.model_dump(), **values})


def create_target(name: str, options: Mapping[str, Any] | TargetOptions | None = None
                  ) -> Target:
    """Build the target called ``name`` with its options: the typed object a run config
    holds (or a request carried across the process boundary), or a table to validate."""
    validated = validate_target_options(name, options)
    kind = resolve_kind(name, {"kind": validated.kind} if validated.kind else None)
    factory = _factory(kind)
    if kind in _BUILTIN:
        return factory(validated, name=name)
    keyword = validated.model_dump(exclude=set(RUNNER_KEYS))
    target = factory(**keyword)
    if name != kind:
        with contextlib.suppress(AttributeError):  # a plug-in with a read-only name keeps it
            target.name = name
    return target


def options_for_repeat(name: str, options: TargetOptions, repeat: int) -> TargetOptions:
    """The options a job's ``repeat`` (0-based) runs with: all of them on the first, and
    on the others without the options of the ``once_per_job`` capabilities the target
    declares (those fall back to their defaults, off), so work such as a per-op profile
    run is done once per job."""
    if repeat == 0:
        return options
    first_only = {c.option for c in target_capabilities(name, options)
                  if c.once_per_job and c.option}
    if not first_only:
        return options
    return validate_options(name, type(options), options.model_dump(exclude=first_only))


def target_capabilities(name: str, options: Mapping[str, Any] | TargetOptions | None = None
                        ) -> frozenset[Capability]:
    """What the target declares it can do (``Capability``), without probing: a
    built-in answers from its class; a plug-in is built (never probed) and asked."""
    kind = resolve_kind(name, _kind_only(options))
    if kind in _BUILTIN:
        return capabilities_of(load_reference(_BUILTIN[kind].target_class))
    return capabilities_of(create_target(name, options))


def with_requested(name: str, options: Mapping[str, Any] | TargetOptions | None,
                   *requested: Capability) -> TargetOptions:
    """``name``'s options (validated) with the option of each ``requested`` capability
    the target declares turned on; one it does not declare is not an error, it is simply
    not done (``qatbench ab`` counts instructions where a target can)."""
    validated = validate_target_options(name, options)
    declared = target_capabilities(name, validated)
    keys = {c.option: True for c in requested if c in declared and c.option}
    return updated_options(name, validated, **keys) if keys else validated


def _kind_only(options: Mapping[str, Any] | TargetOptions | None
               ) -> Mapping[str, Any] | None:
    """Of the options, what ``resolve_kind`` reads: the ``kind`` key."""
    if isinstance(options, TargetOptions):
        return {"kind": options.kind} if options.kind else None
    return options


def target_takes_device(name: str,
                        options: Mapping[str, Any] | TargetOptions | None = None) -> bool:
    """Whether the target runs on an attached device (``--device`` applies), without probing.

    Built-ins answer from their class; a plug-in is built (never probed) and asked.
    """
    kind = resolve_kind(name, _kind_only(options))
    if kind in _BUILTIN:
        return bool(load_reference(_BUILTIN[kind].target_class).takes_device)
    return bool(getattr(create_target(name, options), "takes_device", False))

