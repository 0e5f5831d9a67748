"""The regression checks: each one small object with its threshold and its message.

As pytest-benchmark's ``RegressionCheck.fails()``: a check looks at one matched pair
(BASE row, CURRENT row, and the verdict the gate reached for it) and returns the message
that fails the gate, or None. The gate's table column ``gate`` and its exit code come
from one list of checks (``default_checks``), so what fails and what is printed cannot
disagree.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import pandas as pd

from qatbench.bench.statistics.accuracy import accuracy_drop, exceeds
from qatbench.bench.statistics.latency import LatencyDecision, Verdict
from qatbench.bench.storage.predictions import Predictions

MAX_ERROR_CHARS = 160


def first_line(error: Any, limit: int = MAX_ERROR_CHARS) -> str:
    """The first non-empty line of an error text, truncated: what a table cell can hold."""
    if error is None or (not isinstance(error, str) and pd.isna(error)):
        return ""
    line = next((ln.strip() for ln in str(error).splitlines() if ln.strip()), "")
    return line if len(line) <= limit else line[:limit - 1] + "…"


@dataclass(frozen=True)
class Pair:
    """One series as the gate sees it: BASE's row, CURRENT's row, and the verdict."""

    series: tuple[str, str, str, str, int]
    base: Mapping[str, Any] | None
    current: Mapping[str, Any] | None
    verdict: Verdict
    latency: LatencyDecision | None = None
    reason: str = ""
    notes: tuple[str, ...] = field(default=())
    # per-input answers of each side, when the runs kept them: accuracy is then judged on
    # the paired inputs (McNemar), not on two percentages
    base_predictions: Predictions | None = None
    current_predictions: Predictions | None = None

    @property
    def variant(self) -> str:
        return self.series[1]


class Check(Protocol):
    """One rule of the gate: ``fails`` returns the failure message, or None."""

    name: str

    def fails(self, pair: Pair) -> str | None: ...


@dataclass(frozen=True)
class LatencyCheck:
    """Slower beyond the threshold and the noise floor (``latency.decide``); with
    ``fail_on_unknown``, also a timed row the gate could not decide."""

    threshold: float
    metric: str = "p50"
    fail_on_unknown: bool = False
    name: str = "latency"

    def fails(self, pair: Pair) -> str | None:
        decision = pair.latency
        if decision is None:
            return None
        if pair.verdict is Verdict.SLOWER:
            interval = (f", interval {decision.ci_low:+.1%} to {decision.ci_high:+.1%}"
                        if decision.ci_low is not None else "")
            return f"{self.metric} {decision.change:+.1%}{interval}"
        if pair.verdict is Verdict.UNKNOWN and self.fail_on_unknown:
            return f"{self.metric} undecided (--fail-on-unknown): {decision.reason}"
        return None


# Quantized variants without "int8" in their name, gated as int8: the LiteRT Quantizer's
# int4_weights and fp16, and qat_selective (QAT on the chosen layers, int8 there) -- it
# was passed over by every check, so a broken selective model passed the gate
_QUANTIZED_TOO = ("int4_weights", "fp16", "qat_selective")


def is_quantized(variant: str) -> bool:
    """A variant the gate judges against its float model (what a pipeline ships)."""
    return "int8" in variant or variant in _QUANTIZED_TOO


def _int8(pair: Pair) -> bool:
    # The int8 variants are what a QAT pipeline ships; float32 is the reference.
    return is_quantized(pair.variant)


def _number(row: Mapping[str, Any] | None, column: str) -> float | None:
    if row is None:
        return None
    value = row.get(column)
    return None if value is None or pd.isna(value) else float(value)


@dataclass(frozen=True)
class SizeCheck:
    """An int8 model file that grew by more than the threshold."""

    threshold: float
    name: str = "size"

    def fails(self, pair: Pair) -> str | None:
        before, after = _number(pair.base, "size_bytes"), _number(pair.current, "size_bytes")
        if not _int8(pair) or before is None or after is None or before <= 0:
            return None
        if after > before * (1 + self.threshold):
            return f"size grew {after / before - 1:+.1%}"
        return None


@dataclass(frozen=True)
class AccuracyCheck:
    """An int8 model that lost more than ``drop_points`` of top-1, or of top-1 agreement
    with its float model (``agreement_top1``), *and* whose loss the sample resolves:
    McNemar's exact test on the paired inputs when both runs kept their predictions,
    Fisher's exact test on the counts otherwise (``statistics.accuracy.accuracy_drop``).
    A row without ``eval_samples`` (an old run) keeps the threshold-only rule."""

    drop_points: float
    columns: tuple[tuple[str, str], ...] = (("accuracy_top1", "top-1"),
                                            ("agreement_top1", "top-1 agreement"))
    name: str = "accuracy"

    def fails(self, pair: Pair) -> str | None:
        if not _int8(pair):
            return None
        messages = []
        for column, label in self.columns:
            before, after = _number(pair.base, column), _number(pair.current, column)
            if before is None or after is None:
                continue
            base_n, current_n = (_number(pair.base, "eval_samples"),
                                 _number(pair.current, "eval_samples"))
            if base_n is None or current_n is None:
                drop = 100 * (before - after)
                if exceeds(drop, self.drop_points):
                    messages.append(f"{label} dropped {drop:.1f} points")
                continue
            basis = "top1" if column == "accuracy_top1" else "agreement"
            b, c = pair.base_predictions, pair.current_predictions
            paired = b is not None and c is not None and b.pairs_with(c)
            test = accuracy_drop(before, int(base_n), after, int(current_n),
                                 threshold_points=self.drop_points, label=label,
                                 base_hits=b.hits(basis) if paired and b else None,
                                 current_hits=c.hits(basis) if paired and c else None)
            if test.fails:
                messages.append(test.message)
        return "; ".join(messages) or None


@dataclass(frozen=True)
class OutputFidelityCheck:
    """An int8 model whose outputs strayed further from its float model: the worst
    output's SNR against float fell by more than ``snr_drop_db``. For outputs that are not
    a class vector (regression, boxes, embeddings, several heads) this is the accuracy
    gate, since top-1 and agreement do not apply. The figure is deterministic for a file
    and its eval inputs (no timing noise), so a drop is the model's, not the host's."""

    snr_drop_db: float = 3.0
    name: str = "fidelity"

    def fails(self, pair: Pair) -> str | None:
        if not _int8(pair) or _number(pair.current, "output_cosine") is None:
            return None  # a zoo classifier: AccuracyCheck judges it
        before = _number(pair.base, "output_snr_db")
        after = _number(pair.current, "output_snr_db")
        if before is None or after is None or not math.isfinite(before):
            return None
        if after < before - self.snr_drop_db:
            return (f"output SNR vs float fell {before - after:.1f} dB ({before:.1f} -> "
                    f"{after:.1f} dB; worst output)")
        return None


@dataclass(frozen=True)
class BrokenCheck:
    """A row that produced a result in BASE and less in CURRENT (ok → failed, ...)."""

    allowed: bool = False
    name: str = "broken"

    def fails(self, pair: Pair) -> str | None:
        if pair.verdict is not Verdict.BROKEN or self.allowed:
            return None
        return f"broken: {pair.reason}"


@dataclass(frozen=True)
class MissingCheck:
    """A row of BASE that CURRENT does not have (or whose whole target was unavailable)."""

    allowed: bool = False
    name: str = "missing"

    def fails(self, pair: Pair) -> str | None:
        if pair.verdict is not Verdict.MISSING or self.allowed:
            return None
        return f"missing: {pair.reason}"


def run_checks(pair: Pair, checks: list[Check]) -> list[str]:
    """Every failure message of every check, in the order of the list."""
    return [message for check in checks if (message := check.fails(pair))]
