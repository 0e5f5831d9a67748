"""Edge TPU runtime truth: which libedgetpu loads, through the same ctypes code as on a lab
host (against a library built here with the system C compiler), Debian's package version
(a ``dpkg-query`` stand-in printing real version strings), the verdict on the runtime
pair, and what a run makes of it -- ``unavailable`` with the fix, retries, the SIGSEGV
hint -- through the real CLI, runner, launcher and worker."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from qatbench.targets.edgetpu.runtime import (
    build_tf_version,
    choose,
    compatibility,
    detect,
    installed_package,
    read_library,
    with_retries,
)
from tests.tools.install import install_tool

HERE = Path(__file__).resolve().parent
REAL_16_0 = ("BuildLabel(COMPILER=6.3.0 20170516,DATE=redacted,TIME=redacted,"
             "CL_NUMBER=291256449), RuntimeVersion(14)")


@pytest.fixture(scope="session")
def fake_libedgetpu(tmp_path_factory: pytest.TempPathFactory) -> Path:
    compiler = shutil.which("cc")
    if compiler is None:
        pytest.skip("no system C compiler (cc) to build the stand-in libedgetpu")
    library = tmp_path_factory.mktemp("libedgetpu") / "libedgetpu.so.1"
    subprocess.run([compiler, "-shared", "-fPIC", "-O1", "-o", str(library),
                    str(HERE / "fake_libedgetpu.c")], check=True)
    return library


@pytest.fixture
def dpkg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """``dpkg(**{"libedgetpu1-std": "16.0"})``: a dpkg-query on PATH with those packages
    (``"libedgetpu1-std@rc"``: removed but not purged; see tests/tools/dpkg_query.py)."""
    install_tool(tmp_path / "dpkg-bin", "dpkg-query", "dpkg_query.py")
    monkeypatch.setenv("PATH", f"{tmp_path / 'dpkg-bin'}{os.pathsep}{os.environ['PATH']}")

    def installed(**packages: str) -> None:
        monkeypatch.setenv("SIM_DPKG_PACKAGES",
                           ",".join(f"{name}={version}" for name, version in packages.items()))

    return installed


# -- the facts ------------------------------------------------------------------------------
@pytest.mark.parametrize(("version", "tf"), [
    ("16.0", "2.5"),  # Coral's own, 2021
    ("16.0tf2.17.1-1", "2.17.1"),  # feranick/libedgetpu
    ("16.0tf2.19.1-1", "2.19.1"),
    ("16.0tf2.11.1", "2.11.1"),
    ("16.0pp3", "2.10.1"),
    ("16.0-2", None),  # a build that does not say
])
def test_the_package_version_names_the_tf_build(version: str, tf: str | None) -> None:
    assert build_tf_version(version) == tf


@pytest.mark.parametrize(("packages", "expected"), [
    ({"libedgetpu1-std": "16.0"}, ("libedgetpu1-std", "16.0")),
    ({"libedgetpu1-max": "16.0tf2.17.1-1"}, ("libedgetpu1-max", "16.0tf2.17.1-1")),
    ({}, ("", "")),
    ({"libedgetpu1-std@rc": "16.0"}, ("", "")),  # removed, not purged: not installed
    ({"libedgetpu1-std@un": "16.0"}, ("", "")),  # known to dpkg, never installed
    ({"libedgetpu1-std@iU": "16.0"}, ("", "")),  # unpacked, never configured
    ({"libedgetpu1-max@hi": "16.0tf2.19.1-1"}, ("libedgetpu1-max", "16.0tf2.19.1-1")),  # held
])
def test_the_installed_package_comes_from_dpkg_query(dpkg, packages, expected) -> None:
    dpkg(**packages)
    assert installed_package() == expected


def test_a_removed_but_not_purged_coral_package_is_not_taken_for_the_installed_one(
        dpkg, tmp_path: Path) -> None:
    """Coral's -std 16.0 removed without purge (``rc``), a community -max installed over
    it: dpkg-query still prints 16.0 for -std and exits 0, but the library that loads is
    the -max build -- its TF version decides the verdict, not Coral's 2.5."""
    dpkg(**{"libedgetpu1-std@rc": "16.0", "libedgetpu1-max": "16.0tf2.19.1-1"})
    assert installed_package() == ("libedgetpu1-max", "16.0tf2.19.1-1")
    facts = detect(library=str(tmp_path / "libedgetpu.so.1"))  # no library: facts only
    assert facts.build_label == "libedgetpu1-max 16.0tf2.19.1-1 (TF 2.19.1)"
    assert facts.build_tf == "2.19.1"
    assert facts.verdict != "crashes"


