"""Is CURRENT's latency different from BASE's, judged on independent repeats?

The estimate is the change of the geometric mean of the repeat figures (``units``),
``d = mean(log current) - mean(log base)``: run-level effects scale latency, so they
add on logs. Two bands around zero decide, both in log space:

- ``inner = max(threshold, floor)``: a change inside it is ``same`` — below what the
  user cares about, or below what identical code does between runs on this host;
- ``outer = max(threshold, 2 × floor)``: a change beyond it is far beyond the noise.

With one run on a side (K = 1: the default, and every old result) nothing inside the
run can tell a run-level shift from a real change, so: inside ``inner`` → ``same``,
beyond ``outer`` → ``slower``/``faster``, the band between → ``unknown``. A decided
verdict at K = 1 also needs the floor to be this host's own cross-run noise
(``host_noise``: a floor file measured here, or the series' history on this host): a
floor measured elsewhere let one run on a shared host fail the gate on identical code,
and call 17 of 126 A/A pairs ``faster`` under load (issue 33), so without it the change
is ``unknown`` either way, naming ``--repeats K`` or ``qatbench ab``.

With K ≥ 2 repeats on both sides the repeats measure the spread: a Welch t-interval on
the log repeat figures (level 1 - alpha) must exclude 0 *and* the estimate must pass
``inner`` for ``slower``/``faster``; ``same`` needs the estimate inside ``inner`` and
an interval half-width no wider than ``inner``. Repeats that disagree more than that are
``unknown``, naming the K that would resolve it at the measured spread. A change beyond
``outer`` is decided as with one run unless the repeats spread wider than ``outer``
without excluding 0 (the row is noisier than the floor claims) -- except when every
repeat of one side lies beyond every repeat of the other and the change of the medians
is beyond ``outer``: one disturbed repeat (interference only ever slows a run down)
must not turn a clear 10% regression into ``unknown``.

Never the within-run samples as if independent: a Mann–Whitney U on thousands of
back-to-back samples called identical code slower at p = 3e-64 (issue 10).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from scipy import stats

from qatbench.bench.statistics.series_noise import MIN_HISTORY_RUNS
from qatbench.bench.statistics.verdict import Decision, Verdict

MAX_SUGGESTED_REPEATS = 64


def _rel(log_change: float) -> float:
    return math.expm1(log_change)


def _t(alpha: float, df: float) -> float:
    return float(stats.t.ppf(1 - alpha / 2, df))


def repeats_to_resolve(log_spread: float, target: float, alpha: float) -> int | None:
    """Smallest K per side whose t-interval half-width on the log difference is ≤ target."""
    if log_spread <= 0 or target <= 0:
        return 2
    for k in range(2, MAX_SUGGESTED_REPEATS + 1):
        if _t(alpha, 2 * k - 2) * log_spread * math.sqrt(2 / k) <= target:
            return k
    return None


def _spread_from_floor(floor_log: float) -> float:
    """One run's log spread implied by a floor read as the ~99% bound of two runs' gap."""
    return floor_log / (float(stats.norm.ppf(0.995)) * math.sqrt(2))


def _resolve_text(k: int | None) -> str:
    """What would decide an unknown row, as the reason and the record's ``resolve`` say it."""
    return (f"--repeats {k} on both sides" if k is not None
            else f"more than {MAX_SUGGESTED_REPEATS} repeats")


def _needed_text(k: int | None) -> str:
    return (f"{_resolve_text(k)} would resolve it" if k is not None
            else f"more than {MAX_SUGGESTED_REPEATS} repeats would be needed: this row is "
                 "too noisy to gate here")


def _separated(base: np.ndarray, current: np.ndarray) -> bool:
    """Whether every repeat of one side lies beyond every repeat of the other (with 3 and
    3 repeats, 1 chance in 10 under no change -- hence only together with a change beyond
    twice the noise floor)."""
    return bool(current.min() > base.max() or current.max() < base.min())


