"""What TFLite's ``benchmark_model`` prints, read into figures; nothing guessed.

Builds differ: ``INFO:``/``WARN:``/``ERROR:`` prefixes or none (and logcat's own prefix),
percentiles on the stats lines or not, averages in scientific notation, older and newer
memory lines. Lines are read by what they say, not where they stand: published logs are
often tails that lost their first lines. The standalone ``count=`` line of the timed runs
is the one whose average is the summary's ``Inference (avg)`` (the warm-up's is
``Warmup (avg)``); only without a summary does order decide (warm-up first). The
op-profiling tables end in ``Timings (microseconds): count=...`` lines: they are kept
apart, by the section they close (initialisation or the regular runs), and never taken
for the result. Figures are microseconds as printed; one not printed stays ``None``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from qatbench.targets.op_profile import BENCHMARK_MODEL, OpProfile, OpTiming

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
_PROFILE_TIMINGS = "Timings (microseconds): "
_PROFILE_SECTIONS = {"Profiling Info for Benchmark Initialization": "init",
                     "Operator-wise Profiling Info for Regular Benchmark Runs": "runs"}
_PROFILE_TABLES = {"Run Order": "run_order", "Top by Computation Time": "top_by_time",
                   "Summary by node type": "summary"}
_TABLE_TITLE = re.compile(r"^=+ (.+?) =+$")
_HEADER_CELL = re.compile(r"\[([^\]]+)\]")
_NODE_INDEX = re.compile(r":(\d+)$")


@dataclass(frozen=True)
class OpRow:
    """One row of an op-profiling table (``--enable_op_profiling``): an op the builtin
    kernels ran, or a delegate partition (``TfLiteNnapiDelegate``, ...). Milliseconds
    and percentages as printed; a column the build did not print stays ``None``."""

    node_type: str
    name: str
    avg_ms: float | None
    percent: float | None
    cdf_percent: float | None
    first_ms: float | None = None
    start_ms: float | None = None
    mem_kb: float | None = None
    times_called: int | None = None
    node_index: int | None = None  # the ``:N`` the name ends with

    @property
    def is_delegate(self) -> bool:
        return "delegate" in self.node_type.lower()


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(text.rstrip("%"))
    except ValueError:
        return None


def _op_row(columns: list[str], line: str) -> OpRow | None:
    """A table row by its header's columns (builds differ in which they print)."""
    cells = line.split(None, len(columns) - 1)
    if len(cells) != len(columns):
        return None
    by = dict(zip((c.lower() for c in columns), cells, strict=True))
    avg = _number(by.get("avg ms"))
    if avg is None or "node type" not in by:
        return None
    name = by.get("name", "")
    index = _NODE_INDEX.search(name)
    times = _number(by.get("times called"))
    return OpRow(node_type=by["node type"], name=name, avg_ms=avg,
                 percent=_number(by.get("%")), cdf_percent=_number(by.get("cdf%")),
                 first_ms=_number(by.get("first")), start_ms=_number(by.get("start")),
                 mem_kb=_number(by.get("mem kb")),
                 times_called=None if times is None else int(times),
                 node_index=int(index.group(1)) if index else None)


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
    stats: list[StatsLine] = field(default_factory=list)  # every standalone count= line
    # op profiling (--enable_op_profiling): the profiler's own totals, not the result
    profiled_init: StatsLine | None = None
    profiled_runs: StatsLine | None = None
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
    # the per-op tables of the regular runs (op profiling), in run order and by time
    op_run_order: list[OpRow] = field(default_factory=list)
    op_top_by_time: list[OpRow] = field(default_factory=list)
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


def _same(value: float | None, reported: float | None) -> bool:
    """Whether a stats line's average is the summary's (both printed to ~6 digits)."""
    if value is None or reported is None:
        return False
    return abs(value - reported) <= max(1.0, 1e-5 * abs(reported))


def _assign_phases(out: BenchmarkOutput) -> None:
    """Warm-up and timed lines by the summary's averages; by order only without one."""
    stats = out.stats
    timed = [i for i, s in enumerate(stats) if _same(s.avg, out.inference_avg_us)]
    if timed:
        out.timed = stats[timed[-1]]
        warmup = [i for i in range(timed[-1]) if _same(stats[i].avg, out.warmup_avg_us)]
        out.warmup = stats[warmup[-1]] if warmup else None
    elif out.inference_avg_us is None and len(stats) >= 2:
        out.warmup, out.timed = stats[0], stats[1]  # the order benchmark_model prints them
    elif len(stats) == 1 and _same(stats[0].avg, out.warmup_avg_us):
        out.warmup = stats[0]


def parse_benchmark_output(text: str) -> BenchmarkOutput:
    out = BenchmarkOutput()
    section = table = ""
    columns: list[str] = []
    for raw in text.splitlines():
        if raw.startswith("#"):
            continue
        line, is_error = _clean(raw)
        if not line:
            continue
        if is_error:
            out.errors.append(line)
        if line.rstrip(":") in _PROFILE_SECTIONS:
            section, table = _PROFILE_SECTIONS[line.rstrip(":")], ""
        elif (title := _TABLE_TITLE.match(line)) and section:
            table, columns = _PROFILE_TABLES.get(title.group(1).strip(), ""), []
        elif table and line.startswith("[") and not columns:
            columns = _HEADER_CELL.findall(line)
        elif section == "runs" and table in ("run_order", "top_by_time") and columns and (
                row := _op_row(columns, line)):
            (out.op_run_order if table == "run_order" else out.op_top_by_time).append(row)
        elif line.startswith(_PROFILE_TIMINGS):
            profiled = StatsLine.parse(line[len(_PROFILE_TIMINGS):])
            if section == "init":
                out.profiled_init = profiled
            elif section == "runs":
                out.profiled_runs = profiled
        elif line.startswith("count="):
            out.stats.append(StatsLine.parse(line))
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
    _assign_phases(out)
    return out


def profile_from_benchmark_output(rows_in_run_order: list[Any], rows_by_time: list[Any],
                                  whole_ms: float | None, *, delegate: str = "") -> OpProfile:
    """The op tables of ``benchmark_model --enable_op_profiling`` as a profile.

    Rows are its run-order table (its top-by-time table when a log lost the first: the
    same rows, sorted). A delegate partition is one row, ``delegated``; an op the
    delegate left to the CPU is a builtin row. benchmark_model prints averages, so
    ``p50_ms`` holds the average here (said in the profile's notes). ``whole_ms`` is the
    model's time from the run that was *not* profiled: profiling costs time per op.
    """
    rows = rows_in_run_order or rows_by_time
    ops = tuple(OpTiming(op_index=row.node_index if row.node_index is not None else i,
                         op_type=row.node_type, name=row.name, delegated=row.is_delegate,
                         p50_ms=row.avg_ms, n_samples=row.times_called or 0)
                for i, row in enumerate(rows))
    notes = ["benchmark_model prints per-op averages: p50_ms holds the average"]
    if not rows_in_run_order and rows_by_time:
        notes.append("read from the top-by-time table (no run-order table in the log)")
    return OpProfile(BENCHMARK_MODEL, ops, whole_ms, delegate, tuple(notes))
