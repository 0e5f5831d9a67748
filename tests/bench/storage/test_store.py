"""The run directory as the commit log of a run: constant cost per job, rows and samples
visible together, old runs still readable."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from qatbench.bench.storage import store as store_module
from qatbench.bench.storage.runs import load_runs
from qatbench.bench.storage.store import RunDirError, RunStore


def row(model: str, variant: str = "float32", status: str = "ok", **extra) -> dict:
    return {"run_id": "r", "started_at": "2026-11-27T00:00:00", "model": model,
            "variant": variant, "target": "cpu-xnnpack", "device": "host", "threads": 1,
            "fingerprint": "abc", "status": status, "latency_ms_p50": 1.0, **extra}


def new_store(tmp_path: Path) -> RunStore:
    store = RunStore.create(tmp_path, "r")
    store.write_json("config.json", {})
    return store


def test_adding_a_job_writes_its_own_samples_only(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The 60th job costs what the first did: no job rewrites the samples stored before
    it (the old store rewrote every sample of the run after every job)."""
    written: list[tuple[str, int]] = []
    real = store_module.atomic_write_parquet

    def counting(path: Path, frame: pd.DataFrame) -> None:
        written.append((path.parent.name, len(frame)))
        real(path, frame)

    monkeypatch.setattr(store_module, "atomic_write_parquet", counting)
    store = new_store(tmp_path)
    samples = tuple(np.linspace(1.0, 2.0, 1000))
    per_job = []
    for index in range(60):
        written.clear()
        store.add(row(f"m{index}"), samples)
        per_job.append(sum(n for directory, n in written if directory == "samples.parquet"))
    store.close()
    assert per_job == [1000] * 60
    loaded = load_runs([store.run_dir])
    assert len(loaded.results) == 60
    assert len(loaded.samples) == 60 * 1000


def test_a_crash_before_the_row_leaves_no_finished_job_without_samples(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = new_store(tmp_path)
    store.add(row("kept"), (1.0, 1.1, 0.9))
    real = store_module.atomic_write_parquet

    def crash_on_results(path: Path, frame: pd.DataFrame) -> None:
        if path.name == store_module.RESULTS_FILE:
            raise OSError("disk died")
        real(path, frame)

    monkeypatch.setattr(store_module, "atomic_write_parquet", crash_on_results)
    with pytest.raises(OSError):
        store.add(row("lost"), (5.0, 5.0, 5.0))
    store.close()
    monkeypatch.undo()

    loaded = load_runs([store.run_dir])
    assert list(loaded.results["model"]) == ["kept"]
    assert set(loaded.samples["model"]) == {"kept"}  # the orphan samples are not shown
    reopened = RunStore.open_existing(store.run_dir)
    assert reopened.finished_jobs() == {("kept", "float32", "cpu-xnnpack", 1)}
    reopened.close()


def test_repeats_keep_their_own_samples_and_lines(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    for repeat in range(3):
        store.add(row("m", repeats=repeat + 1), (1.0 + repeat,) * 4, repeat=repeat,
                  repeat_line={"status": "ok", "latency_ms_p50": 1.0 + repeat})
    store.close()
    loaded = load_runs([store.run_dir])
    assert len(loaded.results) == 1
    assert sorted(loaded.repeats["repeat"]) == [0, 1, 2]
    assert list(loaded.repeats.sort_values("repeat")["latency_ms_p50"]) == [1.0, 2.0, 3.0]
    per_repeat = loaded.samples.groupby("repeat")["latency_ms"].first().to_dict()
    assert per_repeat == {0: 1.0, 1: 2.0, 2: 3.0}


def test_a_run_written_before_sample_parts_resumes(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    store.add(row("old"), (1.0, 2.0))
    store.close()
    parts = store.run_dir / "samples.parquet"
    legacy = pd.read_parquet(parts).drop(columns=["repeat"])
    for part in parts.iterdir():
        part.unlink()
    parts.rmdir()
    legacy.to_parquet(parts)  # one file, as older qatbench wrote it

    reopened = RunStore.open_existing(store.run_dir)
    reopened.add(row("new"), (3.0, 4.0))
    reopened.close()
    loaded = load_runs([store.run_dir])
    assert sorted(loaded.samples["model"].unique()) == ["new", "old"]
    assert len(loaded.repeats) == 2  # one unit per row for the old one


def test_forget_makes_jobs_run_again(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    store.add(row("bad", status="failed"))
    store.add(row("good"), (1.0,))
    store.forget({("bad", "float32", "cpu-xnnpack", 1)})
    assert store.finished_jobs() == {("good", "float32", "cpu-xnnpack", 1)}
    store.close()


@pytest.mark.parametrize("problem", ["file", "unwritable"])
def test_unusable_results_roots_are_clear_errors(tmp_path: Path, problem: str) -> None:
    if problem == "file":
        root = tmp_path / "results"
        root.write_text("not a directory")
        expected = "is a file"
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        root = locked / "results"
        expected = "cannot write"
        if __import__("os").geteuid() == 0:
            pytest.skip("allowed on CI: root writes anywhere (CI containers may run as "
                        "root); covered by the CLI test with a file path")
    with pytest.raises(RunDirError, match=expected):
        RunStore.create(root)
