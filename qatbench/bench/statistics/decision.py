"""Which file to ship on one model × target × threads: every variant meets the goals,
misses them, or cannot be told yet -- and the winner among those that meet them.

A figure is judged by its interval, not its point: a variant *meets* a bound when the
whole 95% interval is on the right side of it, *misses* when the whole interval is on
the wrong side, and is *undecided* when the interval straddles it. An undecided check
names the figure and how many eval inputs (accuracy) or ``--repeats`` (latency) would
shrink the interval enough to tell, assuming the spread measured now (the half-width
falls as one over the square root of the count). Size, peak memory and SNR are single
figures with no interval here: they meet or miss exactly.

- ``max_top1_drop``: float32's top-1 minus the variant's, in points, on the same inputs.
  With the per-input predictions the interval is Tango's score interval for a paired
  difference (the inverted score test that is McNemar's at no difference). Without
  them (a row measured without keeping them), Newcombe's interval from the two rows'
  Wilson intervals (unpaired, wider).
- No accuracy bound given: the default is no *measurable* top-1 drop against float32 --
  a variant misses only when McNemar's exact test (``accuracy.paired_hits``) finds float
  better at p < 0.05 (Fisher's exact test on the counts without predictions).
- The winner is the variant meeting every goal that is best on ``prefer`` (lowest p50,
  or smallest file); variants that meet every goal and whose latency intervals overlap
  the winner's are named as ties, not ranked behind it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
from scipy import optimize, stats

from qatbench.bench.statistics.accuracy import ALPHA, paired_hits, unpaired_p_value
from qatbench.bench.statistics.goals import Goals

CONFIDENCE = 0.95
MAX_SUGGESTED_REPEATS = 100  # the CLI's own limit on --repeats
MB = 1e6


class Outcome(StrEnum):
    MEETS = "meets"
    MISSES = "misses"
    UNDECIDED = "undecided"
    NOT_MEASURED = "not measured"


@dataclass(frozen=True)
class Check:
    """One goal against one variant's figure."""

    goal: str  # the config key, or "default accuracy"
    outcome: Outcome
    figure: str  # the figure with its interval and the bound, in words
    needed: str = ""  # undecided: what would tell

    def text(self) -> str:
        return self.figure + (f"; {self.needed}" if self.needed else "")


@dataclass(frozen=True)
class Candidate:
    """What the decision reads of one results row (one variant on the group's target)."""

    variant: str
    status: str = "ok"
    latency_ms: float | None = None
    latency_low: float | None = None
    latency_high: float | None = None
    repeats: int = 1
    size_bytes: float | None = None
    peak_memory_mb: float | None = None
    top1: float | None = None
    top1_low: float | None = None
    top1_high: float | None = None
    eval_samples: int | None = None
    agreement: float | None = None
    agreement_low: float | None = None
    agreement_high: float | None = None
    snr_db: float | None = None
    hits: np.ndarray | None = field(default=None, compare=False)  # right per eval input

    @classmethod
    def of_row(cls, row: Mapping[str, object], hits: np.ndarray | None = None) -> Candidate:
        """A results row (a dict of its columns); ``hits``: its paired predictions' top-1
        right/wrong per input (``Predictions.correct``), or None."""
        repeats = _number(row.get("repeats"))
        samples = _number(row.get("eval_samples"))
        return cls(
            variant=str(row["variant"]), status=str(row.get("status") or ""),
            latency_ms=_number(row.get("latency_ms_p50")),
            latency_low=_number(row.get("latency_ms_p50_ci_low")),
            latency_high=_number(row.get("latency_ms_p50_ci_high")),
            repeats=int(repeats) if repeats else 1,
            size_bytes=_number(row.get("size_bytes")),
            peak_memory_mb=_number(row.get("peak_memory_mb")),
            top1=_number(row.get("accuracy_top1")),
            top1_low=_number(row.get("accuracy_top1_ci_low")),
            top1_high=_number(row.get("accuracy_top1_ci_high")),
            eval_samples=int(samples) if samples else None,
            agreement=_number(row.get("agreement_top1")),
            agreement_low=_number(row.get("agreement_top1_ci_low")),
            agreement_high=_number(row.get("agreement_top1_ci_high")),
            snr_db=_number(row.get("output_snr_db"), finite=False), hits=hits)

    @property
    def measured(self) -> bool:
        return self.status == "ok" and self.latency_ms is not None

    @property
    def latency_interval(self) -> tuple[float, float]:
        assert self.latency_ms is not None
        return (self.latency_low if self.latency_low is not None else self.latency_ms,
                self.latency_high if self.latency_high is not None else self.latency_ms)


