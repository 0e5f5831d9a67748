"""The run store's promises that `nox -s mutation` found no test holding: what a resumed
run reads back (only committed repeats, its own run id, its repeat lines and samples),
what ``--retry-failed`` removes from disk, an old single-file sample table rewritten as
parts even after a crash mid-way, and the damaged-file errors (results, repeats, command,
environment, config) naming the file, what is wrong and what to do. Every expectation is
stated here, not computed by the store."""

from __future__ import annotations

import json
import os
import re
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from qatbench.bench.storage import store as store_module
from qatbench.bench.storage.layout import (
    COMMAND_FILE,
    CONFIG_FILE,
    ENVIRONMENT_FILE,
    REPEATS_FILE,
    RESULTS_FILE,
    SAMPLES_FILE,
)
from qatbench.bench.storage.schema import RESULT_COLUMNS, SAMPLE_COLUMNS
from qatbench.bench.storage.store import (
    DamagedStoreFile,
    RunDirError,
    RunStore,
    new_run_id,
    read_command,
    read_config,
    read_environment,
    read_samples,
)
from qatbench.bench.storage.upgrade import FORMAT_VERSION, NewerRunFormat
from tests.bench.storage.damaged import refusal
from tests.bench.storage.old_runs import copy_old_run

A = ("a", "float32", "cpu-xnnpack", 1)
B = ("b", "float32", "cpu-xnnpack", 1)


def row(model: str, run_id: str = "r", **extra) -> dict:
    return {"run_id": run_id, "started_at": "2026-11-27T00:00:00", "model": model,
            "variant": "float32", "target": "cpu-xnnpack", "device": "host", "threads": 1,
            "fingerprint": "abc", "status": "ok", "latency_ms_p50": 1.0, **extra}


def new_store(root: Path, run_id: str = "r") -> RunStore:
    store = RunStore.create(root, run_id)
    store.write_json("config.json", {})
    return store


def add_repeats(store: RunStore, model: str, count: int, run_id: str = "r") -> None:
    """``count`` repeats of one job, repeat k timed at k+1 ms (4 samples each)."""
    for repeat in range(count):
        store.add(row(model, run_id, repeats=repeat + 1), (1.0 + repeat,) * 4,
                  repeat=repeat, repeat_line={"status": "ok", "latency_ms_p50": 1.0 + repeat})


def part_files(store: RunStore) -> list[str]:
    return sorted(p.name for p in (store.run_dir / SAMPLES_FILE).iterdir())


# -- what a resumed run reads back ------------------------------------------------------------

