"""Find the TFLite interpreter this host has: LiteRT first, the legacy name as a fallback.

``ai_edge_litert`` is the maintained runtime. ``tflite_runtime`` is its old name and
breaks on NumPy 2, so it is accepted only on devices that have nothing else -- or when a
target asks for it (the Edge TPU's ``runtime = "tflite-runtime"``), or when a target's
``python = ...`` is a venv that has only it (``tflite-runtime`` 2.14 with numpy < 2 is the
oldest supported). The label names the distribution actually imported
(``ai-edge-litert-nightly`` provides ``ai_edge_litert`` too), and ``runtime_facts`` the
Python and numpy beside it: a row records what ran, not what was meant to.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import os
import platform
import signal
import subprocess
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


@functools.cache
def _distribution(module_name: str, family: str) -> tuple[str, str]:
    """(distribution, version) that provides ``module_name``'s top-level package."""
    top = module_name.partition(".")[0]
    for name in (family, *metadata.packages_distributions().get(top, [])):
        try:
            return name, metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return family, "unknown"


def resolve_runtime(family: str | None = None) -> Runtime:
    """The best interpreter available, or the ``family`` asked for (``ai-edge-litert``,
    ``tflite-runtime``); raises ``RuntimeMissing`` with the fix otherwise."""
    for module_name, package in _CANDIDATES:
        if family is not None and package != family:
            continue
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        name, version = _distribution(module_name, package)
        return Runtime(module=module, package=name, version=version)
    if family is not None:
        raise RuntimeMissing(f"{family} is not installed: `pip install {family}`")
    raise RuntimeMissing(
        "no TFLite interpreter is installed: run `pip install ai-edge-litert` "
        "(tflite-runtime is accepted as a fallback on devices without it)"
    )


def runtime_facts() -> dict[str, str]:
    """The Python and numpy of this (timing) process, for the row's fingerprint: a
    runtime venv differs from the orchestrator in more than the runtime package."""
    import numpy

    return {"python": platform.python_version(), "numpy": numpy.__version__}


PROBE_TIMEOUT_S = 120.0  # at most; a run's --timeout lowers it (``runner`` passes it)
_LABELS: dict[str, str] = {}  # interpreter -> its label, once it answered


def runtime_label_in(python: str, timeout_s: float = PROBE_TIMEOUT_S) -> str:
    """The runtime label a timing child under ``python`` would record (a target's
    ``python = ...``), asked of that interpreter; ``RuntimeMissing`` with its own words
    when it cannot time (no such file, not executable, no qatbench or no runtime there,
    or no answer within ``timeout_s``).

    The question runs in its own process group, killed whole on timeout: ``python`` may
    be a wrapper script whose own child holds the output pipe open, and waiting for that
    grandchild was a hang. An answer is kept for the process, so the runner's check and
    the target's probe ask once."""
    if python in _LABELS:
        return _LABELS[python]
    code = ("from qatbench.targets.runtime import resolve_runtime; "
            "print(resolve_runtime().label)")
    try:
        process = subprocess.Popen([python, "-c", code], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                   text=True, start_new_session=True)
    except OSError as error:
        raise RuntimeMissing(f"python = {python!r} cannot run: {error}") from None
    try:
        stdout, stderr = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        raise RuntimeMissing(f"python = {python!r} did not answer which runtime it has "
                             f"within {timeout_s:g}s (stopped with everything it "
                             "started)") from None
    except BaseException:  # Ctrl-C: take the question down with us
        _kill_group(process)
        raise
    if process.returncode != 0:
        last = (stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeMissing(f"python = {python!r} cannot time models (exit status "
                             f"{process.returncode}): {last}")
    lines = stdout.strip().splitlines()
    if not lines:
        raise RuntimeMissing(f"python = {python!r} cannot time models: it printed no "
                             "runtime label")
    _LABELS[python] = lines[-1]
    return lines[-1]


def _kill_group(process: subprocess.Popen) -> None:
    """SIGKILL ``process``'s whole group (it leads its own session) and reap it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.communicate(timeout=5)
