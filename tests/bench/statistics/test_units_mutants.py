"""Which figures the gate and the history decide on for one results row (``UnitIndex``):
one unit per independent repeat, from ``repeats.parquet``, else the repeats' samples,
else the row's reported figure. Mutation testing found no in-process test of this module
(only the whole-command tests reached it). Expected units are computed here with numpy
from the same samples, or by hand."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from qatbench.bench.statistics.units import MIN_SAMPLES, UnitIndex, reported_columns
from qatbench.bench.storage.runs import LoadedRuns

KEY = {"model": "digits", "variant": "qat", "target": "cpu", "device": "host", "threads": 4,
       "fingerprint": "fp-1"}
NO_REPEATS = pd.DataFrame()


def _samples(*repeats: tuple[int, list[float]], run_id: str = "r1",
             key: dict[str, Any] = KEY) -> pd.DataFrame:
    """samples.parquet lines: each (repeat, latencies) of one row."""
    lines = [{"run_id": run_id, **key, "repeat": repeat, "latency_ms": ms}
             for repeat, values in repeats for ms in values]
    frame = pd.DataFrame(lines)
    frame["repeat"] = frame["repeat"].astype("Int64")
    return frame


def _repeats(*lines: dict[str, Any], run_id: str = "r1") -> pd.DataFrame:
    """repeats.parquet lines of one row: status and figures of each repeat."""
    frame = pd.DataFrame([{"run_id": run_id, **KEY, "repeat": i, "latency_ms_mean": None,
                           **line} for i, line in enumerate(lines)])
    frame["repeat"] = frame["repeat"].astype("Int64")
    return frame


def _loaded(samples: pd.DataFrame, repeats: pd.DataFrame = NO_REPEATS) -> LoadedRuns:
    return LoadedRuns(results=pd.DataFrame(), samples=samples, run_dirs=[], repeats=repeats)


def _row(run_id: str = "r1", **figures: Any) -> dict[str, Any]:
    return {"run_id": run_id, **KEY, **figures}


# three repeats of unequal samples: their medians are 3, 2 and 10; their first samples
# (1, 2, 12) and means differ from the medians, so a wrong statistic shows
R0 = [1.0, 2.0, 3.0, 4.0, 100.0]
R1 = [2.0, 2.0, 2.0, 2.0, 2.0, 9.0]
R2 = [12.0, 10.0, 10.0, 9.0, 8.0]


def test_each_repeats_samples_give_one_unit_their_median_in_repeat_order() -> None:
    index = UnitIndex(_loaded(_samples((0, R0), (1, R1), (2, R2))))  # the default metric
    units = index.of(_row(latency_ms_p50=5.0))
    assert units.values.tolist() == [3.0, 2.0, 10.0]
    assert units.k == 3
    assert units.source == "repeat p50s of the samples"


def test_p90_units_are_each_repeats_90th_percentile() -> None:
    index = UnitIndex(_loaded(_samples((0, R0), (1, R1), (2, R2))), "p90")
    units = index.of(_row(latency_ms_p50=5.0, latency_ms_p90=50.0))
    assert units.values == pytest.approx([np.percentile(R0, 90), np.percentile(R1, 90),
                                          np.percentile(R2, 90)])
    assert units.source == "repeat p90s of the samples"


def test_a_repeat_with_fewer_than_min_samples_has_no_unit_but_the_later_ones_do() -> None:
    assert MIN_SAMPLES == 5
    index = UnitIndex(_loaded(_samples((0, [7.0, 7.0, 7.0, 7.0]),  # 4: no median of its own
                                       (1, [1.0, 2.0, 3.0, 4.0, 5.0]),  # exactly 5: one unit
                                       (2, [6.0, 6.0, 6.0, 6.0, 6.0]))))
    assert index.of(_row()).values.tolist() == [3.0, 6.0]


def test_the_repeats_file_gives_each_ok_repeats_own_figure_over_the_samples() -> None:
    """repeats.parquet wins over the samples: one unit per ok repeat, its p50, else (a
    tool without a median) its mean; failed repeats and repeats with neither are out."""
    repeats = _repeats({"status": "ok", "latency_ms_p50": 2.5},
                       {"status": "failed", "latency_ms_p50": 50.0},
                       {"status": "ok", "latency_ms_p50": None, "latency_ms_mean": 3.5},
                       {"status": None, "latency_ms_p50": 60.0},
                       {"status": "ok", "latency_ms_p50": None},
                       {"status": "ok", "latency_ms_p50": 0.4})  # sub-millisecond: a unit
    index = UnitIndex(_loaded(_samples((0, R0), (1, R1)), repeats))
    units = index.of(_row(latency_ms_p50=9.0))
    assert units.values.tolist() == [2.5, 3.5, 0.4]
    assert units.source == "repeat medians"


def test_the_repeats_file_alone_is_enough() -> None:
    repeats = _repeats({"status": "ok", "latency_ms_p50": 2.0},
                       {"status": "ok", "latency_ms_p50": 4.0})
    index = UnitIndex(_loaded(_samples((0, [1.0])).iloc[0:0], repeats), "p50")
    assert index.of(_row()).values.tolist() == [2.0, 4.0]


def test_p90_ignores_the_repeats_file_which_holds_no_tails() -> None:
    repeats = _repeats({"status": "ok", "latency_ms_p50": 2.0},
                       {"status": "ok", "latency_ms_p50": 4.0})
    index = UnitIndex(_loaded(_samples((0, R0)), repeats), "p90")
    units = index.of(_row(latency_ms_p90=70.0))
    assert units.values == pytest.approx([np.percentile(R0, 90)])
    assert units.source == "repeat p90s of the samples"
    bare = UnitIndex(_loaded(_samples((0, [1.0])).iloc[0:0], repeats), "p90")
    assert bare.of(_row(latency_ms_p50=2.0, latency_ms_p90=70.0)).values.tolist() == [70.0]


def test_non_finite_zero_and_negative_figures_are_no_units() -> None:
    repeats = _repeats({"status": "ok", "latency_ms_p50": 0.5},
                       {"status": "ok", "latency_ms_p50": 0.0},
                       {"status": "ok", "latency_ms_p50": float("inf")},
                       {"status": "ok", "latency_ms_p50": -1.0},
                       {"status": "ok", "latency_ms_p50": 0.75})
    index = UnitIndex(_loaded(_samples((0, [1.0])).iloc[0:0], repeats))
    assert index.of(_row()).values.tolist() == [0.5, 0.75]


def test_units_are_per_run_two_runs_of_one_key_do_not_mix() -> None:
    samples = pd.concat([_samples((0, R0), run_id="r1"), _samples((0, R2), run_id="r2")])
    index = UnitIndex(_loaded(samples))
    assert index.of(_row("r1")).values.tolist() == [3.0]
    assert index.of(_row("r2")).values.tolist() == [10.0]
    assert index.of(_row("r3", latency_ms_p50=4.0)).values.tolist() == [4.0]


def test_a_row_without_a_fingerprint_still_finds_its_samples() -> None:
    """An old run (or a target without one) has no fingerprint: NA in the samples file,
    None in the row -- the same key."""
    key = {**KEY, "fingerprint": None}
    samples = _samples((0, R0), (1, R2), key=key)
    samples["fingerprint"] = samples["fingerprint"].astype("string")
    index = UnitIndex(_loaded(samples))
    units = index.of({"run_id": "r1", **key, "latency_ms_p50": 1.0})
    assert units.values.tolist() == [3.0, 10.0]


@pytest.mark.parametrize(("figures", "metric", "expected", "source"), [
    ({"latency_ms_p50": 0.8, "latency_ms_mean": 0.9}, "p50", 0.8, "reported p50"),
    ({"latency_ms_p50": None, "latency_ms_mean": 2.0}, "p50", 2.0,
     "reported mean (no median from the tool)"),
    ({"latency_ms_p50": float("nan"), "latency_ms_mean": 2.0}, "p50", 2.0,
     "reported mean (no median from the tool)"),
    ({"latency_ms_p50": 0.0, "latency_ms_mean": 1.5}, "p50", 1.5,
     "reported mean (no median from the tool)"),
    ({"latency_ms_p50": 3.0, "latency_ms_p90": 0.9}, "p90", 0.9, "reported p90"),
])
def test_a_row_without_repeat_figures_is_one_unit_its_reported_figure(
        figures: dict[str, Any], metric: str, expected: float, source: str) -> None:
    empty = _samples((0, [1.0])).iloc[0:0]
    units = UnitIndex(_loaded(empty), metric).of(_row(**figures))
    assert units.values.tolist() == [expected]
    assert units.k == 1
    assert units.source == source


def test_a_row_with_no_latency_at_all_has_no_units() -> None:
    empty = _samples((0, [1.0])).iloc[0:0]
    units = UnitIndex(_loaded(empty)).of(_row(latency_ms_p50=None, latency_ms_mean=0.0))
    assert units.k == 0
    assert units.values.dtype == np.float64
    assert units.source == "no latency"
    assert UnitIndex(_loaded(empty), "p90").of(_row(latency_ms_p50=2.0)).k == 0


def test_reported_columns_name_the_metrics_columns() -> None:
    assert reported_columns("p90") == [("latency_ms_p90", "reported p90")]
    assert [c for c, _ in reported_columns("p50")] == ["latency_ms_p50", "latency_ms_mean"]
