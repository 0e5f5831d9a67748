"""Which libedgetpu will load, and whether the TFLite runtime beside it will survive it.

libedgetpu compiles TFLite's C structs (``TfLiteDelegate``, ``TfLiteRegistration`` passed
by value) into itself, and those grew after TF 2.11. Coral's own ``libedgetpu1-std``
16.0 (2021) is built against TF 2.5, so any runtime from 2.12 on -- ``tflite-runtime``
>= 2.12 and every ``ai-edge-litert`` -- dies of SIGSEGV when it applies that delegate
(google-coral/edgetpu#812, google-coral/libedgetpu#53 and #67). That is a crash in a
child process with nothing about why, so the facts are gathered *before* timing, none of
them needing TFLite:

* the Debian package version (``dpkg-query``) of the libedgetpu package that is
  installed -- not one removed but not purged, which dpkg still lists with its version:
  ``16.0`` is Coral's TF-2.5 build; community builds carry their TF version
  (``16.0tf2.17.1-1``);
* the library's own ``edgetpu_version()`` and ``edgetpu_list_devices()`` through ctypes
  (``tflite/public/edgetpu_c.h``);
* the runtimes installed in the interpreter that will time (found without importing).

``python -m qatbench.targets.edgetpu.runtime [--runtime R] [--library L]`` prints the same
facts as JSON: the target's probe runs it under the timing child's own ``python``, so the
orchestrator never loads the library and sees that interpreter's runtimes.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import importlib.util
import json
import os
import re
import shutil
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from typing import Any, Literal, TypeVar

from qatbench.targets.tools import run_tool

LIBRARY_ENV = "QATBENCH_LIBEDGETPU"
DEFAULT_LIBRARY = "libedgetpu.so.1"
PACKAGES = ("libedgetpu1-std", "libedgetpu1-max")
# one line per installed instance: "install ok installed\t16.0"; dpkg-query expands \t \n
DPKG_FORMAT = r"${Status}\t${Version}\n"
FIRST_NEW_ABI = (2, 12)  # TFLite's C structs grew after 2.11
AI_EDGE_LITERT_KNOWN_GOOD = (2, 18)  # libedgetpu built against TF >= 2.18 (LiteRT#3611)
# Coral's 16.0 and the version strings of early community builds, which do not carry
# their TF version (feranick/libedgetpu debian/changelog)
KNOWN_BUILDS = {"16.0": "2.5", "16.0-0ppa1": "2.8.4", "16.0pp2": "2.9.3",
                "16.0pp3": "2.10.1"}

RuntimeChoice = Literal["auto", "ai-edge-litert", "tflite-runtime", "pycoral"]
# what `auto` prefers when two runtimes are equally safe: pycoral first (Coral's own
# path), then LiteRT, then the legacy name -- the order qatbench always used
PREFERENCE: tuple[str, ...] = ("pycoral", "ai-edge-litert", "tflite-runtime")
_MODULES = {"ai-edge-litert": "ai_edge_litert", "tflite-runtime": "tflite_runtime",
            "pycoral": "pycoral"}

WORKING_MATRIX = (
    "Working combinations (x86-64 or aarch64 Linux): community libedgetpu built against TF "
    "2.16.1 / 2.17.x / 2.18.1 / 2.19.1 (feranick/libedgetpu releases: debs for Debian 11-13, "
    "Ubuntu 22.04/24.04) with tflite_runtime of the same TF version (feranick/TFlite-builds; "
    "numpy<2) or pycoral 2.0.3 (feranick/pycoral, Python 3.9-3.12; it imports "
    "tflite_runtime), or ai-edge-litert with a libedgetpu built against TF >= 2.18 "
    "(reported working with 2.19.1). Coral's libedgetpu1-std 16.0 (TF 2.5) works only with "
    "tflite_runtime <= 2.11, which PyPI has for Python <= 3.9. PyPI's `pycoral` is an "
    "unrelated package.")
FIX_MISMATCH = (
    "install a libedgetpu built against your runtime's TF version, or give this target "
    "`python = \"...\"`: a venv whose tflite_runtime matches the library "
    "(`nox -s runtime-venv -- SPEC` prints one). " + WORKING_MATRIX)


def _tf_tuple(version: str | None) -> tuple[int, int] | None:
    match = re.match(r"(\d+)\.(\d+)", version or "")
    return (int(match[1]), int(match[2])) if match else None


# -- the Debian package -----------------------------------------------------------------
def build_tf_version(package_version: str) -> str | None:
    """The TF version a libedgetpu package was built against, from its version string.

    >>> build_tf_version("16.0"), build_tf_version("16.0tf2.17.1-1")
    ('2.5', '2.17.1')
    """
    if package_version in KNOWN_BUILDS:
        return KNOWN_BUILDS[package_version]
    match = re.search(r"tf(\d+\.\d+(?:\.\d+)?)", package_version)
    return match[1] if match else None


def is_installed(status: str) -> bool:
    """Whether a dpkg ``${Status}`` ("WANT EFLAG STATE") means the package's files are in
    place and configured: ``install ok installed``, also when held (``hold ok installed``)
    or marked for removal that has not happened. Not a package removed but not purged
    (``deinstall ok config-files``, ``rc`` in ``dpkg -l``), whose version dpkg-query still
    prints with exit 0, nor one half-installed, unpacked or not installed."""
    words = status.split()
    return len(words) == 3 and words[1:] == ["ok", "installed"]


def installed_package(dpkg_query: str = "dpkg-query") -> tuple[str, str]:
    """(package, version) of the installed libedgetpu package, or ("", "") without one
    (or without dpkg: a library built from source, another distribution)."""
    tool = shutil.which(dpkg_query)
    if tool is None:
        return "", ""
    for package in PACKAGES:
        run = run_tool([tool, "-W", "-f", DPKG_FORMAT, package], timeout_s=30)
        if run.returncode != 0:
            continue
        for line in run.stdout.splitlines():  # one line per architecture installed
            status, _, version = line.partition("\t")
            if is_installed(status) and version.strip():
                return package, version.strip()
    return "", ""


# -- the library, through its C API -------------------------------------------------------
class _Device(ctypes.Structure):  # struct edgetpu_device
    _fields_ = [("type", ctypes.c_int), ("path", ctypes.c_char_p)]


_DEVICE_TYPES = {0: "pci", 1: "usb"}  # enum edgetpu_device_type


@dataclass(frozen=True)
class LibraryFacts:
    """What ``libedgetpu`` says about itself: its version text and the TPUs it sees."""

    path: str
    loaded: bool = False
    version: str = ""  # "BuildLabel(COMPILER=...,DATE=...,TIME=...), RuntimeVersion(14)"
    devices: tuple[str, ...] = ()  # "usb:/sys/bus/usb/devices/2-1", "pci:/dev/apex_0"
    error: str = ""

    @property
    def runtime_version(self) -> str:
        """The Edge TPU runtime version (what ``edgetpu_compiler -m`` targets)."""
        match = re.search(r"RuntimeVersion\((\d+)\)", self.version)
        return match[1] if match else ""


def library_path(configured: str | None = None) -> str:
    """``$QATBENCH_LIBEDGETPU``, else the target's ``library`` option, else the soname."""
    return os.environ.get(LIBRARY_ENV) or configured or DEFAULT_LIBRARY


