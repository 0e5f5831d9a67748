"""How the history names the runs around a step (``statistics/history.py``), in process:
the short commit and the date each alert shows, and each step's line (its series, levels,
the runs, commits and dates either side), which `nox -s mutation` found held only by the
command-line history tests (outside the mutation selection) or not stated at all. Every
expectation is written out by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from qatbench.bench.statistics.history import date_of, find_history_steps, short_commit

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
