"""One alert per change point (``statistics/alerts.py``), in process: what `nox -s mutation`
found held only by the command-line tests (test_alerts.py drives ``qatbench history``
whole and is outside the mutation selection). The steps are written by hand in the shape
``history.find_history_steps`` gives (one line per step of a series), so every
expectation -- which step went away and where, which step is the reversal of which, an
alert's state, its series and changes, the alerts' order and numbers, what ``since``
keeps -- is stated here from the levels, not computed by the code under test."""

from __future__ import annotations

import pandas as pd
import pytest

from qatbench.bench.statistics.alerts import ALERT_COLUMNS, group_alerts, mark_reversals

RUNS = [f"r{index:02d}" for index in range(1, 16)]  # every run, oldest first
MIN_STEP = 0.025


def step(model: str, first_run_after: str, before_ms: float, after_ms: float) -> dict:
    """One series' step at ``first_run_after`` (the run before it is the previous one in
    ``RUNS``), with the columns ``find_history_steps`` writes."""
    at = RUNS.index(first_run_after)
    return {"model": model, "variant": "qat_int8", "target": "cpu-xnnpack", "device": "",
            "threads": 0, "before_ms": before_ms, "after_ms": after_ms,
            "change": after_ms / before_ms - 1, "last_run_before": RUNS[at - 1],
            "first_run_after": first_run_after, "commit_before": f"c{at - 1:02d}",
            "commit_after": f"c{at:02d}", "date_before": f"2026-01-{at:02d}",
            "date_after": f"2026-01-{at + 1:02d}", "runs_before": at, "position": at}


def states(steps: list[dict]) -> list[tuple[str, str, str]]:
    """(first run after, state, went away at) of each alert, in the order shown."""
    alerts = group_alerts(pd.DataFrame(steps), RUNS, MIN_STEP)
    return list(zip(alerts["first_run_after"], alerts["state"], alerts["went_away_at"],
                    strict=True))


@pytest.mark.parametrize(("level", "moved", "back"), [
    (100.0, 110.0, 101.0),  # 10% slower at r05, back to 1% of the old level at r08
    (100.0, 90.0, 99.0),  # 10% faster at r05, lost again at r08
])
def test_a_step_its_series_undoes_went_away_and_the_return_is_its_reversal(
        level: float, moved: float, back: float) -> None:
    steps = [step("mobilenet_v2", "r05", level, moved), step("mobilenet_v2", "r08", moved, back)]
    marked = mark_reversals(pd.DataFrame(steps), MIN_STEP)
    assert list(marked["went_away_at"]) == ["r08", ""]
    assert list(marked["reverts"]) == ["", "r05"]
    assert states(steps) == [("r05", "went away", "r08"),
                             ("r08", "reverts the step at r05", "")]


def test_a_partial_return_or_a_second_step_the_same_way_is_not_a_reversal() -> None:
    partial = [step("resnet50", "r05", 100.0, 110.0),  # back at r08 only to +4%: not within
               step("resnet50", "r08", 110.0, 104.0)]  # 2.5% of 100 ms
    further = [step("mnist_cnn", "r05", 100.0, 110.0),  # slower again at r08
               step("mnist_cnn", "r08", 110.0, 120.0)]
    for steps in (partial, further):
        marked = mark_reversals(pd.DataFrame(steps), MIN_STEP)
        assert list(marked["went_away_at"]) == ["", ""] and list(marked["reverts"]) == ["", ""]
        assert states(steps) == [("r05", "open", ""), ("r08", "open", "")]


def test_a_series_slow_again_after_its_fix_is_a_new_open_alert() -> None:
    """Slow at r05, fixed at r08, slow again at r12: r12 is a regression to report, not
    "the reversal of the fix" (that would count it out of the open alerts); fixed again at
    r14, it went away in turn."""
    steps = [step("mobilenet_v2", "r05", 100.0, 110.0), step("mobilenet_v2", "r08", 110.0, 100.0),
             step("mobilenet_v2", "r12", 100.0, 110.0)]
    assert states(steps) == [("r05", "went away", "r08"),
                             ("r08", "reverts the step at r05", ""),
                             ("r12", "open", "")]
    steps.append(step("mobilenet_v2", "r14", 110.0, 100.0))
    assert states(steps) == [("r05", "went away", "r08"),
                             ("r08", "reverts the step at r05", ""),
                             ("r12", "went away", "r14"),
                             ("r14", "reverts the step at r12", "")]


