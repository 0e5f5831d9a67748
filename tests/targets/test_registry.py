"""Target options from a run config: typed per target, misspellings caught, user-named kinds."""

from __future__ import annotations

import pytest

from qatbench.targets.android.target import AndroidOptions, AndroidTarget
from qatbench.targets.base import Capability, Target
from qatbench.targets.edgetpu.target import EdgeTpuOptions
from qatbench.targets.host.cpu import CpuOptions, CpuTarget
from qatbench.targets.options import PluginOptions, TargetOptions
from qatbench.targets.registry import (
    TargetOptionsError,
    UnknownTarget,
    create_target,
    options_for_repeat,
    options_model,
    resolve_kind,
    target_capabilities,
    target_names,
    target_takes_device,
    validate_target_options,
    with_requested,
)

BUILTINS = ["cpu-xnnpack", "cpu-ref", "edgetpu", "nnapi", "android-cpu"]


def test_each_builtin_has_a_strict_options_model() -> None:
    assert target_names()[:5] == BUILTINS
    assert {name: options_model(name) for name in BUILTINS} == {
        "cpu-xnnpack": CpuOptions, "cpu-ref": CpuOptions, "edgetpu": EdgeTpuOptions,
        "nnapi": AndroidOptions, "android-cpu": AndroidOptions}
    for name in BUILTINS:
        assert options_model(name).model_config["extra"] == "forbid"


def test_a_misspelt_key_names_the_target_the_key_and_the_valid_keys() -> None:
    with pytest.raises(TargetOptionsError) as error:
        create_target("nnapi", {"acclerator": "qti-dsp"})
    message = str(error.value)
    assert "[targets.nnapi]" in message
    assert "unknown option 'acclerator' (did you mean 'accelerator'?)" in message
    assert "Valid options: accelerator, adb, adb_timeout_s" in message
    assert isinstance(error.value, ValueError)


@pytest.mark.parametrize("name", ["cpu-xnnpack", "cpu-ref"])
def test_cpu_targets_no_longer_swallow_options(name: str) -> None:
    with pytest.raises(TargetOptionsError, match=f"targets.{name}.*unknown option 'threads'"):
        create_target(name, {"threads": 4})


@pytest.mark.parametrize(("options", "words"), [
    ({"timeout_s": "soon"}, "option 'timeout_s': Input should be a valid number"),
    ({"execution_preference": "fastest"}, "option 'execution_preference': Input should be"),
    ({"cpu_mask": "big cores"}, "option 'cpu_mask': String should match pattern"),
])
def test_a_value_of_the_wrong_type_carries_pydantics_words(options: dict, words: str) -> None:
    with pytest.raises(TargetOptionsError, match=words):
        validate_target_options("android-cpu", options)


def test_a_user_named_target_reuses_a_builtin_under_its_own_name() -> None:
    options = {"kind": "cpu-xnnpack", "python": "/opt/nightly/bin/python"}
    assert resolve_kind("cpu-xnnpack-nightly", options) == "cpu-xnnpack"
    target = create_target("cpu-xnnpack-nightly", options)
    assert isinstance(target, CpuTarget) and target.use_xnnpack
    assert target.name == "cpu-xnnpack-nightly"
    assert target.accuracy_source == "cpu-xnnpack-nightly interpreter"
    assert target.options.python == "/opt/nightly/bin/python"  # stored for the runner
    with pytest.raises(TargetOptionsError, match=r"cpu-xnnpack-nightly.*'device'"):
        create_target("cpu-xnnpack-nightly", {"kind": "cpu-xnnpack", "device": "X"})
    phone = create_target("pixel-big-cores", {"kind": "android-cpu", "cpu_mask": "f0"})
    assert isinstance(phone, AndroidTarget) and not phone.use_nnapi
    assert (phone.name, phone.options.cpu_mask) == ("pixel-big-cores", "f0")


def test_kind_errors_say_what_to_do() -> None:
    with pytest.raises(UnknownTarget, match="Give it `kind"):
        resolve_kind("cpu-xnnpack-nightly", {})
    with pytest.raises(UnknownTarget, match="kind = 'tpu' is not a registered target"):
        resolve_kind("my-tpu", {"kind": "tpu"})
    with pytest.raises(TargetOptionsError, match="would redefine the built-in 'edgetpu'"):
        resolve_kind("edgetpu", {"kind": "cpu-ref"})


@pytest.mark.parametrize("name", BUILTINS)
def test_every_builtin_accepts_python_and_follows_the_protocol(name: str) -> None:
    target = create_target(name, {"python": "/usr/bin/python3"})
    assert isinstance(target, Target)
    assert target.name == name
    assert target.options.python == "/usr/bin/python3"
    assert target.accuracy_source and isinstance(target.takes_device, bool)


