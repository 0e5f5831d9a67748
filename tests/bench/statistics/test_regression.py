"""A regression output's headline figures: MAE and RMSE against the truth, each with the
95% bootstrap interval the README promises (scipy's BCa, 9,999 resamples, seed 0, the
inputs as the unit). Expectations are worked by hand or are scipy's own bootstrap."""

from __future__ import annotations

import math
import warnings
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from scipy import stats

from qatbench.bench.statistics.regression import truth_error

ABS = [0.5, 1.0, 1.5, 4.0, 0.25, 2.0, 3.0, 0.75]
SQUARED = [0.25, 1.0, 2.25, 16.0, 0.0625, 4.0, 9.0, 0.5625]


def _scipy_interval(values: list[float], statistic: Any, method: str = "BCa"
                    ) -> tuple[float, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = stats.bootstrap((np.asarray(values),), statistic, confidence_level=0.95,
                                 n_resamples=9999, method=method,
                                 random_state=np.random.default_rng(0))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def _root_mean(values: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.sqrt(np.mean(values, axis=axis))


def test_mae_and_rmse_are_the_means_of_the_workers_per_input_errors() -> None:
    error = truth_error({"output": "price", "abs": ABS, "squared": SQUARED})
    assert error is not None
    assert error.output == "price" and error.samples == 8
    assert error.mae.value == pytest.approx(13.0 / 8)  # sum of ABS by hand
    assert error.rmse.value == pytest.approx(math.sqrt(33.125 / 8))  # sum of SQUARED


def test_each_interval_is_scipys_bca_bootstrap_at_95_percent_seeded() -> None:
    """The README's recipe, so a row's interval is the same in every report."""
    error = truth_error({"output": "y", "abs": ABS, "squared": SQUARED})
    assert (error.mae.low, error.mae.high) == pytest.approx(_scipy_interval(ABS, np.mean),
                                                            rel=1e-12)
    assert (error.rmse.low, error.rmse.high) == pytest.approx(
        _scipy_interval(SQUARED, _root_mean), rel=1e-12)
    assert error.mae.low < error.mae.value < error.mae.high
    assert error.rmse.low < error.rmse.value < error.rmse.high
    # the same call again gives the same figures (seeded, not the global generator)
    assert truth_error({"output": "y", "abs": ABS, "squared": SQUARED}) == error


@pytest.mark.parametrize("absolute", [[1.0, 3.0], [0.0, 1.0, 0.5, 0.25]],
                         ids=["two-inputs", "a-range-of-exactly-one"])
def test_two_inputs_or_more_that_differ_get_scipys_interval_not_a_point(
        absolute: list[float]) -> None:
    squared = [value * value for value in absolute]
    error = truth_error({"output": "y", "abs": absolute, "squared": squared})
    assert (error.mae.low, error.mae.high) == pytest.approx(
        _scipy_interval(absolute, np.mean), rel=1e-12)
    assert error.mae.low < error.mae.high


@pytest.mark.parametrize(("absolute", "squared"), [([2.0], [4.0]), ([1.5] * 6, [2.25] * 6)],
                         ids=["one-input", "identical-errors"])
def test_no_spread_to_resample_gives_the_point_as_its_interval(
        absolute: list[float], squared: list[float]) -> None:
    error = truth_error({"output": "y", "abs": absolute, "squared": squared})
    assert (error.mae.low, error.mae.value, error.mae.high) == (absolute[0],) * 3
    root = math.sqrt(squared[0])
    assert error.rmse.low == error.rmse.value == error.rmse.high == pytest.approx(root)
    assert error.samples == len(absolute)


@pytest.mark.parametrize("errors", [None, {}, {"output": "y", "abs": [], "squared": []}])
def test_a_row_without_truth_errors_has_no_headline(errors: dict | None) -> None:
    assert truth_error(errors) is None


@pytest.mark.parametrize(("bca_low", "bca_high"), [(np.nan, np.nan), (0.5, np.nan),
                                                  (np.nan, 2.5), (-np.inf, 2.5)],
                         ids=["both", "high", "low", "infinite"])
def test_a_bca_interval_that_is_not_finite_falls_back_to_the_percentile_one(
        bca_low: float, bca_high: float, monkeypatch: pytest.MonkeyPatch) -> None:
    """BCa gives NaN on degenerate resamples; the row then carries scipy's percentile
    interval, never a NaN bound -- whichever bound BCa lost."""
    real = stats.bootstrap

    def bca_fails(data: Any, statistic: Any, **options: Any) -> Any:
        if options.get("method") == "BCa":
            return SimpleNamespace(confidence_interval=SimpleNamespace(low=bca_low,
                                                                       high=bca_high))
        return real(data, statistic, **options)

    monkeypatch.setattr(stats, "bootstrap", bca_fails)
    error = truth_error({"output": "y", "abs": ABS, "squared": SQUARED})
    monkeypatch.setattr(stats, "bootstrap", real)
    assert (error.mae.low, error.mae.high) == pytest.approx(
        _scipy_interval(ABS, np.mean, "percentile"), rel=1e-12)
    assert (error.rmse.low, error.rmse.high) == pytest.approx(
        _scipy_interval(SQUARED, _root_mean, "percentile"), rel=1e-12)


def test_the_columns_a_row_stores_carry_each_figure_under_its_name() -> None:
    error = truth_error({"output": "price", "abs": ABS, "squared": SQUARED})
    assert error.columns() == {
        "truth_output": "price", "error_samples": 8,
        "mae": error.mae.value, "mae_ci_low": error.mae.low, "mae_ci_high": error.mae.high,
        "rmse": error.rmse.value, "rmse_ci_low": error.rmse.low,
        "rmse_ci_high": error.rmse.high}
