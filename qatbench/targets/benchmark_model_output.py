"""What TFLite's ``benchmark_model`` prints, read into figures; nothing guessed.

Builds differ: ``INFO:``/``WARN:``/``ERROR:`` prefixes or none (and logcat's own prefix),
percentiles on the stats lines or not, averages in scientific notation, older and newer
memory lines. The first standalone ``count=`` line is the warm-up, the second the timed
runs; op-profiling tables (``Timings (microseconds): count=...``) are not results.
Figures are microseconds as printed; a figure the tool did not print stays ``None``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_LOGCAT = re.compile(r"^\d\d-\d\d \d\d:\d\d:\d\d\.\d+\s+\d+\s+\d+\s+[VDIWEF]\s+[^:]*:\s?")
_LEVEL = re.compile(r"^(INFO|WARN|WARNING|ERROR|VERBOSE|DEBUG):\s?")
_PAIR = re.compile(r"(\w+)=([-+0-9.eE]+)")
_NUMBER = r"([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?\d+)?)"
_SUMMARY = re.compile(
    rf"Inference timings in us: Init: {_NUMBER}, First inference: {_NUMBER}, "
    rf"Warmup \(avg\): {_NUMBER}, Inference \(avg\): {_NUMBER}")
_MEMORY_OLD = re.compile(rf"Peak memory footprint \(MB\): init={_NUMBER} overall={_NUMBER}")
_MEMORY_NEW = re.compile(
    rf"Memory footprint delta from the start of the tool \(MB\): init={_NUMBER} "
    rf"overall={_NUMBER}")
_MEMORY_PEAK = re.compile(
    rf"Overall peak memory footprint \(MB\) via periodic monitoring: {_NUMBER}")
_ACCELERATORS = re.compile(r"NNAPI accelerators available: \[(.*)\]")
_COMPLETE = re.compile(r"(\w+) delegate, and the model graph will be completely executed")
_PARTIAL = re.compile(r"(\w+) delegate, and the model graph will be partially executed by the "
                      r"delegate w/ (\d+) delegate kernels")
_NOT_EXECUTED = re.compile(r"Though (\w+) delegate is explicitly applied, the model graph will "
                           r"not be executed")
_FAILED_APPLY = re.compile(r"Failed to apply (\w+) delegate")


@dataclass(frozen=True)
class StatsLine:
    """One ``count=...`` line, microseconds."""

    count: int
    first: float | None = None
    curr: float | None = None
    min: float | None = None
    max: float | None = None
    avg: float | None = None
    std: float | None = None
    p5: float | None = None
    median: float | None = None
    p95: float | None = None

    @classmethod
    def parse(cls, line: str) -> StatsLine:
        values = {k: float(v) for k, v in _PAIR.findall(line)}
        known = {k: values[k] for k in cls.__dataclass_fields__ if k in values and k != "count"}
        count = int(values.get("count", 0))
        if count and "avg" not in known and "curr" in known:
            # `count=N curr=X` (sometimes "(all same)"): every sample was X
            x = known["curr"]
            known.update({"min": x, "max": x, "avg": x, "std": 0.0, "first": x})
        return cls(count=count, **known)


@dataclass(frozen=True)
class Delegation:
    delegate: str  # NNAPI, XNNPACK, GPU, ...
    extent: str  # complete, partial, none, failed
    kernels: int | None = None


@dataclass
class BenchmarkOutput:
    warmup: StatsLine | None = None
    timed: StatsLine | None = None
    init_us: float | None = None
    first_inference_us: float | None = None
    warmup_avg_us: float | None = None
    inference_avg_us: float | None = None
    memory_init_mb: float | None = None
    memory_overall_mb: float | None = None
    memory_kind: str | None = None  # "peak" (older builds) or "delta from tool start"
    peak_memory_mb: float | None = None  # periodic monitoring, when asked for
    nnapi_accelerators: list[str] | None = None
    delegations: list[Delegation] = field(default_factory=list)
    failed: bool = False
    errors: list[str] = field(default_factory=list)

    def delegation_of(self, delegate: str) -> Delegation | None:
        found = [d for d in self.delegations if d.delegate.upper() == delegate.upper()]
        return found[-1] if found else None

    @property
    def best_memory_mb(self) -> float | None:
        return self.peak_memory_mb if self.peak_memory_mb is not None \
            else self.memory_overall_mb


def _clean(line: str) -> tuple[str, bool]:
    """The text after logcat's and the level prefix, and whether it was an ERROR line."""
    line = _LOGCAT.sub("", line.rstrip())
    level = _LEVEL.match(line)
    is_error = bool(level and level.group(1) == "ERROR")
    return (line[level.end():] if level else line).strip(), is_error


def parse_benchmark_output(text: str) -> BenchmarkOutput:
    out = BenchmarkOutput()
    stats: list[StatsLine] = []
    for raw in text.splitlines():
        if raw.startswith("#"):
            continue
        line, is_error = _clean(raw)
        if not line:
            continue
        if is_error:
            out.errors.append(line)
        if line.startswith("count="):
            stats.append(StatsLine.parse(line))
        elif match := _SUMMARY.search(line):
            out.init_us, out.first_inference_us, out.warmup_avg_us, out.inference_avg_us = (
                float(v) for v in match.groups())
        elif match := _MEMORY_PEAK.search(line):
            out.peak_memory_mb = float(match.group(1))
        elif match := _MEMORY_NEW.search(line):
            out.memory_init_mb, out.memory_overall_mb = (float(v) for v in match.groups())
            out.memory_kind = "delta from tool start"
        elif match := _MEMORY_OLD.search(line):
            out.memory_init_mb, out.memory_overall_mb = (float(v) for v in match.groups())
            out.memory_kind = "peak"
        elif match := _ACCELERATORS.search(line):
            out.nnapi_accelerators = [a.strip() for a in match.group(1).split(",") if a.strip()]
        elif match := _COMPLETE.search(line):
            out.delegations.append(Delegation(match.group(1), "complete"))
        elif match := _PARTIAL.search(line):
            out.delegations.append(Delegation(match.group(1), "partial", int(match.group(2))))
        elif match := _NOT_EXECUTED.search(line):
            out.delegations.append(Delegation(match.group(1), "none", 0))
        elif match := _FAILED_APPLY.search(line):
            out.delegations.append(Delegation(match.group(1), "failed"))
            out.errors.append(line)
        elif line.startswith("Benchmarking failed"):
            out.failed = True
    if stats:
        out.warmup = stats[0]
    if len(stats) > 1:
        out.timed = stats[1]
    return out
