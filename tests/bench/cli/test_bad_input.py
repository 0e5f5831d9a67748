"""Every command that takes a target, a threshold (or another value) or a file: a
misspelt target, a bad value and a missing file are exit 2 with a message naming what
is wrong -- before anything is built or timed (no child process is started) and
before anything is written (no run directory, no artifacts).

In process through typer's ``CliRunner`` (the app maps a user's mistake to exit 2 itself),
so the whole table runs in seconds.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qatbench.bench.cli import app
from tests.bench.runs_helpers import matrix, write_run

MISSPELT = "cpu-xnnpak"  # one letter short of cpu-xnnpack


def _model(tmp: Path) -> str:
    """A file that exists (never read: each case fails before it would be)."""
    path = tmp / "net.tflite"
    path.write_bytes(b"TFL3 never read")
    return str(path)


def _run(tmp: Path) -> str:
    """A run directory with rows (mnist_cnn on cpu-xnnpack), written by the real store."""
    run_dir = tmp / "runs" / "r1"
    return str(run_dir if run_dir.is_dir() else write_run(tmp / "runs", "r1",
                                                          matrix(1.0, seed=1)))


def _config(tmp: Path, text: str) -> str:
    path = tmp / "lab.toml"
    path.write_text(text)
    return str(path)


def _misspelt_config(tmp: Path) -> str:
    return _config(tmp, f'[run]\ntargets = ["{MISSPELT}"]\n')


def _missing(tmp: Path, name: str) -> str:
    return str(tmp / name)


Case = Callable[[Path], tuple[list[str], str]]
# command / kind -> tmp -> (command line, what the message must name)
CASES: dict[str, Case] = {
    "run/target": lambda t: (["run", "--targets", MISSPELT, "--out", str(t / "results")],
                             MISSPELT),
    "run/config-target": lambda t: (["run", "--config", _misspelt_config(t)], MISSPELT),
    "run/threads": lambda t: (["run", "--threads", "1,x"], "'1,x'"),
    "run/shard": lambda t: (["run", "--shard", "5/4"], "5/4"),
    "run/config-file": lambda t: (["run", "--config", _missing(t, "gone.toml")], "gone.toml"),
    "run/model-file": lambda t: (["run", "--model", _missing(t, "gone.h5"), "--out",
                                  str(t / "results")], "gone.h5"),
    "run/resume-dir": lambda t: (["run", "--resume", _missing(t, "gone-run")], "gone-run"),
    "run/artifacts-dir": lambda t: (["run", "--artifacts", _missing(t, "gone-artifacts"),
                                     "--out", str(t / "results")], "gone-artifacts"),
    "bench/target": lambda t: (["bench", _model(t), "--targets", MISSPELT, "--out",
                                str(t / "results")], MISSPELT),
    "bench/threads": lambda t: (["bench", _model(t), "--threads", "two"], "'two'"),
    "bench/second-file": lambda t: (["bench", _model(t), _missing(t, "gone.tflite"),
                                     "--out", str(t / "results")], "gone.tflite"),
    "bench/file": lambda t: (["bench", _missing(t, "gone.tflite"), "--out",
                              str(t / "results")], "gone.tflite"),
    "profile/target": lambda t: (["profile", _model(t), "--targets", MISSPELT, "--out",
                                  str(t / "results")], MISSPELT),
    "profile/threads": lambda t: (["profile", _model(t), "--threads", "0.5"], "'0.5'"),
    "profile/file": lambda t: (["profile", _missing(t, "gone.tflite"), "--out",
                                str(t / "results")], "gone.tflite"),
    "profile/against-file": lambda t: (["profile", _model(t), "--against",
                                        _missing(t, "gone.tflite"), "--out",
                                        str(t / "results")], "gone.tflite"),
    "build/config-target": lambda t: (["build", "--config", _misspelt_config(t), "--out",
                                       str(t / "artifacts")], MISSPELT),
    "build/variants": lambda t: (["build", "--variants", "fp4", "--out",
                                  str(t / "artifacts")], "fp4"),
    "build/config-file": lambda t: (["build", "--config", _missing(t, "gone.toml"), "--out",
                                     str(t / "artifacts")], "gone.toml"),
    "cache-prune/size": lambda t: (["cache", "prune", "--cache-dir", str(t / "cache"),
                                    "--max-size", "5XB"], "5XB"),
    "tune/target": lambda t: (["tune", "mnist_cnn", "--target", MISSPELT, "--run", _run(t)],
                              MISSPELT),
    "tune/goal": lambda t: (["tune", "mnist_cnn", "--target", "cpu-xnnpack", "--run",
                             _run(t), "--goal", "max_top1_dorp=1"], "max_top1_dorp"),
    "tune/run-dir": lambda t: (["tune", "mnist_cnn", "--target", "cpu-xnnpack", "--run",
                                _missing(t, "gone-run")], "gone-run"),
    "compare/threshold": lambda t: (["compare", _run(t), _run(t), "--threshold", "abc"],
                                    "'abc'"),
    "compare/alpha": lambda t: (["compare", _run(t), _run(t), "--alpha", "2"], "--alpha"),
    "compare/metric": lambda t: (["compare", _run(t), _run(t), "--metric", "p99"], "'p99'"),
    "compare/accuracy-drop": lambda t: (["compare", _run(t), _run(t), "--accuracy-drop",
                                         "-1"], "--accuracy-drop"),
    "compare/base-file": lambda t: (["compare", _missing(t, "gone-run"), _run(t)],
                                    "gone-run"),
    "compare/noise-floor-file": lambda t: (["compare", _run(t), _run(t), "--noise-floor",
                                            _missing(t, "gone.json")], "gone.json"),
    "ab/target": lambda t: (["ab", _model(t), _model(t), "--target", MISSPELT, "--out",
                             str(t / "results")], MISSPELT),
    "ab/threshold": lambda t: (["ab", _model(t), _model(t), "--threshold", "2", "--out",
                                str(t / "results")], "2%"),
    "ab/file": lambda t: (["ab", _missing(t, "gone.tflite"), _model(t), "--target",
                           "cpu-ref", "--out", str(t / "results")], "gone.tflite"),
    "bisect/target": lambda t: (["bisect", "--good", "HEAD~1", "--bad", "HEAD", "--repo",
                                 str(t), "--target", MISSPELT, "--out", str(t / "results")],
                                MISSPELT),
    "bisect/threshold": lambda t: (["bisect", "--good", "HEAD~1", "--bad", "HEAD", "--repo",
                                    str(t), "--threshold", "-2%", "--out",
                                    str(t / "results")], "'-2%'"),
    "bisect/repo-dir": lambda t: (["bisect", "--good", "HEAD~1", "--bad", "HEAD", "--repo",
                                   _missing(t, "gone-repo"), "--out", str(t / "results")],
                                  "gone-repo"),
    "history/min-step": lambda t: (["history", str(t), "--min-step", "abc"], "'abc'"),
    "history/root": lambda t: (["history", _missing(t, "gone-root")], "gone-root"),
    "plot-history/min-step": lambda t: (["plot", "history", str(t), "--min-step", "5"],
                                        "5%"),
    "plot-history/root": lambda t: (["plot", "history", _missing(t, "gone-root")],
                                    "gone-root"),
    "report/run-dir": lambda t: (["report", _missing(t, "gone-run")], "gone-run"),
    "explore/run-dir": lambda t: (["explore", _missing(t, "gone-run")], "gone-run"),
    "fingerprint/config-target": lambda t: (["fingerprint", "--config", _misspelt_config(t)],
                                            MISSPELT),
    "fingerprint/config-file": lambda t: (["fingerprint", "--config",
                                           _missing(t, "gone.toml")], "gone.toml"),
    "targets/config-file": lambda t: (["targets", "--config", _missing(t, "gone.toml")],
                                      "gone.toml"),
}


def _files(root: Path) -> set[Path]:
    return {path for path in root.rglob("*") if path.is_file()}


def _squeezed(text: str) -> str:
    """The output without white space and rich's box drawing, so a message click wrapped
    in its error box still contains the value it names."""
    return re.sub(r"[\s│╭╮╰╯─]", "", text)


def command_names(typer_app, prefix: str = "") -> set[str]:
    """Every command of ``typer_app`` (a sub-app's as ``group-command``)."""
    names = {prefix + (command.name or command.callback.__name__).replace("_", "-")
             for command in typer_app.registered_commands}
    for group in typer_app.registered_groups:
        names |= command_names(group.typer_instance, f"{prefix}{group.name}-")
    return names


def test_every_command_that_takes_a_target_a_value_or_a_file_is_in_the_table() -> None:
    """A new command must join the table (``models`` and ``cache list`` take none)."""
    assert command_names(app) - {"models", "cache-list"} == {
        case.split("/")[0] for case in CASES}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_exit_2_naming_it_before_anything_is_built_or_timed(
        case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)  # a default results/ or artifacts/ would land here
    monkeypatch.setenv("QATBENCH_CACHE_DIR", str(tmp_path / "cache"))
    args, named = CASES[case](tmp_path)
    before = _files(tmp_path)
    started: list[object] = []

    def no_child(*popen_args: object, **popen_kwargs: object) -> None:
        started.append(popen_args)  # a build, a timing or an inspection child
        raise AssertionError(f"a process was started: {popen_args}")

    monkeypatch.setattr(subprocess, "Popen", no_child)
    result = CliRunner().invoke(app, args)
    output = result.output
    assert result.exit_code == 2, output + repr(result.exception)
    assert _squeezed(named) in _squeezed(output), output
    assert "Traceback" not in output and "internal error" not in output
    assert started == []
    assert _files(tmp_path) == before  # no run directory, artifacts or cache entry
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").iterdir())
    assert not (work / "results").exists() and not (work / "artifacts").exists()