def _number(value: object, finite: bool = True) -> float | None:
    if value is None or isinstance(value, str):
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if math.isnan(number) or (finite and math.isinf(number)):
        return None
    return number


@dataclass(frozen=True)
class VariantDecision:
    variant: str
    outcome: Outcome
    checks: tuple[Check, ...]
    role: str = ""  # "winner", "tie" (meets every goal, latency overlaps the winner's)
    latency: tuple[float, float, float] | None = None  # p50 and its interval, ms

    def latency_text(self) -> str:
        if self.latency is None:
            return ""
        p50, low, high = self.latency
        return f"{p50:.4g} [{low:.4g}–{high:.4g}]"

    def reasons(self, outcome: Outcome) -> list[Check]:
        return [c for c in self.checks if c.outcome == outcome]

    def text(self) -> str:
        """The results table's ``decision`` cell."""
        if self.role == "winner":
            return "ship: meets every goal, best on the preference"
        if self.role == "tie":
            return "tie with the winner: meets every goal, latency intervals overlap"
        if self.outcome == Outcome.MEETS:
            return "meets every goal, not the best"
        if self.outcome == Outcome.NOT_MEASURED:
            return "not measured"
        shown = self.reasons(self.outcome)
        return f"{self.outcome}: " + "; ".join(c.text() for c in shown)


@dataclass(frozen=True)
class GroupDecision:
    """The decision for one model × target × device × threads."""

    model: str
    target: str
    device: str
    threads: int
    goals: Goals
    variants: tuple[VariantDecision, ...]
    winner: str | None
    ties: tuple[str, ...] = ()

    def of(self, variant: str) -> VariantDecision | None:
        return next((v for v in self.variants if v.variant == variant), None)

    @property
    def met(self) -> bool:
        return self.winner is not None

    def undecided(self) -> list[VariantDecision]:
        return [v for v in self.variants if v.outcome == Outcome.UNDECIDED]

    def headline(self) -> str:
        """One sentence: what to ship, or that nothing meets the goals yet."""
        if self.winner is not None:
            ties = (f"; tied on latency (overlapping intervals, not ranked): "
                    f"{', '.join(self.ties)}" if self.ties else "")
            return f"ship {self.winner}{ties}"
        open_ = self.undecided()
        if open_:
            return ("no variant is known to meet the goals; undecided: "
                    + "; ".join(f"{v.variant} ({v.reasons(Outcome.UNDECIDED)[0].text()})"
                                for v in open_))
        return "no variant meets the goals"


# -- accuracy ---------------------------------------------------------------------------

def tango_score(only_float: int, only_variant: int, n: int, delta: float) -> float:
    """Tango's score statistic for a paired difference ``delta`` = P(float right,
    variant wrong) - P(variant right, float wrong): the restricted maximum-likelihood
    estimate of the second cell under ``delta``, then the standardised discordance. At
    ``delta = 0`` it is McNemar's z, (b - c) / sqrt(b + c)."""
    b, c = only_float, only_variant
    a_ = 2.0 * n
    b_ = -b - c + (2.0 * n - b + c) * delta
    c_ = -c * delta * (1.0 - delta)
    p01 = (math.sqrt(max(b_ * b_ - 4.0 * a_ * c_, 0.0)) - b_) / (2.0 * a_)
    variance = n * (2.0 * p01 + delta * (1.0 - delta))
    if variance <= 0:
        return 0.0 if b - c == n * delta else math.copysign(math.inf, b - c - n * delta)
    return (b - c - n * delta) / math.sqrt(variance)


