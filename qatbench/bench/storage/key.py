"""The row key: what makes two results rows the same measurement (see ARCHITECTURE.md).

One definition used by the runner, the store, the gate and the history. ``SERIES`` is
what a lab means by "the same benchmark" across runs (model, variant, target, device,
threads); the ``fingerprint`` adds *where and with what* it was measured (CPU, runtime
and delegate versions, phone build, ...). Two runs are compared series by series, and
only where the fingerprints agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import astuple, dataclass, fields
from typing import Any

import pandas as pd

SERIES_COLUMNS: list[str] = ["model", "variant", "target", "device", "threads"]
KEY_COLUMNS: list[str] = [*SERIES_COLUMNS, "fingerprint"]


def _text(value: Any) -> str:
    return "" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)


@dataclass(frozen=True, order=True)
class RowKey:
    """(model, variant, target, device, threads, fingerprint) of one results row."""

    model: str
    variant: str
    target: str
    device: str
    threads: int
    fingerprint: str = ""

    @classmethod
    def of(cls, row: Mapping[str, Any] | pd.Series) -> RowKey:
        threads = row.get("threads")
        return cls(
            model=_text(row.get("model")), variant=_text(row.get("variant")),
            target=_text(row.get("target")), device=_text(row.get("device")),
            threads=0 if threads is None or pd.isna(threads) else int(threads),
            fingerprint=_text(row.get("fingerprint")),
        )

    @property
    def series(self) -> tuple[str, str, str, str, int]:
        """The key without the fingerprint: the same benchmark in another run."""
        return (self.model, self.variant, self.target, self.device, self.threads)

    @property
    def job(self) -> tuple[str, str, str, int]:
        """(model, variant, target, threads): what the runner plans, before it knows the
        device (a job learns its device only by running)."""
        return (self.model, self.variant, self.target, self.threads)

    def label(self) -> str:
        return f"{self.model}/{self.variant} on {self.target}" + (
            f" [{self.device}]" if self.device else "") + f" x{self.threads}"

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def as_tuple(self) -> tuple[Any, ...]:
        return astuple(self)


def keys_of(frame: pd.DataFrame) -> list[RowKey]:
    """The key of every row of a results (or samples) frame, in order."""
    return [RowKey.of(row) for row in frame.to_dict("records")]
