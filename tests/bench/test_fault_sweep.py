"""The fault sweep of issue 24, kept as tests: a damaged file of a run directory under
every command that reads it, and an output that cannot be written under every command
that writes one, end in exit 2 naming the file or path -- never a traceback, never exit 1
(which ``compare`` uses for "regression found") -- and nothing already on disk changes.
Anything unforeseen is exit 70 with one line and the path of the saved traceback.

A new command is covered by adding it to ``READERS`` or ``WRITERS``. The run directories
are written by the product's own store (``runs_helpers.write_run``). Commands run in
process through ``cli.main`` (what the ``qatbench`` script calls), so a full disk and, as
root (where chmod stops nothing), a read-only directory can be simulated by patching the
system calls the atomic writer makes.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from qatbench.bench import cli
from qatbench.bench.storage.profiles import PROFILE_FILE
from qatbench.bench.storage.store import ENVIRONMENT_FILE, RESULTS_FILE, SAMPLES_FILE
from tests.bench.cli_in_process import keep_sigterm, run_qatbench  # noqa: F401
from tests.bench.runs_helpers import matrix, write_run

BASE_ID, CURRENT_ID = "20260101T000000Z-aaaaaa", "20260102T000000Z-bbbbbb"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A results root with two runs of the same matrix (BASE, then CURRENT)."""
    results = tmp_path / "results"
    write_run(results, BASE_ID, matrix(1.0, 0, n=60), started_at="2026-01-01T00:00:00")
    write_run(results, CURRENT_ID, matrix(1.0, 7, n=60), started_at="2026-01-02T00:00:00")
    return results


# every test here runs ``cli.main``, which installs a SIGTERM handler
pytestmark = pytest.mark.usefixtures("keep_sigterm")


