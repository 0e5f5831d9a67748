""""What to ship" from a run directory: its goals (config.json), its rows and their paired
predictions -- in the report right after the headline tables, in the job summary, in the
results' ``decision`` column, and as --fail-on-goals' exit code."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from qatbench.bench.orchestration.session import EXIT_FAILED, EXIT_OK, ship_or_fail
from qatbench.bench.presentation import plots
from qatbench.bench.presentation.report import write_report
from qatbench.bench.presentation.what_to_ship import decide_results, decision_cells
from qatbench.bench.storage.key import RowKey
from qatbench.bench.storage.predictions import Predictions, save_predictions
from tests.bench.presentation.synthetic import results, row

RUN_ID = "20260101T000000Z-aaaaaa"


def run_dir_with(tmp_path: Path, goals: dict, lost: dict[str, int]) -> tuple[Path, pd.DataFrame]:
    """A run directory whose float32 gets 950 of 1,000 inputs right and each int8 variant
    loses ``lost[variant]`` of those (never gaining one back): a known paired drop."""
    run_dir = tmp_path / RUN_ID
    run_dir.mkdir()
    (run_dir / "config.json").write_text(json.dumps({"goals": goals}))
    labels = np.arange(1000) % 10
    rows = []
    for seed, (variant, p50) in enumerate((("float32", 2.0), ("ptq_int8", 1.0),
                                           ("qat_int8", 1.2)), 1):
        predicted = labels.copy()
        predicted[:50] = (labels[:50] + 1) % 10  # float's 50 misses, shared by all
        wrong = lost.get(variant, 0)
        predicted[50:50 + wrong] = (labels[50:50 + wrong] + 1) % 10
        top1 = float(np.mean(predicted == labels))
        line = row("digits", variant, "cpu-xnnpack", p50, seed, accuracy_top1=top1,
                   eval_samples=1000)
        rows.append(line)
        save_predictions(run_dir, RowKey.of(line),
                         Predictions(predicted, labels, labels, digest="same"))
    return run_dir, results(rows)


@pytest.fixture(autouse=True)
def _no_plots_no_actions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plots, "write_run_plots", lambda results, plots_dir: [])
    for name in ("GITHUB_RUN_ID", "GITHUB_RUN_ATTEMPT", "GITHUB_JOB"):
        monkeypatch.delenv(name, raising=False)


def test_the_report_says_what_to_ship_first_after_the_headline_tables(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_dir, table = run_dir_with(tmp_path, {"max_top1_drop": 1.0}, {"ptq_int8": 40})
    summary = tmp_path / "step_summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    markdown = write_report(table, [run_dir], run_dir).read_text()
    titles = [line for line in markdown.splitlines() if line.startswith("## ")]
    assert titles[:3] == ["## Float vs int8: size, latency, top-1", "## On cpu-xnnpack",
                          "## What to ship"]
    # PTQ lost 40 of 950 right answers (4 points, paired): misses a 1-point bound; QAT
    # lost none and is the faster of the two that meet it
    assert "- digits on cpu-xnnpack [host] ×1: ship qat_int8" in markdown
    assert "goals for digits: max_top1_drop = 1; prefer = latency (the default)" in markdown
    assert re.search(r"\| ptq_int8 \| misses \| [0-9.]+ \[[0-9.]+–[0-9.]+\] \| "
                     r"top-1 drop \(paired\) 4 pt \[", markdown)
    assert "## What to ship" in summary.read_text()


def test_the_decision_column_names_each_variant_s_outcome(tmp_path: Path) -> None:
    run_dir, table = run_dir_with(tmp_path, {"max_top1_drop": 1.0}, {"ptq_int8": 40})
    cells = decision_cells(table, decide_results(table, [run_dir]))
    by_variant = {job[1]: text for job, text in cells.items()}
    assert by_variant["qat_int8"] == "ship: meets every goal, best on the preference"
    assert by_variant["ptq_int8"].startswith("misses: top-1 drop (paired) 4 pt [")
    assert by_variant["float32"] == "meets every goal, not the best"


def test_without_goals_the_default_is_stated_and_mcnemar_decides(tmp_path: Path) -> None:
    run_dir, table = run_dir_with(tmp_path, {}, {"ptq_int8": 12, "qat_int8": 2})
    (decision,) = decide_results(table, [run_dir])
    # 12 discordant inputs all float's: p = 2 / 2^12; 2 of them: p = 0.5
    assert decision.of("ptq_int8").outcome == "misses"
    assert decision.winner == "qat_int8"
    assert "no measurable top-1 drop against float32 (McNemar, the default)" in \
        decision.goals.describe()


def test_fail_on_goals_exits_1_only_when_a_target_has_no_variant_meeting_them(
        tmp_path: Path) -> None:
    run_dir, table = run_dir_with(tmp_path, {"max_latency_ms": 0.5}, {})
    decisions = decide_results(table, [run_dir])
    out = io.StringIO()
    console = Console(file=out, width=200)
    assert ship_or_fail(console, decisions, EXIT_OK, fail_on_goals=False) == EXIT_OK
    assert ship_or_fail(console, decisions, EXIT_OK, fail_on_goals=True) == EXIT_FAILED
    assert "goals not met: digits on cpu-xnnpack [host] ×1: no variant meets the goals" in \
        out.getvalue()
    met = decide_results(table.assign(run_id="other"), [])  # no goals: the default
    assert ship_or_fail(console, met, EXIT_OK, fail_on_goals=True) == EXIT_OK
