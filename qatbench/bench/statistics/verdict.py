"""The gate's one vocabulary: the verdicts and the decision record every latency statistic
returns.

Two statistics decide latency, on purpose different: ``latency.decide`` judges two runs
made at different times (cross-run: repeats and a noise floor), ``paired.decide_paired``
judges interleaved A/B pairs (``qatbench ab``, ``qatbench bisect``). Both answer in
these words and this record, so the checks (``checks.LatencyCheck``), the one exit rule
(``checks.gate_exit_code``) and the one table (``presentation/gate_report.py``) read any
of them alike. The verdict strings are what results and reports store: they never change.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class Verdict(StrEnum):
    SLOWER = "slower"
    FASTER = "faster"
    SAME = "same"
    UNKNOWN = "unknown"
    BROKEN = "broken"  # ok in BASE, not ok in CURRENT
    MISSING = "missing"  # in BASE, not in CURRENT (or its whole target unavailable)
    NEW = "new"  # only in CURRENT


@dataclass(frozen=True)
class Decision:
    """One latency verdict and what it rests on, whichever statistic reached it."""

    verdict: Verdict
    change: float | None  # relative change of the estimate: +0.10 = CURRENT 10% slower
    ci_low: float | None  # the interval of that change (None: nothing to interval)
    ci_high: float | None
    threshold: float  # the practical threshold this decision used (relative)
    basis: str  # what the decision rests on
    reason: str = ""  # why this verdict; for unknown, why and what would decide it
    resolve: str = ""  # unknown: what would decide it ("--repeats 3 on both sides", ...)
    repeats_needed: int | None = None  # unknown, cross-run: the K per side that would
    floor: float | None = None  # cross-run: the run-to-run noise floor used (relative)
    pairs: int | None = None  # paired: how many complete pairs it rests on

    @property
    def decided(self) -> bool:
        return self.verdict is not Verdict.UNKNOWN


class Evidence(Protocol):
    """What one series measured, kept so that a check can decide it at its own threshold
    (``checks.LatencyCheck``): the measurements stay, the threshold is the check's."""

    def decide(self, threshold: float) -> Decision: ...
