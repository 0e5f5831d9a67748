"""One alert per change point, not one per series: steps grouped by where they happened.

A commit that slows every model shows up as a step in every series at the same place:
one cause, one alert. A step is placed by the pair of runs around it (the last run at
the old level, the first at the new one), so steps with the same pair -- the same commit
range -- are one alert listing every series it moved. Two more rules keep a lab's alert
channel quiet without hiding anything:

- a step whose series later steps back to within ``min_step`` of its old level "went
  away" (at the run where it returned); the return is not a new alert, it is marked as
  the reversal of the first -- and a return is never itself "undone": a series that
  steps again after it (slow, fixed, slow again) has a new, open alert;
- ``since``: only alerts whose first run at the new level comes after that run -- what
  is new since the last time someone looked.
"""

from __future__ import annotations

import itertools

import pandas as pd

from qatbench.bench.storage.key import SERIES_COLUMNS

ALERT_COLUMNS = ["alert", "first_run_after", "last_run_before", "commits", "dates",
                 "series", "changes", "state", "went_away_at"]


def mark_reversals(steps: pd.DataFrame, min_step: float) -> pd.DataFrame:
    """``went_away_at`` on a step its series later undid; ``reverts`` on that undoing step."""
    steps = steps.copy()
    steps["went_away_at"] = ""
    steps["reverts"] = ""
    if steps.empty:
        return steps
    for _, rows in steps.groupby(SERIES_COLUMNS, sort=False, dropna=False):
        ordered = rows.sort_values("position")
        indices = list(ordered.index)
        for first, later in itertools.pairwise(indices):
            original = steps.at[first, "before_ms"]
            returned = steps.at[later, "after_ms"]
            if steps.at[first, "reverts"]:
                continue  # a return is not undone: the series stepping again is new
            opposite = (steps.at[first, "change"] > 0) != (steps.at[later, "change"] > 0)
            if opposite and abs(returned / original - 1) < min_step:
                steps.at[first, "went_away_at"] = steps.at[later, "first_run_after"]
                steps.at[later, "reverts"] = steps.at[first, "first_run_after"]
    return steps


def group_alerts(steps: pd.DataFrame, run_order: list[str], min_step: float,
                 since: str | None = None) -> pd.DataFrame:
    """One line per change point (commit range); ``run_order`` is every run, oldest first."""
    if steps.empty:
        return pd.DataFrame(columns=ALERT_COLUMNS)
    marked = mark_reversals(steps, min_step)
    position = {run: index for index, run in enumerate(run_order)}
    if since is not None:
        if since not in position:
            raise KeyError(since)
        marked = marked[marked["first_run_after"].map(position) > position[since]]
    lines = []
    for (before, after), rows in marked.groupby(["last_run_before", "first_run_after"],
                                                sort=False):
        reversal = rows["reverts"].astype(bool).all()
        gone = rows["went_away_at"].astype(bool)
        state = ("reverts the step at " + ", ".join(sorted(set(rows["reverts"]))) if reversal
                 else "went away" if gone.all() else "partly went away" if gone.any()
                 else "open")
        first = rows.iloc[0]
        lines.append({
            "first_run_after": after, "last_run_before": before,
            "commits": f"{first['commit_before']} → {first['commit_after']}",
            "dates": f"{first['date_before']} → {first['date_after']}",
            "series": ", ".join(f"{r['model']}/{r['variant']} on {r['target']}"
                                for _, r in rows.iterrows()),
            "changes": ", ".join(f"{c:+.1%}" for c in rows["change"]),
            "state": state,
            "went_away_at": ", ".join(sorted({w for w in rows["went_away_at"] if w})),
            "_order": position.get(after, len(position)),
        })
    alerts = pd.DataFrame(lines).sort_values("_order", kind="stable").drop(columns="_order")
    alerts.insert(0, "alert", range(1, len(alerts) + 1))
    return alerts.reset_index(drop=True)[ALERT_COLUMNS]
