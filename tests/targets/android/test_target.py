"""The Android targets against a simulated phone: a simulated adb with its own file tree,
and a simulated benchmark_model that times the pushed model for real on the host."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from qatbench.bench.orchestration.runner import Job
from qatbench.bench.storage.layout import job_work_dir
from qatbench.targets.android.adb import parse_devices
from qatbench.targets.android.target import android_cpu, nnapi
from qatbench.targets.base import JobFailed, JobId, MeasureSpec, Status, TargetUnavailable
from qatbench.targets.registry import create_target
from qatbench.targets.worker import JobRequest, run_job
from tests.targets.token_model import TOKENS, VOCAB
from tests.tools.install import install_tool

QUICK = MeasureSpec(warmup_runs=1, warmup_min_s=0, min_runs=5, min_s=0)
PIXEL = {"state": "device", "model": "Pixel_7",
         "props": {"ro.product.manufacturer": "Google", "ro.product.model": "Pixel 7",
                   "ro.product.cpu.abi": "arm64-v8a", "ro.build.version.sdk": "34",
                   "ro.soc.model": "Tensor G2"}}


class Phone:
    def __init__(self, home: Path) -> None:
        self.home = home

    def set(self, devices: dict) -> None:
        (self.home / "devices.json").write_text(json.dumps(devices))

    @property
    def shell_log(self) -> list[list[str]]:
        path = self.home / "shell.log"
        return [json.loads(line) for line in path.read_text().splitlines()] \
            if path.exists() else []

    def files(self, serial: str = "PIXEL7") -> list[Path]:
        root = self.home / "fs" / serial
        return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []

    def tree(self, device_dir: str, serial: str = "PIXEL7") -> dict[str, bytes]:
        """Every file under ``device_dir`` on the phone: relative name -> contents."""
        root = self.home / "fs" / serial / device_dir.lstrip("/")
        return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*")
                if p.is_file()} if root.exists() else {}

    def folders(self, since: int = 0) -> list[str]:
        """The device folders jobs made (``mkdir -p DIR``), in order, from command ``since``."""
        return [c[-1] for c in self.shell_log[since:] if c[:2] == ["mkdir", "-p"]]

    @property
    def kills(self) -> list[dict]:
        path = self.home / "kills.log"
        return [json.loads(line) for line in path.read_text().splitlines()] \
            if path.exists() else []


def running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie nobody reaped is not running)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in {"Z", "X"}


def launched(shell_log: list[list[str]]) -> list[str]:
    """The benchmark command line the pid-recording ``sh -c`` launcher ran on the phone."""
    (launch,) = [c for c in shell_log if c[0] == "sh"]
    assert launch[1] == "-c" and "exec" in launch[2]
    return launch[3:]


@pytest.fixture
def phone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Phone:
    home = tmp_path / "adb-home"
    home.mkdir()
    bin_dir = tmp_path / "bin"
    monkeypatch.setenv("QATBENCH_ADB", str(install_tool(bin_dir, "adb", "adb.py")))
    monkeypatch.setenv("QATBENCH_BENCHMARK_MODEL",
                       str(install_tool(bin_dir, "benchmark_model", "benchmark_model.py")))
    monkeypatch.setenv("SIM_ADB_HOME", str(home))
    monkeypatch.setenv("SIM_BM_ARGV_LOG", str(tmp_path / "bm_argv.log"))
    result = Phone(home)
    result.set({"PIXEL7": PIXEL})
    return result


def prepared_for(target, model: Path, tmp_path: Path):
    """What the worker hands ``measure``: prepared in the runner's layout, with its job."""
    work = job_work_dir(tmp_path / "results" / "RUN1", "job1", 0)
    work.mkdir(parents=True)
    return dataclasses.replace(target.prepare(model, work), job=JobId("RUN1", "job1", 0))


def test_adb_devices_listing_is_parsed() -> None:
    text = ("* daemon not running; starting now at tcp:5037\n* daemon started successfully\n"
            "List of devices attached\n"
            "0123456789ABCDEF       device usb:1-1 product:panther model:Pixel_7 "
            "device:panther transport_id:2\n"
            "emulator-5554          offline transport_id:3\n"
            "R58M123               unauthorized usb:1-2 transport_id:4\n"
            "XYZ                   no permissions (user in plugdev group); see [http://...]\n")
    entries = parse_devices(text)
    assert [(e.serial, e.state) for e in entries] == [
        ("0123456789ABCDEF", "device"), ("emulator-5554", "offline"),
        ("R58M123", "unauthorized"), ("XYZ", "no permissions")]
    assert entries[0].attributes["model"] == "Pixel_7"


