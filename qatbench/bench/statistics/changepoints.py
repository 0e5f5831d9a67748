"""Which run made it slower: change points in one series of run latencies.

The detector is ``ruptures``' PELT (exact segmentation, l2 cost) on the logarithm of
each run's level, so a step is a ratio whatever the model's scale. What counts as a step:

- the new level persists: every segment holds at least ``min_runs`` runs (default 2),
  and a single-run spike whose neighbours agree with each other is set to their level
  before detection, so one outlier run is never a step (nor two opposite steps);
- it is large enough to matter: at least ``min_step`` (relative, default 5%) between
  the medians of the segments either side;
- it is beyond the run-to-run noise of this series: PELT's penalty is a BIC penalty
  scaled by the series' own noise, estimated robustly from successive differences.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import ruptures

MIN_RUNS = 2
MIN_STEP = 0.025  # half the gate threshold: a 5% step measured with noise still passes
SPIKE_SIGMAS = 4.0
MIN_NOISE = 0.002  # log units: a perfectly flat synthetic series still has a scale


@dataclass(frozen=True)
class Step:
    index: int  # first run (position in the series) at the new level
    before: float  # level (ms) of the segment before
    after: float  # level (ms) of the segment from ``index`` on

    @property
    def change(self) -> float:
        return self.after / self.before - 1


def noise_scale(logs: np.ndarray) -> float:
    """Run-to-run standard deviation of the log levels, robust to steps and spikes
    (median absolute successive difference / (0.6745 √2))."""
    if logs.size < 3:
        return MIN_NOISE
    diffs = np.diff(logs)
    return max(float(np.median(np.abs(diffs - np.median(diffs)))) / (0.6745 * math.sqrt(2)),
               MIN_NOISE)


def _without_spikes(logs: np.ndarray, sigma: float) -> np.ndarray:
    """Set a lone run that leaves and returns (its neighbours agree) to their level."""
    out = logs.copy()
    n = logs.size
    for i in range(n):
        if 0 < i < n - 1:
            left, right = logs[i - 1], logs[i + 1]
        elif i == 0 and n >= 3:
            left, right = logs[1], logs[2]
        elif i == n - 1 and n >= 3:
            left, right = logs[n - 2], logs[n - 3]
        else:
            continue
        reference = (left + right) / 2
        deviation = abs(logs[i] - reference)
        if deviation > SPIKE_SIGMAS * sigma and abs(left - right) < deviation / 2:
            out[i] = reference
    return out


def find_steps(levels: np.ndarray, *, min_runs: int = MIN_RUNS,
               min_step: float = MIN_STEP) -> list[Step]:
    """The steps of one series of run levels (ms, oldest first)."""
    values = np.asarray(levels, dtype=float)
    if values.size < 2 * min_runs or not np.all(np.isfinite(values) & (values > 0)):
        return []
    logs = np.log(values)
    sigma = noise_scale(logs)
    cleaned = _without_spikes(logs, sigma)
    penalty = 2 * sigma**2 * math.log(values.size) * 2
    breaks = ruptures.Pelt(model="l2", min_size=min_runs, jump=1).fit(
        cleaned.reshape(-1, 1)).predict(pen=penalty)[:-1]
    bounds = _placed([0, *breaks, values.size], cleaned, min_runs)
    return _large_enough(bounds, cleaned, min_step)


def _placed(bounds: list[int], logs: np.ndarray, min_runs: int) -> list[int]:
    """Each break moved to where it fits best between its neighbours, then every level
    held by fewer than ``min_runs`` runs merged into its nearer neighbour.

    PELT's ``min_size`` only lets it cut where both sides hold ``min_runs`` runs. Where
    the data has fewer (two runs at a new level at the end of the series, a two-run
    excursion) its best allowed cut is off by the runs missing, and the step would be
    blamed on a run still at the old level. So the cut is placed by least squares (the
    same l2 cost) without that constraint; a level it then finds too short is not a level
    yet, and its break goes."""
    placed = list(bounds)
    sums = np.concatenate([[0.0], np.cumsum(logs)])
    squares = np.concatenate([[0.0], np.cumsum(logs**2)])

    def cost(a: int, b: int) -> float:
        return float(squares[b] - squares[a] - (sums[b] - sums[a]) ** 2 / (b - a))

    for i in range(1, len(placed) - 1):
        a, c = placed[i - 1], placed[i + 1]
        placed[i] = min(range(a + 1, c), key=lambda b: cost(a, b) + cost(b, c))
    while len(placed) > 2:
        lengths = [b - a for a, b in itertools.pairwise(placed)]
        short = min(range(len(lengths)), key=lengths.__getitem__)
        if lengths[short] >= min_runs:
            break
        if short == 0 or short == len(lengths) - 1:
            del placed[1 if short == 0 else -2]
            continue
        level = float(np.mean(logs[placed[short]:placed[short + 1]]))
        left = float(np.mean(logs[placed[short - 1]:placed[short]]))
        right = float(np.mean(logs[placed[short + 1]:placed[short + 2]]))
        del placed[short if abs(level - left) <= abs(level - right) else short + 1]
    return placed


def _large_enough(bounds: list[int], logs: np.ndarray, min_step: float) -> list[Step]:
    """Drop breakpoints whose step is below ``min_step``, merging their segments."""
    threshold = math.log1p(min_step)
    while True:
        levels = [float(np.median(logs[a:b])) for a, b in itertools.pairwise(bounds)]
        gaps = [abs(after - before) for before, after in itertools.pairwise(levels)]
        if not gaps or min(gaps) >= threshold:
            break
        del bounds[1 + int(np.argmin(gaps))]
    return [Step(index=bounds[i + 1], before=math.exp(levels[i]), after=math.exp(levels[i + 1]))
            for i in range(len(levels) - 1)]