def test_one_alert_lists_every_series_it_moved_and_where_each_went_away() -> None:
    # r05 slows two models; mobilenet comes back at r08, resnet50 at r11, mnist never
    steps = [step("mobilenet_v2", "r05", 100.0, 110.0), step("resnet50", "r05", 20.0, 21.6),
             step("mnist_cnn", "r05", 1.0, 1.05), step("mobilenet_v2", "r08", 110.0, 100.0),
             step("resnet50", "r11", 21.6, 20.0)]
    alerts = group_alerts(pd.DataFrame(steps), RUNS, MIN_STEP)
    first = alerts.iloc[0]
    assert first["series"] == ("mobilenet_v2/qat_int8 on cpu-xnnpack, resnet50/qat_int8 on "
                               "cpu-xnnpack, mnist_cnn/qat_int8 on cpu-xnnpack")
    assert first["changes"] == "+10.0%, +8.0%, +5.0%"
    assert first["commits"] == "c03 → c04" and first["dates"] == "2026-01-04 → 2026-01-05"
    assert (first["state"], first["went_away_at"]) == ("partly went away", "r08, r11")
    # without mnist, both series went away, each at its own run
    alerts = group_alerts(pd.DataFrame([s for s in steps if s["model"] != "mnist_cnn"]), RUNS,
                          MIN_STEP)
    assert (alerts.at[0, "state"], alerts.at[0, "went_away_at"]) == ("went away", "r08, r11")


def test_a_return_that_undoes_steps_made_at_two_runs_names_both() -> None:
    # mobilenet slowed at r03, resnet50 at r05; one commit (r08) brings both back
    steps = [step("mobilenet_v2", "r03", 100.0, 110.0), step("resnet50", "r05", 20.0, 22.0),
             step("mobilenet_v2", "r08", 110.0, 100.0), step("resnet50", "r08", 22.0, 20.0)]
    assert states(steps) == [("r03", "went away", "r08"), ("r05", "went away", "r08"),
                             ("r08", "reverts the step at r03, r05", "")]


def test_alerts_are_numbered_oldest_change_point_first() -> None:
    # the steps list the newest change point first (series order, not run order)
    steps = [step("resnet50", "r11", 20.0, 22.0), step("mobilenet_v2", "r04", 100.0, 110.0),
             step("mnist_cnn", "r07", 1.0, 1.1)]
    alerts = group_alerts(pd.DataFrame(steps), RUNS, MIN_STEP)
    assert list(alerts.columns) == ALERT_COLUMNS
    assert list(alerts["alert"]) == [1, 2, 3]
    assert list(alerts["first_run_after"]) == ["r04", "r07", "r11"]


def test_since_keeps_only_the_change_points_first_seen_after_that_run() -> None:
    steps = pd.DataFrame([step("mobilenet_v2", "r04", 100.0, 110.0),
                          step("resnet50", "r08", 20.0, 22.0)])
    assert list(group_alerts(steps, RUNS, MIN_STEP, since="r03")["first_run_after"]) == [
        "r04", "r08"]
    # the change point at r04 was there to see at r04: not new since r04
    newer = group_alerts(steps, RUNS, MIN_STEP, since="r04")
    assert list(newer["first_run_after"]) == ["r08"] and list(newer["alert"]) == [1]
    with pytest.raises(KeyError, match="r99"):
        group_alerts(steps, RUNS, MIN_STEP, since="r99")


def test_no_steps_is_no_alert_with_the_alert_columns() -> None:
    alerts = group_alerts(pd.DataFrame(), RUNS, MIN_STEP)
    assert alerts.empty and list(alerts.columns) == ALERT_COLUMNS
