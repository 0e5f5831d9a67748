"""LiteRT's NPU targets: AOT compile and placement with the real OpenVINO plug-in, missing
vendor SDKs as ``unavailable``, OpenVINO-on-CPU and CompiledModel timing, and the phone
path with a simulated phone and a simulated ``benchmark_litert_model``."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import stat
from pathlib import Path

import pytest

from qatbench.bench.storage.layout import job_work_dir
from qatbench.targets.base import (
    EvalSet,
    JobFailed,
    JobId,
    JobSkipped,
    MeasureSpec,
    Status,
    TargetUnavailable,
)
from qatbench.targets.litert.aot import classify_failure, compile_for_soc
from qatbench.targets.litert.placement import read_placement
from qatbench.targets.litert.vendors import VENDORS
from qatbench.targets.registry import TargetOptionsError, create_target, target_takes_device
from qatbench.targets.tflite_file import inspect_tflite
from tests.accuracy_bounds import assert_within, hits_of
from tests.targets.test_layering import run_without_tensorflow
from tests.tools.install import install_tool

QUICK = MeasureSpec(warmup_runs=1, warmup_min_s=0, min_runs=5, min_s=0)
needs_openvino = pytest.mark.skipif(importlib.util.find_spec("openvino") is None,
                                    reason="openvino (qatbench[npu-intel]) is not installed")

# What each vendor's plug-in printed on this kind of host without its SDK (ai-edge-litert
# 2.3.0), cut to the lines that matter.
PLUGIN_TEXTS = {
    "qualcomm": ("WARNING: [compiler_plugin.cc:312] Failed to load plugin at: /x/vendors/"
                 "qualcomm/compiler/libLiteRtCompilerPlugin_Qualcomm.so with error: ERROR: "
                 "[litert/compiler/plugin/compiler_plugin.cc:259]\n└ Could not load shared "
                 "library /x/libLiteRtCompilerPlugin_Qualcomm.so: libQnnHtp.so: cannot open "
                 "shared object file: No such file or directory.\n[LITERT_TOOLS:APPLY] Loaded "
                 "0 plugins", "libQnnHtp.so"),
    "mediatek": ("ERROR: [neuron_adapter_api.cc:65] Failed to load NeuronAdapter shared library:"
                 " Failed to load NeuronAdapter shared library\nERROR: [apply_plugin.cc:455] "
                 "ERROR: [litert/compiler/plugin/compiler_plugin.cc:483]",
                 "libneuron_adapter.so"),
    "google-tensor": ("ERROR: [adapter_aot.cc:78] Failed to load Tensor TPU compiler library: "
                      "liblitert_plugin_compiler.so: cannot open shared object file: No such "
                      "file or directory", "liblitert_plugin_compiler.so"),
    "intel": ('ERROR: [openvino_compiler_plugin.cc:714] Exception in compilation: VCL compiler '
              'loading failed, aborting. Cannot load library "/x/openvino/libs/libopenvino_'
              'intel_npu_compiler_loader.so": /x/openvino/libs/libopenvino_intel_npu_compiler_'
              'loader.so: cannot open shared object file: No such file or directory',
              "libopenvino_intel_npu_compiler_loader.so"),
}


@pytest.fixture(scope="module")
def openvino_build(int8_tflite: Path, tmp_path_factory: pytest.TempPathFactory):
    """The int8 digits model compiled once by the real Intel plug-in for OpenVINO's CPU."""
    if importlib.util.find_spec("openvino") is None:
        pytest.skip("openvino (qatbench[npu-intel]) is not installed")
    work = job_work_dir(tmp_path_factory.mktemp("results") / "RUN1", "job1", 0)
    target = create_target("litert-openvino-cpu")
    return target, target.prepare(int8_tflite, work)