def paired_drop_interval(float_hits: np.ndarray, variant_hits: np.ndarray,
                         confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """(drop, low, high) in points: float's top-1 minus the variant's on the same inputs,
    with Tango's score interval (the inverted score test whose value at no difference is
    McNemar's; it stays inside [-1, 1] and is not degenerate with few discordant inputs,
    unlike the Wald interval)."""
    comparison = paired_hits(float_hits, variant_hits)
    n, b, c = comparison.n, comparison.only_a, comparison.only_b
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    estimate = (b - c) / n

    def bound(edge: float, target: float) -> float:
        """Where the score, moving from the estimate (score 0) towards ``edge``, reaches
        ``target`` (+z below the estimate, -z above it); the edge if it never does."""
        def f(delta: float) -> float:
            return tango_score(b, c, n, delta) - target

        if f(edge) * f(estimate) > 0:
            return edge
        return float(optimize.brentq(f, estimate, edge, xtol=1e-12))

    low = bound(-1.0 + 1e-12, z)
    high = bound(1.0 - 1e-12, -z)
    return 100 * estimate, 100 * low, 100 * high


def newcombe_drop_interval(base: Candidate, other: Candidate) -> tuple[float, float, float]:
    """(drop, low, high) in points from two rows' rates and Wilson intervals (unpaired)."""
    assert base.top1 is not None and other.top1 is not None
    p1, p2 = base.top1, other.top1
    l1, u1 = base.top1_low if base.top1_low is not None else p1, \
        base.top1_high if base.top1_high is not None else p1
    l2, u2 = other.top1_low if other.top1_low is not None else p2, \
        other.top1_high if other.top1_high is not None else p2
    d = p1 - p2
    low = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return 100 * d, 100 * low, 100 * high


def count_to_tell(count: int, estimate: float, low: float, high: float, bound: float
                  ) -> int | None:
    """The count (inputs, repeats) whose interval, at the spread seen now, would no
    longer straddle ``bound``: the half-width falls as 1/sqrt(count). None when the
    estimate sits on the bound (no count can tell)."""
    gap = abs(estimate - bound)
    half = (high - estimate) if estimate < bound else (estimate - low)
    if gap <= 1e-12 or half <= 0:
        return None
    return max(count + 1, math.ceil(count * (half / gap) ** 2))


def _inputs_needed(count: int | None, estimate: float, low: float, high: float,
                   bound: float) -> str:
    if not count:
        return "more eval inputs would tell"
    needed = count_to_tell(count, estimate, low, high, bound)
    if needed is None:
        return "the estimate sits on the bound: no number of inputs can be promised to tell"
    return f"about {needed:,} eval inputs (now {count:,}) would tell"


def _straddle(goal: str, estimate: float, low: float, high: float, bound: float, *,
              upper: bool, what: str, unit: str, needed: str) -> Check:
    """meets / misses / undecided of an interval against a bound (``upper``: at most)."""
    figure = f"{what} {estimate:.3g}{unit} [{low:.3g}–{high:.3g}]"
    if (high <= bound) if upper else (low >= bound):
        return Check(goal, Outcome.MEETS, f"{figure} {'≤' if upper else '≥'} {bound:g}{unit}")
    if (low > bound) if upper else (high < bound):
        return Check(goal, Outcome.MISSES, f"{figure} {'>' if upper else '<'} {bound:g}{unit}")
    return Check(goal, Outcome.UNDECIDED, f"{figure} straddles {bound:g}{unit}", needed)


def _top1_drop(goals: Goals, reference: Candidate | None, candidate: Candidate
               ) -> Check | None:
    bound = goals.max_top1_drop
    if bound is None:
        return None
    if candidate.variant == "float32":
        return Check("max_top1_drop", Outcome.MEETS, "float32 is the reference")
    if reference is None or reference.top1 is None or candidate.top1 is None:
        return Check("max_top1_drop", Outcome.UNDECIDED,
                     "top-1 drop not measurable: no labels or no float32 row on this target",
                     "labelled eval data and a float32 row would tell")
    if reference.hits is not None and candidate.hits is not None and \
            len(reference.hits) == len(candidate.hits):
        drop, low, high = paired_drop_interval(reference.hits, candidate.hits)
        what, count = "top-1 drop (paired)", len(candidate.hits)
    else:
        drop, low, high = newcombe_drop_interval(reference, candidate)
        what, count = "top-1 drop (unpaired)", candidate.eval_samples
    return _straddle("max_top1_drop", drop, low, high, bound, upper=True, what=what,
                     unit=" pt", needed=_inputs_needed(count, drop, low, high, bound))


def _default_accuracy(reference: Candidate | None, candidate: Candidate) -> Check:
    """No accuracy bound given: no measurable top-1 drop against float32 (McNemar)."""
    goal = "default: no measurable top-1 drop"
    if candidate.variant == "float32":
        return Check(goal, Outcome.MEETS, "float32 is the reference")
    if reference is None or reference.top1 is None or candidate.top1 is None:
        why = "no float32 row" if reference is None else "no labels"
        return Check(goal, Outcome.MEETS, f"{why} on this target: the default bounds no "
                     "accuracy (set min_agreement or min_snr_db)")
    if reference.hits is not None and candidate.hits is not None and \
            len(reference.hits) == len(candidate.hits):
        test = paired_hits(reference.hits, candidate.hits)
        drop, p, how = test.difference_points, test.p_value, "McNemar exact"
    else:
        n_ref, n_cand = reference.eval_samples or 0, candidate.eval_samples or 0
        if not n_ref or not n_cand:
            return Check(goal, Outcome.UNDECIDED, "top-1 without a sample count",
                         "a run that keeps predictions would tell")
        drop = 100 * (reference.top1 - candidate.top1)
        p = unpaired_p_value(round(reference.top1 * n_ref), n_ref,
                             round(candidate.top1 * n_cand), n_cand)
        how = "Fisher exact, unpaired"
    figure = f"top-1 {drop:+.1f} pt below float32 (p = {p:.2g}, {how})"
    if drop > 0 and p < ALPHA:
        return Check(goal, Outcome.MISSES, f"measurable drop: {figure}")
    return Check(goal, Outcome.MEETS, f"no measurable drop: {figure}")


def _agreement(goals: Goals, candidate: Candidate) -> Check | None:
    bound = goals.min_agreement
    if bound is None:
        return None
    if candidate.variant == "float32":
        return Check("min_agreement", Outcome.MEETS, "float32 is the reference")
    if candidate.agreement is None:
        return Check("min_agreement", Outcome.UNDECIDED, "no agreement with float32 measured",
                     "the row's note says why (no float32 reference, or a float model that "
                     "gives one class for every input); set min_snr_db instead")
    value = candidate.agreement
    low = candidate.agreement_low if candidate.agreement_low is not None else value
    high = candidate.agreement_high if candidate.agreement_high is not None else value
    check = _straddle("min_agreement", 100 * value, 100 * low, 100 * high, 100 * bound,
                      upper=False, what="agreement", unit="%",
                      needed=_inputs_needed(candidate.eval_samples, value, low, high, bound))
    return check


def _point(goal: str, value: float | None, bound: float | None, *, upper: bool, what: str,
           unit: str, missing: str) -> Check | None:
    if bound is None:
        return None
    if value is None:
        return Check(goal, Outcome.UNDECIDED, f"no {what} measured", missing)
    ok = value <= bound if upper else value >= bound
    sign = ("≤" if ok else ">") if upper else ("≥" if ok else "<")
    return Check(goal, Outcome.MEETS if ok else Outcome.MISSES,
                 f"{what} {value:.3g}{unit} {sign} {bound:g}{unit}")


# -- latency ----------------------------------------------------------------------------

def repeats_to_tell(repeats: int, estimate: float, low: float, high: float, bound: float
                    ) -> int | None:
    """The ``--repeats`` whose t-interval on the per-process medians would no longer
    straddle ``bound`` at the spread seen now; with one process (a bootstrap interval,
    blind to run-to-run shifts) its half-width stands in for one process's spread and
    at least 3 are asked for. None: the estimate sits on the bound, or more than the CLI
    allows would be needed."""
    gap = abs(estimate - bound)
    half = (high - estimate) if estimate < bound else (estimate - low)
    if gap <= 1e-12:
        return None
    if repeats >= 2:
        spread = half * math.sqrt(repeats) / float(stats.t.ppf(0.975, repeats - 1))
    else:
        spread = half
    for k in range(max(repeats + 1, 2 if repeats >= 2 else 3), MAX_SUGGESTED_REPEATS + 1):
        if float(stats.t.ppf(0.975, k - 1)) * spread / math.sqrt(k) < gap:
            return k
    return None


def _latency(goals: Goals, candidate: Candidate) -> Check | None:
    bound = goals.max_latency_ms
    if bound is None:
        return None
    assert candidate.latency_ms is not None
    low, high = candidate.latency_interval
    estimate = candidate.latency_ms
    k = repeats_to_tell(candidate.repeats, estimate, low, high, bound)
    needed = (f"--repeats {k} (now {candidate.repeats}) would tell" if k is not None else
              "the p50 sits on the bound (or more than "
              f"{MAX_SUGGESTED_REPEATS} repeats would be needed): no repeat count can be "
              "promised to tell")
    return _straddle("max_latency_ms", estimate, low, high, bound, upper=True,
                     what="p50", unit=" ms", needed=needed)


# -- the decision -------------------------------------------------------------------------

def checks_for(goals: Goals, reference: Candidate | None, candidate: Candidate
               ) -> tuple[Check, ...]:
    """Every goal against one measured variant, in the order the goals are listed."""
    found = [
        _top1_drop(goals, reference, candidate) if goals.has_accuracy_bound
        else _default_accuracy(reference, candidate),
        _agreement(goals, candidate),
        _point("min_snr_db", candidate.snr_db, goals.min_snr_db, upper=False,
               what="worst-output SNR", unit=" dB",
               missing="the row's note says why (no float32 reference, or outputs below "
                       "one int8 step)")
        if candidate.variant != "float32" else
        (Check("min_snr_db", Outcome.MEETS, "float32 is the reference")
         if goals.min_snr_db is not None else None),
        _latency(goals, candidate),
        _point("max_size_mb", None if candidate.size_bytes is None
               else candidate.size_bytes / MB, goals.max_size_mb, upper=True,
               what="size", unit=" MB", missing="the file's size was not recorded"),
        _point("max_peak_memory_mb", candidate.peak_memory_mb, goals.max_peak_memory_mb,
               upper=True, what="peak memory", unit=" MB",
               missing="this target does not report peak memory"),
    ]
    return tuple(check for check in found if check is not None)


def _overall(checks: Sequence[Check]) -> Outcome:
    outcomes = {c.outcome for c in checks}
    if Outcome.MISSES in outcomes:
        return Outcome.MISSES
    if Outcome.UNDECIDED in outcomes:
        return Outcome.UNDECIDED
    return Outcome.MEETS


def overlaps(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


def decide_group(candidates: Sequence[Candidate], goals: Goals, *, model: str = "",
                 target: str = "", device: str = "", threads: int = 1) -> GroupDecision:
    """Every variant of one model × target × device × threads against ``goals``."""
    reference = next((c for c in candidates if c.variant == "float32" and c.status == "ok"),
                     None)
    decided: list[VariantDecision] = []
    for candidate in candidates:
        if not candidate.measured:
            decided.append(VariantDecision(candidate.variant, Outcome.NOT_MEASURED, ()))
            continue
        checks = checks_for(goals, reference, candidate)
        assert candidate.latency_ms is not None
        decided.append(VariantDecision(candidate.variant, _overall(checks), checks,
                                       latency=(candidate.latency_ms,
                                                *candidate.latency_interval)))
    by_name = {c.variant: c for c in candidates}
    meeting = [by_name[v.variant] for v in decided if v.outcome == Outcome.MEETS]
    winner, ties = _winner(meeting, goals)
    roles = {winner: "winner", **{t: "tie" for t in ties}} if winner else {}
    decided = [VariantDecision(v.variant, v.outcome, v.checks, roles.get(v.variant, ""),
                               v.latency) for v in decided]
    return GroupDecision(model, target, device, threads, goals, tuple(decided), winner,
                         tuple(ties))


def _winner(meeting: Sequence[Candidate], goals: Goals) -> tuple[str | None, list[str]]:
    if not meeting:
        return None, []
    if goals.preference == "size" and all(c.size_bytes is not None for c in meeting):
        best = min(meeting, key=lambda c: (c.size_bytes, c.latency_ms))
        ties = [c.variant for c in meeting
                if c is not best and c.size_bytes == best.size_bytes
                and overlaps(c.latency_interval, best.latency_interval)]
        return best.variant, ties
    best = min(meeting, key=lambda c: c.latency_ms)  # type: ignore[arg-type, return-value]
    ties = [c.variant for c in meeting
            if c is not best and overlaps(c.latency_interval, best.latency_interval)]
    return best.variant, ties
