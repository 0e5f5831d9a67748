"""What ``edgetpu_compiler`` says about a model, read from its stdout and its ``.log``.

The compiler prints a summary (sizes, on-chip/off-chip parameter memory, subgraphs, op
counts) and, with ``-s`` or in the ``.log`` file, a per-operator table. Versions 2 to
16 differ in details: sizes in ``B``/``KiB``/``MiB`` or ``KB``/``MB``, the "will run on"
counts omitted for a fully mapped model, the log header saying ``Input:`` where stdout
says ``Input model:``. Lines this parser does not know are ignored; a figure that was
not printed stays ``None``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

MAPPED = "Mapped to Edge TPU"

_UNITS = {"B": 1, "KIB": 1024, "MIB": 1024**2, "GIB": 1024**3,
          "KB": 1000, "MB": 1000**2, "GB": 1000**3}  # KB/MB taken as written: decimal
_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([KMG]?i?B)\s*$", re.IGNORECASE)
_TABLE_ROW = re.compile(r"^([A-Z][A-Z0-9_]*)\s+(\d+)\s+(\S.*?)\s*$")

_SUMMARY_FIELDS = {
    "input model": "input_model", "input": "input_model",
    "output model": "output_model", "output": "output_model",
    "input size": "input_size_bytes", "output size": "output_size_bytes",
    "on-chip memory used for caching model parameters": "on_chip_used_bytes",
    "on-chip memory remaining for caching model parameters": "on_chip_remaining_bytes",
    "off-chip memory used for streaming uncached model parameters": "off_chip_used_bytes",
    "number of edge tpu subgraphs": "subgraphs",
    "total number of operations": "ops_total",
    "number of operations that will run on edge tpu": "ops_on_tpu",
    "number of operations that will run on cpu": "ops_on_cpu",
    "operation log": "log_file",
}


def parse_size(text: str) -> int | None:
    """``4.24MiB`` -> 4445962; ``0.00B`` -> 0; anything else -> None."""
    match = _SIZE.match(text)
    if not match:
        return None
    unit = _UNITS.get(match.group(2).upper())
    return None if unit is None else round(float(match.group(1)) * unit)


@dataclass
class PlacementRow:
    operator: str
    count: int
    status: str

    @property
    def on_tpu(self) -> bool:
        return self.status == MAPPED


@dataclass
class CompilerReport:
    """Everything the compiler printed that a user wants in a report."""

    version: str | None = None
    succeeded: bool | None = None
    errors: list[str] = field(default_factory=list)
    compile_ms: float | None = None
    input_model: str | None = None
    output_model: str | None = None
    input_size_bytes: int | None = None
    output_size_bytes: int | None = None
    on_chip_used_bytes: int | None = None
    on_chip_remaining_bytes: int | None = None
    off_chip_used_bytes: int | None = None
    subgraphs: int | None = None
    ops_total: int | None = None
    ops_on_tpu: int | None = None
    ops_on_cpu: int | None = None
    log_file: str | None = None
    placement: list[PlacementRow] = field(default_factory=list)

    def merge(self, other: CompilerReport) -> CompilerReport:
        """Fill what this report lacks from ``other`` (stdout first, then the .log)."""
        for name in self.__dataclass_fields__:
            mine, theirs = getattr(self, name), getattr(other, name)
            if mine in (None, []) and theirs not in (None, []):
                setattr(self, name, theirs)
        return self

    def resolve_counts(self) -> CompilerReport:
        """Derive the "will run on" counts a fully mapped model's output leaves out."""
        table_tpu = sum(r.count for r in self.placement if r.on_tpu)
        table_cpu = sum(r.count for r in self.placement if not r.on_tpu)
        if self.ops_total is None and self.placement:
            self.ops_total = table_tpu + table_cpu
        if self.ops_on_tpu is None and self.placement:
            self.ops_on_tpu = table_tpu
        if self.ops_on_cpu is None and self.placement:
            self.ops_on_cpu = table_cpu
        if self.ops_total is not None and self.succeeded and not self.placement:
            if self.ops_on_tpu is None and self.ops_on_cpu is None:
                self.ops_on_tpu, self.ops_on_cpu = self.ops_total, 0  # fully mapped
            elif self.ops_on_tpu is None and self.ops_on_cpu is not None:
                self.ops_on_tpu = self.ops_total - self.ops_on_cpu
            elif self.ops_on_cpu is None and self.ops_on_tpu is not None:
                self.ops_on_cpu = self.ops_total - self.ops_on_tpu
        return self

    def placement_by_status(self) -> list[dict[str, Any]]:
        """One row per (operator, status), counts summed: never overwritten."""
        summed: dict[tuple[str, str], int] = {}
        for row in self.placement:
            summed[row.operator, row.status] = summed.get((row.operator, row.status), 0) \
                + row.count
        return [{"operator": op, "count": n, "status": status, "on_tpu": status == MAPPED}
                for (op, status), n in summed.items()]

    def summary(self) -> dict[str, Any]:
        """The figures for the results row's ``extra`` (placement listed separately)."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__
                if name not in {"placement", "errors"} and getattr(self, name) is not None}


def _strip(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines() if not line.startswith("#")]


def parse_compiler_output(text: str) -> CompilerReport:
    """Parse the compiler's stdout (with or without ``-s``) or its ``.log`` file."""
    report = CompilerReport()
    in_table = False
    failed = succeeded = False
    for raw in _strip(text):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("Edge TPU Compiler version"):
            report.version = line.rsplit(" ", 1)[-1]
            continue
        if line.startswith("ERROR:"):
            report.errors.append(line)
            continue
        if line.startswith("Compilation failed"):
            failed = True
            report.errors.append(line)
            continue
        if line.startswith(("Compilation succeeded", "Model compiled successfully")):
            succeeded = True
            found = re.search(r"in ([0-9.]+) ?ms", line)
            if found:
                report.compile_ms = float(found.group(1))
            continue
        if re.match(r"^Operator\s+Count\s+Status$", line):
            in_table = True
            continue
        if in_table:
            row = _TABLE_ROW.match(line)
            if row:
                report.placement.append(PlacementRow(row.group(1), int(row.group(2)),
                                                     row.group(3)))
                continue
            if set(line) <= {"-", " "}:
                continue
            in_table = False
        key, sep, value = line.partition(":")
        attribute = _SUMMARY_FIELDS.get(key.strip().lower()) if sep else None
        if attribute is None:
            continue  # a line we do not know: harmless
        value = value.strip()
        if attribute.endswith("_bytes"):
            setattr(report, attribute, parse_size(value))
        elif attribute in {"subgraphs", "ops_total", "ops_on_tpu", "ops_on_cpu"}:
            setattr(report, attribute, int(value) if value.isdigit() else None)
        else:
            setattr(report, attribute, value)
    if failed:
        report.succeeded = False
    elif succeeded:
        report.succeeded = True
    return report
