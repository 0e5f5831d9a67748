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

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from qatbench.bench.statistics.verdict import Decision, Verdict

MIN_PAIRS = 3
MORE_PAIRS = "more pairs (a higher --max-pairs or --budget)"


def decide_paired(a_ms: np.ndarray, b_ms: np.ndarray, threshold: float = 0.02,
                  confidence: float = 0.95) -> Decision:
    """The verdict on pairs ``(a_ms[i], b_ms[i])`` (each one process's median)."""
    a = np.asarray(a_ms, dtype=np.float64)
    b = np.asarray(b_ms, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"{a.size} A figures but {b.size} B figures: pairs need both")
    keep = np.isfinite(a) & np.isfinite(b) & (a > 0) & (b > 0)
    ratios = np.log(b[keep] / a[keep])
    pairs = int(ratios.size)
    basis = f"paired t-interval ({confidence:.0%}) on {pairs} interleaved pair(s)"
    if pairs < MIN_PAIRS:
        return Decision(Verdict.UNKNOWN, None, None, None, threshold, basis,
                        f"{pairs} complete pair(s); at least {MIN_PAIRS} are needed",
                        resolve=MORE_PAIRS, pairs=pairs)
    centre = float(ratios.mean())
    spread = float(ratios.std(ddof=1))
    half = 0.0 if spread == 0.0 else float(
        stats.t.ppf(0.5 + confidence / 2, pairs - 1)) * spread / math.sqrt(pairs)
    change = math.exp(centre) - 1
    low, high = math.exp(centre - half) - 1, math.exp(centre + half) - 1
    limit = math.log1p(threshold)
    resolve = ""
    if centre - half > 0 and centre >= limit:
        verdict, reason = Verdict.SLOWER, "interval above 1 and estimate beyond τ"
    elif centre + half < 0 and centre <= -limit:
        verdict, reason = Verdict.FASTER, "interval below 1 and estimate beyond τ"
    elif -limit < centre - half and centre + half < limit:
        verdict, reason = Verdict.SAME, f"interval inside ±{threshold:.1%}"
    else:
        verdict, reason = Verdict.UNKNOWN, (
            f"interval {low:+.1%} … {high:+.1%} neither inside ±{threshold:.1%} nor clear "
            "of it: more pairs")
        resolve = MORE_PAIRS
    return Decision(verdict, change, low, high, threshold, basis, reason, resolve=resolve,
                    pairs=pairs)


@dataclass(frozen=True)
class PairedEvidence:
    """One series' interleaved pairs (``qatbench ab``), kept so that a check decides them
    at its own threshold (``verdict.Evidence``)."""

    a_ms: np.ndarray
    b_ms: np.ndarray
    confidence: float = 0.95

    def decide(self, threshold: float) -> Decision:
        return decide_paired(self.a_ms, self.b_ms, threshold, self.confidence)
