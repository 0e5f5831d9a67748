"""Like with like: two rows are gated only if they were measured on the same kind of host.

A row's ``fingerprint`` is a short hash of ``fingerprint_parts`` (CPU model and flags,
core count, runtime, delegate, Python, phone model and build, Edge TPU runtime). When
two fingerprints differ the parts say what changed, so the refusal can name it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pandas as pd

from qatbench.errors import UserError

MAX_VALUE_CHARS = 60


class HostChanged(UserError, ValueError):
    """Matched rows were measured on different hosts; the message names the parts."""


def _text(value: Any) -> str:
    return "" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)


def parts_of(row: Mapping[str, Any]) -> dict[str, str]:
    """The fingerprint's parts as a dict (empty for old rows or unreadable JSON)."""
    raw = _text(row.get("fingerprint_parts"))
    if not raw:
        return {}
    try:
        parts = json.loads(raw)
    except ValueError:
        return {}
    return {str(k): _text(v) for k, v in parts.items()} if isinstance(parts, dict) else {}


def _short(value: str) -> str:
    return value if len(value) <= MAX_VALUE_CHARS else value[:MAX_VALUE_CHARS - 1] + "…"


def differences(base: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    """{part: (base value, current value)} for every part that differs.

    Empty when the fingerprints agree or either row has none (never timed, or measured
    before qatbench recorded fingerprints: ``storage/upgrade.py`` invents none). When
    the hashes differ but no parts were recorded, the hashes themselves are the
    difference.
    """
    before, after = _text(base.get("fingerprint")), _text(current.get("fingerprint"))
    if not before or not after or before == after:
        return {}
    base_parts, current_parts = parts_of(base), parts_of(current)
    changed = {name: (base_parts.get(name, "(absent)"), current_parts.get(name, "(absent)"))
               for name in sorted(set(base_parts) | set(current_parts))
               if base_parts.get(name) != current_parts.get(name)}
    return changed or {"fingerprint": (before, after)}


def describe(changed: Mapping[str, tuple[str, str]]) -> str:
    """``cpu_model: 'A' (BASE) vs 'B' (CURRENT); ...``"""
    return "; ".join(f"{name}: {_short(b)!r} (BASE) vs {_short(c)!r} (CURRENT)"
                     for name, (b, c) in changed.items())


def has_fingerprint(row: Mapping[str, Any]) -> bool:
    return bool(_text(row.get("fingerprint")))