def test_which_targets_take_a_device_without_touching_hardware(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no adb, no compiler: nothing is probed
    assert {name: target_takes_device(name) for name in BUILTINS} == {
        "cpu-xnnpack": False, "cpu-ref": False, "edgetpu": True, "nnapi": True,
        "android-cpu": True}
    assert target_takes_device("lab-phone", {"kind": "nnapi"})
    assert not target_takes_device("cpu-nightly", {"kind": "cpu-ref"})
    assert not target_takes_device("tests.targets.misbehaving:hang")


def test_an_unpackaged_plugin_without_a_model_gets_the_permissive_one() -> None:
    assert options_model("tests.targets.misbehaving:hang") is PluginOptions
    # kind and python are the runner's, never passed to the plug-in factory
    target = create_target("tests.targets.misbehaving:hang", {"python": "/usr/bin/python3"})
    assert target.name == "hang"
    renamed = create_target("stuck", {"kind": "tests.targets.misbehaving:hang"})
    assert renamed.name == "stuck"


# -- capabilities a target declares and a run requests ------------------------------------
REQUESTED = {Capability.COUNT_INSTRUCTIONS: "count_instructions",
             Capability.PROFILE_IN_JOB: "op_profiling"}


def test_what_each_builtin_declares() -> None:
    """Read from the class, without probing or building (no phone, no perf needed)."""
    assert {name: target_capabilities(name) for name in BUILTINS} == {
        "cpu-xnnpack": {Capability.PROFILE, Capability.COUNT_INSTRUCTIONS},
        "cpu-ref": {Capability.PROFILE, Capability.COUNT_INSTRUCTIONS},
        "edgetpu": set(),
        "nnapi": {Capability.PROFILE, Capability.PROFILE_IN_JOB},
        "android-cpu": {Capability.PROFILE, Capability.PROFILE_IN_JOB}}
    assert target_capabilities("pixel", {"kind": "android-cpu"}) == \
        target_capabilities("android-cpu")


@pytest.mark.parametrize("name", target_names())
def test_a_requestable_capability_is_an_option_off_by_default(name: str) -> None:
    """A run requests a declared capability by its option: every built-in that declares
    one has that option, a boolean that is off unless asked for."""
    for capability in target_capabilities(name):
        if capability.option is None:
            continue
        assert capability.option == REQUESTED[capability]
        field = options_model(name).model_fields[capability.option]
        assert field.annotation is bool and field.default is False


def test_a_run_requests_a_capability_only_where_it_is_declared() -> None:
    counted = with_requested("cpu-ref", None, Capability.COUNT_INSTRUCTIONS)
    assert isinstance(counted, CpuOptions) and counted.count_instructions is True
    assert create_target("cpu-ref", counted).instructions_requested() is True
    assert create_target("cpu-ref").instructions_requested() is False
    phone = with_requested("nnapi", {"device": "P7"}, Capability.COUNT_INSTRUCTIONS)
    assert phone == AndroidOptions(device="P7")  # a phone cannot: not asked, not an error
    profiled = with_requested("android-cpu", {}, Capability.PROFILE_IN_JOB)
    assert profiled.op_profiling is True


def test_once_per_job_work_is_requested_on_the_first_repeat_only() -> None:
    profiled = AndroidOptions(op_profiling=True, device="P7", cpu_mask="f0")
    assert options_for_repeat("nnapi", profiled, 0) is profiled
    assert options_for_repeat("nnapi", profiled, 1) == AndroidOptions(device="P7",
                                                                     cpu_mask="f0")
    counted = CpuOptions(count_instructions=True)  # counting is every repeat's figure
    assert options_for_repeat("cpu-xnnpack", counted, 3) is counted


class ProfilingPluginOptions(TargetOptions):
    op_profiling: bool = False
    board: str = "dev-board"


class ProfilingPlugin:
    """A plug-in that profiles in its timing job: it says so, as a built-in does."""

    capabilities = frozenset({Capability.PROFILE_IN_JOB})

    def __init__(self, **options: object) -> None:
        self.options = options


def profiling_plugin(**options: object) -> ProfilingPlugin:
    return ProfilingPlugin(**options)


profiling_plugin.options_model = ProfilingPluginOptions  # type: ignore[attr-defined]
PLUGIN = "tests.targets.test_registry:profiling_plugin"


def test_a_plugin_declares_its_capabilities_and_gets_the_same_repeat_rule() -> None:
    assert target_capabilities(PLUGIN) == {Capability.PROFILE_IN_JOB}
    requested = with_requested(PLUGIN, {"board": "b1"}, Capability.PROFILE_IN_JOB,
                               Capability.COUNT_INSTRUCTIONS)
    assert requested == ProfilingPluginOptions(board="b1", op_profiling=True)
    assert options_for_repeat(PLUGIN, requested, 1) == ProfilingPluginOptions(board="b1")
