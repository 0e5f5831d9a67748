"""``qatbench bench`` runs: what ``run --resume`` does with them, and how the files and
their interpreter are checked (issue 24, item 3). Commands run in process through
``cli.main``, as the ``qatbench`` script runs them."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

from qatbench.bench import cli
from qatbench.bench.orchestration import runner
from qatbench.bench.storage.key import RowKey
from qatbench.bench.storage.store import COMMAND_FILE, RESULTS_FILE, RunStore
from qatbench.targets.timing import usable_cores
from tests.bench.cli_in_process import keep_sigterm, run_qatbench  # noqa: F401

FAST = ("--min-runs", "3", "--min-secs", "0", "--warmup-runs", "0")


# every test here runs ``cli.main``, which installs a SIGTERM handler
pytestmark = pytest.mark.usefixtures("keep_sigterm")


def qatbench(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture,
             *args: str) -> tuple[int, str]:
    return run_qatbench(monkeypatch, capsys, *args)


def only_run(root: Path) -> Path:
    (run_dir,) = [p for p in root.iterdir() if p.is_dir()]
    return run_dir


def rows(run_dir: Path) -> pd.DataFrame:
    return pd.read_parquet(run_dir / RESULTS_FILE)


@pytest.fixture
def interrupted_bench(tmp_path: Path, float_tflite: Path, int8_tflite: Path,
                      monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> Path:
    """A `bench` run of two files whose second job did not finish (the store forgets its
    row: the state a run interrupted after the first commit is in)."""
    out = tmp_path / "results"
    code, output = qatbench(monkeypatch, capsys, "bench", str(float_tflite),
                            str(int8_tflite), "--out", str(out), *FAST)
    assert code == 0, output
    run_dir = only_run(out)
    store = RunStore.open_existing(run_dir)
    (second,) = [row for row in store.results.to_dict("records")
                 if row["model"] == int8_tflite.stem]
    store.forget({RowKey.of(second).job})
    store.close()
    assert len(rows(run_dir)) == 1
    return run_dir


def test_resume_of_a_bench_run_times_its_files_not_the_zoo(
        interrupted_bench: Path, int8_tflite: Path, float_tflite: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """`bench` tells the user to `run --resume` an interrupted run; that used to build
    zoo models into it instead of timing its files."""

    def no_zoo(*args, **kwargs):
        raise AssertionError("a zoo build was started in a bench run")

    monkeypatch.setattr(runner, "zoo_provider", no_zoo)
    code, output = qatbench(monkeypatch, capsys, "run", "--resume", str(interrupted_bench))
    assert code == 0, output
    done = rows(interrupted_bench)
    assert sorted(done["model"]) == sorted([float_tflite.stem, int8_tflite.stem])
    assert set(done["status"]) == {"ok"}
    assert not (interrupted_bench / "artifacts").exists()


def test_resume_of_a_bench_run_whose_file_is_gone_is_exit_2_naming_it(
        interrupted_bench: Path, int8_tflite: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    import json

    record = interrupted_bench / COMMAND_FILE
    data = json.loads(record.read_text())
    gone = tmp_path / "moved-away.tflite"
    data["files"][-1] = str(gone)
    record.write_text(json.dumps(data))
    code, output = qatbench(monkeypatch, capsys, "run", "--resume", str(interrupted_bench))
    assert code == 2, output
    assert str(gone) in output and "qatbench bench" in output
    assert len(rows(interrupted_bench)) == 1


def test_resume_of_a_bench_run_from_before_the_record_is_refused(
        interrupted_bench: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    (interrupted_bench / COMMAND_FILE).unlink()
    code, output = qatbench(monkeypatch, capsys, "run", "--resume", str(interrupted_bench))
    assert code == 2, output
    assert "qatbench bench" in output and COMMAND_FILE in output
    assert len(rows(interrupted_bench)) == 1
    assert not (interrupted_bench / "artifacts").exists()


# -- a target's own interpreter (``python = ...``) that cannot time ----------------------

def hanging_interpreter(tmp_path: Path) -> tuple[Path, Path]:
    """(an "interpreter" that never answers, the file its grandchild writes its pid to):
    a wrapper script whose child holds the output pipe open -- what hung the probe."""
    pid_file = tmp_path / "grandchild.pid"
    script = tmp_path / "python-that-hangs"
    script.write_text(f"#!/bin/sh\nsleep 300 &\necho $! > {pid_file}\nwait\n")
    script.chmod(0o755)
    return script, pid_file


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "zombie" not in state


def bench_with_python(python: str, model: Path, tmp_path: Path, monkeypatch, capsys,
                      *extra: str) -> tuple[int, str, pd.DataFrame]:
    config = tmp_path / "venv.toml"
    config.write_text(f'[targets.cpu-xnnpack]\npython = "{python}"\n')
    out = tmp_path / "results"
    code, output = qatbench(monkeypatch, capsys, "bench", str(model), "--config",
                            str(config), "--out", str(out), *FAST, *extra)
    return code, output, rows(only_run(out))


@pytest.mark.parametrize("python", ["/bin/false", "/nonexistent/bin/python3"])
def test_an_interpreter_that_cannot_time_gives_unavailable_rows_and_exit_1(
        python: str, float_tflite: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    """It used to be exit 0 with nothing measured."""
    code, output, found = bench_with_python(python, float_tflite, tmp_path, monkeypatch,
                                            capsys)
    assert code == 1, output
    (row,) = found.to_dict("records")
    assert row["status"] == "unavailable"
    assert python in row["error"]
    assert python in " ".join(output.split())


def test_the_interpreter_probe_honours_timeout_and_kills_what_it_started(
        float_tflite: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    """It waited a fixed 120 s whatever --timeout said, then left the grandchild."""
    import time

    script, pid_file = hanging_interpreter(tmp_path)
    started = time.monotonic()
    code, output, found = bench_with_python(str(script), float_tflite, tmp_path,
                                            monkeypatch, capsys, "--timeout", "2")
    assert time.monotonic() - started < 30, "the probe did not honour --timeout 2"
    assert code == 1, output
    (row,) = found.to_dict("records")
    assert row["status"] == "unavailable" and "within 2s" in row["error"]
    grandchild = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(grandchild), "the probe left its grandchild running"


def test_more_threads_than_cores_is_timed_but_warned_and_noted(
        float_tflite: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    """An "ok" row ~70x slower without a word: not refused (a user may mean it), but
    said on stderr and kept in the row's note, which the report lists."""
    threads = usable_cores() + 1
    out = tmp_path / "results"
    monkeypatch.setattr(sys, "argv", ["qatbench", "bench", str(float_tflite), "--threads",
                                      str(threads), "--out", str(out), *FAST])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    captured = capsys.readouterr()
    assert exited.value.code in (0, None), captured.out + captured.err
    (row,) = rows(only_run(out)).to_dict("records")
    assert row["status"] == "ok"
    assert f"{threads} threads on {threads - 1} cores" in row["note"]
    assert f"{threads} threads on {threads - 1} cores" in " ".join(captured.err.split())
    assert "oversubscribed" in (only_run(out) / "report.md").read_text()