def read_library(path: str) -> LibraryFacts:
    """Load ``path`` with ctypes and call ``edgetpu_version`` and ``edgetpu_list_devices``.

    Listing enumerates (USB, PCIe) without opening a device, so it is safe before timing.
    """
    try:
        library = ctypes.CDLL(path)
    except OSError as error:
        return LibraryFacts(path, error=str(error))
    try:
        version_of = library.edgetpu_version
        list_devices = library.edgetpu_list_devices
        free_devices = library.edgetpu_free_devices
    except AttributeError as error:
        return LibraryFacts(path, loaded=True, error=f"not a libedgetpu: {error}")
    version_of.argtypes, version_of.restype = [], ctypes.c_char_p
    list_devices.argtypes = [ctypes.POINTER(ctypes.c_size_t)]
    list_devices.restype = ctypes.POINTER(_Device)
    free_devices.argtypes, free_devices.restype = [ctypes.POINTER(_Device)], None
    version = (version_of() or b"").decode(errors="replace")
    count = ctypes.c_size_t(0)
    array = list_devices(ctypes.byref(count))
    devices = []
    if array:
        try:
            for index in range(count.value):
                device = array[index]
                kind = _DEVICE_TYPES.get(device.type, str(device.type))
                devices.append(f"{kind}:{(device.path or b'').decode(errors='replace')}")
        finally:
            free_devices(array)
    return LibraryFacts(path, loaded=True, version=version, devices=tuple(devices))


# -- the runtimes of this interpreter -------------------------------------------------------
def _distribution(module: str) -> tuple[str, str] | None:
    """(distribution, version) providing the top-level ``module``, without importing it
    (``ai-edge-litert-nightly`` provides ``ai_edge_litert`` too)."""
    if importlib.util.find_spec(module) is None:
        return None
    for name in metadata.packages_distributions().get(module, []):
        with contextlib.suppress(metadata.PackageNotFoundError):
            return name, metadata.version(name)
    return module, "unknown"