@pytest.mark.parametrize("vendor", sorted(PLUGIN_TEXTS))
def test_each_missing_sdk_is_unavailable_naming_its_library(vendor: str) -> None:
    text, library = PLUGIN_TEXTS[vendor]
    outcome = classify_failure(VENDORS[vendor], VENDORS[vendor].default_soc, text, 246)
    assert isinstance(outcome, TargetUnavailable)
    assert library in str(outcome)
    assert VENDORS[vendor].sdk_env in str(outcome)  # the local-copy variable is the fix
    assert f"pip install {VENDORS[vendor].sdk_package}" in str(outcome)


def test_a_plugin_that_does_not_load_is_unavailable_and_a_real_error_is_failed() -> None:
    samsung = classify_failure(VENDORS["samsung"], "E9965", (
        "└ Could not load shared library /x/libLiteRtCompilerPlugin_Samsung.so: /x/libLite"
        "RtCompilerPlugin_Samsung.so: undefined symbol: _ZN11flatbuffers13ClassicLocale9"
        "instance_E.\n[LITERT_TOOLS:APPLY] Loaded 0 plugins"), 6)
    assert isinstance(samsung, TargetUnavailable)
    assert "undefined symbol _ZN11flatbuffers13ClassicLocale9instance_E" in str(samsung)
    failure = classify_failure(VENDORS["qualcomm"], "SM8650", (
        "INFO: Loaded 1 plugins\nERROR: [qnn_manager.cc:412] Failed to finalize graph: "
        "QNN_GRAPH_ERROR_UNSUPPORTED_OP GELU\n"), 3)
    assert isinstance(failure, JobFailed)
    assert "QNN_GRAPH_ERROR_UNSUPPORTED_OP GELU" in str(failure)


@pytest.mark.skipif(importlib.util.find_spec("ai_edge_litert_sdk_qualcomm") is not None,
                    reason="a Qualcomm SDK package is installed here")
def test_the_real_qualcomm_plugin_without_its_sdk_is_unavailable(int8_tflite: Path,
                                                                  tmp_path: Path) -> None:
    target = create_target("litert-qualcomm")
    availability = target.probe()
    assert not availability.available and "libQnnHtp.so" in availability.reason
    with pytest.raises(TargetUnavailable, match=r"libQnnHtp\.so is missing"):
        target.prepare(int8_tflite, tmp_path / "work")
    assert list((tmp_path / "work").glob("*.tflite")) == []  # no 0-byte model left behind