def test_without_dpkg_there_is_no_package(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert installed_package() == ("", "")


def test_the_library_reports_its_version_and_devices_through_ctypes(
        fake_libedgetpu: Path, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_EDGETPU_VERSION", REAL_16_0)
    monkeypatch.setenv("FAKE_EDGETPU_DEVICES", "usb:/sys/bus/usb/devices/2-1,pci:/dev/apex_0")
    facts = read_library(str(fake_libedgetpu))
    assert facts.loaded and not facts.error
    assert facts.version == REAL_16_0 and facts.runtime_version == "14"
    assert facts.devices == ("usb:/sys/bus/usb/devices/2-1", "pci:/dev/apex_0")
    monkeypatch.setenv("FAKE_EDGETPU_DEVICES", "")
    assert read_library(str(fake_libedgetpu)).devices == ()


def test_a_missing_library_or_another_library_is_said_so(tmp_path: Path) -> None:
    missing = read_library(str(tmp_path / "libedgetpu.so.1"))
    assert not missing.loaded and "libedgetpu.so.1" in missing.error
    libc = read_library("libc.so.6")
    assert libc.loaded and libc.error.startswith("not a libedgetpu")


# -- the verdict -------------------------------------------------------------------------------
@pytest.mark.parametrize(("build", "family", "version", "verdict"), [
    ("2.5", "ai-edge-litert", "2.3.0", "crashes"),  # edgetpu#812
    ("2.5", "tflite-runtime", "2.14.0", "crashes"),
    ("2.5", "pycoral", "2.12.0", "crashes"),
    ("2.5", "tflite-runtime", "2.11.0", "works"),
    ("2.17.1", "tflite-runtime", "2.17.1", "works"),
    ("2.17.1", "tflite-runtime", "2.5.0.post1", "crashes"),
    ("2.19.1", "ai-edge-litert", "2.3.0", "works"),  # LiteRT#3611
    ("2.16.1", "ai-edge-litert", "1.4.0", "untested"),
    ("2.16.1", "tflite-runtime", "2.14.0", "untested"),
    (None, "ai-edge-litert", "2.3.0", "untested"),
])
def test_known_pairs(build, family, version, verdict) -> None:
    assert compatibility(build, family, version).verdict == verdict


def test_auto_picks_what_the_library_supports() -> None:
    both = {"ai-edge-litert": "ai-edge-litert 2.3.0", "tflite-runtime": "tflite-runtime 2.11.0"}
    assert choose("2.5", both, "auto")[0] == "tflite-runtime"
    newer = {**both, "tflite-runtime": "tflite-runtime 2.14.0"}
    assert choose("2.19.1", newer, "auto")[0] == "ai-edge-litert"
    assert choose("2.5", newer, "auto")[1].verdict == "crashes"
    # asked for a runtime that is not installed: none chosen, and the reason names it
    family, why = choose("2.5", newer, "pycoral")
    assert family == ""
    assert why.verdict == "missing"
    assert why.reason == f"runtime = 'pycoral' is not installed in {sys.executable}"


def test_retries_are_bounded_and_back_off() -> None:
    calls, slept = [], []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ValueError("Failed to load delegate from libedgetpu.so.1")
        return "delegate"

    assert with_retries(flaky, 3, 0.5, sleep=slept.append) == (
        "delegate", ["Failed to load delegate from libedgetpu.so.1"] * 2)
    assert slept == [0.5, 1.0]
    calls.clear()
    with pytest.raises(ValueError):
        with_retries(flaky, 2, 0.5, sleep=slept.append)
    assert len(calls) == 2


# -- a run -----------------------------------------------------------------------------------
@pytest.fixture
def tpu_host(tmp_path: Path, monkeypatch, fake_libedgetpu: Path, dpkg) -> Path:
    """A host with the (simulated) compiler and a USB TPU behind the stand-in library."""
    compiler = install_tool(tmp_path / "bin", "edgetpu_compiler", "edgetpu_compiler.py")
    monkeypatch.setenv("QATBENCH_EDGETPU_COMPILER", str(compiler))
    monkeypatch.setenv("QATBENCH_LIBEDGETPU", str(fake_libedgetpu))
    monkeypatch.setenv("FAKE_EDGETPU_DEVICES", "usb:/sys/bus/usb/devices/2-1")
    config = tmp_path / "edgetpu.toml"
    config.write_text("[targets.edgetpu]\nload_delegate_backoff_s = 0.2\n")
    return config


def bench(model: Path, config: Path, out: Path) -> tuple[subprocess.CompletedProcess, dict]:
    done = subprocess.run(
        [sys.executable, "-m", "qatbench", "bench", str(model), "--targets", "edgetpu",
         "--config", str(config), "--out", str(out), "--min-runs", "5", "--min-secs", "0",
         "--warmup-runs", "1"], capture_output=True, text=True, timeout=300)
    (run_dir,) = out.iterdir()
    (row,) = pd.read_parquet(run_dir / "results.parquet").to_dict("records")
    return done, row


def test_coral_16_0_with_litert_is_unavailable_with_the_fix_not_a_segfault(
        tpu_host: Path, dpkg, int8_tflite: Path, tmp_path: Path, monkeypatch) -> None:
    dpkg(**{"libedgetpu1-std": "16.0"})
    monkeypatch.setenv("FAKE_EDGETPU_CRASH", "1")  # it would crash if it were applied
    done, row = bench(int8_tflite, tpu_host, tmp_path / "results")
    assert row["status"] == "unavailable", row["error"]
    assert "TF 2.5" in row["error"] and "ai-edge-litert" in row["error"]
    assert "runtime-venv" in row["error"] and "feranick/libedgetpu" in row["error"]
    assert json.loads(row["extra"])["placement"]  # the compile is kept
    assert done.returncode == 0, done.stdout  # unavailable is not a failure of the run


def test_a_matching_community_build_times_and_records_its_build(
        tpu_host: Path, dpkg, int8_tflite: Path, tmp_path: Path, monkeypatch) -> None:
    dpkg(**{"libedgetpu1-std": "16.0tf2.19.1-1"})
    monkeypatch.setenv("FAKE_EDGETPU_FAIL_FIRST", "2")  # a USB TPU still re-enumerating
    done, row = bench(int8_tflite, tpu_host, tmp_path / "results")
    assert row["status"] == "ok", row["error"] + done.stdout
    extra = json.loads(row["extra"])
    assert extra["libedgetpu"] == "libedgetpu1-std 16.0tf2.19.1-1 (TF 2.19.1)"
    assert extra["edgetpu_runtime"] == "14"
    assert extra["load_delegate_attempts"] == 3
    assert "load_delegate needed 3 attempts" in row["note"]
    assert row["runtime"].startswith("ai-edge-litert ") and "libedgetpu" in row["runtime"]
    parts = json.loads(row["fingerprint_parts"])
    assert parts["device.libedgetpu"] == "libedgetpu1-std 16.0tf2.19.1-1 (TF 2.19.1)"
    assert parts["device.python"] == ".".join(map(str, sys.version_info[:3]))
    assert row["n_samples"] >= 5 and row["first_inference_ms"] > 0
    # the 0.2 + 0.4 s back-off sleeps are not init time (the stand-in library loads in
    # milliseconds; 600 ms leaves room for a loaded CI host)
    assert row["init_ms"] < 600


def test_a_child_that_still_dies_of_sigsegv_gets_the_hint(
        tpu_host: Path, dpkg, int8_tflite: Path, tmp_path: Path, monkeypatch) -> None:
    dpkg()  # no package: the build is unknown, so nothing forbids trying
    monkeypatch.setenv("FAKE_EDGETPU_CRASH", "1")
    done, row = bench(int8_tflite, tpu_host, tmp_path / "results")
    assert done.returncode == 1
    assert row["status"] == "failed"
    assert "died of SIGSEGV" in row["error"]
    assert "libedgetpu/TFLite mismatch" in row["error"]
    assert "unknown build" in row["error"] and "runtime-venv" in row["error"]


def test_without_a_listed_tpu_the_row_is_compiled_and_says_which_library(
        tpu_host: Path, dpkg, int8_tflite: Path, tmp_path: Path, monkeypatch) -> None:
    dpkg(**{"libedgetpu1-std": "16.0"})
    monkeypatch.setenv("FAKE_EDGETPU_DEVICES", "")
    _, row = bench(int8_tflite, tpu_host, tmp_path / "results")
    assert row["status"] == "compiled"
    assert "lists no usb TPU" in row["note"]
    assert json.loads(row["extra"])["libedgetpu"] == "libedgetpu1-std 16.0 (TF 2.5)"


def test_qatbench_targets_shows_the_build_the_runtime_and_the_fix(
        tpu_host: Path, dpkg) -> None:
    dpkg(**{"libedgetpu1-std": "16.0"})
    done = subprocess.run([sys.executable, "-m", "qatbench", "targets", "--config",
                           str(tpu_host)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "2000"})
    assert done.returncode == 0, done.stderr
    line = " ".join(" ".join(cells.split()) for cells in _row_cells(done.stdout, "edgetpu"))
    assert "libedgetpu=libedgetpu1-std 16.0 (TF 2.5)" in line
    assert "runtime_verdict=crashes" in line and "runtime_fix=" in line
    assert "tpus=usb:/sys/bus/usb/devices/2-1" in line


def _row_cells(table: str, name: str) -> list[str]:
    """The details cell of row ``name`` in a rich table, one piece per wrapped line."""
    pieces: list[str] = []
    for text in table.splitlines():
        cells = [cell.strip() for cell in text.split("│")[1:-1]]
        if len(cells) < 3:
            continue
        if cells[0] == name or (pieces and not cells[0]):
            pieces.append(cells[2])
        elif pieces:
            break
    return pieces