def installed_runtimes() -> dict[str, str]:
    """Runtime family -> "distribution version", for what this interpreter can import.

    pycoral counts only when it is Coral's (``pycoral.utils.edgetpu``) and has the
    ``tflite_runtime`` it imports; its version is that ``tflite_runtime``'s.
    """
    found: dict[str, str] = {}
    for family, module in _MODULES.items():
        try:
            dist = _distribution(module)
            if family == "pycoral" and dist is not None and \
                    importlib.util.find_spec("pycoral.utils.edgetpu") is None:
                dist = None
        except (ImportError, ValueError):  # a broken package is not a runtime
            dist = None
        if dist is not None:
            found[family] = f"{dist[0]} {dist[1]}"
    if "pycoral" in found and "tflite-runtime" not in found:
        del found["pycoral"]
    return found


def tflite_version(family: str, runtimes: Mapping[str, str]) -> str:
    """The TFLite version a runtime family runs (pycoral runs ``tflite_runtime``)."""
    source = "tflite-runtime" if family == "pycoral" else family
    return runtimes.get(source, "").rpartition(" ")[2]


# -- the verdict ----------------------------------------------------------------------------
Verdict = Literal["works", "untested", "crashes", "missing"]
_RANK = {"works": 0, "untested": 1, "crashes": 2, "missing": 3}


@dataclass(frozen=True)
class Compatibility:
    verdict: Verdict
    reason: str


def compatibility(build_tf: str | None, family: str, version: str) -> Compatibility:
    """Whether a libedgetpu built against TF ``build_tf`` survives ``family`` ``version``.

    Known to crash: the two sit on opposite sides of TF 2.12's C-struct change (Coral's
    16.0 with any runtime >= 2.12, every ai-edge-litert included). Known to work: both
    before 2.12; a community build with tflite_runtime of the same TF minor;
    ai-edge-litert with a build against TF >= 2.18. Anything else is untested.
    """
    build = _tf_tuple(build_tf)
    if build is None:
        return Compatibility("untested", "the libedgetpu build is unknown (no "
                                         "libedgetpu1-std/-max package to read it from)")
    runtime = None if family == "ai-edge-litert" else _tf_tuple(version)
    runtime_new = runtime is None or runtime >= FIRST_NEW_ABI
    build_new = build >= FIRST_NEW_ABI
    label = f"{family} {version}"
    if build_new != runtime_new:
        return Compatibility("crashes", (
            f"libedgetpu built against TF {build_tf} and {label} sit on opposite sides of "
            "TFLite 2.12's C-struct change: applying the delegate dies of SIGSEGV "
            "(google-coral/edgetpu#812, google-coral/libedgetpu#53)"))
    if not build_new:
        return Compatibility("works", f"TF {build_tf} libedgetpu with {label} (both < 2.12)")
    if runtime is None:
        if build >= AI_EDGE_LITERT_KNOWN_GOOD:
            return Compatibility("works", f"{label} with libedgetpu built against TF "
                                          f"{build_tf} (>= 2.18, google-ai-edge/LiteRT#3611)")
        return Compatibility("untested", f"{label} with libedgetpu built against TF "
                                         f"{build_tf}: reported working only from TF 2.18")
    if runtime == build[:2]:
        return Compatibility("works", f"{label} matches libedgetpu's TF {build_tf}")
    return Compatibility("untested", f"{label} does not match libedgetpu's TF {build_tf}")


@dataclass(frozen=True)
class EdgeTpuRuntime:
    """Everything known before timing: the library, the runtimes, the one chosen."""

    package: str  # libedgetpu1-std / libedgetpu1-max / "" (none installed, or no dpkg)
    package_version: str
    build_tf: str | None
    library: LibraryFacts
    python: str
    runtimes: dict[str, str] = field(default_factory=dict)  # family -> "dist version"
    chosen: str = ""  # a runtime family, "" when none can be used
    verdict: Verdict = "untested"
    reason: str = ""

    @property
    def build_label(self) -> str:
        if not self.package:
            return "unknown build (no libedgetpu1-std/-max package)"
        tf = f"TF {self.build_tf}" if self.build_tf else "TF unknown"
        return f"{self.package} {self.package_version} ({tf})"

    @property
    def runtime_label(self) -> str:
        if not self.chosen:
            return ""
        if self.chosen == "pycoral":
            return f"pycoral on {self.runtimes['tflite-runtime']}"
        return self.runtimes[self.chosen]

    def facts(self) -> dict[str, str]:
        """For every row's extra and fingerprint: what a latency depends on."""
        return {"libedgetpu": self.build_label,
                "libedgetpu_version": self.library.version or "",
                "edgetpu_runtime": self.library.runtime_version,
                "tflite": self.runtime_label}

    def crash_hint(self) -> str:
        """Said in a row whose child died of SIGSEGV: the likely reason and the fix."""
        return (f"a SIGSEGV while applying the Edge TPU delegate is the signature of a "
                f"libedgetpu/TFLite mismatch ({self.build_label}, runtime "
                f"{self.runtime_label or 'unknown'}): {FIX_MISMATCH}")

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> EdgeTpuRuntime:
        data = json.loads(text)
        library = data.pop("library")
        library["devices"] = tuple(library["devices"])
        return cls(library=LibraryFacts(**library), **data)


