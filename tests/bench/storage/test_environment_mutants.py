"""The environment record's promises that `nox -s mutation` found no test holding: the
CPU model and kernel flags read from ``/proc/cpuinfo``, the governor, the git state
(commit and dirty flag the regression gate compares runs by) and every field of the
record. ``/proc`` and ``/sys`` are replaced by files written here; git is real (a repo
made in the test); the expected values are stated by the test."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
from pathlib import Path

import numpy
import pytest

from qatbench.bench.storage import environment

CPUINFO = "/proc/cpuinfo"
GOVERNOR = "/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"


@pytest.fixture
def host_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """``/proc/cpuinfo`` and the governor's file as files in ``tmp_path`` (absent until
    a test writes them); any other path is absent too."""
    files = {CPUINFO: tmp_path / "cpuinfo", GOVERNOR: tmp_path / "scaling_governor"}
    monkeypatch.setattr(environment, "Path",
                        lambda path: files.get(str(path), tmp_path / "absent"))
    monkeypatch.setattr(platform, "processor", lambda: "")
    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    return files


X86 = ("processor\t: 0\nvendor_id\t: GenuineIntel\n"
       "model name\t: Intel(R) Xeon(R) CPU @ 2.20GHz\n"
       "flags\t\t: fpu sse4_2 avx2 fma f16c avx512f avx512_vnni\n"
       "bugs\t\t: spectre_v1\n")
ARM_HARDWARE = ("processor\t: 0\nBogoMIPS\t: 38.40\n"
                "Features\t: fp asimd asimdhp asimddp i8mm\n"
                "Hardware\t: Vendor: Board 4\n")  # the name after the first colon, whole
ARM_OLD = "Processor\t: ARMv7 Processor rev 4 (v7l)\nFeatures\t: half thumb fastmult vfp\n"


@pytest.mark.parametrize(("cpuinfo", "model", "flags"), [
    (X86, "Intel(R) Xeon(R) CPU @ 2.20GHz", "sse4_2 avx2 fma f16c avx512f avx512_vnni"),
    (ARM_HARDWARE, "Vendor: Board 4", "asimd asimddp asimdhp i8mm"),
    (ARM_OLD, "ARMv7 Processor rev 4 (v7l)", ""),
])
def test_the_cpu_model_and_kernel_flags_come_from_cpuinfo(host_files: dict[str, Path],
                                                         cpuinfo: str, model: str,
                                                         flags: str) -> None:
    host_files[CPUINFO].write_text(cpuinfo)
    assert environment.cpu_model() == model
    # in KERNEL_FLAGS' order, only the flags kernels dispatch on
    assert environment.cpu_flags() == flags


def test_without_cpuinfo_the_model_is_the_platforms_and_no_flags_are_claimed(
        host_files: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    assert environment.cpu_model() == "x86_64"  # no processor name: the machine
    monkeypatch.setattr(platform, "processor", lambda: "Intel64 Family 6")
    assert environment.cpu_model() == "Intel64 Family 6"
    assert environment.cpu_flags() == ""


def test_the_governor_is_read_from_cpufreq_or_none(host_files: dict[str, Path]) -> None:
    assert environment.cpu_governor() is None  # a VM without cpufreq
    host_files[GOVERNOR].write_text("performance\n")
    assert environment.cpu_governor() == "performance"


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo,
                   check=True, capture_output=True)


def test_the_git_state_is_the_commit_and_whether_tracked_files_changed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    assert environment.git_state(repo) == ("unknown", None)  # no commit yet
    (repo / "model.py").write_text("A = 1\n")
    _git(repo, "add", "model.py")
    _git(repo, "commit", "-q", "-m", "first")
    commit = (repo / ".git" / "refs" / "heads" / "main").read_text().strip()
    assert len(commit) == 40
    assert environment.git_state(repo) == (commit, False)
    (repo / "notes.txt").write_text("untracked")  # untracked files: still clean
    assert environment.git_state(repo) == (commit, False)
    (repo / "model.py").write_text("A = 2\n")
    assert environment.git_state(repo) == (commit, True)
    (repo / ".git" / "index").write_bytes(b"not an index")  # git cannot tell: not "clean"
    assert environment.git_state(repo) == ("unknown", None)
    outside = tmp_path / "plain"
    outside.mkdir()
    assert environment.git_state(outside) == ("unknown", None)


@pytest.mark.parametrize("hangs", ["rev-parse", "status"])
def test_a_git_that_never_answers_does_not_hang_the_run(monkeypatch: pytest.MonkeyPatch,
                                                        hangs: str) -> None:
    def run(args: list[str], timeout: float | None = None, **kwargs):
        if args[1] != hangs:
            return subprocess.CompletedProcess(args, 0, stdout="c0ffee\n")
        if timeout is None:
            raise AssertionError("git_state would wait for ever on this git")
        raise subprocess.TimeoutExpired(args, timeout)

    monkeypatch.setattr(subprocess, "run", run)
    assert environment.git_state() == ("unknown", None)


def test_installed_versions_are_listed_and_missing_packages_left_out() -> None:
    names = ("numpy", "no-such-package-qatbench", "pytest")
    assert environment.package_versions(names) == {"numpy": numpy.__version__,
                                                   "pytest": pytest.__version__}


def test_every_field_of_the_record_is_the_hosts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(environment, "cpu_model", lambda: "Model X")
    monkeypatch.setattr(environment, "cpu_governor", lambda: "performance")
    monkeypatch.setattr(environment, "git_state", lambda: ("c0ffee", True))
    monkeypatch.setattr(environment, "package_versions", lambda: {"numpy": "1.0"})
    monkeypatch.setattr(environment, "cpu_flags", lambda: "avx2 fma")
    monkeypatch.setattr(socket, "gethostname", lambda: "bench-host")
    monkeypatch.setattr(platform, "machine", lambda: "aarch64")
    monkeypatch.setattr(platform, "platform", lambda: "Linux-6.1-aarch64")
    monkeypatch.setattr(os, "cpu_count", lambda: 6)
    monkeypatch.setattr(os, "getloadavg", lambda: (0.5, 0.25, 0.125))
    assert environment.capture_environment().to_dict() == {
        "host": "bench-host", "cpu_model": "Model X", "cpu_count": 6,
        "machine": "aarch64", "os": "Linux-6.1-aarch64",
        "python": platform.python_version(), "governor": "performance",
        "load_average": (0.5, 0.25, 0.125), "git_commit": "c0ffee", "git_dirty": True,
        "packages": {"numpy": "1.0"}, "cpu_flags": "avx2 fma"}

    def no_load() -> tuple[float, float, float]:
        raise OSError("getloadavg unavailable")

    monkeypatch.setattr(os, "getloadavg", no_load)
    monkeypatch.setattr(os, "cpu_count", lambda: None)  # undeterminable: 0, not a guess
    captured = environment.capture_environment()
    assert captured.load_average is None and captured.cpu_count == 0