def test_nnapi_measures_with_the_phones_properties_and_cleans_up(
        phone: Phone, int8_tflite: Path, tmp_path: Path) -> None:
    target = create_target("nnapi", {"accelerator": "qti-dsp",
                                     "execution_preference": "sustained_speed"})
    assert target.probe().available
    prepared = prepared_for(target, int8_tflite, tmp_path)
    measurement = target.measure(prepared, QUICK)
    assert measurement.status is Status.OK
    assert measurement.reported.n_samples >= 5
    assert measurement.reported.p50_ms is not None and measurement.reported.mean_ms > 0
    assert measurement.init_ms > 0 and measurement.first_inference_ms > 0
    assert measurement.peak_memory_mb > 0
    assert measurement.device == "Google Pixel 7 (PIXEL7)"
    assert measurement.delegate == "nnapi"
    assert measurement.extra["device_properties"]["ro.soc.model"] == "Tensor G2"
    argv = (tmp_path / "bm_argv.log").read_text()
    for flag in ("--use_nnapi=true", "--nnapi_accelerator_name=qti-dsp",
                 "--nnapi_execution_preference=sustained_speed", "--num_runs=5",
                 "--warmup_runs=1", "--num_threads=1"):
        assert flag in argv
    assert phone.files() == []  # pushed binary and model removed
    commands = [c[0] for c in phone.shell_log if c[0] != "getprop"]
    assert commands == ["mkdir", "chmod", "sh", "rm"]  # finished: nothing to kill
    assert launched(phone.shell_log)[0] == \
        "/data/local/tmp/qatbench/RUN1/job1/r0/benchmark_model"
    assert phone.kills == []


@pytest.mark.parametrize(("style", "sci"), [("new", "0"), ("old", "1")])
def test_android_cpu_figures_map_one_to_one(phone: Phone, int8_tflite: Path, tmp_path: Path,
                                            monkeypatch, style: str, sci: str) -> None:
    monkeypatch.setenv("SIM_BM_STYLE", style)
    monkeypatch.setenv("SIM_BM_SCI", sci)
    target = create_target("android-cpu", {"cpu_mask": "f0"})
    measurement = target.measure(prepared_for(target, int8_tflite, tmp_path),
                                 MeasureSpec(threads=2, warmup_runs=1, warmup_min_s=0,
                                             min_runs=7, min_s=0))
    assert measurement.status is Status.OK
    assert measurement.reported.n_samples >= 7
    if style == "old":
        assert measurement.reported.p50_ms is None  # not printed by older builds
    else:
        assert measurement.reported.p50_ms is not None
    assert measurement.delegate == "xnnpack"
    assert "--use_xnnpack=true" in (tmp_path / "bm_argv.log").read_text()
    assert "--num_threads=2" in (tmp_path / "bm_argv.log").read_text()
    pinned = launched(phone.shell_log)
    assert pinned[:2] == ["taskset", "f0"] and pinned[2].endswith("/benchmark_model")


