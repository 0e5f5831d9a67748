"""The run-to-run noise floor: how far identical code moves between two runs on a host.

Within-run samples cannot see it (they share one process's frequency, cache and memory
placement), so the gate needs it from outside: a stated default, replaced by the floor
``benchmarks/gate_error_rates.py`` measured on this host (an A/A experiment) when that
file is found. A floor is the largest relative change of the gate's latency estimate
seen between independent runs of identical code, per model scale (µs-scale models move
more) and per number of repeats K (more repeats, smaller floor).

Where the file is looked for, first found wins: ``--noise-floor FILE``; the
``QATBENCH_NOISE_FLOOR`` environment variable; ``noise-floor.json`` in the results root
(the directory holding CURRENT's run directory, else BASE's).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from qatbench.errors import UserError

FLOOR_FILE = "noise-floor.json"
FLOOR_ENV = "QATBENCH_NOISE_FLOOR"
SCHEMA = "qatbench/noise-floor/1"
DEFAULT_SOURCE = "built-in default"


@dataclass(frozen=True)
class FloorEntry:
    """The floor measured for models of about ``p50_ms`` compared with ``repeats`` each."""

    p50_ms: float
    repeats: int
    floor: float  # relative: 0.10 = identical code moved up to 10% between runs


# Measured on the 2-core x86-64 VMs this project runs on (issue 10): MobileNetV2 int8
# (~3 ms) moved +8.2% between two runs of identical code, a ~12 µs CNN more. The ms
# default sits above 8.2% so that such a wobble is `same`; with the gate's "far beyond"
# factor of 2 a 30% change is still `slower` at both scales (2 × ln 1.12 ≈ ln 1.25).
DEFAULT_ENTRIES: tuple[FloorEntry, ...] = (
    FloorEntry(p50_ms=3.0, repeats=1, floor=0.10),
    FloorEntry(p50_ms=0.012, repeats=1, floor=0.12),
)


class NoiseFloorError(UserError, ValueError):
    """The noise-floor file cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class NoiseFloor:
    entries: tuple[FloorEntry, ...] = DEFAULT_ENTRIES
    source: str = DEFAULT_SOURCE
    cpu_model: str | None = None  # the host the file was measured on, if from a file
    notes: tuple[str, ...] = field(default=())

    def floor(self, p50_ms: float | None, repeats: int = 1) -> float:
        """The floor for a row of this latency compared with ``repeats`` on each side.

        Entries measured with more repeats than available are not used. Between two
        measured scales the larger of the two floors applies (conservative); outside the
        measured range, the nearest scale's.
        """
        usable = [e for e in self.entries if e.repeats <= max(repeats, 1)]
        if not usable:
            usable = [e for e in self.entries if e.repeats == min(x.repeats
                                                                  for x in self.entries)]
        best_k = max(e.repeats for e in usable)
        entries = sorted((e for e in usable if e.repeats == best_k), key=lambda e: e.p50_ms)
        if p50_ms is None or not math.isfinite(p50_ms) or p50_ms <= 0:
            return max(e.floor for e in entries)
        below = [e for e in entries if e.p50_ms <= p50_ms]
        above = [e for e in entries if e.p50_ms >= p50_ms]
        if below and above:
            return max(below[-1].floor, above[0].floor)
        return (below[-1] if below else above[0]).floor

    @property
    def measured(self) -> bool:
        """Whether the floor was measured (a file), not the built-in default: at K = 1 a
        SLOWER verdict needs a floor from this host (``for_host`` drops another host's)."""
        return self.source != DEFAULT_SOURCE

    def describe(self) -> str:
        parts = ", ".join(f"{e.floor:.1%} at {e.p50_ms:g} ms (K={e.repeats})"
                          for e in sorted(self.entries, key=lambda e: (e.repeats, e.p50_ms)))
        return f"{self.source}: {parts}"


def load_noise_floor(path: Path) -> NoiseFloor:
    """Read a floor file written by ``benchmarks/gate_error_rates.py``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        entries = tuple(FloorEntry(float(e["p50_ms"]), int(e["repeats"]), float(e["floor"]))
                        for e in data["floors"])
    except OSError as error:
        raise NoiseFloorError(f"{path}: cannot read the noise-floor file: {error}") from None
    except (ValueError, KeyError, TypeError) as error:
        raise NoiseFloorError(f"{path}: not a qatbench noise-floor file ({SCHEMA}): "
                              f"{type(error).__name__}: {error}") from None
    as_percent = [e.floor for e in entries if e.floor >= 1]
    if as_percent:  # "floor": 8 meant 8%, not 800%: a floor is a fraction below 1
        raise NoiseFloorError(f"{path}: floor {as_percent[0]:g} would be "
                              f"{as_percent[0]:.0%} -- a floor is a fraction: write "
                              f"{as_percent[0] / 100:g} for {as_percent[0]:g}%; every floor "
                              "must have 1 > floor > 0 (a fraction: 0.08 = 8%)")
    if not entries or any(not 0 < e.floor < 1 or e.p50_ms <= 0 or e.repeats < 1
                          for e in entries):
        raise NoiseFloorError(f"{path}: every floor must have p50_ms > 0, repeats ≥ 1 and "
                              "1 > floor > 0 (a fraction: 0.08 = 8%)")
    machine = data.get("machine") or {}
    return NoiseFloor(entries, source=str(path), cpu_model=machine.get("cpu_model"))


def find_noise_floor(explicit: Path | None, results_root: Path | None) -> NoiseFloor:
    """The floor the gate uses: the first of the option, the environment, the root."""
    if explicit is not None:
        return load_noise_floor(explicit)
    from_env = os.environ.get(FLOOR_ENV)
    if from_env:
        return load_noise_floor(Path(from_env))
    if results_root is not None and (results_root / FLOOR_FILE).is_file():
        return load_noise_floor(results_root / FLOOR_FILE)
    return NoiseFloor()


def for_host(floor: NoiseFloor, cpu_models: set[str]) -> NoiseFloor:
    """The floor if it was measured on the CPU CURRENT ran on, else the defaults (noted).

    A floor measured on a quiet workstation says nothing about a shared CI runner.
    """
    if floor.cpu_model is None or not cpu_models or cpu_models == {floor.cpu_model}:
        return floor
    return NoiseFloor(notes=(f"noise floor in {floor.source} was measured on "
                             f"{floor.cpu_model!r}, CURRENT ran on "
                             f"{', '.join(sorted(cpu_models))}: built-in defaults used",))
