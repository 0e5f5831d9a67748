"""How old runs are read, as `nox -s mutation` found no test holding: an old bench job
of a target named ``pkg.mod:factory`` (its folder has ``_`` for ``:``) still finds the
file it timed, a manifest whose path is not text is no file, a profile that names its
file keeps it, and a run's stamp that is no format this qatbench reads is refused naming
the file and what to do."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qatbench.bench.storage.key import RowKey
from qatbench.bench.storage.layout import CHILD_REQUEST_FILE, CONFIG_FILE
from qatbench.bench.storage.profiles import add_profile, profile_frame, read_profiles
from qatbench.bench.storage.store import read_config
from qatbench.bench.storage.upgrade import (
    FORMAT_VERSION,
    MANIFEST,
    NewerRunFormat,
    old_model_file,
)


def test_an_old_job_of_a_factory_target_finds_the_file_it_timed(tmp_path: Path) -> None:
    timed = tmp_path / "lab" / "m.tflite"
    timed.parent.mkdir()
    timed.write_bytes(b"TFL3")
    run_dir = tmp_path / "run"
    request = run_dir / "jobs" / "m-float32-my.targets_npu-t1" / "r0" / CHILD_REQUEST_FILE
    request.parent.mkdir(parents=True)
    request.write_text(json.dumps({"model": str(timed)}))
    key = RowKey("m", "float32", "my.targets:npu", "host", 1)
    assert old_model_file(run_dir, key) == str(timed)


def test_a_manifest_path_that_is_not_text_is_no_file(tmp_path: Path) -> None:
    folder = tmp_path / "artifacts" / "m"
    folder.mkdir(parents=True)
    (folder / MANIFEST).write_text(json.dumps({"variants": {"float32": {"path": 5}}}))
    assert old_model_file(tmp_path, RowKey("m", "float32", "cpu-xnnpack", "host", 1)) is None


def test_a_profile_that_names_its_file_keeps_it(tmp_path: Path) -> None:
    key = {"run_id": "r", "model": "m", "variant": "float32", "target": "cpu-xnnpack",
           "device": "host", "threads": 1, "fingerprint": "f", "source": "host-cut",
           "model_file": "artifacts/m/float32.tflite"}
    add_profile(tmp_path, profile_frame(key, [{"op_index": 0, "op_type": "ADD",
                                               "p50_ms": 1.0}], whole_p50_ms=1.0))
    assert read_profiles(tmp_path)["model_file"].tolist() == ["artifacts/m/float32.tflite"]


@pytest.mark.parametrize("stamp", [0, -1, True, 2.5, "3"])
def test_a_stamp_that_is_no_whole_version_is_refused_with_what_to_do(
        tmp_path: Path, stamp: object) -> None:
    """Format versions count from 1: zero, a negative number, a flag, a fraction or text
    in ``format_version`` is a damaged file, not a run to read as some shape."""
    path = tmp_path / CONFIG_FILE
    path.write_text(json.dumps({"run": {}, "format_version": stamp}))
    with pytest.raises(NewerRunFormat) as raised:
        read_config(tmp_path)
    assert str(raised.value) == (
        f"{path}: format_version {stamp!r} is not a run format qatbench wrote (a whole "
        "number); restore the file from a copy of the run directory")


def test_a_stamp_newer_than_this_qatbench_says_to_upgrade_qatbench(tmp_path: Path) -> None:
    path = tmp_path / CONFIG_FILE
    path.write_text(json.dumps({"run": {}, "format_version": FORMAT_VERSION + 1}))
    with pytest.raises(NewerRunFormat) as raised:
        read_config(tmp_path)
    assert str(raised.value) == (
        f"{path}: the run directory has format version {FORMAT_VERSION + 1}, newer than "
        f"this qatbench reads (up to {FORMAT_VERSION}); upgrade qatbench to the version "
        "that wrote it, or a newer one, to read it")
    path.write_text(json.dumps({"run": {}, "format_version": FORMAT_VERSION}))
    assert read_config(tmp_path) == {"run": {}}  # today's stamp: read, without the stamp