def test_a_zero_byte_output_is_never_a_result(int8_tflite: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "apply_plugin_main"  # exits 0 and writes an empty model, as seen
    fake.write_text('#!/bin/sh\nfor a in "$@"; do case "$a" in --o=*) : > "${a#--o=}";; '
                    'esac; done\necho "[LITERT_TOOLS:APPLY] Done!"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr("qatbench.targets.litert.aot.apply_plugin_binary", lambda: fake)
    with pytest.raises(JobFailed, match="0 bytes that are not a TFLite model"):
        compile_for_soc(int8_tflite, tmp_path / "w", VENDORS["intel"], "LNL")
    assert list((tmp_path / "w").glob("*.tflite")) == []


@needs_openvino
def test_placement_is_read_from_the_compiled_openvino_model(openvino_build, int8_tflite: Path
                                                            ) -> None:
    _, prepared = openvino_build
    source_ops = inspect_tflite(int8_tflite).op_counts
    assert prepared.model != int8_tflite and prepared.source == int8_tflite
    assert prepared.ops_total == prepared.ops_on_accelerator == sum(source_ops.values())
    assert prepared.extra["partitions"] == prepared.extra["dispatch_ops"] == 1
    assert prepared.extra["ops_on_cpu"] == {}
    assert prepared.extra["compile_time_s"] > 0
    assert prepared.extra["compiled_size_bytes"] == prepared.model.stat().st_size > 0
    assert prepared.extra["vendor"] == "Intel" and prepared.extra["soc"] == "LNL"
    assert prepared.extra["sdk_version"].startswith("ai-edge-litert-sdk-intel ")
    compiled = read_placement(prepared.model)
    assert (compiled.dispatch_ops, compiled.ops_on_cpu) == (1, {})
    # a model no plug-in touched: every op is counted by type as running on the CPU
    assert read_placement(int8_tflite).ops_on_cpu == source_ops


@needs_openvino
def test_openvino_cpu_rows_carry_samples_and_never_claim_an_npu(openvino_build, digits_build,
                                                               int8_tflite: Path) -> None:
    target, prepared = openvino_build
    assert target.probe().available
    measurement = target.measure(prepared, QUICK)
    assert measurement.status is Status.OK
    assert len(measurement.samples_ms) >= 5 and measurement.init_ms > 0
    assert "not an NPU" in measurement.device and "NPU" not in measurement.device.split("(")[0]
    assert measurement.delegate.startswith("openvino CPU device")
    assert "openvino 20" in measurement.runtime and "ai-edge-litert 2." in measurement.runtime
    assert measurement.extra["openvino_threads"] == 1
    assert measurement.extra["fully_accelerated"] is True
    data = EvalSet.load(Path(digits_build.eval_path))
    reference = create_target("cpu-xnnpack")
    expected = reference.evaluate(reference.prepare(int8_tflite, prepared.model.parent), data)
    assert expected is not None and expected.outputs is not None
    got = target.evaluate(prepared, data)
    assert got is not None and got.outputs is not None
    # two int8 kernel libraries whose arithmetic follows the host's instruction set:
    # the same digits, paired, with no drop either way beyond 2 points the sample shows
    assert_within(hits_of(expected.outputs, data.y), hits_of(got.outputs, data.y),
                  points=2.0, what="OpenVINO CPU vs XNNPACK top-1 of one int8 file")


@needs_openvino
def test_float32_is_skipped_on_an_int8_only_npu_without_compiling(float_tflite: Path,
                                                                  tmp_path: Path) -> None:
    target = create_target("litert-openvino-cpu", {"int8_only": True})
    with pytest.raises(JobSkipped, match="int8-only"):
        target.prepare(float_tflite, tmp_path / "w")
    assert not (tmp_path / "w").exists() or not any((tmp_path / "w").iterdir())


def test_litert_cpu_and_cpu_xnnpack_time_the_same_model(int8_tflite: Path,
                                                        tmp_path: Path) -> None:
    rows = {}
    for name in ("litert-cpu", "cpu-xnnpack"):
        target = create_target(name)
        assert target.probe().available
        rows[name] = target.measure(target.prepare(int8_tflite, tmp_path), QUICK)
    for measurement in rows.values():
        assert measurement.status is Status.OK and len(measurement.samples_ms) >= 5
    assert rows["litert-cpu"].runtime.endswith("CompiledModel")
    assert rows["litert-cpu"].runtime != rows["cpu-xnnpack"].runtime  # two fingerprints


def test_litert_targets_are_registered_with_typed_options() -> None:
    for name in ("litert-qualcomm", "litert-mediatek", "litert-google-tensor",
                 "litert-samsung"):
        assert target_takes_device(name)
        assert create_target(name).soc == VENDORS[name.removeprefix("litert-")].default_soc
    for name in ("litert-intel", "litert-openvino-cpu", "litert-cpu"):
        assert not target_takes_device(name)
    named = create_target("npu-sm8750", {"kind": "litert-qualcomm", "soc": "SM8750"})
    assert (named.name, named.soc) == ("npu-sm8750", "SM8750")
    with pytest.raises(TargetOptionsError, match="did you mean 'soc'"):
        create_target("litert-qualcomm", {"socc": "SM8650"})
    unknown = create_target("litert-qualcomm", {"soc": "SM0000"}).probe()
    assert not unknown.available and "SM8650" in unknown.fix


def test_the_litert_modules_import_without_tensorflow() -> None:
    result = run_without_tensorflow(
        "import qatbench.targets.litert.npu, qatbench.targets.litert.phone\n"
        "print('tf', 'tensorflow' in sys.modules)\n")
    assert result.returncode == 0, result.stderr
    assert "tf False" in result.stdout


# -- the phone (item 5): simulated adb, simulated benchmark_litert_model ---------------------
@pytest.fixture
def litert_phone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "adb-home"
    home.mkdir()
    bin_dir = tmp_path / "bin"
    monkeypatch.setenv("QATBENCH_ADB", str(install_tool(bin_dir, "adb", "adb.py")))
    monkeypatch.setenv("SIM_ADB_HOME", str(home))
    monkeypatch.setenv("SIM_LBM_ARGV_LOG", str(tmp_path / "argv.jsonl"))
    (home / "devices.json").write_text(json.dumps({"S24": {
        "state": "device", "model": "SM_S921B", "props": {
            "ro.product.manufacturer": "samsung", "ro.product.model": "SM-S921B",
            "ro.product.cpu.abi": "arm64-v8a", "ro.build.version.sdk": "35",
            "ro.soc.model": "SM8650"}}}))
    dispatch = tmp_path / "qualcomm-dispatch"
    dispatch.mkdir()
    (dispatch / "libLiteRtDispatch_Qualcomm.so").write_bytes(b"\x7fELF stand-in")
    (dispatch / "libQnnHtp.so").write_bytes(b"\x7fELF stand-in")
    monkeypatch.setenv("QATBENCH_LITERT_DISPATCH_QUALCOMM", str(dispatch))
    return home


@needs_openvino
def test_on_a_phone_the_compiled_model_runs_with_npu_dispatch(
        openvino_build, litert_phone: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    _, built = openvino_build  # stands in for the SM8650 build: the sim runs it on the host
    compiled = dataclasses.replace(built, job=JobId("RUN1", "job1", 0))  # as the worker sets
    target = create_target("litert-qualcomm")
    monkeypatch.delenv("QATBENCH_LITERT_BENCHMARK_MODEL", raising=False)
    assert target.measure(compiled, QUICK).status is Status.COMPILED  # no binary: compiled
    monkeypatch.setenv("QATBENCH_LITERT_BENCHMARK_MODEL", str(install_tool(
        tmp_path / "bin", "benchmark_litert_model", "benchmark_litert_model.py")))
    measurement = target.measure(compiled, QUICK)
    assert measurement.status is Status.OK, measurement.error
    assert measurement.reported.n_samples >= 5 and measurement.reported.mean_ms > 0
    assert measurement.device == "samsung SM-S921B (S24)"
    assert measurement.delegate == "litert npu dispatch (Qualcomm SM8650, full delegation)"
    assert measurement.runtime.startswith("benchmark_litert_model")
    (call,) = [json.loads(line) for line in (tmp_path / "argv.jsonl").read_text().splitlines()]
    remote = "/data/local/tmp/qatbench/RUN1/job1/r0"
    for flag in ("--use_npu=true", "--use_cpu=false", "--require_full_delegation=true",
                 "--num_runs=5", "--num_threads=1"):
        assert flag in call["argv"]
    assert any(a.startswith("--dispatch_library_path=") and a.endswith(remote)
               for a in call["argv"])
    assert call["LD_LIBRARY_PATH"].endswith(remote)
    device_files = [p for p in (litert_phone / "fs").rglob("*") if p.is_file()]
    assert device_files == []  # binary, model and dispatch libraries removed


@needs_openvino
def test_on_a_phone_without_a_dispatch_library_the_target_is_unavailable(
        openvino_build, litert_phone: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    _, compiled = openvino_build
    monkeypatch.setenv("QATBENCH_LITERT_BENCHMARK_MODEL", str(install_tool(
        tmp_path / "bin", "benchmark_litert_model", "benchmark_litert_model.py")))
    monkeypatch.setenv("QATBENCH_LITERT_DISPATCH_QUALCOMM", str(tmp_path / "empty"))
    with pytest.raises(TargetUnavailable, match="QATBENCH_LITERT_DISPATCH_QUALCOMM"):
        create_target("litert-qualcomm").measure(
            dataclasses.replace(compiled, job=JobId("RUN1", "job1", 0)), QUICK)


@needs_openvino
def test_two_npu_jobs_on_one_phone_keep_their_dispatch_libraries_apart(
        openvino_build, litert_phone: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Each job, repeat and run pushes model and dispatch libraries to its own folder and
    removes only that one (the runner's names: run id, job slug, repeat)."""
    _, built = openvino_build
    monkeypatch.setenv("QATBENCH_LITERT_BENCHMARK_MODEL", str(install_tool(
        tmp_path / "bin", "benchmark_litert_model", "benchmark_litert_model.py")))
    target = create_target("litert-qualcomm")
    jobs = [JobId("RUN1", "m-qat_int8-litert-qualcomm-t1", 0),
            JobId("RUN1", "m-qat_int8-litert-qualcomm-t1", 1),
            JobId("RUN1", "m-ptq_int8-litert-qualcomm-t1", 0),
            JobId("RUN2", "m-qat_int8-litert-qualcomm-t1", 0)]
    for job in jobs:
        measurement = target.measure(dataclasses.replace(built, job=job), QUICK)
        assert measurement.status is Status.OK, measurement.error
    calls = [json.loads(line) for line in (tmp_path / "argv.jsonl").read_text().splitlines()]
    folders = [call["LD_LIBRARY_PATH"].rsplit(":", 1)[-1] for call in calls]
    assert [f.split("/data/local/tmp/qatbench/", 1)[1] for f in folders] == [
        f"{job.run_id}/{job.job}/r{job.repeat}" for job in jobs]
    log = [json.loads(line) for line in (litert_phone / "shell.log").read_text().splitlines()]
    removed = [c[-1] for c in log if c[:2] == ["rm", "-rf"]]
    assert [r.split("/data/local/tmp/qatbench/", 1)[1] for r in removed] == [
        f"{job.run_id}/{job.job}/r{job.repeat}" for job in jobs]
    assert [p for p in (litert_phone / "fs").rglob("*") if p.is_file()] == []


@needs_openvino
def test_the_phone_runs_with_the_targets_own_phone_options_and_its_placement(
        openvino_build, litert_phone: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """What a ``[targets.litert-qualcomm]`` table says about the phone (which device, the
    cores, flags passed on) reaches the phone run as it does for ``android-cpu``, and a
    model the plug-in placed only in part keeps the CPU for the rest, said in the row."""
    _, built = openvino_build
    monkeypatch.setenv("QATBENCH_LITERT_BENCHMARK_MODEL", str(install_tool(
        tmp_path / "bin", "benchmark_litert_model", "benchmark_litert_model.py")))
    target = create_target("litert-qualcomm", {
        "device": "S24", "cpu_mask": "f0", "extra_flags": ["--gpu_backend=none"]})
    total = 7  # the plug-in left 2 of 7 ops to the CPU
    partial = dataclasses.replace(built, job=JobId("RUN1", "job1", 0), ops_total=total,
                                  ops_on_accelerator=5)
    measurement = target.measure(partial, QUICK)
    assert measurement.status is Status.OK, measurement.error
    assert measurement.delegate == "litert npu dispatch (Qualcomm SM8650, partial: 5 of 7 " \
                                   "ops on the NPU)"
    assert measurement.extra["cpu_mask"] == "f0"
    assert measurement.extra["full_delegation_required"] is False
    (call,) = [json.loads(line) for line in (tmp_path / "argv.jsonl").read_text().splitlines()]
    assert call["argv"][-2:] == ["--use_cpu=true", "--gpu_backend=none"]
    assert "--require_full_delegation=true" not in call["argv"]
    log = [json.loads(line) for line in (litert_phone / "shell.log").read_text().splitlines()]
    (launch,) = [c for c in log if c[0] == "sh"]
    assert launch[3:7] == ["taskset", "f0", "env", "LD_LIBRARY_PATH=/data/local/tmp/"
                                                   "qatbench/RUN1/job1/r0"]