# -- what a model path is, when it is not a model file -----------------------------------

def _directory(tmp_path: Path) -> Path:
    path = tmp_path / "models"
    path.mkdir()
    return path


def _fifo(tmp_path: Path) -> Path:
    import os

    path = tmp_path / "model.tflite"
    os.mkfifo(path)  # reading it would block until a writer came
    return path


def _loop(tmp_path: Path) -> Path:
    (tmp_path / "a.tflite").symlink_to(tmp_path / "b.tflite")
    (tmp_path / "b.tflite").symlink_to(tmp_path / "a.tflite")
    return tmp_path / "a.tflite"


NOT_MODEL_FILES = {
    "directory": (_directory, "is a directory"),
    "fifo": (_fifo, "is not a regular file (a FIFO)"),
    "symlink-loop": (_loop, "symlink loop"),
    "dev-zero": (lambda tmp_path: Path("/dev/zero"), "is not a regular file (a character"),
    "missing": (lambda tmp_path: tmp_path / "absent.tflite", "no such file"),
}


@pytest.mark.parametrize("command", ["bench", "profile"])
@pytest.mark.parametrize("kind", list(NOT_MODEL_FILES))
def test_a_path_that_is_not_a_model_file_says_what_it_is(
        kind: str, command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    """All were "no such file"; a FIFO must never be opened (it would block)."""
    make, expected = NOT_MODEL_FILES[kind]
    path = make(tmp_path)
    out = tmp_path / "results"
    code, output = qatbench(monkeypatch, capsys, command, str(path), "--out", str(out))
    text = " ".join(output.split())
    assert code == 2, output
    assert f"{path}: {expected}" in text or (str(path) in text and expected in text), text
    if kind != "missing":
        assert "no such file" not in text
    assert not out.exists() or not any(out.iterdir()), "a run directory was left behind"


def test_profile_refusing_a_corrupt_file_leaves_no_run_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    corrupt = tmp_path / "corrupt.tflite"
    corrupt.write_bytes(b"TFL3 but nothing a flatbuffer parser accepts" * 4)
    out = tmp_path / "results"
    code, output = qatbench(monkeypatch, capsys, "profile", str(corrupt), "--out", str(out))
    assert code == 2, output
    assert str(corrupt) in " ".join(output.split())
    assert not out.exists() or not any(out.iterdir()), "an empty run directory was left"


def test_profile_names_no_profile_file_it_did_not_write(
        float_tflite: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    """A target that cannot profile (it does not declare the capability): nothing is
    written, and the output must not point at a profile.parquet that is not there."""
    out = tmp_path / "results"
    code, output = qatbench(monkeypatch, capsys, "profile", str(float_tflite), "--targets",
                            "edgetpu", "--out", str(out))
    assert code == 1, output
    run_dir = only_run(out)
    assert not (run_dir / "profile.parquet").exists()
    text = " ".join(output.split())
    assert "profile.parquet" not in text and "no profile was written" in text
