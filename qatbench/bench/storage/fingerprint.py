"""The fingerprint: where and with what a row was measured, as one short comparable id.

Two rows are only comparable when their fingerprints agree: the same CPU model and
kernel-relevant flags and core count for host targets, the same runtime and delegate,
the same phone model and Android build, the same Edge TPU runtime. ``fingerprint_parts``
keeps the parts (JSON in the results table) so a mismatch can be named, not just seen.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from qatbench.bench.storage.environment import Environment


def host_parts(environment: Environment) -> dict[str, str]:
    """The host's share of a fingerprint (for targets that run on the host's CPU)."""
    return {"cpu_model": environment.cpu_model, "cpu_flags": environment.cpu_flags,
            "cpu_count": str(environment.cpu_count), "machine": environment.machine}


def delegate_kind(label: str) -> str:
    """``xnnpack (12 kernels)`` -> ``xnnpack``: how much a delegate took depends on the
    model, not on the host, so it is not part of the fingerprint."""
    return re.sub(r"\s*\(.*\)\s*$", "", label or "").strip()


def fingerprint_parts(*, host: Mapping[str, str] | None, runtime: str, delegate: str,
                      device: Mapping[str, Any] | None = None) -> dict[str, str]:
    parts = dict(host or {})
    parts["runtime"] = runtime or ""
    parts["delegate"] = delegate_kind(delegate)
    for name, value in (device or {}).items():
        parts[f"device.{name}"] = str(value)
    return parts


def fingerprint_of(parts: Mapping[str, str]) -> str:
    """A short stable id of ``parts`` (12 hex digits of a SHA-256 of its sorted JSON)."""
    text = json.dumps(dict(parts), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def parse_parts(text: Any) -> dict[str, str]:
    if not isinstance(text, str) or not text:
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def differences(base: Mapping[str, str], current: Mapping[str, str]) -> list[str]:
    """Human-readable ``part: base -> current`` for every part that differs."""
    names = sorted(set(base) | set(current))
    return [f"{name}: {base.get(name, '(absent)')!s} -> {current.get(name, '(absent)')!s}"
            for name in names if base.get(name) != current.get(name)]