def decide(base: np.ndarray, current: np.ndarray, *, threshold: float, floor: float,
           alpha: float, host_noise: bool = True) -> Decision:
    """The latency verdict from each side's units (ms, one per independent repeat).

    ``host_noise``: whether ``floor`` is this host's own cross-run noise (a floor file
    measured here, or the series' history on this host). Without it one run per side
    decides neither ``slower`` nor ``faster``: the change is ``unknown``, naming what
    would decide it."""
    base, current = np.log(np.asarray(base, float)), np.log(np.asarray(current, float))
    if base.size == 0 or current.size == 0:
        return Decision(Verdict.UNKNOWN, None, None, None, threshold, "no latency",
                        "a side has no latency figure", floor=floor)
    d = float(current.mean() - base.mean())
    inner = max(math.log1p(threshold), math.log1p(floor))
    outer = max(math.log1p(threshold), 2 * math.log1p(floor))
    if base.size >= 2 and current.size >= 2:
        return _decide_repeats(base, current, d, inner, outer, floor, threshold, alpha)
    basis = (f"one run vs noise floor {floor:.1%} (K={base.size}/{current.size}; same within "
             f"±{_rel(inner):.1%}, decided beyond ±{_rel(outer):.1%})")
    one_run = {"change": _rel(d), "ci_low": None, "ci_high": None, "threshold": threshold,
               "basis": basis, "floor": floor}
    if abs(d) <= inner:
        return Decision(Verdict.SAME, **one_run)
    if abs(d) > outer and host_noise:
        return Decision(Verdict.SLOWER if d > 0 else Verdict.FASTER, **one_run)
    if abs(d) > outer:
        needed = max(3, repeats_to_resolve(_spread_from_floor(math.log1p(floor)), inner,
                                           alpha) or MAX_SUGGESTED_REPEATS)
        reason = (f"{_rel(d):+.1%} from one run per side, beyond the floor {floor:.1%} "
                  "that was not measured on this host (no noise-floor file from here, and "
                  f"fewer than {MIN_HISTORY_RUNS} earlier runs of this series on this "
                  "host under the results root): one run cannot tell this host's run-to-run "
                  f"noise from a change; --repeats {needed} on both sides, or `qatbench ab "
                  "BASE_FILE CURRENT_FILE` (interleaved pairs), would decide it")
        return Decision(Verdict.UNKNOWN, **one_run, reason=reason,
                        resolve=f"{_resolve_text(needed)}, or `qatbench ab BASE_FILE "
                                "CURRENT_FILE`",
                        repeats_needed=needed)
    measured = [side for side in (base, current) if side.size >= 2]
    spread = (float(np.std(measured[0], ddof=1)) if measured
              else _spread_from_floor(math.log1p(floor)))
    needed = repeats_to_resolve(spread, min(abs(d), inner), alpha)
    reason = (f"{_rel(d):+.1%} is between the noise floor (±{_rel(inner):.1%}) and twice it "
              f"(±{_rel(outer):.1%}); {_needed_text(needed)}")
    return Decision(Verdict.UNKNOWN, **one_run, reason=reason, resolve=_resolve_text(needed),
                    repeats_needed=needed)


def _decide_repeats(base: np.ndarray, current: np.ndarray, d: float, inner: float,
                    outer: float, floor: float, threshold: float, alpha: float) -> Decision:
    k = min(base.size, current.size)
    spread_base, spread_current = float(np.std(base, ddof=1)), float(np.std(current, ddof=1))
    if spread_base == 0 and spread_current == 0:
        low = high = d
    else:
        test = stats.ttest_ind(current, base, equal_var=False)
        interval = test.confidence_interval(confidence_level=1 - alpha)
        low, high = float(interval.low), float(interval.high)
    half = (high - low) / 2
    basis = (f"Welch t-interval ({1 - alpha:.0%}) on log repeat medians, K={base.size}/"
             f"{current.size}; floor {floor:.1%}")
    common = {"change": _rel(d), "ci_low": _rel(low), "ci_high": _rel(high),
              "threshold": threshold, "basis": basis, "floor": floor}
    resolved = low > 0 or high < 0  # the repeats exclude "no change"
    if abs(d) > inner and ((resolved and half <= inner)
                           or (abs(d) > outer and (resolved or half <= outer))):
        return Decision(Verdict.SLOWER if d > 0 else Verdict.FASTER, **common)
    if abs(d) <= inner and half <= inner:
        return Decision(Verdict.SAME, **common)
    separated = _separated(base, current)
    robust = float(np.median(current) - np.median(base))
    if separated and abs(robust) > outer:
        # one disturbed repeat widens the t-interval, yet every repeat of one side is
        # beyond every repeat of the other, by more than twice the noise floor: decided
        robust_common = {**common, "change": _rel(robust),
                         "basis": f"every repeat of CURRENT {'above' if robust > 0 else 'below'}"
                                  f" every repeat of BASE (K={base.size}/{current.size}), "
                                  f"median change beyond ±{_rel(outer):.1%}; floor {floor:.1%}"}
        return Decision(Verdict.SLOWER if robust > 0 else Verdict.FASTER, **robust_common)
    spread = math.sqrt((spread_base**2 + spread_current**2) / 2)
    # either way the interval must shrink to the inner band: inside it to call the change
    # `same`, or clear of zero by at most that half-width to call it a change
    needed = repeats_to_resolve(spread, inner, alpha)
    if needed is not None and needed <= k:
        needed = k + 1
    reason = (f"repeats disagree: change {_rel(d):+.1%}, interval {_rel(low):+.1%} to "
              f"{_rel(high):+.1%} at K={k}, wider than ±{_rel(inner):.1%} can resolve; "
              f"{_needed_text(needed)}")
    return Decision(Verdict.UNKNOWN, **common, reason=reason, resolve=_resolve_text(needed),
                    repeats_needed=needed)


@dataclass(frozen=True)
class RepeatEvidence:
    """Two runs' repeat units for one series (``compare``), kept so that a check decides
    them at its own threshold (``verdict.Evidence``). ``context`` is appended to the
    decision's basis (where the units and this host's noise come from)."""

    base: np.ndarray
    current: np.ndarray
    floor: float
    alpha: float
    host_noise: bool
    context: str = ""

    def decide(self, threshold: float) -> Decision:
        decision = decide(self.base, self.current, threshold=threshold, floor=self.floor,
                          alpha=self.alpha, host_noise=self.host_noise)
        if not self.context:
            return decision
        return replace(decision, basis=f"{decision.basis}; {self.context}")