def test_nnapi_delegate_failure_is_failed_with_the_tools_errors(
        phone: Phone, int8_tflite: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SIM_BM_NNAPI", "fail")  # exit status 0, as the real tool can
    target = nnapi()
    measurement = target.measure(prepared_for(target, int8_tflite, tmp_path), QUICK)
    assert measurement.status is Status.FAILED
    assert "ANEURALNETWORKS_BAD_DATA" in measurement.error
    assert measurement.reported is None
    assert phone.files() == []


def test_cpu_fallback_is_never_reported_as_an_nnapi_figure(
        phone: Phone, int8_tflite: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SIM_BM_NNAPI", "none")
    target = nnapi()
    measurement = target.measure(prepared_for(target, int8_tflite, tmp_path), QUICK)
    assert measurement.status is Status.FAILED
    assert "not NNAPI figures" in measurement.error
    assert measurement.reported is None
    assert measurement.extra["cpu_fallback_latency_ms"]["n_samples"] >= 5  # kept, labelled


def test_partial_delegation_and_deprecated_nnapi_are_noted(
        phone: Phone, int8_tflite: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SIM_BM_NNAPI", "partial")
    phone.set({"PIXEL7": {**PIXEL, "props": {**PIXEL["props"],
                                             "ro.build.version.sdk": "35"}}})
    target = nnapi()
    measurement = target.measure(prepared_for(target, int8_tflite, tmp_path), QUICK)
    assert measurement.status is Status.OK
    assert measurement.delegate == "nnapi (partial, 2 kernels)"
    assert "deprecated" in measurement.extra["note"]
    assert "took part of the graph" in measurement.extra["note"]


@pytest.mark.parametrize(("devices", "expected"), [
    ({}, "no Android device attached"),
    ({"PIXEL7": {**PIXEL, "state": "unauthorized"}}, "accept the 'Allow USB debugging?'"),
    ({"PIXEL7": {**PIXEL, "state": "offline"}}, "is offline"),
    ({"A": PIXEL, "B": PIXEL}, "several devices attached (A (device, Pixel_7), B"),
])
def test_device_trouble_makes_the_target_unavailable_with_the_reason(
        phone: Phone, devices: dict, expected: str) -> None:
    phone.set(devices)
    availability = nnapi().probe()
    assert not availability.available
    assert expected in availability.message()


@pytest.mark.parametrize("variant", ["float32", "ptq_int8"])
def test_token_ids_are_timed_inside_the_embedding_table_on_the_phone(
        phone: Phone, token_files: dict[str, Path], tmp_path: Path, variant: str) -> None:
    """benchmark_model fills an int32 input with 0..99 unless told a range: the 37-row
    table would fail ("gather index out of bounds"). The target names every input with
    its shape and gives the ids the table's rows."""
    target = android_cpu()
    measurement = target.measure(prepared_for(target, token_files[variant], tmp_path), QUICK)
    assert measurement.status is Status.OK, measurement.error
    argv = (tmp_path / "bm_argv.log").read_text().split()
    # the converter names the input "serving_default_tokens:0"; the tool's lists split
    # at ':' and it matches inputs by position, so the flags carry the name before it
    assert "--input_layer=serving_default_tokens" in argv
    assert f"--input_layer_shape=1,{TOKENS}" in argv
    assert f"--input_layer_value_range=serving_default_tokens,0,{VOCAB - 1}" in argv


def test_the_simulated_tool_fails_as_the_real_one_on_ids_beyond_the_table(
        phone: Phone, token_files: dict[str, Path], tmp_path: Path) -> None:
    """The failure the flags avoid, shown by the stand-in as the real tool prints it: the
    runtime's gather error, then "Benchmarking failed." -- read as a failed job with
    the kernel's reason, never a figure."""
    target = android_cpu()
    prepared = prepared_for(target, token_files["float32"], tmp_path)
    prepared = dataclasses.replace(prepared, extra={**prepared.extra, "input_flags": []})
    measurement = target.measure(prepared, QUICK)
    assert measurement.status is not Status.OK
    assert "gather index out of bounds" in measurement.error


def test_missing_adb_and_missing_benchmark_model(monkeypatch, tmp_path: Path, phone) -> None:
    monkeypatch.setenv("QATBENCH_BENCHMARK_MODEL", str(tmp_path / "nope"))
    message = nnapi().probe().message()
    assert "benchmark_model not found" in message and "QATBENCH_BENCHMARK_MODEL" in message
    monkeypatch.undo()
    monkeypatch.setenv("QATBENCH_BENCHMARK_MODEL", sys.executable)
    monkeypatch.delenv("QATBENCH_ADB", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert "adb not found" in android_cpu().probe().message()


def test_real_adb_with_no_phone_lists_nothing(monkeypatch) -> None:
    real = shutil.which("adb")
    if real is None:
        pytest.skip("Debian's adb is not installed here")
    monkeypatch.setenv("QATBENCH_ADB", real)
    monkeypatch.setenv("QATBENCH_BENCHMARK_MODEL", sys.executable)
    assert "no Android device attached" in nnapi().probe().message()


def test_a_device_gone_between_commands_makes_the_target_unavailable(
        phone: Phone, int8_tflite: Path, tmp_path: Path) -> None:
    phone.set({"PIXEL7": {**PIXEL, "vanish_after": 8}})  # 5 getprops, mkdir, 2 pushes ...
    target = android_cpu()
    with pytest.raises(TargetUnavailable, match=r"PIXEL7 is gone.*adb devices"):
        target.measure(prepared_for(target, int8_tflite, tmp_path), QUICK)


def test_a_device_vanishing_during_the_run_makes_the_target_unavailable(
        phone: Phone, int8_tflite: Path, tmp_path: Path) -> None:
    phone.set({"PIXEL7": {**PIXEL, "vanish_during_run": True}})  # adb exits 255, no word
    target = android_cpu()
    with pytest.raises(TargetUnavailable, match=r"PIXEL7 vanished.*reconnect"):
        target.measure(prepared_for(target, int8_tflite, tmp_path), QUICK)


def test_a_phone_unplugged_before_the_job_is_unavailable_not_failed(
        phone: Phone, int8_tflite: Path, tmp_path: Path) -> None:
    target = create_target("nnapi", {"device": "PIXEL7"})
    prepared = prepared_for(target, int8_tflite, tmp_path)
    phone.set({"PIXEL7": {**PIXEL, "state": "gone"}})
    with pytest.raises(TargetUnavailable, match="PIXEL7 is not attached"):
        target.measure(prepared, QUICK)
    phone.set({"PIXEL7": {**PIXEL, "state": "offline"}})
    with pytest.raises(TargetUnavailable, match=r"offline.*adb reconnect"):
        target.measure(prepared, QUICK)


@pytest.mark.parametrize("line", [
    "INFO: Replacing 1 out of 1 node(s) with delegate (not_found) node, yielding 1 partitions",
    "error: device 'not_found' not found",  # stdout is the benchmark's, whatever it says
    "ERROR: Could not open labels file /data/local/tmp/labels.txt: not found"])
def test_benchmark_output_is_never_taken_for_an_adb_error(
        phone: Phone, int8_tflite: Path, tmp_path: Path, monkeypatch, line: str) -> None:
    monkeypatch.setenv("SIM_BM_LOG_LINE", line)
    target = android_cpu()
    measurement = target.measure(prepared_for(target, int8_tflite, tmp_path), QUICK)
    assert measurement.status is Status.OK
    assert measurement.reported is not None and measurement.reported.n_samples >= 5


def test_a_run_past_its_timeout_is_killed_on_the_phone_by_its_pid(
        phone: Phone, int8_tflite: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SIM_BM_HANG", "60")
    monkeypatch.setenv("SIM_BM_PID_LOG", str(tmp_path / "bm.pid"))
    target = create_target("android-cpu", {"timeout_s": 3})
    with pytest.raises(JobFailed, match=r"did not finish in 3 s.*killed benchmark_model"):
        target.measure(prepared_for(target, int8_tflite, tmp_path), QUICK)
    (pid,) = (tmp_path / "bm.pid").read_text().split()
    assert phone.kills == [{"serial": "PIXEL7", "pid": pid, "signal": "SIGTERM",
                            "found": True}]
    assert not running(int(pid))
    assert phone.files() == []
    assert all("pkill" not in c and "killall" not in c for c in phone.shell_log)


def test_an_interrupted_worker_kills_the_phones_process_and_cleans_up(
        phone: Phone, int8_tflite: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SIM_BM_HANG", "60")
    monkeypatch.setenv("SIM_BM_PID_LOG", str(tmp_path / "bm.pid"))
    work = job_work_dir(tmp_path / "results" / "RUN1", "job1", 0)
    request = JobRequest(target="android-cpu", model=str(int8_tflite), work_dir=str(work),
                         result_path=str(work / "result.json"),
                         spec={"warmup_runs": 1, "warmup_min_s": 0, "min_runs": 5, "min_s": 0},
                         run_id="RUN1", job="job1", repeat=0)
    work.mkdir(parents=True)
    request.save(work / "job.json")
    child = subprocess.Popen([sys.executable, "-m", "qatbench.targets.child",
                              str(work / "job.json")], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (tmp_path / "bm.pid").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    (pid,) = (tmp_path / "bm.pid").read_text().split()
    assert running(int(pid))
    child.send_signal(signal.SIGTERM)  # what the runner does at the job's timeout
    _, stderr = child.communicate(timeout=30)
    assert child.returncode == 128 + signal.SIGTERM, stderr
    assert "stopped by SIGTERM" in stderr
    assert [k["pid"] for k in phone.kills] == [pid]
    assert not running(int(pid))
    assert phone.files() == []
    assert not (work / "result.json").exists()  # the runner writes the timeout row


def test_a_failed_push_fails_the_job_and_cleans_up(phone: Phone, int8_tflite: Path,
                                                   tmp_path: Path) -> None:
    phone.set({"PIXEL7": {**PIXEL, "push_fail": "No space left on device"}})
    target = android_cpu()
    with pytest.raises(JobFailed, match="No space left on device"):
        target.measure(prepared_for(target, int8_tflite, tmp_path), QUICK)
    assert phone.shell_log[-1][:2] == ["rm", "-rf"]


def test_hostile_names_and_options_run_nothing_extra(phone: Phone, int8_tflite: Path,
                                                    tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # inert payloads: a command the device shell split off shows in its shell log; one
    # that escaped the quoting of the ``sh -c`` launcher runs on this host (the simulator
    # runs that script with /bin/sh) in the working folder -- where PWNED would appear
    shell_cwd = tmp_path / "cwd"
    shell_cwd.mkdir()
    monkeypatch.chdir(shell_cwd)
    hostile = tmp_path / "it's a; touch PWNED && touch PWNED2 `id` model.tflite"
    shutil.copyfile(int8_tflite, hostile)
    work = job_work_dir(tmp_path / "results" / "RUN", "job", 0)
    work.mkdir(parents=True)
    # config values and names reach the device shell as they are: only quoting (and
    # device-safe folder names) keep them inert
    target = create_target("nnapi", {"accelerator": "qti-dsp; reboot", "extra_flags": [
        "--profiling_output_csv_file=/sdcard/a b;id"]})
    job = JobId("RUN; touch PWNED", "job 'x' && touch PWNED/..", 0)
    measurement = target.measure(
        dataclasses.replace(target.prepare(hostile, work), job=job), QUICK)
    assert measurement.status is Status.OK
    names = [c[0] for c in phone.shell_log if c[0] != "getprop"]
    assert names == ["mkdir", "chmod", "sh", "rm"]
    (folder,) = phone.folders()
    assert re.fullmatch(r"/data/local/tmp/qatbench/(\w[A-Za-z0-9._-]*)/(\w[A-Za-z0-9._-]*)/r0",
                        folder), folder
    assert phone.shell_log[-1] == ["rm", "-rf", folder]
    run = launched(phone.shell_log)
    assert run[0].endswith("/benchmark_model")
    assert "--nnapi_accelerator_name=qti-dsp; reboot" in run  # one word, as given
    assert "--profiling_output_csv_file=/sdcard/a b;id" in run
    assert not list(tmp_path.rglob("PWNED*"))  # the shell's folder, the phone's tree
    assert not any(c[0] in ("touch", "reboot", "id") for c in phone.shell_log)


def test_bench_on_the_phone_end_to_end_with_host_accuracy(phone: Phone, digits_build,
                                                          tmp_path: Path) -> None:
    out = tmp_path / "results"
    result = subprocess.run(
        [sys.executable, "-m", "qatbench", "bench",
         digits_build.variants["qat_int8"].path, digits_build.variants["float32"].path,
         "--targets", "nnapi,android-cpu", "--device", "PIXEL7", "--out", str(out),
         "--min-runs", "5", "--min-secs", "0"],
        capture_output=True, text=True, timeout=300, env={**os.environ})
    assert result.returncode == 0, result.stdout + result.stderr
    (run_dir,) = out.iterdir()
    frame = pd.read_parquet(run_dir / "results.parquet")
    assert set(frame["status"]) == {"ok"}
    assert set(frame["device"]) == {"Google Pixel 7 (PIXEL7)"}
    assert len(frame) == 4  # 2 files x 2 targets, none dropped
    # nullable columns: a comparison with NA is NA, which .all() would skip -- fill False
    assert frame["latency_ms_mean"].gt(0).fillna(False).all()
    assert frame["latency_ms_p50"].gt(0).fillna(False).all()
    # each file is its own model: the float32 rows compare with themselves, on the p50
    floats = frame[frame["variant"] == "float32"]
    assert len(floats) == 2 and floats["speedup_basis"].eq("p50").fillna(False).all()
    assert phone.files() == []


def test_every_run_job_and_repeat_has_a_phone_folder_of_its_own(phone: Phone, int8_tflite: Path,
                                                                tmp_path: Path) -> None:
    """The runner's own layout and names: two jobs x two repeats of one run, and a second
    run of one of those jobs, push to five different folders, each removed after."""
    runs = []
    for out, targets, repeats in ((tmp_path / "a", "nnapi,android-cpu", "2"),
                                  (tmp_path / "b", "nnapi", "1")):
        done = subprocess.run(
            [sys.executable, "-m", "qatbench", "bench", str(int8_tflite), "--targets", targets,
             "--device", "PIXEL7", "--repeats", repeats, "--out", str(out), "--min-runs", "3",
             "--min-secs", "0", "--warmup-runs", "1"],
            capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        (run_dir,) = out.iterdir()
        runs.append((run_dir, pd.read_parquet(run_dir / "results.parquet"), int(repeats)))
    expected = []
    for run_dir, frame, repeats in runs:
        assert set(frame["status"]) == {"ok"}
        for row in frame.to_dict("records"):
            slug = Job(row["model"], row["variant"], row["target"], row["threads"]).slug
            for repeat in range(repeats):
                assert (job_work_dir(run_dir, slug, repeat) / "result.json").is_file()
                expected.append(f"/data/local/tmp/qatbench/{run_dir.name}/{slug}/r{repeat}")
    assert len(set(expected)) == 5
    assert sorted(phone.folders()) == sorted(expected)  # one folder per run, job and repeat
    removed = [c[-1] for c in phone.shell_log if c[:2] == ["rm", "-rf"]]
    assert sorted(removed) == sorted(expected)  # each job removed its own folder only
    assert phone.files() == []


def test_a_job_never_sees_or_removes_another_jobs_files_on_a_shared_phone(
        phone: Phone, int8_tflite: Path, tmp_path: Path) -> None:
    """Two runs timing the same job on one phone at once (two hosts, two shards): the
    second job's folder holds only its own files and its clean-up leaves the first's."""
    slug = Job("digits", "qat_int8", "android-cpu", 1).slug
    spec = {"warmup_runs": 1, "warmup_min_s": 0, "min_runs": 3, "min_s": 0}

    def request(run: str) -> JobRequest:
        work = job_work_dir(tmp_path / run, slug, 0)
        work.mkdir(parents=True)
        return JobRequest(target="android-cpu", model=str(int8_tflite), work_dir=str(work),
                          result_path=str(work / "result.json"), spec=spec, run_id=run,
                          job=slug, repeat=0)

    first, second = request("RUN-A"), request("RUN-B")
    first.save(Path(first.work_dir) / "job.json")
    pid_log = tmp_path / "bm.pid"
    child = subprocess.Popen(  # the first job's benchmark hangs on the phone
        [sys.executable, "-m", "qatbench.targets.child", str(Path(first.work_dir) / "job.json")],
        env={**os.environ, "SIM_BM_HANG": "60", "SIM_BM_PID_LOG": str(pid_log)},
        stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not pid_log.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        (first_folder,) = phone.folders()
        assert first_folder == f"/data/local/tmp/qatbench/RUN-A/{slug}/r0"
        before = phone.tree(first_folder)
        assert {"benchmark_model", "benchmark_model.pid"} <= set(before)
        since = len(phone.shell_log)
        result = run_job(second)  # meanwhile, the second run's job, start to end
        assert result.measurement.status is Status.OK, result.measurement.error
        (second_folder,) = phone.folders(since)
        assert second_folder == f"/data/local/tmp/qatbench/RUN-B/{slug}/r0"
        paths = [path for command in phone.shell_log[since:] for arg in command
                 for path in re.findall(r"/data/[^\s'\"]*", arg)]
        assert len(paths) > 5 and all(path == second_folder or path.startswith(
            second_folder + "/") for path in paths)  # it named nothing of the first job
        assert phone.tree(first_folder) == before  # and removed nothing of it
        assert phone.tree(second_folder) == {}
    finally:
        child.send_signal(signal.SIGTERM)
        child.communicate(timeout=30)
    assert phone.files() == []  # the first job cleaned up after itself too