def test_a_resumed_run_reads_back_every_repeat_line_and_its_samples(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    add_repeats(store, "a", 3)
    add_repeats(store, "b", 2)
    store.close()

    reopened = RunStore.open_existing(store.run_dir)
    assert reopened.repeats_done(A) == 3
    assert reopened.repeats_done(B) == 2
    assert [line["latency_ms_p50"] for line in reopened.repeat_lines(A)] == [1.0, 2.0, 3.0]
    assert [line["repeat"] for line in reopened.repeat_lines(B)] == [0, 1]
    samples = reopened.repeat_samples(A)
    assert sorted(samples) == [0, 1, 2]
    assert samples[2].tolist() == [3.0] * 4
    # the parts read back are the samples table, no column added on the way
    assert set(reopened.samples.columns) == set(SAMPLE_COLUMNS)
    assert len(reopened.samples) == 5 * 4
    # the rows are there to report (not a stale cache of nothing)
    assert sorted(reopened.results["model"]) == ["a", "b"]
    reopened.close()


def test_a_repeat_the_rows_never_counted_is_not_resumed_as_done(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A crash between a repeat's line and its row: the repeat is measured again, and a
    job with no row at all has no repeat done (else ``--resume`` would skip it)."""
    store = new_store(tmp_path)
    add_repeats(store, "a", 1)  # row says 1 repeat
    real = store_module.atomic_write_parquet

    def crash_on_results(path: Path, frame: pd.DataFrame) -> None:
        if path.name == RESULTS_FILE:
            raise OSError("disk died")
        real(path, frame)

    monkeypatch.setattr(store_module, "atomic_write_parquet", crash_on_results)
    with pytest.raises(OSError):  # repeat 1 of a: samples and line written, no row
        store.add(row("a", repeats=2), (9.0,) * 4, repeat=1,
                  repeat_line={"status": "ok", "latency_ms_p50": 9.0})
    with pytest.raises(OSError):  # b: samples and line, never a row
        store.add(row("b", repeats=1), (9.0,) * 4, repeat=0,
                  repeat_line={"status": "ok", "latency_ms_p50": 9.0})
    store.close()
    monkeypatch.undo()
    repeats_on_disk = pd.read_parquet(store.run_dir / REPEATS_FILE)
    assert len(repeats_on_disk) == 3  # the uncommitted lines really are there

    reopened = RunStore.open_existing(store.run_dir)
    assert reopened.repeats_done(A) == 1
    assert sorted(reopened.repeat_samples(A)) == [0]
    assert reopened.repeats_done(B) == 0
    assert reopened.repeat_samples(B) == {}
    reopened.close()


def test_a_row_without_a_repeat_count_keeps_its_repeats(tmp_path: Path) -> None:
    """A row whose ``repeats`` is missing (NaN on disk) counts every repeat it has."""
    store = new_store(tmp_path)
    store.add(row("a"), (1.0,) * 4, repeat=0, repeat_line={"status": "ok"})
    store.close()
    assert pd.read_parquet(store.run_dir / RESULTS_FILE)["repeats"].isna().all()

    reopened = RunStore.open_existing(store.run_dir)
    assert reopened.repeats_done(A) == 1
    assert sorted(reopened.repeat_samples(A)) == [0]
    reopened.close()


def test_a_copied_run_keeps_its_rows_run_id_and_an_empty_one_takes_its_folders(
        tmp_path: Path) -> None:
    store = new_store(tmp_path / "one", "20261127T000000Z-aaaaaa")
    store.add(row("a", run_id="20261127T000000Z-aaaaaa"), (1.0,))
    store.close()
    copy = tmp_path / "copy-of-the-run"
    store.run_dir.rename(copy)
    reopened = RunStore.open_existing(copy)
    assert reopened.run_id == "20261127T000000Z-aaaaaa"  # the rows', not the folder's
    reopened.close()

    empty = new_store(tmp_path / "two", "20261128T000000Z-bbbbbb")
    empty.close()
    assert RunStore.open_existing(empty.run_dir).run_id == "20261128T000000Z-bbbbbb"


def test_a_resumed_old_run_finds_the_files_its_rows_timed(tmp_path: Path) -> None:
    run_dir = copy_old_run("before_format_versions", tmp_path)
    store = RunStore.open_existing(run_dir)
    files = {job[1]: store.row(job)["model_file"] for job in store.finished_jobs()}
    store.close()
    assert files == {"float32": "artifacts/digits_cnn/float32.tflite",
                     "ptq_int8": "artifacts/digits_cnn/ptq_int8.tflite"}


# -- --retry-failed and sample parts on disk -----------------------------------------------------

def test_forget_removes_the_jobs_repeats_and_sample_files_and_keeps_the_others(
        tmp_path: Path) -> None:
    store = new_store(tmp_path)
    add_repeats(store, "a", 2)
    add_repeats(store, "b", 2)
    b_parts = [name for name in part_files(store) if name.startswith("b-")]
    assert len(b_parts) == 2 and len(part_files(store)) == 4

    store.forget({A, ("never-ran", "float32", "cpu-xnnpack", 1)})  # a job with no row too
    assert part_files(store) == b_parts
    assert store.repeats_done(A) == 0 and store.repeat_samples(A) == {}
    assert store.repeats_done(B) == 2 and sorted(store.repeat_samples(B)) == [0, 1]
    assert set(pd.read_parquet(store.run_dir / REPEATS_FILE)["model"]) == {"b"}
    store.close()


def test_forget_tolerates_a_sample_part_already_gone(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    add_repeats(store, "a", 1)
    (part,) = (store.run_dir / SAMPLES_FILE).iterdir()
    part.unlink()  # removed by hand, or by a crash after the unlink
    store.forget({A})
    assert store.finished_jobs() == set()
    store.close()


def test_a_repeat_stored_again_without_samples_drops_its_old_part(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    add_repeats(store, "a", 1)
    add_repeats(store, "b", 1)
    store.add(row("a", repeats=1, status="failed"), (), repeat=0)
    assert [name[:2] for name in part_files(store)] == ["b-"]
    assert store.repeat_samples(A) == {}
    store.close()


def _as_single_file(store: RunStore) -> None:
    """Turn the run's sample parts into the single table older qatbench wrote."""
    parts = store.run_dir / SAMPLES_FILE
    legacy = pd.read_parquet(parts).drop(columns=["repeat"])
    for part in parts.iterdir():
        part.unlink()
    parts.rmdir()
    legacy.to_parquet(parts)


def test_an_old_sample_table_rewritten_as_parts_is_the_parts_todays_store_names(
        tmp_path: Path) -> None:
    """After the rewrite, forgetting the old job removes its samples from disk (the part
    has the name ``add`` gives repeat 0), even if an earlier rewrite crashed mid-way and
    left its staging folder."""
    store = new_store(tmp_path)
    store.add(row("a"), (1.0, 2.0))
    store.close()
    _as_single_file(store)
    (store.run_dir / f".{SAMPLES_FILE}.parts").mkdir()  # a crashed rewrite's leftovers

    reopened = RunStore.open_existing(store.run_dir)
    assert (reopened.run_dir / SAMPLES_FILE).is_dir()
    assert reopened.repeat_samples(A)[0].tolist() == [1.0, 2.0]
    reopened.forget({A})
    assert part_files(reopened) == []
    reopened.close()


def test_no_samples_or_rows_is_an_empty_table_with_the_documented_columns(
        tmp_path: Path) -> None:
    empty = tmp_path / SAMPLES_FILE
    empty.mkdir()
    read = read_samples(empty)
    assert list(read.columns) == list(SAMPLE_COLUMNS)
    assert read.empty
    store = new_store(tmp_path / "run")
    assert list(store.samples.columns) == list(SAMPLE_COLUMNS)
    assert str(store.samples["latency_ms"].dtype) == "float64"
    results = store.results  # a run before its first row: every results column, typed
    assert results.empty
    assert list(results.columns)[:len(RESULT_COLUMNS)] == list(RESULT_COLUMNS)
    assert {c: str(results[c].dtype) for c in RESULT_COLUMNS} == RESULT_COLUMNS
    store.close()


# -- names -------------------------------------------------------------------------------------

def test_a_run_id_is_utc_time_then_six_hex_digits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Pacific/Kiritimati")  # UTC+14: a local time is another day
    time.tzset()
    try:
        before = datetime.now(UTC)
        made = new_run_id()
        after = datetime.now(UTC)
    finally:
        monkeypatch.undo()
        time.tzset()
    assert re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{6}", made), made
    stamped = datetime.strptime(made[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    assert before.replace(microsecond=0) <= stamped <= after


# -- damaged files: the file, what is wrong, what to do ------------------------------------------

def test_a_damaged_results_or_repeats_table_is_named_with_what_to_do(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    add_repeats(store, "a", 2)
    store.close()
    for name, advice in ((REPEATS_FILE, "one line per repeat"),
                         (RESULTS_FILE, "results.csv beside it has the same rows")):
        path = store.run_dir / name
        kept = path.read_bytes()
        path.write_bytes(b"not parquet")
        with pytest.raises(DamagedStoreFile) as raised:
            RunStore.open_existing(store.run_dir)
        assert raised.value.path == path
        assert str(raised.value).startswith(f"{path} is damaged (")
        assert advice in str(raised.value)
        path.write_bytes(kept)


@pytest.mark.parametrize(("text", "problem"), [
    ("{not json", "JSONDecodeError"),
    ('{"files": []}', "KeyError"),
    ('["bench"]', "TypeError"),
])
def test_a_damaged_command_record_is_named_with_the_error_and_what_to_do(
        tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / COMMAND_FILE
    path.write_text(text)
    message = refusal(read_command, tmp_path, path)
    assert message.startswith(f"{path} is damaged ({problem}: ")
    assert "restore it from a copy of the run directory" in message


RESUME_ADVICE = "the run cannot be resumed -- start a new run, or restore config.json from a copy"


@pytest.mark.parametrize(("text", "said"), [
    ("{not json", "(Expecting property name enclosed in double quotes: line 1 column 2 "
                  f"(char 1)); {RESUME_ADVICE}"),
    ("", f"(Expecting value: line 1 column 1 (char 0)); {RESUME_ADVICE}"),  # written empty
    ('["run"]', "(not a JSON object); start a new run"),
])
def test_a_corrupt_config_is_named_with_what_is_wrong_and_what_to_do(
        tmp_path: Path, text: str, said: str) -> None:
    """What ``--resume`` (and every reader of the run's configuration) says of a
    config.json it cannot use: the file, the JSON error, and that the run cannot go on."""
    path = tmp_path / CONFIG_FILE
    path.write_text(text)
    assert refusal(read_config, tmp_path, path) == f"{path} is corrupt {said}. Nothing was changed"


def test_a_folder_without_a_config_is_named_as_no_run_directory(tmp_path: Path) -> None:
    with pytest.raises(RunDirError) as raised:
        read_config(tmp_path)
    assert str(raised.value) == f"{tmp_path}: not a qatbench run directory (no config.json)"


def test_a_command_record_without_files_times_none_and_a_newer_one_is_named(
        tmp_path: Path) -> None:
    store = new_store(tmp_path)
    store.write_command({"command": "bench"})
    assert read_command(store.run_dir) == {"command": "bench", "files": []}
    path = store.run_dir / COMMAND_FILE
    path.write_text(json.dumps({"command": "bench", "format_version": FORMAT_VERSION + 1}))
    with pytest.raises(NewerRunFormat, match=re.escape(f"{path}: ")):
        read_command(store.run_dir)
    store.close()


GOOD_ENVIRONMENT = {"host": "h", "cpu_model": "c", "cpu_count": 2, "machine": "x86_64",
                    "python": "3.11", "git_commit": "abc"}


@pytest.mark.parametrize(("text", "problem"), [
    ("{not json", "Expecting property name"),
    ("[1, 2]", "not a JSON object"),
    (json.dumps({"host": "h", "cpu_count": 2}), "no cpu_model, machine, python, git_commit)"),
    (json.dumps({**GOOD_ENVIRONMENT, "host": 1, "cpu_count": "2"}),
     "of the wrong type: host=1, cpu_count='2'"),
    (json.dumps({**GOOD_ENVIRONMENT, "load_average": ["a", "b", "c"]}),
     "of the wrong type: load_average=['a', 'b', 'c']"),
])
def test_a_damaged_environment_record_is_named_with_the_problem_and_what_to_do(
        tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / ENVIRONMENT_FILE
    path.write_text(text)
    message = refusal(read_environment, tmp_path, path)
    assert message.startswith(f"{path} is damaged ({problem}")
    assert "it records the host the run was measured on" in message
    assert message.endswith("Nothing was changed")


def test_an_environment_record_as_written_is_read(tmp_path: Path) -> None:
    record = {**GOOD_ENVIRONMENT, "load_average": [0.5, 1, 2.0]}
    (tmp_path / ENVIRONMENT_FILE).write_text(json.dumps(record))
    assert read_environment(tmp_path) == record
    assert os.path.exists(tmp_path / ENVIRONMENT_FILE)


# -- a full disk and the gate's column ---------------------------------------------------------

def test_only_rows_that_failed_for_a_full_disk_run_again_once_space_is_freed(
        tmp_path: Path) -> None:
    full, quota = os.strerror(28), os.strerror(122)  # ENOSPC, EDQUOT on Linux
    assert store_module.failed_for_space(f"OSError: [Errno 28] {full}: '/x'")
    assert store_module.failed_for_space(f"write failed: {quota}")
    assert not store_module.failed_for_space("the model did not convert")
    assert not store_module.failed_for_space(float("nan"))  # a row with no error
    store = new_store(tmp_path)
    store.add(row("a", status="failed", error=f"[Errno 28] {full}"))
    store.add(row("b", status="failed", error="the delegate refused the model"))
    store.add(row("c", error=f"warning seen: {full}"))  # finished: kept
    store.add(row("d", status="failed"))
    assert store.jobs_failed_for_space() == {A}
    store.close()


def test_the_gates_column_is_set_on_the_rows_named_and_written(tmp_path: Path) -> None:
    store = new_store(tmp_path)
    store.add(row("a"))
    store.add(row("b"))
    store.set_cells("decision", {A: "faster", ("gone", "float32", "cpu-xnnpack", 1): "x"})
    on_disk = pd.read_parquet(store.run_dir / RESULTS_FILE).set_index("model")["decision"]
    assert on_disk.get("a") == "faster"
    assert pd.isna(on_disk.get("b"))
    assert set(on_disk.index) == {"a", "b"}
    store.close()
