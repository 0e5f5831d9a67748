"""What a repeated job stores, column by column -- the figures mutation testing found no
in-process test reading (only the whole-CLI runs did). Expected values come from numpy
on the same samples, or by hand."""

from __future__ import annotations

import numpy as np
import pytest

from qatbench.bench.orchestration.repeats import latency_columns, repeat_line, summarise
from qatbench.bench.storage.schema import REPEAT_FIGURES


def test_a_processes_samples_become_these_columns() -> None:
    samples = np.array([4.0, 1.0, 3.0, 2.0, 10.0])
    columns = latency_columns(samples)
    assert set(columns) == {
        "latency_ms_min", "latency_ms_p50", "latency_ms_mean", "latency_ms_p90",
        "latency_ms_p99", "latency_ms_max", "latency_ms_std", "latency_ms_p50_ci_low",
        "latency_ms_p50_ci_high", "n_samples", "noisy"}
    assert (columns["latency_ms_min"], columns["latency_ms_p50"], columns["latency_ms_max"],
            columns["n_samples"]) == (1.0, 3.0, 10.0, 5)
    assert columns["latency_ms_mean"] == pytest.approx(4.0)
    assert columns["latency_ms_p90"] == pytest.approx(np.percentile(samples, 90))
    assert columns["latency_ms_p99"] == pytest.approx(np.percentile(samples, 99))
    assert columns["latency_ms_std"] == pytest.approx(np.std(samples, ddof=1))
    assert columns["latency_ms_p50_ci_low"] <= 3.0 <= columns["latency_ms_p50_ci_high"]
    assert columns["noisy"] is True  # std / mean = 0.9: far beyond 10%


def test_a_repeats_line_keeps_its_own_status_and_figures() -> None:
    row = {"started_at": "2026-12-07T10:00:00", "status": "failed", "error": "SIGSEGV",
           "latency_ms_p50": None, "latency_ms_mean": 2.5, "latency_ms_min": 2.0,
           "latency_ms_max": 3.0, "latency_ms_std": 0.1, "n_samples": 40, "init_ms": 7.0,
           "first_inference_ms": 9.0, "peak_memory_mb": 120.0, "model": "not a figure"}
    line = repeat_line(row)
    assert set(line) == {"started_at", "status", "error", *REPEAT_FIGURES}
    assert (line["started_at"], line["status"], line["error"]) == (
        "2026-12-07T10:00:00", "failed", "SIGSEGV")
    # an aggregate-only tool has no median: the repeat's unit is its mean
    assert line["latency_ms_p50"] == 2.5
    assert {k: line[k] for k in ("latency_ms_min", "latency_ms_max", "n_samples",
                                 "init_ms", "peak_memory_mb")} == {
        "latency_ms_min": 2.0, "latency_ms_max": 3.0, "n_samples": 40, "init_ms": 7.0,
        "peak_memory_mb": 120.0}
    assert repeat_line({**row, "latency_ms_p50": 2.2})["latency_ms_p50"] == 2.2


def test_one_repeat_is_its_own_row_with_repeats_1() -> None:
    row = {"status": "ok", "latency_ms_p50": 1.5, "model": "m"}
    assert summarise([row], {0: np.array([1.5])}) == {**row, "repeats": 1}


def test_several_bad_repeats_are_counted_in_the_error() -> None:
    rows = [{"status": "ok", "latency_ms_p50": 1.0},
            {"status": "failed", "error": None, "latency_ms_p50": None},
            {"status": "timeout", "error": "after 30 s", "latency_ms_p50": None}]
    row = summarise(rows, {0: np.full(5, 1.0)})
    assert row["status"] == "failed" and row["repeats"] == 3
    assert row["error"] == "repeat 2 of 3:  (2 of 3 repeats not ok)"  # no text of its own
    one_bad = summarise(rows[:2], {0: np.full(5, 1.0)})
    assert one_bad["error"] == "repeat 2 of 2: "  # one bad repeat: no count appended


def test_aggregate_only_repeats_give_the_median_p50_and_the_extremes() -> None:
    """A tool that prints p50 (or only a mean), min and max per run: the row's p50 and
    mean are the medians over repeats, min and max the extremes, samples summed; a
    repeat that did not report a figure is left out of that figure only."""
    rows = [{"status": "ok", "latency_ms_p50": 2.0, "latency_ms_mean": 2.1,
             "latency_ms_min": 1.5, "latency_ms_max": 4.0, "n_samples": 10},
            {"status": "ok", "latency_ms_p50": 3.0, "latency_ms_mean": 3.3,
             "latency_ms_min": None, "latency_ms_max": 6.0, "n_samples": None},
            {"status": "ok", "latency_ms_p50": 2.4, "latency_ms_mean": float("nan"),
             "latency_ms_min": 1.0, "latency_ms_max": None, "n_samples": 30}]
    row = summarise(rows, {})
    assert row["latency_ms_p50"] == pytest.approx(2.4)  # median of 2.0, 3.0, 2.4
    assert row["latency_ms_mean"] == pytest.approx(2.7)  # median of 2.1, 3.3 (nan left out)
    assert (row["latency_ms_min"], row["latency_ms_max"]) == (1.0, 6.0)
    assert row["n_samples"] == 40
    # the three units are the p50s: their CI brackets their centre
    assert row["latency_ms_p50_ci_low"] < 2.4 < row["latency_ms_p50_ci_high"]
    none_reported = [{"status": "ok", "latency_ms_p50": 1.0}, {"status": "ok",
                                                               "latency_ms_p50": 1.2}]
    bare = summarise(none_reported, {})
    assert (bare["latency_ms_min"], bare["latency_ms_max"], bare["n_samples"]) == (
        None, None, None)
    assert bare["latency_ms_mean"] is None


