"""The CLI as a user meets it: exit codes, messages naming the problem, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest


def qatbench(*args: str, cwd: Path | None = None, timeout: float = 300
             ) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "qatbench", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=timeout)


@pytest.mark.parametrize(
    ("content", "expected"),
    [(None, "no such file"), (b"", "empty"), (b"hello world, not a model", "not a TFLite"),
     ("truncate", "truncated or corrupt")],
)
def test_bench_rejects_bad_files_with_exit_2(tmp_path: Path, int8_tflite: Path, content,
                                             expected: str) -> None:
    path = tmp_path / "broken model.tflite"
    if content == "truncate":
        path.write_bytes(int8_tflite.read_bytes()[:300])
    elif content is not None:
        path.write_bytes(content)
    result = qatbench("bench", str(path), "--out", str(tmp_path / "results"))
    assert result.returncode == 2
    assert str(path) in result.stderr
    assert expected in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_bench_times_existing_models_of_both_kinds(tmp_path: Path, float_tflite: Path,
                                                   int8_tflite: Path) -> None:
    out = tmp_path / "results"
    result = qatbench("bench", str(float_tflite), str(int8_tflite), "--targets",
                      "cpu-xnnpack,cpu-ref", "--threads", "1,2", "--out", str(out),
                      "--min-runs", "5", "--min-secs", "0", "--benchmark-json",
                      str(tmp_path / "bench.json"))
    assert result.returncode == 0, result.stderr + result.stdout
    (run_dir,) = out.iterdir()
    frame = pd.read_parquet(run_dir / "results.parquet")
    assert len(frame) == 2 * 2 * 2
    assert set(frame["variant"]) == {"float32", "int8"}
    assert set(frame["status"]) == {"ok"}
    assert (frame["n_samples"] >= 5).all()
    assert (run_dir / "report.md").exists()
    document = json.loads((tmp_path / "bench.json").read_text())
    assert len(document["benchmarks"]) == 8
    first = document["benchmarks"][0]
    assert {"model", "variant", "target", "threads", "size_bytes"} <= set(first["extra_info"])
    assert len(first["stats"]["data"]) == first["stats"]["rounds"] >= 5
    # pytest-benchmark's own reader accepts it
    reader = Path(sys.executable).with_name("pytest-benchmark")
    compare = subprocess.run([str(reader), "compare",
                              str(tmp_path / "bench.json"), "--columns", "min,median,rounds"],
                             capture_output=True, text=True, timeout=120)
    assert compare.returncode == 0, compare.stderr
    assert "float32" in compare.stdout and "Median" in compare.stdout


def test_bad_config_exits_2_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[run]\ntargets = ["tpu9"]\n')
    result = qatbench("run", "--config", str(config), "--out", str(tmp_path))
    assert result.returncode == 2
    assert "run.targets" in result.stderr and "cpu-xnnpack" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("args", [["run", "--models", "nope"], ["run", "--variants", "fp4"],
                                  ["run", "--threads", "x"], ["run", "--shard", "5/4"],
                                  ["run", "--bogus-flag"],
                                  ["run", "--model", "net.keras", "--untrained"]])
def test_bad_flags_exit_2(tmp_path: Path, args: list[str]) -> None:
    result = qatbench(*args, "--out", str(tmp_path))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_targets_and_models_list_everything() -> None:
    targets = qatbench("targets")
    assert targets.returncode == 0
    for name in ("cpu-xnnpack", "cpu-ref", "edgetpu", "nnapi", "android-cpu"):
        assert name in targets.stdout
    models = qatbench("models")
    assert models.returncode == 0
    assert "mnist_cnn" in models.stdout and "mobilenet_v2" in models.stdout


def test_failed_job_exits_1_and_keeps_the_other_rows(tmp_path: Path, int8_tflite: Path) -> None:
    out = tmp_path / "results"
    result = qatbench("bench", str(int8_tflite), "--targets",
                      "tests.targets.misbehaving:segfault,cpu-ref", "--out", str(out),
                      "--min-runs", "3", "--min-secs", "0")
    assert result.returncode == 1, result.stdout + result.stderr
    (run_dir,) = out.iterdir()
    frame = pd.read_parquet(run_dir / "results.parquet").set_index("target")
    assert frame.loc["tests.targets.misbehaving:segfault", "status"] == "failed"
    assert "SIGSEGV" in frame.loc["tests.targets.misbehaving:segfault", "error"]
    assert frame.loc["cpu-ref", "status"] == "ok"


@pytest.mark.parametrize("problem", ["config-dir", "config-latin1", "resume-corrupt",
                                     "out-file", "out-unwritable"])
def test_bad_inputs_are_one_line_exit_2(tmp_path: Path, problem: str) -> None:
    """Five inputs that used to end in a traceback."""
    args = ["run", "--quick", "--models", "digits_cnn"]
    if problem == "config-dir":
        args += ["--config", str(tmp_path)]
        expected = "is a directory"
    elif problem == "config-latin1":
        config = tmp_path / "lab.toml"
        config.write_bytes('[run]\nmodels = ["digits_cnn"]  # caf\xe9\n'.encode("latin-1"))
        args += ["--config", str(config)]
        expected = "not UTF-8"
    elif problem == "resume-corrupt":
        run_dir = tmp_path / "run"
        run_dir.mkdir()
        (run_dir / "config.json").write_text('{"run": {"models": [')
        args = ["run", "--resume", str(run_dir)]
        expected = "corrupt"
    elif problem == "out-file":
        (tmp_path / "results").write_text("a file")
        args += ["--out", str(tmp_path / "results")]
        expected = "is a file"
    else:
        args += ["--out", "/sys/qatbench-results"]
        expected = "cannot"
    result = qatbench(*args, cwd=tmp_path, timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    assert expected in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_a_misspelt_target_option_is_exit_2_naming_the_valid_keys(tmp_path: Path) -> None:
    config = tmp_path / "lab.toml"
    config.write_text('[run]\ntargets = ["edgetpu"]\n[targets.edgetpu]\nacclerator = "usb"\n')
    result = qatbench("run", "--config", str(config), cwd=tmp_path, timeout=120)
    assert result.returncode == 2
    assert "acclerator" in result.stderr and "device" in result.stderr
    assert "Traceback" not in result.stderr


def test_resume_keeps_the_shard_it_was_started_with(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.json").write_text(json.dumps(
        {"run": {"models": ["digits_cnn"], "shard": [1, 2]}}))
    result = qatbench("run", "--resume", str(run_dir), "--shard", "2/2", cwd=tmp_path,
                      timeout=120)
    assert result.returncode == 2
    assert "started with --shard 1/2" in result.stderr


def test_retry_failed_needs_a_run_to_resume(tmp_path: Path) -> None:
    result = qatbench("run", "--retry-failed", cwd=tmp_path, timeout=120)
    assert result.returncode == 2
    assert "--resume" in result.stderr


def test_variants_help_names_the_litert_quantizer_variants() -> None:
    from typer.testing import CliRunner

    from qatbench.bench.cli import app

    for command in ("run", "build"):
        shown = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "400"})
        assert shown.exit_code == 0, shown.output
        for variant in ("dynamic_int8", "int8_weights", "int4_weights", "fp16",
                        "qat_selective", "mixed_int8"):
            assert variant in shown.output, (command, variant)


def test_an_int8_file_on_model_is_labelled_int8_not_float32(tmp_path: Path,
                                                            int8_tflite: Path) -> None:
    """`run --model FILE.tflite` with a full-integer file: its row says int8, as `bench`
    labels it; with --data it is refused (its accuracy needs its float32 file)."""
    out = tmp_path / "results"
    result = qatbench("run", "--model", str(int8_tflite), "--targets", "cpu-ref",
                      "--out", str(out), "--min-runs", "3", "--min-secs", "0")
    assert result.returncode == 0, result.stderr + result.stdout
    (run_dir,) = out.iterdir()
    frame = pd.read_parquet(run_dir / "results.parquet")
    assert frame["variant"].tolist() == ["int8"] and frame["status"].tolist() == ["ok"]
    refused = qatbench("run", "--model", str(int8_tflite), "--data", "digits.npz",
                       "--out", str(tmp_path / "never"), cwd=tmp_path)
    assert refused.returncode == 2, refused.stderr + refused.stdout
    assert "full-integer (int8) file, not float32" in " ".join(refused.stderr.split())
    assert not (tmp_path / "never").exists()
