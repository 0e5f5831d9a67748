"""Finding and reading runs, as `nox -s mutation` found no selected test holding (only
whole commands -- ``compare --latest``, ``tune`` -- reached them): ``--latest`` is the
newest run with results, the newer runs still without results are named (never passed
over silently), and one row's samples are that row's only."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from qatbench.bench.storage.layout import CONFIG_FILE, RESULTS_FILE
from qatbench.bench.storage.runs import (
    RunsNotFound,
    latest_run,
    newer_runs_skipped,
    runs_without_results,
    samples_of,
)


def make_runs(root: Path, with_results: list[str], without: list[str]) -> None:
    """Run directories as a run leaves them: config.json first, results once a job ends."""
    for name in [*with_results, *without]:
        (root / name).mkdir(parents=True)
        (root / name / CONFIG_FILE).write_text("{}")
    for name in with_results:
        (root / name / RESULTS_FILE).write_bytes(b"")


def test_latest_is_the_newest_run_with_results_and_names_the_newer_unfinished_ones(
        tmp_path: Path) -> None:
    make_runs(tmp_path, ["20261201T090000Z-aaaaaa", "20261203T090000Z-cccccc",
                         "20261202T090000Z-bbbbbb"],
              ["20261204T090000Z-dddddd", "20261201T100000Z-eeeeee",
               "20261205T090000Z-ffffff"])
    chosen = latest_run(tmp_path)
    assert chosen == tmp_path / "20261203T090000Z-cccccc"
    assert runs_without_results(tmp_path) == [tmp_path / "20261201T100000Z-eeeeee",
                                              tmp_path / "20261204T090000Z-dddddd",
                                              tmp_path / "20261205T090000Z-ffffff"]
    assert newer_runs_skipped(tmp_path, chosen) == [tmp_path / "20261204T090000Z-dddddd",
                                                    tmp_path / "20261205T090000Z-ffffff"]
    assert newer_runs_skipped(tmp_path, tmp_path / "20261205T090000Z-ffffff") == []


def test_latest_under_a_folder_without_finished_runs_says_what_is_there(
        tmp_path: Path) -> None:
    with pytest.raises(RunsNotFound) as raised:
        latest_run(tmp_path)
    assert str(raised.value) == f"{tmp_path}: no run directories (*/results.parquet) found"
    make_runs(tmp_path, [], ["20261202T090000Z-bbbbbb", "20261203T090000Z-cccccc",
                             "20261201T090000Z-aaaaaa"])
    with pytest.raises(RunsNotFound) as raised:
        latest_run(tmp_path)
    assert str(raised.value) == (
        f"{tmp_path}: no run directories (*/results.parquet) found; 3 run(s) there have no "
        f"results yet (newest: {tmp_path / '20261203T090000Z-cccccc'})")


def test_a_rows_samples_are_those_of_its_run_and_key_only() -> None:
    key = {"model": "m", "variant": "ptq_int8", "target": "cpu-xnnpack", "device": "host",
           "threads": 1, "fingerprint": "f"}
    rows = [({**key, "run_id": "r1"}, 1.5), ({**key, "run_id": "r1"}, 2.5),
            ({**key, "run_id": "r2"}, 9.0),  # the same key in another run
            ({**key, "run_id": "r1", "threads": 2}, 8.0),
            ({**key, "run_id": "r1", "fingerprint": "g"}, 7.0)]
    samples = pd.DataFrame([{**row, "latency_ms": ms} for row, ms in rows])
    found = samples_of(samples, pd.Series({**key, "run_id": "r1", "latency_ms_p50": 2.0}))
    assert found.tolist() == [1.5, 2.5]
    assert found.dtype == "float64"