def test_units_come_from_repeats_with_samples_only() -> None:
    """Repeat 2 has an empty sample array: its (missing) median is no unit, and the CI
    rests on the two repeats that timed something."""
    rows = [{"status": "ok", "latency_ms_p50": 1.0}, {"status": "ok", "latency_ms_p50": 9.0},
            {"status": "ok", "latency_ms_p50": 1.2}]
    samples = {0: np.full(4, 1.0), 1: np.array([]), 2: np.full(4, 1.2)}
    row = summarise(rows, samples)
    assert row["latency_ms_p50"] == pytest.approx(1.1)  # pooled samples' median
    # two units, 1.0 and 1.2: a 95% t-interval on their logs, computed here
    from scipy import stats

    logs = np.log([1.0, 1.2])
    half = stats.t.ppf(0.975, 1) * logs.std(ddof=1) / np.sqrt(2)
    assert row["latency_ms_p50_ci_low"] == pytest.approx(np.exp(logs.mean() - half))
    assert row["latency_ms_p50_ci_high"] == pytest.approx(np.exp(logs.mean() + half))


def _t_interval(units: list[float]) -> tuple[float, float]:
    """95% t-interval on the logs of the units, as latencies (scipy, not the product)."""
    from scipy import stats

    logs = np.log(units)
    half = stats.t.ppf(0.975, len(units) - 1) * logs.std(ddof=1) / np.sqrt(len(units))
    return float(np.exp(logs.mean() - half)), float(np.exp(logs.mean() + half))


def test_aggregate_only_units_are_the_p50s_not_the_means() -> None:
    """Where a repeat reports both, its p50 is the unit: the CI is the one of 2.0, 3.0,
    2.4 (the means 4.0, 6.0, 5.0 would give another)."""
    rows = [{"status": "ok", "latency_ms_p50": p50, "latency_ms_mean": mean}
            for p50, mean in ((2.0, 4.0), (3.0, 6.0), (2.4, 5.0))]
    row = summarise(rows, {})
    low, high = _t_interval([2.0, 3.0, 2.4])
    assert row["latency_ms_p50_ci_low"] == pytest.approx(low)
    assert row["latency_ms_p50_ci_high"] == pytest.approx(high)


def _aggregate(*p50s: float, noisy: bool = False) -> list[dict[str, object]]:
    return [{"status": "ok", "latency_ms_p50": p50, "noisy": noisy} for p50 in p50s]


@pytest.mark.parametrize(("units", "noisy"), [
    # std (ddof=1) / mean by hand: 1.0, 2.0, 3.0 -> 1 / 2 = 0.5
    ((1.0, 2.0, 3.0), True),
    # 1.0, 1.2: std = 0.2 / sqrt(2) = 0.141, mean 1.1 -> 0.129 > 0.1 (ddof=0 would be 0.091)
    ((1.0, 1.2), True),
    # 1.0, 1.1, 1.2: std = 0.1, mean 1.1 -> 0.091 <= 0.1 (ddof=2 would be 0.129)
    ((1.0, 1.1, 1.2), False),
])
def test_repeats_that_disagree_by_over_10_percent_make_the_row_noisy(
        units: tuple[float, ...], noisy: bool) -> None:
    assert summarise(_aggregate(*units), {})["noisy"] is noisy


def test_a_row_noisy_in_its_first_repeat_stays_noisy_when_the_repeats_agree() -> None:
    assert summarise(_aggregate(2.0, 2.0, 2.01, noisy=True), {})["noisy"] is True


def test_an_ok_repeat_without_samples_is_no_unit_of_a_sampled_row() -> None:
    """Repeats 0 and 2 timed 1.0 and 1.2 ms (cv 0.129: noisy, see above); repeat 1 has an
    empty sample array and repeat 3 none at all: neither is a unit, nor breaks the row."""
    rows = [{"status": "ok", "latency_ms_p50": p50} for p50 in (1.0, 9.0, 1.2, 9.0)]
    samples = {0: np.full(6, 1.0), 1: np.array([]), 2: np.full(6, 1.2)}
    row = summarise(rows, samples)
    assert row["noisy"] is True  # the pooled samples alone: cv 0.095, not noisy
    assert (row["latency_ms_p50_ci_low"], row["latency_ms_p50_ci_high"]) == pytest.approx(
        _t_interval([1.0, 1.2]))
