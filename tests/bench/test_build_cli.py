"""Build once, time everywhere, as a user and a device lab meet it: a second run reuses
the build, and a host without TensorFlow times an artifacts archive."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from qatbench.bench.storage.runs import load_runs

REPO = Path(__file__).resolve().parents[2]
QUICK = ["--models", "digits_cnn", "--quick", "--min-runs", "5", "--min-secs", "0.05",
         "--max-secs", "5"]


def qatbench(*args: str, python: str = sys.executable, cwd: Path | None = None,
             env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([python, "-m", "qatbench", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=900)


def only_run(root: Path) -> Path:
    (found,) = [p for p in root.iterdir() if p.is_dir()]
    return found


@pytest.mark.slow
def test_a_second_run_of_the_same_config_builds_nothing_and_times_the_same_files(
        tmp_path: Path) -> None:
    first = qatbench("run", *QUICK, "--targets", "cpu-ref", "--out", str(tmp_path / "a"))
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    second = qatbench("run", *QUICK, "--targets", "cpu-xnnpack", "--out", str(tmp_path / "b"))
    assert second.returncode == 0, second.stdout[-2000:] + second.stderr[-2000:]
    run_a, run_b = only_run(tmp_path / "a"), only_run(tmp_path / "b")
    rows_a = load_runs([run_a]).results.set_index("variant")
    rows_b = load_runs([run_b]).results.set_index("variant")
    assert rows_a["build_key"].nunique() == 1
    # the same model
    assert (rows_b["build_key"] == rows_a["build_key"]).fillna(False).all()
    assert rows_a["note"].str.contains("built here", na=False).all()
    assert rows_b["note"].str.contains("build cache hit", na=False).all()
    assert not (run_b / "artifacts" / "digits_cnn" / "build").exists()  # no build child
    for variant in ("float32", "ptq_int8", "qat_int8"):
        name = f"{variant}.tflite"
        assert (run_b / "artifacts" / "digits_cnn" / name).read_bytes() == (
            run_a / "artifacts" / "digits_cnn" / name).read_bytes()
    from qatbench.bench.orchestration.build_cache import BuildCache

    key = rows_a["build_key"].iloc[0]
    (entry,) = [e for e in BuildCache().entries() if e["key"] == key]
    before_rebuild = time.time()
    assert entry["created"] < before_rebuild
    rebuilt = qatbench("run", *QUICK, "--targets", "cpu-ref", "--rebuild", "--out",
                       str(tmp_path / "c"))
    assert rebuilt.returncode == 0, rebuilt.stdout[-2000:] + rebuilt.stderr[-2000:]
    rows_c = load_runs([only_run(tmp_path / "c")]).results
    assert rows_c["note"].str.contains("built here", na=False).all()
    assert (rows_c["build_key"] == key).all()  # the same inputs: the same key
    (stored,) = [e for e in BuildCache().entries() if e["key"] == key]
    assert stored["created"] > before_rebuild  # the new build replaced the entry
    assert not stored["corrupt"]


def _timing_only_venv(where: Path) -> Path:
    """A venv with qatbench and its timing-side dependencies only -- no TensorFlow."""
    uv = shutil.which("uv")
    python = where / "bin" / "python"
    if uv:
        subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(where)], check=True)
        subprocess.run([uv, "pip", "install", "-q", "--python", str(python), "-e", str(REPO)],
                       check=True, env={**os.environ, "UV_COMPILE_BYTECODE": "0"})
    else:
        subprocess.run([sys.executable, "-m", "venv", str(where)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "-e", str(REPO)],
                       check=True)
    return python


@pytest.mark.slow
def test_a_host_without_tensorflow_times_every_variant_of_an_artifacts_archive(
        tmp_path: Path) -> None:
    built = qatbench("build", *QUICK[:3], "--out", str(tmp_path / "artifacts"), "--archive")
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    archive = tmp_path / "artifacts.tar.gz"
    assert archive.is_file()
    python = _timing_only_venv(tmp_path / "venv")
    no_tf = subprocess.run([str(python), "-c", "import tensorflow"], capture_output=True)
    assert no_tf.returncode != 0  # the device host really has no TensorFlow
    device_host = tmp_path / "device"
    device_host.mkdir()
    shutil.copy(archive, device_host / archive.name)  # as a CI artifact arrives
    timed = qatbench("run", "--artifacts", archive.name, "--targets", "cpu-xnnpack",
                     "--min-runs", "5", "--min-secs", "0.05", "--out", "results",
                     python=str(python), cwd=device_host,
                     env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert timed.returncode == 0, timed.stdout[-3000:] + timed.stderr[-3000:]
    rows = pd.read_parquet(only_run(device_host / "results") / "results.parquet")
    assert sorted(rows["variant"]) == ["float32", "ptq_int8", "qat_int8"]
    assert (rows["status"] == "ok").all()
    assert rows["note"].str.contains("prebuilt artifact", na=False).all()
    # the eval set travelled with the models
    assert (rows["accuracy_top1"] > 0.3).fillna(False).all()


def test_a_changed_or_missing_artifact_is_refused_naming_it(
        tmp_path: Path, digits_build, monkeypatch: pytest.MonkeyPatch) -> None:
    """Made from the session's digits build with the product's own writer."""
    from qatbench.bench.orchestration import artifacts_dir
    from qatbench.bench.orchestration.config import build_config

    config = build_config({"run": {"models": ["digits_cnn"],
                                   "variants": ["float32", "qat_int8"]}})
    source = Path(str(digits_build.variants["float32"].path)).parent

    def copy_build(config, model, variants, out_dir, cache, rebuild=False, on_status=None):
        shutil.copytree(source, out_dir, dirs_exist_ok=True)
        import json

        from qatbench.bench.orchestration.build_cache import relocate
        from qatbench.qat.artifacts import ModelBuild

        moved = relocate(json.loads((out_dir / "manifest.json").read_text()), str(source),
                         str(out_dir))
        built = ModelBuild.from_dict(moved)
        built.save(out_dir)
        return built

    out = tmp_path / "artifacts"
    monkeypatch.setattr(artifacts_dir, "obtain_build", copy_build)
    artifacts_dir.write_artifacts(config, out, cache=None)
    (out / "digits_cnn" / "qat_int8.tflite").write_bytes(b"TFL3 changed")
    result = qatbench("run", "--artifacts", str(out), "--variants", "float32,qat_int8",
                      "--out", str(tmp_path / "results"))
    assert result.returncode == 2
    assert "qat_int8.tflite does not match its digest" in result.stderr
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").iterdir())
    missing = qatbench("run", "--artifacts", str(out), "--models", "mnist_cnn",
                       "--out", str(tmp_path / "results"))
    assert missing.returncode == 2 and "no build of model 'mnist_cnn'" in missing.stderr
