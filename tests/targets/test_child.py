"""The one child entry: every typed request reaches its kind's work, a request file is
read only as the kind it is (validated by its request model), and a crash becomes that
kind's own result."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from qatbench.qat import build_worker
from qatbench.qat.artifacts import BuildRequest, ModelBuild
from qatbench.qat.source_check import SourceCheckRequest
from qatbench.targets import child
from qatbench.targets.base import Status
from qatbench.targets.child import (
    BAD_REQUEST_EXIT,
    KINDS,
    MODULE,
    load_request,
    read_record,
    read_request,
    request_type,
    save_request,
    serve_function,
)
from qatbench.targets.inspect_worker import InspectRequest
from qatbench.targets.profile_worker import ProfileRequest
from qatbench.targets.worker import JobRequest, JobResult


def requests(tmp_path: Path) -> list:
    """One request of every type the launcher hands to a child."""
    work = str(tmp_path / "work")
    result = str(tmp_path / "result.json")
    return [
        JobRequest(target="cpu-ref", model="m.tflite", work_dir=work, result_path=result),
        ProfileRequest(target="cpu-ref", model="m.tflite", work_dir=work, result_path=result),
        InspectRequest(files=["m.tflite"], result_path=result),
        BuildRequest(model="mnist_cnn", variants=["float32"], out_dir=work),
        SourceCheckRequest(models={}, seeds={}, result_path=result),
    ]


def test_every_request_type_names_a_kind_the_entry_serves(tmp_path: Path) -> None:
    made = requests(tmp_path)
    assert sorted(r.kind for r in made) == sorted(KINDS)  # one kind per request type
    for request in made:
        assert request_type(request.kind) is type(request)  # the table names the model
        assert callable(serve_function(request.kind))


def test_a_request_file_round_trips_and_is_read_only_as_its_own_kind(tmp_path: Path) -> None:
    for request in requests(tmp_path):
        path = tmp_path / f"{request.kind}.json"
        save_request(path, request)
        assert read_request(path)[0] == request.kind
        assert load_request(path, type(request)) == request
    with pytest.raises(ValueError, match="is a 'profile' request, not 'job'"):
        load_request(tmp_path / "profile.json", JobRequest)
    with pytest.raises(ValueError, match="unknown child kind 'nope'; known: job, profile"):
        serve_function("nope")


def test_a_build_request_file_of_an_older_run_still_reads(tmp_path: Path) -> None:
    """Request files in run directories are read back (``explore`` finds a job's model
    in them): the shape written before requests were pydantic records still loads."""
    path = tmp_path / "request.json"
    path.write_text(json.dumps({"kind": "build", "request": {
        "model": "mnist_cnn", "variants": ["float32"], "out_dir": "/runs/a/artifacts/m",
        "budget": {"qat_epochs": 1, "seed": 3}, "imagenet_dir": None, "source": None}}))
    loaded = load_request(path, BuildRequest)
    assert (loaded.budget.qat_epochs, loaded.budget.seed, loaded.source) == (1, 3, None)


def run_entry(request_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", MODULE, str(request_path)],
                          capture_output=True, text=True, timeout=120)


def test_a_crash_in_the_work_is_that_kinds_own_result(tmp_path: Path) -> None:
    """A target that raises a plain exception while measuring: the child exits 0 with a
    ``failed`` row naming the error (what the parent stores), the traceback in its log."""
    work = tmp_path / "work"
    request = JobRequest(target="tests.targets.misbehaving:raises",
                         model=str(tmp_path / "m.tflite"),  # never opened by this target
                         work_dir=str(work), result_path=str(tmp_path / "result.json"))
    save_request(tmp_path / "request.json", request)
    done = run_entry(tmp_path / "request.json")
    assert done.returncode == 0, done.stderr
    result = read_record(JobResult, (tmp_path / "result.json").read_text())
    assert result.measurement.status is Status.FAILED
    assert "delegate rejected the graph" in result.measurement.error
    assert "Traceback" in done.stderr


def test_a_malformed_request_file_is_refused_with_what_is_wrong(tmp_path: Path) -> None:
    """A build request whose budget has a key no budget has: the child's request model
    refuses it before any work (exit 2), naming the file, the kind, the field and the
    key -- no traceback, no result."""
    out = tmp_path / "build"
    path = tmp_path / "request.json"
    path.write_text(json.dumps({"kind": "build", "request": {
        "model": "some_model", "variants": ["float32"], "out_dir": str(out),
        "budget": {"no_such_budget_key": 1}}}))
    done = run_entry(path)
    assert done.returncode == BAD_REQUEST_EXIT
    assert f"{path} is not a valid 'build' request (BuildRequest)" in done.stderr
    assert "budget.no_such_budget_key" in done.stderr and "Traceback" not in done.stderr
    assert not (out / "manifest.json").exists()
    path.write_text("{not json")
    done = run_entry(path)
    assert done.returncode == BAD_REQUEST_EXIT
    assert f"{path} is not a child request file" in done.stderr


def test_a_crashed_build_leaves_a_manifest_naming_the_error(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    """The build kind's crash result is its manifest: every variant failed with the
    error, so the runner writes failed rows that say why. (The entry runs in this
    process with a build that raises: the test stays fast, TensorFlow unloaded.)"""
    def broken_build(request: BuildRequest) -> ModelBuild:
        raise RuntimeError("the user's data loader broke")

    monkeypatch.setattr(build_worker, "build", broken_build)
    out = tmp_path / "build"
    out.mkdir()
    save_request(tmp_path / "request.json",
                 BuildRequest(model="some_model", variants=["float32", "qat_int8"],
                              out_dir=str(out)))
    previous = signal.getsignal(signal.SIGTERM)
    try:
        assert child.main([str(tmp_path / "request.json")]) == 0
    finally:
        signal.signal(signal.SIGTERM, previous)
    built = ModelBuild.load(out)
    assert built is not None and sorted(built.variants) == ["float32", "qat_int8"]
    assert all(v.error.startswith("building some_model: ")
               and "the user's data loader broke" in v.error for v in built.variants.values())


def test_a_child_whose_parent_is_already_gone_does_nothing(tmp_path: Path) -> None:
    """The launcher names itself in the child's environment: a child that finds another
    parent (its own died while it was starting, before the parent-death signal was set)
    exits as if stopped, without reading its request or writing a result."""
    out = tmp_path / "build"
    save_request(tmp_path / "request.json",
                 BuildRequest(model="some_model", variants=["float32"], out_dir=str(out)))
    import os

    gone = {**os.environ, child.PARENT_PID_VARIABLE: str(os.getpid() + 1_000_000)}
    done = subprocess.run([sys.executable, "-m", MODULE, str(tmp_path / "request.json")],
                          capture_output=True, text=True, timeout=60, env=gone)
    assert done.returncode == child.INTERRUPTED_EXIT, done.stderr
    assert "has already ended; nothing done" in done.stderr
    assert not out.exists()
    mine = {**os.environ, child.PARENT_PID_VARIABLE: str(os.getpid())}
    done = subprocess.run([sys.executable, "-m", MODULE], capture_output=True, text=True,
                          timeout=60, env=mine)
    assert done.returncode == 2, done.stderr  # its own parent: on to the usage check


def test_the_entry_refuses_a_call_without_one_request_file(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", MODULE], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2 and f"usage: python -m {MODULE} REQUEST.json" in done.stderr


def test_a_manifest_is_written_as_before_and_an_older_one_still_reads(tmp_path: Path) -> None:
    """The build's manifest stays the text ``json.dumps(asdict(...), indent=2,
    default=str)`` made (numpy figures as their text) plus the run directory's format
    stamp, and a manifest from before the
    newer fields (no ``framework``, ``op_determinism``, ``quantizer_recipe``) reads with
    their defaults."""
    import dataclasses

    import numpy as np

    from qatbench.qat.artifacts import FORMAT_VERSION, VariantArtifact

    built = ModelBuild("m", "trained", None, "", {"int8": VariantArtifact(
        "int8", "/a/int8.tflite", np.int64(1234), keras_top1=np.float32(0.5),
        worst_layers=[{"layer": "conv", "rmse": np.float32(0.25)}])})
    built.save(tmp_path)
    assert (tmp_path / "manifest.json").read_text() == json.dumps(
        {**dataclasses.asdict(built), "format_version": FORMAT_VERSION}, indent=2, default=str)
    old = {"model": "m", "weights": "trained", "eval_path": None, "accuracy_note": "",
           "variants": {"int8": {"variant": "int8", "path": "/a/int8.tflite",
                                 "size_bytes": 1234, "keras_top1": "0.5", "error": ""}}}
    (tmp_path / "manifest.json").write_text(json.dumps(old))
    loaded = ModelBuild.load(tmp_path)
    assert loaded is not None and loaded.framework == {} and loaded.op_determinism is None
    assert loaded.variants["int8"] == VariantArtifact("int8", "/a/int8.tflite", 1234,
                                                      keras_top1=0.5)
