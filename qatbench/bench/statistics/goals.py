"""What a user asks of the file they ship: ``[goals]`` of a run config, and per model
``[models.NAME.goals]``.

Each bound is in one unit, named in the key, and a value in another unit is refused
with the key and the unit it takes (``max_latency_ms = "5 s"`` is exit 2, not 5 ms).
Accuracy bounds are against the float32 model on the same inputs and target:
``max_top1_drop`` in percentage points (1 = one point below float's top-1, judged on
the paired per-input predictions), ``min_agreement`` a fraction of inputs on which the
model picks float's class (0.99), ``min_snr_db`` the worst output's SNR in dB.

With no accuracy bound the default applies: no measurable top-1 drop against float32
(McNemar's exact test on the paired predictions); with no ``prefer``, latency.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Preference = Literal["latency", "size"]
# each goal's unit, for the error a value in another unit gets
UNITS: dict[str, str] = {
    "max_top1_drop": "percentage points below float32's top-1 (1 = one point)",
    "min_agreement": "a fraction of the eval inputs (0.99 = 99%)",
    "min_snr_db": "dB of the worst output's SNR against float32",
    "max_latency_ms": "milliseconds of p50 latency",
    "max_size_mb": "megabytes of file size (1 MB = 10^6 bytes)",
    "max_peak_memory_mb": "megabytes of peak memory",
}
ACCURACY_GOALS = ("max_top1_drop", "min_agreement", "min_snr_db")
DEFAULT_PREFER: Preference = "latency"


class Goals(BaseModel):
    """The bounds a variant must meet to be shipped, and what decides between those
    that meet them. Every field is optional; ``None`` is "no bound"."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_top1_drop: float | None = Field(None, ge=0)
    min_agreement: float | None = Field(None, ge=0, le=1)
    min_snr_db: float | None = None
    max_latency_ms: float | None = Field(None, gt=0)
    max_size_mb: float | None = Field(None, gt=0)
    max_peak_memory_mb: float | None = Field(None, gt=0)
    prefer: Preference | None = None

    @field_validator(*UNITS, mode="before")
    @classmethod
    def _a_number_in_the_key_unit(cls, value: Any, info: Any) -> Any:
        """A bare number; text ("5 ms", "1%") names the unit the key takes."""
        if isinstance(value, bool | str):
            raise ValueError(f"give a number in {UNITS[info.field_name]}, e.g. "
                             f"{info.field_name} = {EXAMPLES[info.field_name]} "
                             f"(got {value!r})")
        if info.field_name == "min_agreement" and isinstance(value, int | float) \
                and 1 < value <= 100:
            raise ValueError(f"min_agreement is a fraction (0.99 = 99%), not a percentage: "
                             f"write min_agreement = {value / 100:g} (got {value!r})")
        return value

    @property
    def has_accuracy_bound(self) -> bool:
        return any(getattr(self, name) is not None for name in ACCURACY_GOALS)

    @property
    def preference(self) -> Preference:
        return self.prefer or DEFAULT_PREFER

    def merged(self, override: Goals | None) -> Goals:
        """These goals with a model's own ``[models.NAME.goals]`` on top."""
        if override is None:
            return self
        return Goals.model_validate({**self.model_dump(exclude_none=True),
                                     **override.model_dump(exclude_none=True)})

    def describe(self) -> str:
        """The goals in one line, the defaults said as defaults."""
        parts = [f"{name} = {getattr(self, name):g}" for name in UNITS
                 if getattr(self, name) is not None]
        if not self.has_accuracy_bound:
            parts.append("no measurable top-1 drop against float32 (McNemar, the default)")
        parts.append(f"prefer = {self.preference}" + ("" if self.prefer else
                                                      " (the default)"))
        return "; ".join(parts)


EXAMPLES = {"max_top1_drop": "1", "min_agreement": "0.99", "min_snr_db": "30",
            "max_latency_ms": "5", "max_size_mb": "4", "max_peak_memory_mb": "64"}