def choose(build_tf: str | None, runtimes: Mapping[str, str], wanted: RuntimeChoice
           ) -> tuple[str, Compatibility]:
    """The runtime family to time with; ``auto``: the safest installed, PREFERENCE order.

    Returns ("", why) when the wanted runtime is not installed or none is.
    """
    families = [wanted] if wanted != "auto" else list(PREFERENCE)
    candidates = [(family, compatibility(build_tf, family, tflite_version(family, runtimes)))
                  for family in families if family in runtimes]
    if not candidates:
        what = f"runtime = {wanted!r} is not" if wanted != "auto" else "no TFLite runtime is"
        return "", Compatibility("missing", f"{what} installed in {sys.executable}")
    return min(candidates, key=lambda item: _RANK[item[1].verdict])


def detect(wanted: RuntimeChoice = "auto", library: str | None = None,
           dpkg_query: str = "dpkg-query") -> EdgeTpuRuntime:
    """The facts of this host and interpreter (see the module docstring)."""
    package, version = installed_package(dpkg_query)
    build_tf = build_tf_version(version) if package else None
    runtimes = installed_runtimes()
    chosen, verdict = choose(build_tf, runtimes, wanted)
    return EdgeTpuRuntime(package=package, package_version=version, build_tf=build_tf,
                          library=read_library(library_path(library)),
                          python=".".join(map(str, sys.version_info[:3])),
                          runtimes=runtimes, chosen=chosen, verdict=verdict.verdict,
                          reason=verdict.reason)


# -- USB: load_delegate now and then fails right after another interpreter let go ----------
T = TypeVar("T")


def with_retries(load: Callable[[], T], attempts: int, backoff_s: float,
                 retry_on: tuple[type[BaseException], ...] = (ValueError, RuntimeError, OSError),
                 sleep: Callable[[float], None] = time.sleep) -> tuple[T, list[str]]:
    """``load()`` up to ``attempts`` times, sleeping ``backoff_s * n`` after the n-th
    failure; returns the result and the errors of the failed attempts (for the row).
    The last failure is raised as it came."""
    errors: list[str] = []
    for attempt in range(1, attempts + 1):
        try:
            return load(), errors
        except retry_on as error:
            errors.append(" ".join(str(error).split())[:200])
            if attempt == attempts:
                raise
            sleep(backoff_s * attempt)
    raise AssertionError("unreachable")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qatbench.targets.edgetpu.runtime")
    parser.add_argument("--runtime", default="auto", choices=["auto", *PREFERENCE])
    parser.add_argument("--library", default=None)
    options = parser.parse_args(argv)
    print(detect(options.runtime, options.library).to_json())
    return 0


def run_detection(python: str, wanted: str, library: str | None, timeout_s: float = 60
                  ) -> EdgeTpuRuntime | str:
    """``detect`` in a child under ``python`` (the timing child's interpreter); the facts,
    or what went wrong as text."""
    args = [python, "-m", "qatbench.targets.edgetpu.runtime", "--runtime", wanted]
    if library:
        args += ["--library", library]
    run = run_tool(args, timeout_s=timeout_s)
    if run.returncode != 0 or not run.stdout.strip():
        return (f"{python} could not report its Edge TPU runtime (exit {run.returncode}): "
                f"{run.tail(4)}")
    try:
        return EdgeTpuRuntime.from_json(run.stdout.strip().splitlines()[-1])
    except (ValueError, TypeError, KeyError) as error:
        return f"{python} reported unreadable facts: {error}"


def as_details(facts: EdgeTpuRuntime) -> dict[str, Any]:
    return {**facts.facts(), "tpus": ", ".join(facts.library.devices) or "none",
            "runtime_verdict": f"{facts.verdict}: {facts.reason}"}


if __name__ == "__main__":
    sys.exit(main())
