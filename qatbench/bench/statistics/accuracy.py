"""How well an accuracy figure is known, and whether two of them really differ.

A top-1 (or an agreement with the float model) measured on n inputs is a binomial
proportion: on 1,000 images its 95% interval is about ±1.2 points at 96%. Two models
evaluated on the *same* inputs are compared input by input: only the inputs where
exactly one of them is right carry information, and McNemar's exact test asks whether
those split unevenly. So "QAT 96.9% vs PTQ 96.2%" becomes either "QAT better by 0.7
points, p = 0.01" or "no measurable difference" -- never a win the sample cannot resolve.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import binomtest, fisher_exact, norm

ALPHA = 0.05
NO_DIFFERENCE = "no measurable difference"


def wilson_interval(successes: int, n: int, confidence: float = 0.95
                    ) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion (good near 0 and 1, unlike
    the normal approximation, which gives 100% ± 0 for 1,000 of 1,000)."""
    if n <= 0:
        raise ValueError(f"need at least one trial, got n={n}")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be in [0, {n}], got {successes}")
    z = float(norm.ppf(0.5 + confidence / 2))
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    low = 0.0 if successes == 0 else max(0.0, centre - half)  # exact at the ends
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


def wilson_of(rate: float | None, n: int | None, confidence: float = 0.95
              ) -> tuple[float | None, float | None]:
    """The interval of a stored fraction over ``n`` inputs; (None, None) when either is
    missing. The fraction came from a whole count, so it is rounded back to one."""
    if rate is None or n is None or n <= 0 or (isinstance(rate, float) and math.isnan(rate)):
        return None, None
    return wilson_interval(round(float(rate) * n), int(n), confidence)


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """Two-sided p-value of McNemar's exact test from the discordant pairs.

    ``only_a``: inputs A got right and B wrong; ``only_b`` the reverse. Under "no
    difference" each discordant input is a fair coin: binomial(only_a + only_b, 1/2).
    No discordant input at all is no evidence of a difference: p = 1.
    """
    if only_a < 0 or only_b < 0:
        raise ValueError("discordant counts must not be negative")
    discordant = only_a + only_b
    if discordant == 0:
        return 1.0
    return float(binomtest(only_a, discordant, 0.5, alternative="two-sided").pvalue)


@dataclass(frozen=True)
class PairedComparison:
    """A against B on the same inputs: rates, the discordant pairs, McNemar's p."""

    n: int
    a_rate: float
    b_rate: float
    only_a: int  # A right, B wrong
    only_b: int  # B right, A wrong
    p_value: float
    alpha: float = ALPHA

    @property
    def difference_points(self) -> float:
        """A minus B, in percentage points."""
        return 100.0 * (self.a_rate - self.b_rate)

    @property
    def significant(self) -> bool:
        return self.p_value < self.alpha

    def verdict(self, a: str = "A", b: str = "B") -> str:
        """``"no measurable difference (…)"`` or ``"A better by 0.7 points, p = 0.012"``."""
        if not self.significant:
            return (f"{NO_DIFFERENCE} ({self.difference_points:+.1f} points, "
                    f"p = {self.p_value:.2g})")
        better, worse = (a, b) if self.difference_points > 0 else (b, a)
        return (f"{better} better than {worse} by {abs(self.difference_points):.1f} points, "
                f"p = {self.p_value:.2g}")


def paired_hits(hits_a: np.ndarray, hits_b: np.ndarray, alpha: float = ALPHA
                ) -> PairedComparison:
    """Compare two boolean "was right" vectors over the same inputs."""
    a, b = np.asarray(hits_a, dtype=bool), np.asarray(hits_b, dtype=bool)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired answers must be two vectors of one length, got {a.shape} "
                         f"and {b.shape}")
    if len(a) == 0:
        raise ValueError("no inputs to compare")
    only_a, only_b = int(np.sum(a & ~b)), int(np.sum(~a & b))
    return PairedComparison(len(a), float(a.mean()), float(b.mean()), only_a, only_b,
                            mcnemar_exact(only_a, only_b), alpha)


def paired_comparison(pred_a: np.ndarray, pred_b: np.ndarray, labels: np.ndarray,
                      alpha: float = ALPHA) -> PairedComparison:
    """Top-1 of A against top-1 of B on the same inputs (McNemar's exact test).

    ``labels`` is the truth per input: real labels for top-1, or the float model's
    predicted classes for agreement. Inputs whose label is negative (no label) are left
    out; none left is an error.
    """
    pred_a, pred_b, labels = (np.asarray(v).reshape(-1) for v in (pred_a, pred_b, labels))
    if not len(pred_a) == len(pred_b) == len(labels):
        raise ValueError(f"{len(pred_a)} and {len(pred_b)} predictions for {len(labels)} "
                         "labels: not the same inputs")
    known = labels >= 0
    return paired_hits(pred_a[known] == labels[known], pred_b[known] == labels[known], alpha)


@dataclass(frozen=True)
class DropTest:
    """Whether CURRENT's rate is lower than BASE's by more than the threshold *and* by
    more than the samples can explain."""

    drop_points: float  # base minus current, percentage points
    p_value: float
    method: str
    fails: bool
    message: str


def unpaired_p_value(base_hits: int, base_n: int, current_hits: int, current_n: int
                     ) -> float:
    """Fisher's exact test on two independent counts: for rows whose inputs differ or
    whose predictions were not kept (weaker than McNemar, never wrong)."""
    table = [[base_hits, base_n - base_hits], [current_hits, current_n - current_hits]]
    return float(fisher_exact(table, alternative="two-sided").pvalue)


POINTS_TOLERANCE = 1e-9  # 100 * (0.99 - 0.98) is 1.0000000000000009 in floating point


def exceeds(drop_points: float, threshold_points: float) -> bool:
    """A drop *beyond* the threshold (the README's word): exactly the threshold passes,
    whatever floating point makes of the subtraction that measured it."""
    return drop_points > threshold_points + POINTS_TOLERANCE


def accuracy_drop(base_rate: float, base_n: int, current_rate: float, current_n: int, *,
                  threshold_points: float, label: str = "top-1",
                  base_hits: np.ndarray | None = None,
                  current_hits: np.ndarray | None = None,
                  alpha: float = ALPHA) -> DropTest:
    """The gate's rule for an accuracy (or agreement) drop between two runs.

    Fails only when the drop exceeds ``threshold_points`` and is significant: McNemar's
    exact test when both per-input hit vectors are given (the same inputs, see
    ``Predictions.pairs_with``), else Fisher's exact test on the counts.
    """
    drop = 100.0 * (base_rate - current_rate)
    if base_hits is not None and current_hits is not None:
        comparison = paired_hits(base_hits, current_hits, alpha)  # A = base, B = current
        drop, p, method = comparison.difference_points, comparison.p_value, \
            "McNemar exact, paired"
    else:
        p = unpaired_p_value(round(base_rate * base_n), base_n,
                             round(current_rate * current_n), current_n)
        method = "Fisher exact, unpaired"
    beyond = exceeds(drop, threshold_points)
    fails = beyond and p < alpha
    if fails:
        message = f"{label} dropped {drop:.1f} points (p = {p:.2g}, {method})"
    elif beyond:
        message = (f"{label} dropped {drop:.1f} points but {NO_DIFFERENCE} on "
                   f"{base_n} inputs (p = {p:.2g}, {method})")
    else:
        message = ""
    return DropTest(drop, p, method, fails, message)
