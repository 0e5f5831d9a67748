"""The A/B verdict from paired, interleaved measurements.

A and B are timed alternately on one host in one slot, each pair adjacent in time
(``orchestration/ab.py``). Whatever moves the host between pairs -- frequency, other
tenants, thermal state -- hits both members of a pair alike, so it cancels in the
pair's log ratio ``log(B / A)``; only the difference between the files is left. The
verdict is a t-interval on the mean of those log ratios (the ratios are close to
log-normal; with 4-64 pairs the t-interval widens with few pairs as it should), read
against a threshold of practical interest ``τ``:

- SLOWER: the interval lies above 1 (B is slower, beyond noise) and the estimate is at
  least ``τ``;
- FASTER: the mirror image;
- SAME: the whole interval lies inside ``(1 - τ, 1 + τ)``: any change is smaller than τ;
- UNKNOWN: otherwise -- the sample cannot tell yet. More pairs narrow the interval
  (adaptive repeats double them while the verdict is UNKNOWN).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

import numpy as np
from scipy import stats


class PairedVerdict(enum.StrEnum):
    SAME = "same"
    SLOWER = "slower"
    FASTER = "faster"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class PairedDecision:
    verdict: PairedVerdict
    change: float | None  # B / A - 1 (geometric mean of the pair ratios)
    ci_low: float | None  # the interval of that change
    ci_high: float | None
    pairs: int
    reason: str = ""

    @property
    def decided(self) -> bool:
        return self.verdict is not PairedVerdict.UNKNOWN


MIN_PAIRS = 3


def decide_paired(a_ms: np.ndarray, b_ms: np.ndarray, threshold: float = 0.02,
                  confidence: float = 0.95) -> PairedDecision:
    """The verdict on pairs ``(a_ms[i], b_ms[i])`` (each one process's median)."""
    a = np.asarray(a_ms, dtype=np.float64)
    b = np.asarray(b_ms, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"{a.size} A figures but {b.size} B figures: pairs need both")
    keep = np.isfinite(a) & np.isfinite(b) & (a > 0) & (b > 0)
    ratios = np.log(b[keep] / a[keep])
    pairs = int(ratios.size)
    if pairs < MIN_PAIRS:
        return PairedDecision(PairedVerdict.UNKNOWN, None, None, None, pairs,
                              f"{pairs} complete pair(s); at least {MIN_PAIRS} are needed")
    centre = float(ratios.mean())
    spread = float(ratios.std(ddof=1))
    half = 0.0 if spread == 0.0 else float(
        stats.t.ppf(0.5 + confidence / 2, pairs - 1)) * spread / math.sqrt(pairs)
    change = math.exp(centre) - 1
    low, high = math.exp(centre - half) - 1, math.exp(centre + half) - 1
    limit = math.log1p(threshold)
    if centre - half > 0 and centre >= limit:
        verdict, reason = PairedVerdict.SLOWER, "interval above 1 and estimate beyond τ"
    elif centre + half < 0 and centre <= -limit:
        verdict, reason = PairedVerdict.FASTER, "interval below 1 and estimate beyond τ"
    elif -limit < centre - half and centre + half < limit:
        verdict, reason = PairedVerdict.SAME, f"interval inside ±{threshold:.1%}"
    else:
        verdict, reason = PairedVerdict.UNKNOWN, (
            f"interval {low:+.1%} … {high:+.1%} neither inside ±{threshold:.1%} nor clear "
            "of it: more pairs")
    return PairedDecision(verdict, change, low, high, pairs, reason)
