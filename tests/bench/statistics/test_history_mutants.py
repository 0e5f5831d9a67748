"""How the history names the runs around a step (``statistics/history.py``), in process:
the lines read from the runs under a root (level, band, repeats, which rows, in which
order), the short commit and the date each alert shows, and each step's line (its series, levels,
the runs, commits and dates either side), which `nox -s mutation` found held only by the
command-line history tests (outside the mutation selection) or not stated at all. Every
expectation is written out by hand."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import gmean

from qatbench.bench.statistics.history import (
    date_of,
    find_history_steps,
    load_history,
    short_commit,
)
from qatbench.bench.storage.runs import load_runs
from tests.bench.runs_helpers import write_run

SHA = "04ababababababababababababababababababab"


@pytest.mark.parametrize(("commit", "shown"), [
    (SHA, "04ababa"),  # git's short form: the first 7 hex digits
    ("", "?"),  # the run recorded no commit
    ("unknown", "unknown"),  # the run said it could not tell
])
def test_a_step_names_its_commits_by_their_first_seven_digits(commit: str,
                                                              shown: str) -> None:
    assert short_commit(commit) == shown


@pytest.mark.parametrize(("started_at", "day"), [
    ("2026-01-31T12:34:56+00:00", "2026-01-31"),  # an ISO timestamp (started_at)
    ("20260131T123456Z-abc123", "2026-01-31"),  # a run id
    ("20260131", "2026-01-31"),  # a compact date alone
    ("", ""),  # no start time recorded
])
def test_a_step_dates_its_runs_by_day(started_at: str, day: str) -> None:
    assert date_of(started_at) == day


def history(levels: dict[str, list[float]]) -> pd.DataFrame:
    """A history as ``load_history`` gives it: one line per (run, series), oldest first;
    run ``i`` started on January ``i + 1`` at commit ``<i>abab...``."""
    runs = len(next(iter(levels.values())))
    return pd.DataFrame([
        {"model": model, "variant": "qat_int8", "target": "cpu-xnnpack", "device": "",
         "threads": 0, "run_id": f"202601{i + 1:02d}T000000Z-r",
         "started_at": f"2026-01-{i + 1:02d}T08:00:00+00:00",
         "git_commit": f"{i:02d}" + "ab" * 19,
         "level_ms": series[i]}
        for i in range(runs) for model, series in levels.items()])


def test_a_step_names_the_last_run_before_it_and_the_first_after_with_their_commits(
        ) -> None:
    steps = find_history_steps(history({"mnist_cnn": [1.0] * 8,
                                        "mobilenet_v2": [3.0] * 5 + [3.3] * 3,
                                        "resnet50": [20.0] * 6 + [24.0] * 2}))
    assert steps.to_dict("records") == [
        {"model": "mobilenet_v2", "variant": "qat_int8", "target": "cpu-xnnpack",
         "device": "", "threads": 0, "before_ms": pytest.approx(3.0),
         "after_ms": pytest.approx(3.3), "change": pytest.approx(0.1),
         "last_run_before": "20260105T000000Z-r", "first_run_after": "20260106T000000Z-r",
         "commit_before": "04ababa", "commit_after": "05ababa",
         "date_before": "2026-01-05", "date_after": "2026-01-06",
         "runs_before": 5, "position": 5},
        {"model": "resnet50", "variant": "qat_int8", "target": "cpu-xnnpack",
         "device": "", "threads": 0, "before_ms": pytest.approx(20.0),
         "after_ms": pytest.approx(24.0), "change": pytest.approx(0.2),
         "last_run_before": "20260106T000000Z-r", "first_run_after": "20260107T000000Z-r",
         "commit_before": "05ababa", "commit_after": "06ababa",
         "date_before": "2026-01-06", "date_after": "2026-01-07",
         "runs_before": 6, "position": 6},
    ]


def test_min_step_and_min_runs_reach_the_detector() -> None:
    rows = history({"mobilenet_v2": [3.0] * 4 + [3.3] * 4})  # 10% at the fifth run
    assert len(find_history_steps(rows)) == 1
    assert find_history_steps(rows, min_step=0.2).empty  # 10% < 20%
    assert find_history_steps(rows, min_runs=5).empty  # 4 runs a side < 5


def spread(median_ms: float) -> np.ndarray:
    """15 samples of one repeat whose median is ``median_ms`` exactly."""
    return median_ms * np.array([0.98, 0.99, 1.0, 1.01, 1.02] * 3)


def job(model: str, samples: object = None, target: str = "cpu-xnnpack", **extra) -> dict:
    return {"model": model, "variant": "qat_int8", "target": target,
            **({} if samples is None else {"samples": samples}), **extra}


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two runs whose ids sort against their start times: ``-late`` started on January 3,
    ``-early`` (the larger id) on January 2."""
    tmp_path = tmp_path_factory.mktemp("history")
    write_run(tmp_path, "20260101T000000Z-late", [
        job("mobilenet_v2", [spread(2.9), spread(3.2)]),  # two repeats
        job("mnist_cnn", spread(0.02)),  # one repeat
        job("resnet50", status="failed"),  # nothing measured
    ], started_at="2026-01-03T08:00:00+00:00", git_commit="b" * 40)
    write_run(tmp_path, "20260102T000000Z-early", [
        job("efficientnet_lite0"),  # "ok" with no latency figure at all: not a line
        job("mobilenet_v2", spread(1.0), target="edgetpu"),
        job("nasnet_mobile", latency_ms_p50=7.0,  # a reported p50 only: no band,
            started_at=None),  # and no start time recorded (an old run's row)
    ], started_at="2026-01-02T08:00:00+00:00", git_commit=None)
    return tmp_path


