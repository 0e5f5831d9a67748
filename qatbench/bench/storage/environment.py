"""Where and how a run was measured, captured once per run and stamped on every row.

A latency figure without its machine, load, governor and versions cannot be compared
with another one; this is the record that makes two runs comparable (or shows why not).
"""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

_PACKAGES = ("qatbench", "ai-edge-litert", "tflite-runtime", "tensorflow", "tf-keras",
             "tensorflow-model-optimization", "numpy", "pandas")


@dataclass(frozen=True)
class Environment:
    host: str
    cpu_model: str
    cpu_count: int
    machine: str
    os: str
    python: str
    governor: str | None
    load_average: tuple[float, float, float] | None
    git_commit: str
    git_dirty: bool | None
    packages: dict[str, str] = field(default_factory=dict)
    cpu_flags: str = ""  # the instruction-set features int8 and float kernels dispatch on

    def to_dict(self) -> dict:
        return asdict(self)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "processor\t: arm")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# What XNNPACK and the builtin kernels choose code paths by: two hosts that differ here run
# different kernels for the same model. (x86: AVX families and VNNI; Arm: dot product,
# i8mm, fp16, SVE.)
KERNEL_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl",
                "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8", "asimd", "asimddp",
                "asimdhp", "i8mm", "sve", "sve2", "bf16")


def cpu_flags() -> str:
    """The kernel-relevant CPU features of this host, sorted, space-separated."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""
    present: set[str] = set()
    for line in text.splitlines():
        if line.lower().startswith(("flags", "features")):
            present.update(line.split(":", 1)[1].split())
    return " ".join(flag for flag in KERNEL_FLAGS if flag in present)


def cpu_governor() -> str | None:
    path = Path("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")
    try:
        return path.read_text().strip()
    except OSError:
        return None  # VMs and containers often expose no cpufreq


def git_state(cwd: Path | None = None) -> tuple[str, bool | None]:
    """The commit checked out and whether the tree has uncommitted changes."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                cwd=cwd, capture_output=True, text=True, timeout=10,
                                check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown", None
    return commit, bool(status.strip())


def package_versions(names: tuple[str, ...] = _PACKAGES) -> dict[str, str]:
    """Installed versions of ``names`` (a package that is not installed is left out)."""
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def capture_environment() -> Environment:
    commit, dirty = git_state()
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return Environment(
        host=socket.gethostname(), cpu_model=cpu_model(), cpu_count=os.cpu_count() or 0,
        machine=platform.machine(), os=platform.platform(), python=sys.version.split()[0],
        governor=cpu_governor(), load_average=load, git_commit=commit, git_dirty=dirty,
        packages=package_versions(), cpu_flags=cpu_flags(),
    )
