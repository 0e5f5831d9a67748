"""The one child entry: every typed request reaches its kind's work, a request file is
read only as the kind it is, and a crash becomes that kind's own result."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from qatbench.qat.artifacts import BuildRequest, ModelBuild
from qatbench.qat.source_check import SourceCheckRequest
from qatbench.targets.base import Status
from qatbench.targets.child import KINDS, MODULE, read_request, serve_function
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
        assert callable(serve_function(request.kind))


def test_a_request_file_round_trips_and_is_read_only_as_its_own_kind(tmp_path: Path) -> None:
    for request in requests(tmp_path):
        path = tmp_path / f"{request.kind}.json"
        request.save(path)
        assert read_request(path)[0] == request.kind
        assert type(request).load(path) == request
    with pytest.raises(ValueError, match="is a 'profile' request, not 'job'"):
        JobRequest.load(tmp_path / "profile.json")
    with pytest.raises(ValueError, match="unknown child kind 'nope'; known: job, profile"):
        serve_function("nope")


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
    request.save(tmp_path / "request.json")
    done = run_entry(tmp_path / "request.json")
    assert done.returncode == 0, done.stderr
    result = JobResult.from_json((tmp_path / "result.json").read_text())
    assert result.measurement.status is Status.FAILED
    assert "delegate rejected the graph" in result.measurement.error
    assert "Traceback" in done.stderr


def test_a_crashed_build_leaves_a_manifest_naming_the_error(tmp_path: Path) -> None:
    """The build kind's crash result is its manifest: every variant failed with the
    error, so the runner writes failed rows that say why. (A training budget with a key
    it does not have fails before TensorFlow is imported: the test stays fast.)"""
    out = tmp_path / "build"
    out.mkdir()  # the launcher's build_in_child runs the child inside it
    request = BuildRequest(model="some_model", variants=["float32", "qat_int8"],
                           out_dir=str(out), budget={"no_such_budget_key": 1})
    request.save(tmp_path / "request.json")
    done = run_entry(tmp_path / "request.json")
    assert done.returncode == 0, done.stderr
    built = ModelBuild.load(out)
    assert built is not None and sorted(built.variants) == ["float32", "qat_int8"]
    assert all(v.error.startswith("building some_model: ") and "no_such_budget_key" in v.error
               for v in built.variants.values())


def test_the_entry_refuses_a_call_without_one_request_file(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", MODULE], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2 and f"usage: python -m {MODULE} REQUEST.json" in done.stderr