def test_the_history_has_one_line_per_measured_row_oldest_run_first(root: Path) -> None:
    lines = load_history(root)
    assert list(lines.columns) == ["model", "variant", "target", "device", "threads",
                                   "run_id", "started_at", "git_commit", "level_ms",
                                   "band_low_ms", "band_high_ms", "band", "repeats"]
    assert list(zip(lines["run_id"], lines["model"], lines["target"], strict=True)) == [
        ("20260102T000000Z-early", "nasnet_mobile", "cpu-xnnpack"),  # no start: first
        ("20260102T000000Z-early", "mobilenet_v2", "edgetpu"),
        ("20260101T000000Z-late", "mobilenet_v2", "cpu-xnnpack"),
        ("20260101T000000Z-late", "mnist_cnn", "cpu-xnnpack")]
    assert list(lines["started_at"]) == ["", "2026-01-02T08:00:00+00:00"] + [
        "2026-01-03T08:00:00+00:00"] * 2
    assert list(lines["git_commit"]) == ["", "", "b" * 40, "b" * 40]  # none recorded: ""
    assert list(lines["device"]) == ["host"] * 4 and list(lines["threads"]) == [1] * 4


def test_a_level_is_the_geometric_mean_of_the_repeats_and_its_band_their_range(
        root: Path) -> None:
    line = load_history(root, model="mobilenet_v2", target="cpu-xnnpack").iloc[0]
    assert line["level_ms"] == pytest.approx(gmean([2.9, 3.2]), rel=1e-12)
    assert (line["band_low_ms"], line["band_high_ms"]) == (pytest.approx(2.9),
                                                           pytest.approx(3.2))
    assert (line["band"], line["repeats"]) == ("repeat range", 2)


def test_one_repeat_has_the_rows_own_ci_as_its_band_and_a_bare_p50_none(root: Path) -> None:
    line = load_history(root, model="mnist_cnn").iloc[0]
    stored = load_runs([root / "20260101T000000Z-late"]).results.set_index("model")
    assert line["level_ms"] == pytest.approx(0.02, rel=1e-12)
    assert (line["band_low_ms"], line["band_high_ms"]) == (
        stored.at["mnist_cnn", "latency_ms_p50_ci_low"],
        stored.at["mnist_cnn", "latency_ms_p50_ci_high"])
    assert line["band_low_ms"] < 0.02 < line["band_high_ms"]
    assert (line["band"], line["repeats"]) == ("within-run CI", 1)
    bare = load_history(root, model="nasnet_mobile").iloc[0]
    assert bare["level_ms"] == pytest.approx(7.0, rel=1e-12) and bare["repeats"] == 1
    assert math.isnan(bare["band_low_ms"]) and math.isnan(bare["band_high_ms"])


def test_model_and_target_keep_only_their_rows_and_nothing_matching_is_empty(
        root: Path) -> None:
    assert list(load_history(root, model="mobilenet_v2")["target"]) == ["edgetpu",
                                                                         "cpu-xnnpack"]
    assert list(load_history(root, target="edgetpu")["model"]) == ["mobilenet_v2"]
    assert load_history(root, model="resnet50").empty  # failed: not a measured row