def qatbench(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture,
             *args: str) -> tuple[int, str]:
    return run_qatbench(monkeypatch, capsys, *args)


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` and its bytes (the lock file's pid aside)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != ".lock"}


def assert_unchanged(before: dict[str, bytes], root: Path) -> None:
    after = snapshot(root)
    changed = [name for name, data in before.items() if after.get(name) != data]
    assert not changed, f"changed or removed: {changed}"


def assert_clean_exit_2(code: int, output: str, named: Path) -> None:
    assert code == 2, output
    assert str(named) in output, output
    assert "Traceback" not in output


# -- damaged store file x command --------------------------------------------------------

def _garbage(path: Path) -> Path:
    path.write_bytes(b"this is not a parquet file\n")
    return path


def _truncated(path: Path) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _first_part(run: Path) -> Path:
    return sorted((run / SAMPLES_FILE).glob("*.parquet"))[0]


def _stray(run: Path) -> Path:
    path = run / SAMPLES_FILE / "notes.txt"
    path.write_text("a note someone left here\n")
    return path


# name -> damage the CURRENT run, return the file the message must name
DAMAGES: dict[str, Callable[[Path], Path]] = {
    "results-garbage": lambda run: _garbage(run / RESULTS_FILE),
    "results-truncated": lambda run: _truncated(run / RESULTS_FILE),
    "repeats-garbage": lambda run: _garbage(run / "repeats.parquet"),
    "repeats-truncated": lambda run: _truncated(run / "repeats.parquet"),
    "sample-part-truncated": lambda run: _truncated(_first_part(run)),
    "sample-part-garbage": lambda run: _garbage(_first_part(run)),
    "stray-file-in-samples": _stray,
}

# name -> the command line, given the results root and the damaged (CURRENT) run
READERS: dict[str, Callable[[Path, Path], list[str]]] = {
    "report": lambda root, run: ["report", str(run)],
    "report-latest": lambda root, run: ["report", "--latest", str(root)],
    "compare": lambda root, run: ["compare", str(root / BASE_ID), str(run)],
    "compare-damaged-base": lambda root, run: ["compare", str(run), str(root / BASE_ID)],
    "history": lambda root, run: ["history", str(root)],
    "plot-history": lambda root, run: ["plot", "history", str(root)],
    "run-resume": lambda root, run: ["run", "--resume", str(run)],
}


@pytest.mark.parametrize("command", list(READERS))
@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_store_file_is_exit_2_naming_it(
        root: Path, damage: str, command: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    damaged = DAMAGES[damage](root / CURRENT_ID)
    before = snapshot(root)
    code, output = qatbench(monkeypatch, capsys, *READERS[command](root, root / CURRENT_ID))
    assert_clean_exit_2(code, output, damaged)
    assert "damaged" in output or "not a sample part" in output
    assert_unchanged(before, root)
    assert not (root / "history.png").exists()


def _predictions_of_int8(run: Path) -> Path:
    """Where the store keeps the CURRENT qat_int8 row's predictions (the product's path)."""
    from qatbench.bench.storage.key import RowKey
    from qatbench.bench.storage.predictions import predictions_path

    rows = pd.read_parquet(run / RESULTS_FILE).to_dict("records")
    (row,) = [r for r in rows if r["variant"] == "qat_int8"]
    path = predictions_path(run, RowKey.of(row))
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _environment(run: Path, text: str) -> Path:
    path = run / ENVIRONMENT_FILE
    path.write_text(text)
    return path


def _environment_field(run: Path, key: str, value: object) -> Path:
    """The environment the product captured, with one field of the wrong type."""
    from qatbench.bench.storage.environment import capture_environment

    return _environment(run, json.dumps({**capture_environment().to_dict(), key: value}))


def _copy(source: Path, target: Path) -> Path:
    target.write_bytes(source.read_bytes())
    return target


# The files beside the tables, and the commands that read them: name -> (damage the
# CURRENT run and return the file the message must name, the READERS that read it)
SIDE_DAMAGES: dict[str, tuple[Callable[[Path], Path], list[str]]] = {
    "environment-garbage": (lambda run: _environment(run, "{not json"),
                            ["report", "report-latest"]),
    "environment-not-an-object": (lambda run: _environment(run, "[1, 2]"),
                                  ["report", "report-latest"]),
    "environment-fields-missing": (lambda run: _environment(run, '{"host": "lab"}'),
                                   ["report", "report-latest"]),
    "environment-load-average-high": (lambda run: _environment_field(
        run, "load_average", "high"), ["report", "report-latest"]),
    "environment-cpu-count-text": (lambda run: _environment_field(run, "cpu_count", "two"),
                                   ["report"]),
    "profile-garbage": (lambda run: _garbage(run / PROFILE_FILE), ["report", "report-latest"]),
    "profile-is-a-results-table": (lambda run: _copy(run / RESULTS_FILE, run / PROFILE_FILE),
                                   ["report", "report-latest"]),
    "predictions-garbage": (lambda run: _garbage(_predictions_of_int8(run)),
                            ["report", "compare", "compare-damaged-base"]),
    "predictions-truncated": (
        lambda run: _truncated_predictions(_predictions_of_int8(run)),
        ["report", "compare", "compare-damaged-base"]),
}


def _truncated_predictions(path: Path) -> Path:
    """A predictions file the product wrote, cut in half."""
    from qatbench.bench.storage.predictions import Predictions, save_predictions

    labels = np.arange(40) % 10
    written = save_predictions(path.parents[1], _key_of(path), Predictions(
        labels, labels, labels, "digest"))
    assert written == path
    return _truncated(path)


def _key_of(path: Path):
    from qatbench.bench.storage.key import RowKey
    from qatbench.bench.storage.predictions import predictions_path

    run = path.parents[1]
    for row in pd.read_parquet(run / RESULTS_FILE).to_dict("records"):
        if predictions_path(run, RowKey.of(row)) == path:
            return RowKey.of(row)
    raise AssertionError(f"no row keeps its predictions at {path}")


@pytest.mark.parametrize(("damage", "command"), [
    (damage, command) for damage, (_, readers) in SIDE_DAMAGES.items() for command in readers])
def test_a_damaged_side_file_is_exit_2_naming_it(
        root: Path, damage: str, command: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    damaged = SIDE_DAMAGES[damage][0](root / CURRENT_ID)
    before = snapshot(root)
    code, output = qatbench(monkeypatch, capsys, *READERS[command](root, root / CURRENT_ID))
    assert_clean_exit_2(code, output, damaged)
    assert "damaged" in output
    assert_unchanged(before, root)


def test_a_damaged_config_is_exit_2_on_resume(root: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture) -> None:
    damaged = _garbage(root / CURRENT_ID / "config.json")
    before = snapshot(root)
    code, output = qatbench(monkeypatch, capsys, "run", "--resume", str(root / CURRENT_ID))
    assert_clean_exit_2(code, output, damaged)
    assert_unchanged(before, root)


def test_hidden_temporary_files_in_samples_are_not_damage(
        root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """What a writer killed mid-write leaves (``.name.pid.tmp``) is skipped, as pyarrow
    skips it."""
    from qatbench.bench.storage.runs import load_runs

    run = root / CURRENT_ID
    whole = load_runs([run])
    temporary = run / SAMPLES_FILE / ".x.parquet.123.tmp"
    temporary.write_bytes(b"half")
    code, output = qatbench(monkeypatch, capsys, "report", str(run))
    assert code == 0, output
    assert "2 rows from 1 run(s)" in output
    read = load_runs([run])  # every sample of both rows, nothing of the half-written file
    assert len(read.samples) == len(whole.samples) == 2 * 60
    pd.testing.assert_frame_equal(read.samples, whole.samples)
    assert temporary.read_bytes() == b"half"  # not the reader's to remove


# -- unwritable output x command ---------------------------------------------------------

def read_only(directory: Path, monkeypatch: pytest.MonkeyPatch,
              request: pytest.FixtureRequest) -> None:
    """Make ``directory`` read-only: chmod, or as root (whom chmod does not stop) every
    rename into it fails with EROFS, as on a read-only mount."""
    if os.geteuid() != 0:
        folders = [directory, *(p for p in directory.rglob("*") if p.is_dir())]
        for folder in folders:
            folder.chmod(0o555)
        request.addfinalizer(lambda: [folder.chmod(0o755) for folder in folders])
        return
    real_replace, inside = os.replace, directory.resolve()

    def replace(source, target, *args, **kwargs):
        if Path(target).resolve().is_relative_to(inside):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(target))
        return real_replace(source, target, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)


def disk_full(monkeypatch: pytest.MonkeyPatch, allow: Callable[[str], bool] = lambda _: False
              ) -> None:
    """Every file the atomic writer fsyncs with something in it fails with ENOSPC (where a
    full disk shows, with delayed allocation), unless ``allow(temporary path)``."""
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        status = os.fstat(fd)
        if stat.S_ISREG(status.st_mode) and status.st_size > 0:
            name = os.readlink(f"/proc/self/fd/{fd}")
            if not allow(name):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)


def _a_file(tmp_path: Path) -> Path:
    path = tmp_path / "a-file"
    path.write_text("in the way\n")
    return path


def _a_dir(tmp_path: Path) -> Path:
    path = tmp_path / "a-dir"
    path.mkdir()
    return path


# (command, fault) -> set up the fault; return (command line, path the message names).
# Each gets the results root, tmp_path, monkeypatch and the request.
Setup = Callable[[Path, Path, pytest.MonkeyPatch, pytest.FixtureRequest],
                 tuple[list[str], Path]]


def _model(tmp_path: Path) -> Path:
    """A file for `profile` to be given: the output is refused before it is opened."""
    path = tmp_path / "model.tflite"
    path.write_bytes(b"TFL3")
    return path


def _report(out: Path | None, root: Path) -> list[str]:
    return ["report", str(root / CURRENT_ID), *(["--out", str(out)] if out else [])]


def _compare(out: Path | None, root: Path) -> list[str]:
    return ["compare", str(root / BASE_ID), str(root / CURRENT_ID),
            *(["--out", str(out)] if out else [])]


def _plot(out: Path | None, root: Path) -> list[str]:
    return ["plot", "history", str(root), *(["--out", str(out)] if out else [])]


def _profile(out: Path, tmp_path: Path) -> list[str]:
    return ["profile", str(_model(tmp_path)), "--out", str(out)]


def _under_a_file(tmp_path: Path) -> tuple[Path, Path]:
    blocker = _a_file(tmp_path)
    return blocker / "sub" / "out", blocker


def _ro(directory: Path, mp: pytest.MonkeyPatch, rq: pytest.FixtureRequest) -> Path:
    read_only(directory, mp, rq)
    return directory


WRITERS: dict[str, Setup] = {
    # a file where a directory goes, a directory where a file goes
    "report/out-is-a-file": lambda r, t, mp, rq: (_report(_a_file(t), r), t / "a-file"),
    "profile/out-is-a-file": lambda r, t, mp, rq: (_profile(_a_file(t), t), t / "a-file"),
    "ab/out-is-a-file": lambda r, t, mp, rq: (
        ["ab", str(_model(t)), str(_model(t)), "--out", str(_a_file(t))], t / "a-file"),
    "compare/out-is-a-dir": lambda r, t, mp, rq: (_compare(_a_dir(t), r), t / "a-dir"),
    "plot-history/out-is-a-dir": lambda r, t, mp, rq: (_plot(_a_dir(t), r), t / "a-dir"),
    # under a file (a missing folder is created, as for every output)
    "report/under-a-file": lambda r, t, mp, rq: (
        _report(_under_a_file(t)[0], r), t / "a-file"),
    "profile/under-a-file": lambda r, t, mp, rq: (
        _profile(_under_a_file(t)[0], t), t / "a-file"),
    "compare/under-a-file": lambda r, t, mp, rq: (
        _compare(_under_a_file(t)[0], r), t / "a-file"),
    "plot-history/under-a-file": lambda r, t, mp, rq: (
        _plot(_under_a_file(t)[0], r), t / "a-file"),
    # a read-only run directory, results root or output folder
    "report/read-only-run": lambda r, t, mp, rq: (
        _report(None, r), _ro(r / CURRENT_ID, mp, rq)),
    "compare/read-only-run": lambda r, t, mp, rq: (
        _compare(None, r), _ro(r / CURRENT_ID, mp, rq)),
    "run-resume/read-only-run": lambda r, t, mp, rq: (
        ["run", "--resume", str(r / CURRENT_ID)], _ro(r / CURRENT_ID, mp, rq)),
    "plot-history/read-only-root": lambda r, t, mp, rq: (_plot(None, r), _ro(r, mp, rq)),
    "profile/read-only-out": lambda r, t, mp, rq: (
        _profile(_a_dir(t), t), _ro(t / "a-dir", mp, rq)),
    # a full disk
    "report/disk-full": lambda r, t, mp, rq: (
        (disk_full(mp), _report(None, r))[1], r / CURRENT_ID / "report.md"),
    "compare/disk-full": lambda r, t, mp, rq: (
        (disk_full(mp), _compare(t / "gate.md", r))[1], t / "gate.md"),
}


@pytest.mark.parametrize("case", list(WRITERS))
def test_an_unwritable_output_is_exit_2_naming_it(
        root: Path, tmp_path: Path, case: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture, request: pytest.FixtureRequest) -> None:
    before = snapshot(tmp_path)
    args, named = WRITERS[case](root, tmp_path, monkeypatch, request)
    code, output = qatbench(monkeypatch, capsys, *args)
    assert_clean_exit_2(code, output, named)
    assert_unchanged(before, tmp_path)


def test_plot_history_refuses_an_out_that_is_not_an_image_file(
        root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    code, output = qatbench(monkeypatch, capsys, *_plot(tmp_path / "plot.file", root))
    assert_clean_exit_2(code, output, tmp_path / "plot.file")
    assert ".png" in output


@pytest.mark.parametrize("command", [_report, _compare, _plot])
def test_an_output_under_a_missing_folder_is_written(
        root: Path, tmp_path: Path, command, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "new" / "folder" / {_report: "out", _compare: "out.md",
                                         _plot: "out.png"}[command]
    code, output = qatbench(monkeypatch, capsys, *command(out, root))
    assert code == 0, output
    assert out.exists()


def test_a_full_disk_during_bench_keeps_every_committed_row(
        tmp_path: Path, float_tflite: Path, int8_tflite: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """The disk fills once the first job is committed (its results.csv still fits): exit 2
    naming the file that did not fit (the second job's request to its timing child, the
    first thing it writes), and the first job's row is on disk."""
    commits = []

    def allow(name: str) -> bool:
        if Path(name).name.startswith(f".{RESULTS_FILE}."):
            commits.append(name)
            return len(commits) <= 1
        return not commits or Path(name).name.startswith(".results.csv.")

    disk_full(monkeypatch, allow)
    out = tmp_path / "results"
    code, output = qatbench(monkeypatch, capsys, "bench", str(float_tflite), str(int8_tflite),
                            "--out", str(out), "--min-runs", "3", "--min-secs", "0")
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    assert_clean_exit_2(code, output, run_dir / "jobs")  # the second job's request
    assert "No space left" in output
    rows = pd.read_parquet(run_dir / RESULTS_FILE)
    assert len(rows) == 1 and rows["status"].tolist() == ["ok"]


# -- anything unforeseen -----------------------------------------------------------------

@pytest.mark.parametrize("command", ["report", "compare"])
def test_an_unforeseen_error_is_exit_70_with_the_traceback_in_a_file(
        root: Path, tmp_path: Path, command: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    from qatbench.bench.storage import runs

    def broken(paths):
        raise RuntimeError("a bug nobody foresaw")

    monkeypatch.setattr(runs, "load_runs", broken)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", None)
    args = (["report", str(root / CURRENT_ID)] if command == "report"
            else ["compare", str(root / BASE_ID), str(root / CURRENT_ID)])
    code, output = qatbench(monkeypatch, capsys, *args)
    assert code == cli.EXIT_INTERNAL == 70  # never 1: for compare that is a regression
    assert "Traceback" not in output
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1 and "internal error" in lines[0] and "a bug nobody" in lines[0]
    (saved,) = tmp_path.glob("qatbench-crash-*.txt")
    assert str(saved) in lines[0]
    text = saved.read_text()
    assert "Traceback" in text and "RuntimeError: a bug nobody foresaw" in text


def test_the_help_documents_the_exit_codes(monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture) -> None:
    code, output = qatbench(monkeypatch, capsys, "--help")
    assert code == 0
    assert "70 an internal error" in " ".join(output.split())


# -- wrong meanings (issue 24, item 3, second bullet) ------------------------------------

def test_compare_refuses_a_profile_as_a_baseline(
        root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    from qatbench.bench.storage.profiles import add_profile, profile_frame

    profiled = tmp_path / "profiled"
    profiled.mkdir()
    key = {"run_id": "p", "model": "mnist_cnn", "variant": "qat_int8",
           "target": "cpu-xnnpack", "device": "host", "threads": 1, "fingerprint": "f"}
    add_profile(profiled, profile_frame(key, [{"op_index": 0, "op_type": "CONV_2D",
                                               "name": "conv", "p50_ms": 0.01}], 0.012))
    profile = profiled / "profile.parquet"
    code, output = qatbench(monkeypatch, capsys, "compare", str(profile),
                            str(root / CURRENT_ID))
    assert_clean_exit_2(code, output, profile)
    assert "not a qatbench results table" in output and "per-op profile" in output


@pytest.mark.parametrize(("floor", "expected"), [(8, "write 0.08 for 8%"),
                                                 (1, "write 0.01 for 1%")])
def test_a_noise_floor_written_in_percent_is_refused(
        root: Path, tmp_path: Path, floor: float, expected: str,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """``"floor": 8`` meant 8%; read as 800% it passed a 2.4x slowdown."""
    import json

    path = tmp_path / "noise-floor.json"
    path.write_text(json.dumps({"floors": [{"p50_ms": 0.012, "repeats": 1, "floor": floor}]}))
    code, output = qatbench(monkeypatch, capsys, "compare", str(root / BASE_ID),
                            str(root / CURRENT_ID), "--noise-floor", str(path))
    assert_clean_exit_2(code, output, path)
    assert expected in output


@pytest.mark.parametrize("command", ["bench", "profile"])
def test_a_zero_timeout_is_refused_as_in_a_config(
        tmp_path: Path, command: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    """One rule: ``--timeout 0`` is refused as ``timeout_s = 0`` in TOML is, never
    silently the 900 s default."""
    config = tmp_path / "zero.toml"
    config.write_text("[run]\ntimeout_s = 0\n")
    model = _model(tmp_path)
    out = ["--out", str(tmp_path / "results")]
    from_flag = qatbench(monkeypatch, capsys, command, str(model), "--timeout", "0", *out)
    from_toml = qatbench(monkeypatch, capsys, command, str(model), "--config", str(config),
                         *out)
    for code, output in (from_flag, from_toml):
        assert code == 2, output
        assert "timeout_s" in output and "Traceback" not in output
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("command", ["compare", "compare-damaged-base", "report",
                                     "run-resume"])
def test_a_lost_repeats_file_of_a_repeated_run_is_refused(
        tmp_path: Path, command: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    """Without ``repeats.parquet`` a K=2 BASE was read as K=1 and an "unknown" became
    "faster" while the table still said K=2: a gate must not pass on lost data."""
    from tests.bench.runs_helpers import repeated

    root = tmp_path / "results"
    for run_id, shift in ((BASE_ID, 0.0), (CURRENT_ID, -0.03)):
        write_run(root, run_id, [
            {"model": "mnist_cnn", "variant": variant, "target": "cpu-xnnpack",
             "samples": repeated(ms * (1 + shift), [0.0, 0.04], seed=seed)}
            for variant, ms, seed in (("float32", 0.03, 0), ("qat_int8", 0.012, 5))])
    lost = root / CURRENT_ID / "repeats.parquet"
    lost.unlink()
    before = snapshot(root)
    code, output = qatbench(monkeypatch, capsys, *READERS[command](root, root / CURRENT_ID))
    assert_clean_exit_2(code, output, lost)
    assert "is missing" in output and "2 repeats" in output
    assert_unchanged(before, root)


def test_a_run_from_before_repeats_is_still_read_as_one_repeat(
        root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """Each row counts as one repeat whose figure is the row's own p50, and the gate
    judges it as it judges any K = 1 run (the same matrix on both sides: no regression)."""
    from qatbench.bench.storage.runs import load_runs

    (root / CURRENT_ID / "repeats.parquet").unlink()
    loaded = load_runs([root / CURRENT_ID])
    lines = loaded.repeats.merge(loaded.results, on=["model", "variant"],
                                 suffixes=("", "_row"))
    assert len(lines) == len(loaded.results) == 2
    assert (lines["repeat"] == 0).all()
    assert (lines["latency_ms_p50"] == lines["latency_ms_p50_row"]).all()
    code, output = qatbench(monkeypatch, capsys, "compare", str(root / BASE_ID),
                            str(root / CURRENT_ID))
    assert code == 0, output
    assert "no regression" in output
    text = (root / CURRENT_ID / "compare.md").read_text()
    assert "qat_int8" in text and "float32" in text


@pytest.mark.parametrize("command", ["report", "compare"])
def test_latest_says_which_newer_run_it_skipped_and_why(
        root: Path, command: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    """A run that started last but has no results yet (the store's own fresh run
    directory) is passed over by ``--latest``, by name and with the reason."""
    from qatbench.bench.storage.store import RunStore

    newer = RunStore.create(root, "20260103T000000Z-cccccc")
    newer.write_json("config.json", {})
    newer.close()
    args = (["report", "--latest", str(root)] if command == "report"
            else ["compare", str(root / BASE_ID), "--latest", str(root)])
    code, output = qatbench(monkeypatch, capsys, *args)
    assert code == 0, output
    text = " ".join(output.split())
    assert f"skipped the newer run {newer.run_dir}" in text
    assert "no results.parquet" in text and f"using {root / CURRENT_ID}" in text


def test_latest_with_only_unfinished_runs_names_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from qatbench.bench.storage.store import RunStore

    started = RunStore.create(tmp_path, "20260103T000000Z-cccccc")
    started.write_json("config.json", {})
    started.close()
    code, output = qatbench(monkeypatch, capsys, "report", "--latest", str(tmp_path))
    assert code == 2, output
    assert str(started.run_dir) in " ".join(output.split())


# -- issue 33's sweep: bad input is exit 2 naming it, before anything is built or timed --

def _toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "qatbench.toml"
    path.write_text(text)
    return path


def _named_model_config(tmp_path: Path, name: str) -> Path:
    """A config whose only model is ``name``, with a ``[models.NAME]`` table of its own."""
    keras = tmp_path / "model.h5"
    keras.write_bytes(b"not read: the name is refused first")
    return _toml(tmp_path, f'[run]\nmodels = ["{name}"]\ntargets = ["cpu-ref"]\n'
                           f'out = "{tmp_path / "results"}"\n\n'
                           f'[models."{name}"]\nkeras = "{keras}"\n')


def _artifacts_index(tmp_path: Path, index: object) -> Path:
    folder = tmp_path / "artifacts"
    folder.mkdir()
    (folder / "artifacts.json").write_text(json.dumps(index))
    return folder


def _artifacts_garbage_index(tmp_path: Path) -> Path:
    folder = _artifacts_index(tmp_path, {})
    (folder / "artifacts.json").write_text("{ not json")
    return folder


def _ab_garbage_manifest(tmp_path: Path) -> tuple[list[str], Path]:
    folder = tmp_path / "built" / "net"
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text("{ half a manifest")
    (folder / "float32.tflite").write_bytes(b"TFL3")
    return (["ab", str(folder.parent), str(folder.parent), "--target", "cpu-ref",
             "--out", str(tmp_path / "results")], folder / "manifest.json")


# name -> (tmp_path -> (command line, what the message must name))
BAD_INPUTS: dict[str, Callable[[Path], tuple[list[str], object]]] = {
    # a model's name becomes artifacts/NAME and jobs/NAME-...: never a path
    "model-name-escapes-the-run-dir": lambda t: (
        ["run", "--config", str(_named_model_config(t, "../../../victim"))],
        "'../../../victim' is not a valid model name"),
    "model-name-of-300-characters": lambda t: (
        ["run", "--config", str(_named_model_config(t, "m" * 300))],
        "is not a valid model name"),
    "model-name-flag-with-a-slash": lambda t: (
        ["run", "--models", "zoo/../x", "--out", str(t / "results")],
        "'zoo/../x' is not a valid model name"),
    "artifacts-index-models-not-a-table": lambda t: (
        ["run", "--artifacts", str(_artifacts_index(t, {"models": 5})),
         "--out", str(t / "results")], t / "artifacts" / "artifacts.json"),
    "artifacts-index-not-json": lambda t: (
        ["run", "--artifacts", str(_artifacts_garbage_index(t)),
         "--out", str(t / "results")], t / "artifacts" / "artifacts.json"),
    "ab-garbage-manifest": _ab_garbage_manifest,
    "ab-target-misspelt": lambda t: (
        ["ab", str(_model(t)), str(_model(t)), "--target", "cpu-xnnpak",
         "--out", str(t / "results")], "cpu-xnnpak"),
    "bisect-target-misspelt": lambda t: (
        ["bisect", "--good", "HEAD~1", "--bad", "HEAD", "--repo", str(t),
         "--target", "cpu-xnnpak", "--out", str(t / "results")], "cpu-xnnpak"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_exit_2_naming_it_before_anything_is_written(
        tmp_path: Path, case: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    args, named = BAD_INPUTS[case](tmp_path)
    before = snapshot(tmp_path)
    code, output = qatbench(monkeypatch, capsys, *args)
    text = " ".join(output.split())
    assert code == 2, output
    assert str(named) in text, output
    assert "Traceback" not in output and "internal error" not in output
    assert not (tmp_path / "results").exists()  # no run directory, nothing timed
    assert not (tmp_path.parents[2] / "victim").exists()
    assert_unchanged(before, tmp_path)


def test_a_model_given_with_models_is_run_beside_them_not_dropped(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """``--models digits_cnn --model mine.h5`` plans both (it silently ran only the
    zoo model): the settings the run opens its store with name both."""
    import typer

    keras = tmp_path / "mine.h5"
    keras.write_bytes(b"checked later")
    opened = []

    def capture(settings, resume):
        opened.append(settings)
        raise typer.Exit(0)

    from qatbench.bench.orchestration import run_command

    monkeypatch.setattr(run_command, "open_store", capture)
    monkeypatch.setattr(run_command, "refuse_bad_user_models",
                        lambda settings, console: None)
    code, output = qatbench(monkeypatch, capsys, "run", "--models", "digits_cnn", "--model",
                            str(keras), "--out", str(tmp_path / "results"))
    assert code == 0, output
    (settings,) = opened
    assert settings.run.models == ["digits_cnn", "mine"]
    assert settings.models["mine"].keras == str(keras)


@pytest.fixture
def artifacts(tmp_path: Path, digits_build, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An artifacts directory the product's ``write_artifacts`` wrote, of the session's
    digits build (copied in, not trained again)."""
    import shutil

    from qatbench.bench.orchestration import artifacts_dir
    from qatbench.bench.orchestration.build_cache import relocate
    from qatbench.bench.orchestration.config import build_config
    from qatbench.qat.artifacts import ModelBuild

    source = Path(str(digits_build.variants["float32"].path)).parent

    def copy_build(config, model, variants, out_dir, cache, rebuild=False, on_status=None):
        shutil.copytree(source, out_dir, dirs_exist_ok=True)
        built = ModelBuild.from_dict(relocate(json.loads(
            (out_dir / "manifest.json").read_text()), str(source), str(out_dir)))
        built.save(out_dir)
        return built

    with monkeypatch.context() as patched:
        patched.setattr(artifacts_dir, "obtain_build", copy_build)
        out = tmp_path / "artifacts"
        artifacts_dir.write_artifacts(build_config({"run": {"models": ["digits_cnn"]}}),
                                      out, cache=None)
    return out


def _entry_files_a_list(artifacts: Path) -> Path:
    entry = artifacts / "digits_cnn" / "entry.json"
    data = json.loads(entry.read_text())
    entry.write_text(json.dumps({**data, "files": sorted(data["files"])}))
    return entry


def _manifest_edited_consistently(artifacts: Path) -> Path:
    """``manifest.json`` changed and its digest in ``entry.json`` changed to match: the
    digests pass, the manifest is still not one the build wrote."""
    from qatbench.bench.orchestration.build_cache import file_digest

    folder = artifacts / "digits_cnn"
    manifest = folder / "manifest.json"
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "variants": 5}))
    entry = folder / "entry.json"
    data = json.loads(entry.read_text())
    data["files"]["manifest.json"] = file_digest(manifest)
    entry.write_text(json.dumps(data))
    return manifest


@pytest.mark.parametrize("damage", [_entry_files_a_list, _manifest_edited_consistently])
def test_a_damaged_artifacts_build_is_exit_2_naming_it_and_leaves_no_run(
        artifacts: Path, tmp_path: Path, damage, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    named = damage(artifacts)
    code, output = qatbench(monkeypatch, capsys, "run", "--artifacts", str(artifacts),
                            "--targets", "cpu-ref", "--out", str(tmp_path / "results"))
    assert_clean_exit_2(code, " ".join(output.split()), named)
    assert "damaged" in output
    assert not any((tmp_path / "results").glob("*/results.parquet"))  # nothing timed
    assert not any(p.is_dir() for p in (tmp_path / "results").glob("*"))


def test_explore_on_a_run_whose_artifacts_are_gone_says_so(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """A run of built models (weights other than a bench file's) without artifacts/: exit
    2 naming the folder, not "has no per-layer error" and exit 0."""
    pytest.importorskip("model_explorer")  # the explore extra (installed for the tests)
    run = write_run(tmp_path / "results", CURRENT_ID, [
        {**row, "weights": "trained here"} for row in matrix(1.0, 7, n=60)])
    assert not (run / "artifacts").exists()
    code, output = qatbench(monkeypatch, capsys, "explore", str(run))
    text = " ".join(output.split())
    assert_clean_exit_2(code, text, run / "artifacts")
    assert "mnist_cnn" in text and "no per-layer quantization error in this run" not in text
    assert not (run / "explorer").exists()


# -- the build cache: a corrupt entry, a read-only cache, its size cap --------------------

def _cache_entry(cache_root: Path, key: str, model: str) -> Path:
    """An entry the product's ``BuildCache.store`` wrote, of a one-file build."""
    from qatbench.bench.orchestration.build_cache import BuildCache, BuildKey

    built = cache_root.parent / f"built-{key}"
    built.mkdir(parents=True)
    (built / "float32.tflite").write_bytes(b"TFL3" + key.encode())
    return BuildCache(cache_root).store(BuildKey(key, {"model": model,
                                                       "variants": ["float32"]}), built)


CORRUPTIONS: dict[str, Callable[[Path], None]] = {
    "not-json": lambda record: record.write_text("{ cut short"),
    "files-a-list": lambda record: record.write_text(json.dumps(
        {**json.loads(record.read_text()), "files": ["float32.tflite"]})),
    "not-an-object": lambda record: record.write_text("[1, 2]"),
}


@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_a_corrupt_cache_entry_is_listed_as_corrupt_and_never_stops_a_store(
        tmp_path: Path, corruption: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    from qatbench.bench.orchestration.build_cache import BuildCache

    cache = tmp_path / "cache"
    good = _cache_entry(cache, "a" * 16, "digits_cnn")
    bad = _cache_entry(cache, "b" * 16, "mnist_cnn")
    CORRUPTIONS[corruption](bad / "entry.json")
    _cache_entry(cache, "c" * 16, "tiny")  # a store (and its eviction) after the damage
    assert BuildCache(cache).lookup("b" * 16) is None  # never used
    assert BuildCache(cache).lookup("a" * 16) == good
    _cache_entry(cache, "d" * 16, "tiny2")
    CORRUPTIONS[corruption]((cache / ("d" * 16)) / "entry.json")
    code, output = qatbench(monkeypatch, capsys, "cache", "list", "--cache-dir", str(cache))
    text = " ".join(output.split())
    assert code == 0, output
    assert "corrupt entry " + "d" * 16 in text and "a" * 16 in text and "digits_cnn" in text
    assert "3 build(s)" in text  # a, c and the corrupt d (b was removed by its lookup)
    code, output = qatbench(monkeypatch, capsys, "cache", "prune", "--cache-dir", str(cache))
    assert code == 0, output
    assert "removed 3 build(s)" in output
    assert not [p for p in cache.iterdir() if p.is_dir() and not p.name.startswith(".")]


def test_prune_on_a_read_only_cache_says_what_it_could_not_remove(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture,
        request: pytest.FixtureRequest) -> None:
    """It printed "removed 2 build(s)" and removed nothing."""
    cache = tmp_path / "cache"
    entries = [_cache_entry(cache, key * 16, "digits_cnn") for key in "ab"]
    if os.geteuid() != 0:
        for entry in entries:
            entry.chmod(0o555)
            request.addfinalizer(lambda e=entry: e.chmod(0o755))
    else:  # root removes anything chmod forbids: every removal fails, as on a ro mount
        def refuse(path, *args, **kwargs):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))

        monkeypatch.setattr(os, "unlink", refuse)
    code, output = qatbench(monkeypatch, capsys, "cache", "prune", "--cache-dir", str(cache))
    monkeypatch.undo()
    text = " ".join(output.split())
    assert code == 2, output
    assert "removed 0 build(s)" in text and "could not remove 2 build(s)" in text
    assert "a" * 16 in text and "b" * 16 in text
    assert all((entry / "float32.tflite").is_file() for entry in entries)


@pytest.mark.parametrize(("value", "cap"), [("5GB", "cap 5.0 GB"), ("500MB", "cap 0.5 GB"),
                                            ("2000000000", "cap 2.0 GB")])
def test_the_cache_size_cap_takes_a_size_with_its_unit(
        tmp_path: Path, value: str, cap: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("QATBENCH_CACHE_MAX_BYTES", value)
    code, output = qatbench(monkeypatch, capsys, "cache", "list", "--cache-dir",
                            str(tmp_path / "cache"))
    assert code == 0, output
    assert cap in output


def test_a_misspelt_cache_size_cap_is_exit_2_naming_the_variable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("QATBENCH_CACHE_MAX_BYTES", "5 gigs")
    code, output = qatbench(monkeypatch, capsys, "cache", "list", "--cache-dir",
                            str(tmp_path / "cache"))
    assert code == 2, output
    assert "QATBENCH_CACHE_MAX_BYTES" in output and "5 gigs" in output


# -- a full disk: one rule (exit 2 naming the path; what was measured kept, re-runnable) --

def test_resume_after_a_full_disk_runs_the_job_whose_row_did_not_fit(
        tmp_path: Path, float_tflite: Path, int8_tflite: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """The second job's samples and repeat line fit, its results.parquet did not: once
    space is freed, ``--resume`` times it (it was counted as done and never had a row)."""
    results_commits = []

    def allow(name: str) -> bool:
        if Path(name).name.startswith(f".{RESULTS_FILE}."):
            results_commits.append(name)
            return len(results_commits) <= 1
        return True

    out = tmp_path / "results"
    with monkeypatch.context() as full:
        disk_full(full, allow)
        code, output = qatbench(monkeypatch, capsys, "bench", str(float_tflite),
                                str(int8_tflite), "--out", str(out), "--min-runs", "3",
                                "--min-secs", "0")
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    assert_clean_exit_2(code, output, run_dir / RESULTS_FILE)
    assert len(pd.read_parquet(run_dir / "repeats.parquet")) == 2  # the orphan line
    assert len(pd.read_parquet(run_dir / RESULTS_FILE)) == 1
    code, output = qatbench(monkeypatch, capsys, "run", "--resume", str(run_dir))
    assert code == 0, output
    rows = pd.read_parquet(run_dir / RESULTS_FILE)
    assert sorted(rows["variant"]) == ["float32", "int8"]
    assert (rows["status"] == "ok").all()


CHILD_DISK_FULL = """\
# every child process started while this is on PYTHONPATH finds the disk full when it
# writes a timing result (the atomic writer's fsync of .result.json.*, as in disk_full)
import errno, os, stat
_real_fsync = os.fsync
def _full(fd):
    status = os.fstat(fd)
    name = os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))
    if stat.S_ISREG(status.st_mode) and status.st_size and name.startswith(".result.json."):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    _real_fsync(fd)
os.fsync = _full
"""


def test_resume_runs_again_a_job_that_failed_on_a_full_disk(
        tmp_path: Path, float_tflite: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    """The timing child cannot write its result: the row is failed, naming the full disk.
    Once space is freed, ``--resume`` times the job again (it kept the failed row, exit 1,
    and ``compare`` called it a regression)."""
    full = tmp_path / "full-disk"
    full.mkdir()
    (full / "sitecustomize.py").write_text(CHILD_DISK_FULL)
    out = tmp_path / "results"
    with monkeypatch.context() as children:
        children.setenv("PYTHONPATH", os.pathsep.join([str(full), os.environ["PYTHONPATH"]]))
        code, output = qatbench(monkeypatch, capsys, "bench", str(float_tflite), "--out",
                                str(out), "--min-runs", "3", "--min-secs", "0")
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    assert code == 1, output
    (row,) = pd.read_parquet(run_dir / RESULTS_FILE).to_dict("records")
    assert row["status"] == "failed" and "No space left on device" in row["error"]
    code, output = qatbench(monkeypatch, capsys, "run", "--resume", str(run_dir))
    assert code == 0, output
    assert "1 job(s) that failed on a full disk are run again" in " ".join(output.split())
    (row,) = pd.read_parquet(run_dir / RESULTS_FILE).to_dict("records")
    assert row["status"] == "ok" and row["latency_ms_p50"] > 0


DISK_FULL_COMMANDS: dict[str, Callable[[Path, Path], list[str]]] = {
    "bench": lambda model, out: ["bench", str(model), "--out", str(out), "--min-runs", "3",
                                 "--min-secs", "0"],
    "profile": lambda model, out: ["profile", str(model), "--out", str(out)],
    "ab": lambda model, out: ["ab", str(model), str(model), "--out", str(out), "--pairs", "3",
                              "--max-pairs", "3", "--min-runs", "3", "--min-secs", "0"],
}


@pytest.mark.parametrize("command", list(DISK_FULL_COMMANDS))
def test_a_full_disk_under_any_timing_command_is_exit_2_naming_the_path(
        tmp_path: Path, float_tflite: Path, command: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    """Only the output's disk is full (the request a child reads is the first write)."""
    out = tmp_path / "out"
    disk_full(monkeypatch, allow=lambda name: not name.startswith(str(out)))
    code, output = qatbench(monkeypatch, capsys, *DISK_FULL_COMMANDS[command](
        float_tflite, out))
    text = " ".join(output.split())
    assert_clean_exit_2(code, text, out)
    assert "No space left on device" in text and "internal error" not in text


# -- --timeout reaches every child, the source check too ---------------------------------

HANGS = {
    "in-the-builder": "import time\n\ndef net():\n    time.sleep(3600)\n",
    "on-import": "import time\ntime.sleep(3600)\n\ndef net():\n    return None\n",
}


@pytest.mark.parametrize("where", list(HANGS))
def test_a_builder_that_never_returns_is_stopped_at_the_runs_timeout(
        tmp_path: Path, where: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    """It held the run for the source check's own 600 s whatever ``--timeout`` said, and
    the message named a log that was already deleted."""
    import re
    import time

    builder = tmp_path / "builder.py"
    builder.write_text(HANGS[where])
    started = time.monotonic()
    code, output = qatbench(monkeypatch, capsys, "run", "--model", f"{builder}:net",
                            "--timeout", "8", "--out", str(tmp_path / "results"))
    elapsed = time.monotonic() - started
    text = " ".join(output.split())
    assert code == 2, output
    assert "timed out after 8s" in text and "nothing was trained" in text
    assert elapsed < 300  # the child was stopped at 8 s (plus its start), never 600 s
    log = Path(re.search(r"log: (\S+child\.log)", text).group(1))
    assert log.is_file()  # the log the message names is there to read
    assert not (tmp_path / "results").exists()
    import shutil

    shutil.rmtree(log.parents[1])  # the kept check folder (qatbench-check-*)


def test_a_misspelt_cache_cap_stops_a_run_before_its_run_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("QATBENCH_CACHE_MAX_BYTES", "lots")
    code, output = qatbench(monkeypatch, capsys, "run", "--models", "digits_cnn",
                            "--out", str(tmp_path / "results"))
    assert code == 2, output
    assert "QATBENCH_CACHE_MAX_BYTES" in output and "'lots'" in output
    assert not (tmp_path / "results").exists()


# -- an interrupt says what happened ------------------------------------------------------

def test_an_interrupted_build_says_what_is_left(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """Ctrl-C (or SIGTERM, which ``main`` turns into one) while building: exit 130 and a
    line saying the output is incomplete and where the finished builds are."""
    from qatbench.bench.orchestration import artifacts_dir

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(artifacts_dir, "write_artifacts", interrupted)
    out = tmp_path / "artifacts"
    code, output = qatbench(monkeypatch, capsys, "build", "--models", "digits_cnn",
                            "--out", str(out))
    text = " ".join(output.split())
    assert code == 130, output
    assert f"interrupted: {out} is incomplete (no artifacts.json)" in text
    assert "build cache" in text


# -- one user-error type, exit 2 once in main ---------------------------------------------

def _user_error_types() -> list[type]:
    from qatbench.atomic import UnwritableOutput
    from qatbench.bench.cli.params import BadFlags
    from qatbench.bench.orchestration.ab import AbInputError
    from qatbench.bench.orchestration.artifacts_dir import ArtifactError
    from qatbench.bench.orchestration.bisect import BisectError
    from qatbench.bench.orchestration.build_cache import CacheError, DamagedBuild
    from qatbench.bench.orchestration.compare_session import CompareRequestError
    from qatbench.bench.orchestration.config import ConfigError
    from qatbench.bench.orchestration.explore_command import ExploreError
    from qatbench.bench.orchestration.run_command import RunRequestError
    from qatbench.bench.orchestration.tune_state import TuneError
    from qatbench.bench.presentation.explorer import ExplorerMissing
    from qatbench.bench.statistics.compare import NothingMatched
    from qatbench.bench.statistics.fingerprints import HostChanged
    from qatbench.bench.statistics.noise import NoiseFloorError
    from qatbench.bench.storage.runs import RunsNotFound
    from qatbench.bench.storage.store import DamagedStoreFile, RunDirError
    from qatbench.targets.options import TargetOptionsError
    from qatbench.targets.registry import UnknownTarget
    from qatbench.targets.tflite_file import InvalidModelFile

    return [UnwritableOutput, AbInputError, ArtifactError, BisectError, CacheError,
            DamagedBuild, ConfigError, ExploreError, ExplorerMissing, NothingMatched,
            HostChanged, NoiseFloorError, RunsNotFound, DamagedStoreFile, RunDirError,
            TargetOptionsError, UnknownTarget, InvalidModelFile, BadFlags,
            CompareRequestError, RunRequestError, TuneError]


def test_every_user_facing_error_type_is_a_user_error() -> None:
    from qatbench.errors import UserError

    assert [t.__name__ for t in _user_error_types() if not issubclass(t, UserError)] == []


@pytest.mark.parametrize("command", ["report", "compare"])
def test_a_user_error_no_command_catches_is_exit_2_with_its_message(
        root: Path, command: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    """A command that forgets a clause still exits 2 (it exited 70, "internal error"); a
    KeyError-based one prints its message unquoted."""
    from qatbench.bench.storage import runs
    from qatbench.targets.registry import UnknownTarget

    def refused(paths):
        raise UnknownTarget("unknown target 'cpu-xnnpak'; known: cpu-xnnpack, cpu-ref")

    monkeypatch.setattr(runs, "load_runs", refused)
    args = (["report", str(root / CURRENT_ID)] if command == "report"
            else ["compare", str(root / BASE_ID), str(root / CURRENT_ID)])
    code, output = qatbench(monkeypatch, capsys, *args)
    assert code == 2, output
    assert output.strip() == "error: unknown target 'cpu-xnnpak'; known: cpu-xnnpack, cpu-ref"
