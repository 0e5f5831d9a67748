"""One typed options object per target from the run config to the child, one timing
spec type, and per-op profiling as a capability a target declares -- one child, one
path, for host and plug-in targets alike."""

from __future__ import annotations

from pathlib import Path

import pytest

from qatbench.bench.orchestration.config import ConfigError, build_config
from qatbench.bench.orchestration.launcher import run_child
from qatbench.targets.android.target import AndroidOptions
from qatbench.targets.base import (
    Availability,
    Capability,
    Measurement,
    MeasureSpec,
    Prepared,
    ProfileSpec,
    capabilities_of,
)
from qatbench.targets.child import load_request, read_record, save_request
from qatbench.targets.host.cpu import CpuOptions
from qatbench.targets.op_profile import OpProfile, OpTiming
from qatbench.targets.options import PluginOptions
from qatbench.targets.profile_worker import ProfileRequest, ProfileResult
from qatbench.targets.registry import create_target
from qatbench.targets.worker import JobRequest

FAST = {"warmup_runs": 1, "warmup_min_s": 0, "min_runs": 5, "min_s": 0}


def test_the_config_holds_each_targets_own_options_model() -> None:
    config = build_config({"run": {"targets": ["cpu-xnnpack", "pixel"]},
                           "targets": {"pixel": {"kind": "android-cpu", "device": "P7"},
                                       "cpu-xnnpack": {"count_instructions": True}}})
    pixel = config.target_options("pixel")
    assert isinstance(pixel, AndroidOptions) and pixel.device == "P7"
    assert config.target_options("cpu-xnnpack").count_instructions is True
    assert isinstance(config.target_options("cpu-ref"), CpuOptions)  # no table: defaults
    again = build_config(config.model_dump())  # what config.json holds, read on --resume
    assert again.target_options("pixel") == pixel
    assert again.measure == config.measure


def test_device_is_set_on_the_device_targets_options_only() -> None:
    config = build_config({"run": {"targets": ["cpu-xnnpack", "nnapi"]}})
    phone = config.with_target_options("nnapi", device="SERIAL9")
    assert phone.target_options("nnapi").device == "SERIAL9"
    assert phone.target_options("cpu-xnnpack") == config.target_options("cpu-xnnpack")
    assert phone.run is config.run  # nothing else was dumped and validated again
    with pytest.raises(ValueError, match="unknown option 'device'"):
        config.with_target_options("cpu-xnnpack", device="SERIAL9")


def test_measure_is_the_spec_type_and_threads_come_from_run() -> None:
    config = build_config({"run": {"threads": [1, 4]}, "measure": {"min_runs": 7}})
    spec = config.spec(4)
    assert type(spec) is MeasureSpec and (spec.threads, spec.min_runs) == (4, 7)
    assert "threads" not in config.model_dump()["measure"]
    with pytest.raises(ConfigError, match=r"measure.threads.*\[run\] threads"):
        build_config({"measure": {"threads": 4}})
    with pytest.raises(ValueError, match="threads"):
        config.spec(0)


def test_a_request_crosses_the_process_boundary_typed(tmp_path: Path) -> None:
    request = JobRequest(target="pixel", model="m.tflite", work_dir=str(tmp_path),
                         result_path=str(tmp_path / "r.json"), spec=FAST,
                         target_options={"kind": "android-cpu", "op_profiling": True})
    assert isinstance(request.spec, MeasureSpec)
    assert isinstance(request.target_options, AndroidOptions)
    save_request(tmp_path / "request.json", request)
    loaded = load_request(tmp_path / "request.json", JobRequest)
    assert loaded == request
    assert type(loaded.target_options) is AndroidOptions
    with pytest.raises(ValueError, match="unknown option 'op_profilng'"):
        JobRequest(target="android-cpu", model="m", work_dir=".", result_path="r",
                   target_options={"op_profilng": True})


def test_profiling_is_a_declared_capability() -> None:
    assert Capability.PROFILE in capabilities_of(create_target("cpu-xnnpack"))
    assert Capability.PROFILE in capabilities_of(create_target("android-cpu"))
    assert capabilities_of(create_target("edgetpu")) == frozenset()
    assert capabilities_of(object()) == frozenset()  # a plug-in that declares nothing


class CountingProfiler:
    """A plug-in that declares ``Capability.PROFILE``: the profile child must run it as it
    runs the built-ins (no type or option name decides)."""

    name = "counting"
    description = "test target with a per-op profile"
    takes_device = False
    accuracy_source = "none"
    capabilities = frozenset({Capability.PROFILE})

    def probe(self) -> Availability:
        return Availability(True)

    def prepare(self, model: Path, work: Path) -> Prepared:
        return Prepared(model=model, source=model)

    def measure(self, prepared: Prepared, spec: MeasureSpec) -> Measurement:
        return Measurement(samples_ms=(1.0,))

    def evaluate(self, prepared: Prepared, data: object) -> None:
        return None

    def profile(self, prepared: Prepared, spec: ProfileSpec) -> OpProfile:
        assert prepared.job is not None  # set by the child, as for measure
        ops = (OpTiming(0, "ADD", "a", None, 0.25 * spec.threads),
               OpTiming(1, "MUL", "b", None, spec.op_s))
        return OpProfile("counting", ops, 0.5, "none",
                         extra={"device": f"counter x{spec.threads}", "runtime": "none"})


def counting() -> CountingProfiler:
    return CountingProfiler()


def _profile(tmp_path: Path, target: str) -> ProfileResult:
    work = tmp_path / "profile"
    request = ProfileRequest(target=target, model=str(tmp_path / "m.tflite"),
                             work_dir=str(work), result_path=str(work / "profile.json"),
                             spec=ProfileSpec(threads=2, op_s=0.125, **FAST),
                             target_options=PluginOptions())
    outcome = run_child(request, work, 60)
    assert outcome.returncode == 0, outcome.describe()
    return read_record(ProfileResult, (work / "profile.json").read_text())


def test_the_profile_child_profiles_any_target_that_declares_it(tmp_path: Path) -> None:
    result = _profile(tmp_path, f"{__name__}:counting")
    assert result.error == ""
    assert result.profile is not None
    assert [op.p50_ms for op in result.profile.ops] == [0.5, 0.125]  # the spec arrived
    assert (result.device, result.runtime) == ("counter x2", "none")


def test_a_target_without_the_capability_gets_a_reason_not_a_profile(tmp_path: Path
                                                                       ) -> None:
    result = _profile(tmp_path, "tests.targets.misbehaving:raises")
    assert result.profile is None
    assert "does not declare Capability.PROFILE" in result.error
