"""``qatbench fingerprint``: the id a device lab keys its baselines by.

What it prints (the id alone on stdout, its parts on stderr), that it is stable, and
that it is the product's ``fingerprint_of`` of the parts it names. The id of a fixed set
of parts is pinned: a change of how parts are hashed (key order, JSON separators, hash
length) renames every baseline a lab holds, so it must be a deliberate change of this
test, never a side effect.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qatbench.bench.cli import app
from qatbench.bench.orchestration import host_id
from qatbench.bench.orchestration.config import load_config
from qatbench.bench.storage.environment import Environment
from qatbench.bench.storage.fingerprint import fingerprint_of, host_parts
from qatbench.targets.base import Availability

ID = re.compile(r"[0-9a-f]{12}")

LAB = Environment(host="lab-7", cpu_model="AMD EPYC 7B13", cpu_count=2, machine="x86_64",
                  os="Linux-6.8", python="3.11.9", governor=None, load_average=None,
                  git_commit="abc", git_dirty=False, cpu_flags="avx avx2 fma")
LAB_PARTS = {
    "cpu_model": "AMD EPYC 7B13", "cpu_flags": "avx avx2 fma", "cpu_count": "2",
    "machine": "x86_64",
    "cpu-xnnpack.cores": "2", "cpu-xnnpack.runtime": "ai-edge-litert 2.3.0",
    "cpu-ref.cores": "2", "cpu-ref.runtime": "ai-edge-litert 2.3.0",
    "edgetpu": "unavailable",
}
# sha256 of the parts as compact sorted JSON ('{"cpu-ref.cores":"2",...,"machine":"x86_64"}'),
# first 12 hex digits: the id this lab's baselines are stored under. Never recompute it
# here from the code under test.
LAB_ID = "60515c463691"


class Probed:
    def __init__(self, availability: Availability | Exception) -> None:
        self.availability = availability

    def probe(self) -> Availability:
        if isinstance(self.availability, Exception):
            raise self.availability
        return self.availability


def lab_targets(name: str, options: dict) -> Probed:
    if name == "edgetpu":
        return Probed(Availability(False, reason="no Edge TPU found"))
    # details in reverse order: the parts come out sorted by key all the same
    return Probed(Availability(True, details={"runtime": "ai-edge-litert 2.3.0",
                                              "cores": "2"}))


@pytest.fixture
def lab_host(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setattr(host_id, "capture_environment", lambda: LAB)
    monkeypatch.setattr(host_id, "create_target", lab_targets)
    config = tmp_path / "lab.toml"
    config.write_text('[run]\ntargets = ["cpu-xnnpack", "cpu-ref", "edgetpu"]\n')
    return config


def fingerprint_cli(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["fingerprint", *map(str, args)])
    return result.exit_code, result.stdout, result.stderr or ""


def parts_printed(stderr: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in stderr.splitlines() if line)


def test_the_lab_id_is_pinned_and_is_the_products_fingerprint(lab_host: Path) -> None:
    code, stdout, stderr = fingerprint_cli("--config", lab_host)
    assert code == 0, stdout + stderr
    assert stdout == f"{LAB_ID}\n"  # the id alone: `$(qatbench fingerprint)` names a file
    # every part on stderr, one `name: value` line each, host first, then each target
    assert stderr.splitlines() == [f"{name}: {value}" for name, value in LAB_PARTS.items()]
    assert parts_printed(stderr) == LAB_PARTS
    assert fingerprint_of(LAB_PARTS) == LAB_ID
    assert host_id.host_fingerprint(load_config(lab_host)) == (LAB_ID, LAB_PARTS)
    assert {k: LAB_PARTS[k] for k in host_parts(LAB)} == host_parts(LAB)


def test_the_id_is_stable_and_names_every_part_that_changes_it(
        lab_host: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = {fingerprint_cli("--config", lab_host)[1] for _ in range(3)}
    assert ids == {f"{LAB_ID}\n"}
    # the order parts were found in does not matter; any value does
    assert fingerprint_of(dict(reversed(LAB_PARTS.items()))) == LAB_ID
    for name in LAB_PARTS:
        assert fingerprint_of(LAB_PARTS | {name: LAB_PARTS[name] + "x"}) != LAB_ID
    assert fingerprint_of(LAB_PARTS | {"device.serial": "R5CT"}) != LAB_ID
    # another CPU is another id
    monkeypatch.setattr(host_id, "capture_environment",
                        lambda: Environment(**{**LAB.to_dict(), "cpu_model": "Intel Xeon"}))
    code, stdout, stderr = fingerprint_cli("--config", lab_host)
    assert code == 0 and ID.fullmatch(stdout.strip()) and stdout.strip() != LAB_ID
    assert "cpu_model: Intel Xeon" in stderr.splitlines()
    assert stdout.strip() == fingerprint_of(parts_printed(stderr))


def test_a_target_whose_probe_crashes_still_gets_an_id(
        lab_host: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def crashing(name: str, options: dict) -> Probed:
        return Probed(RuntimeError("plug-in broke")) if name == "cpu-ref" else \
            lab_targets(name, options)

    monkeypatch.setattr(host_id, "create_target", crashing)
    code, stdout, stderr = fingerprint_cli("--config", lab_host)
    parts = parts_printed(stderr)
    assert code == 0 and parts["cpu-ref"] == "error: RuntimeError"
    assert "cpu-ref.runtime" not in parts
    assert stdout.strip() == fingerprint_of(parts) != LAB_ID


def test_a_bad_config_is_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[run]\ntargets = ["cpu-xnnpack"]\nnot_an_option = 1\n')
    code, stdout, stderr = fingerprint_cli("--config", config)
    assert code == 2 and stdout == "" and "error" in stderr


def test_this_hosts_id_from_the_installed_command() -> None:
    """The real command on this host: one line, twice the same, the product's id of the
    parts it prints and of what ``host_fingerprint`` finds in-process."""
    command = [sys.executable, "-m", "qatbench", "fingerprint", "--config", "cpu"]
    runs = [subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
            for _ in range(2)]
    for run in runs:
        assert run.returncode == 0, run.stderr
        assert ID.fullmatch(run.stdout.rstrip("\n")) and run.stdout.count("\n") == 1
    assert runs[0].stdout == runs[1].stdout and runs[0].stderr == runs[1].stderr
    parts = parts_printed(runs[0].stderr)
    assert {"cpu_model", "cpu_flags", "cpu_count", "machine"} <= set(parts)
    identity = runs[0].stdout.strip()
    assert identity == fingerprint_of(parts)
    assert host_id.host_fingerprint(load_config(Path("cpu"))) == (identity, parts)
