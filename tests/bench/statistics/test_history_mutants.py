"""How the history names the runs around a step (``statistics/history.py``), in process:
the short commit and the date each alert shows, which `nox -s mutation` found held only by
the command-line history tests (outside the mutation selection). Every expectation is
written out by hand."""

from __future__ import annotations

import pytest

from qatbench.bench.statistics.history import date_of, short_commit

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
