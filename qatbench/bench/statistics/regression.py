"""A regression output's headline: its error against the true values, with an interval.

The worker hands over each eval input's mean absolute and mean squared error (over the
output's values); MAE is the mean of the first, RMSE the square root of the mean of the
second. Their 95% intervals are bootstrap intervals over the inputs
(``scipy.stats.bootstrap``, BCa, seeded so a row's figures do not change between
reports): the inputs are the sampled unit, as for top-1's Wilson interval.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

CONFIDENCE = 0.95
RESAMPLES = 9999
SEED = 0


@dataclass(frozen=True)
class Interval:
    value: float
    low: float
    high: float


@dataclass(frozen=True)
class TruthError:
    """MAE and RMSE of one output against its true values, over ``samples`` inputs."""

    output: str
    mae: Interval
    rmse: Interval
    samples: int

    def columns(self) -> dict[str, Any]:
        return {"truth_output": self.output, "error_samples": self.samples,
                "mae": self.mae.value, "mae_ci_low": self.mae.low,
                "mae_ci_high": self.mae.high, "rmse": self.rmse.value,
                "rmse_ci_low": self.rmse.low, "rmse_ci_high": self.rmse.high}


def _root_mean(values: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.sqrt(np.mean(values, axis=axis))


def _interval(values: np.ndarray, statistic: Any) -> Interval:
    """The statistic and its bootstrap interval; a single input or identical errors
    have no spread to resample: the interval is the point."""
    value = float(statistic(values))
    if len(values) < 2 or np.ptp(values) == 0:
        return Interval(value, value, value)
    from scipy.stats import bootstrap

    with warnings.catch_warnings():  # BCa warns (and gives NaN) on degenerate resamples
        warnings.simplefilter("ignore")
        result = bootstrap((values,), statistic, confidence_level=CONFIDENCE,
                           n_resamples=RESAMPLES, method="BCa",
                           random_state=np.random.default_rng(SEED))
    low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    if not (np.isfinite(low) and np.isfinite(high)):
        result = bootstrap((values,), statistic, confidence_level=CONFIDENCE,
                           n_resamples=RESAMPLES, method="percentile",
                           random_state=np.random.default_rng(SEED))
        low, high = (float(result.confidence_interval.low),
                     float(result.confidence_interval.high))
    return Interval(value, low, high)


def truth_error(errors: dict[str, Any] | None) -> TruthError | None:
    """``errors``: the worker's ``truth_errors`` (output name, per-input ``abs`` and
    ``squared`` errors); None when the row has none."""
    if not errors or not errors.get("abs"):
        return None
    absolute = np.asarray(errors["abs"], dtype=np.float64)
    squared = np.asarray(errors["squared"], dtype=np.float64)
    return TruthError(str(errors["output"]), _interval(absolute, np.mean),
                      _interval(squared, _root_mean), len(absolute))
