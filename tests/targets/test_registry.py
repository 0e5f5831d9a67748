"""Target options from a run config: typed per target, misspellings caught, user-named kinds."""

from __future__ import annotations

import pytest

from qatbench.targets.android.target import AndroidOptions, AndroidTarget
from qatbench.targets.base import Target
from qatbench.targets.edgetpu.target import EdgeTpuOptions
from qatbench.targets.host.cpu import CpuOptions, CpuTarget
from qatbench.targets.options import PluginOptions
from qatbench.targets.registry import (
    TargetOptionsError,
    UnknownTarget,
    create_target,
    options_model,
    resolve_kind,
    target_names,
    target_takes_device,
    validate_target_options,
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
    assert (phone.name, phone.cpu_mask) == ("pixel-big-cores", "f0")


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
