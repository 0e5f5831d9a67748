"""Find the TFLite interpreter this host has: LiteRT first, the legacy name as a fallback.

``ai_edge_litert`` is the maintained runtime. ``tflite_runtime`` is its old name and
breaks on NumPy 2, so it is accepted only on devices that have nothing else.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from importlib import metadata
from types import ModuleType
from typing import Any


class RuntimeMissing(ImportError):
    """No TFLite interpreter package is importable on this host."""


@dataclass(frozen=True)
class Runtime:
    """The interpreter module in use, with the name and version to record in every row."""

    module: ModuleType
    package: str
    version: str

    @property
    def label(self) -> str:
        return f"{self.package} {self.version}"

    def interpreter(self, model_path: str, *, threads: int, use_default_delegates: bool = True,
                    delegates: list[Any] | None = None) -> Any:
        """An interpreter; ``use_default_delegates=False`` keeps XNNPACK out (the control)."""
        kwargs: dict[str, Any] = {"model_path": model_path, "num_threads": threads}
        if delegates:
            kwargs["experimental_delegates"] = delegates
        if not use_default_delegates:
            kwargs["experimental_op_resolver_type"] = (
                self.module.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
            )
        return self.module.Interpreter(**kwargs)

    def load_delegate(self, library: str, options: dict[str, str] | None = None) -> Any:
        return self.module.load_delegate(library, options or {})


_CANDIDATES = (
    ("ai_edge_litert.interpreter", "ai-edge-litert"),
    ("tflite_runtime.interpreter", "tflite-runtime"),
)


def resolve_runtime() -> Runtime:
    """The best interpreter available; raises ``RuntimeMissing`` with the fix otherwise."""
    for module_name, package in _CANDIDATES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        try:
            version = metadata.version(package)
        except metadata.PackageNotFoundError:
            version = "unknown"
        return Runtime(module=module, package=package, version=version)
    raise RuntimeMissing(
        "no TFLite interpreter is installed: run `pip install ai-edge-litert` "
        "(tflite-runtime is accepted as a fallback on devices without it)"
    )
