"""The regression checks: each one small object with its threshold and its message, and
the one rule that turns their failures into every gate command's exit code.

As pytest-benchmark's ``RegressionCheck.fails()``: a check looks at one matched pair
(BASE row, CURRENT row, and what was measured for it) and returns the message that fails
the gate, or None. A check owns its threshold and decides by it: ``LatencyCheck``
re-decides the pair's measurements (``Pair.evidence``) at its own threshold, whatever
threshold the table's verdict was reached at. ``compare``, ``ab`` and ``bisect`` all
turn their pairs into rows with ``gate_frame`` (column ``gate``: the failures of the
command's list of checks) and their exit code with ``gate_exit_code``, so what fails,
what is printed and the exit code cannot disagree, and cannot differ between commands.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import pandas as pd

from qatbench.bench.statistics.accuracy import accuracy_drop, exceeds
from qatbench.bench.statistics.verdict import Decision, Evidence, Verdict
from qatbench.bench.storage.key import SERIES_COLUMNS
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
    """One series as the gate sees it: BASE's row, CURRENT's row, the verdict shown, and
    the measurements a check decides from (``evidence``; None: not timed on both sides)."""

    series: tuple[str, str, str, str, int]
    base: Mapping[str, Any] | None
    current: Mapping[str, Any] | None
    verdict: Verdict
    latency: Decision | None = None  # the decision behind ``verdict`` (the table's)
    reason: str = ""
    notes: tuple[str, ...] = field(default=())
    # per-input answers of each side, when the runs kept them: accuracy is then judged on
    # the paired inputs (McNemar), not on two percentages
    base_predictions: Predictions | None = None
    current_predictions: Predictions | None = None
    evidence: Evidence | None = None
    # what the command measured beside the verdict, as columns of its row (figures,
    # statuses for ``compare``; pairs, seconds, instructions for ``ab``)
    columns: Mapping[str, Any] = field(default_factory=dict)

    @property
    def variant(self) -> str:
        return self.series[1]


class Check(Protocol):
    """One rule of the gate: ``fails`` returns the failure message, or None."""

    name: str

    def fails(self, pair: Pair) -> str | None: ...


@dataclass(frozen=True)
class LatencyCheck:
    """Slower beyond its threshold and the noise (the pair's statistic, decided at
    ``threshold``); with ``fail_on_unknown``, also a timed row it could not decide."""

    threshold: float
    metric: str = "p50"
    fail_on_unknown: bool = False
    name: str = "latency"

    def decide(self, pair: Pair) -> Decision | None:
        """The pair's latency decision at this check's threshold (None: not timed)."""
        return None if pair.evidence is None else pair.evidence.decide(self.threshold)

    def fails(self, pair: Pair) -> str | None:
        decision = self.decide(pair)
        if decision is None:
            return None
        if decision.verdict is Verdict.SLOWER:
            interval = (f", interval {decision.ci_low:+.1%} to {decision.ci_high:+.1%}"
                        if decision.ci_low is not None else "")
            return f"{self.metric} {decision.change:+.1%}{interval}"
        if decision.verdict is Verdict.UNKNOWN and self.fail_on_unknown:
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


def gate_frame(pairs: Iterable[Pair], checks: Sequence[Check]) -> pd.DataFrame:
    """The gate's rows, one per pair: the series, the latency decision, the verdict, the
    failures of ``checks`` (column ``gate``; empty = passes) and the command's own
    columns (``Pair.columns``). Every gate command's table and exit code come from it."""
    lines = []
    for pair in pairs:
        decision = pair.latency
        lines.append({
            **dict(zip(SERIES_COLUMNS, pair.series, strict=True)),
            **pair.columns,
            "change": decision.change if decision else None,
            "ci_low": decision.ci_low if decision else None,
            "ci_high": decision.ci_high if decision else None,
            "floor": decision.floor if decision else None,
            "threshold": decision.threshold if decision else None,
            "verdict": str(pair.verdict),
            "gate": "; ".join(run_checks(pair, list(checks))),
            "reason": pair.reason,
            "repeats_needed": decision.repeats_needed if decision else None,
        })
    return pd.DataFrame(lines)


def gate_exit_code(rows: pd.DataFrame) -> int:
    """The one exit rule of every gate command (``compare``, ``ab``, and ``bisect``'s
    probes): 1 if any check failed for any row, else 0."""
    if rows.empty or "gate" not in rows:
        return 0
    return int((rows["gate"].fillna("") != "").any())
