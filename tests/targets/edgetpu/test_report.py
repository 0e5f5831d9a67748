"""edgetpu_compiler output, parsed from real samples (``tests/fixtures/edgetpu_compiler_*``)
and from the variants the parser's docstring lists (``qatbench/targets/edgetpu/report.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from qatbench.targets.edgetpu.report import parse_compiler_output, parse_size

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"  # real tool output samples


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


@pytest.mark.parametrize(("text", "expected"), [
    ("4.24MiB", 4_445_962), ("0.00B", 0), ("512B", 512), ("7.50KiB", 7680),
    ("1.5GiB", 1_610_612_736), ("6.91MB", 6_910_000), ("12KB", 12_000), ("3.29 MiB", 3_449_815),
    ("n/a", None), ("", None), ("12 parsecs", None)])
def test_sizes_in_every_unit(text: str, expected: int | None) -> None:
    assert parse_size(text) == expected


def test_v15_log_with_boundary_ops_on_the_cpu() -> None:
    report = parse_compiler_output(
        fixture("edgetpu_compiler_v15_mnist_oplog_quantize_dequantize.txt")).resolve_counts()
    assert report.version == "15.0.340273435"
    assert report.input_model == "mnist4.tflite"  # the .log says "Input:", not "Input model:"
    assert report.output_model == "mnist4_edgetpu.tflite"
    assert (report.ops_total, report.ops_on_tpu, report.ops_on_cpu) == (10, 8, 2)
    cpu = {r["operator"]: r["status"] for r in report.placement_by_status() if not r["on_tpu"]}
    assert cpu == {"QUANTIZE": "Operation is otherwise supported, but not mapped due to some "
                               "unspecified limitation",
                   "DEQUANTIZE": "Operation is working on an unsupported data type"}


def test_v16_stdout_without_the_table() -> None:
    report = parse_compiler_output(
        fixture("edgetpu_compiler_v16_efficientdet_lite0_stdout.txt")).resolve_counts()
    assert report.version == "16.0.384591198"
    assert report.succeeded is True
    assert report.compile_ms == 1524.0
    assert report.input_size_bytes == round(4.24 * 1024**2)
    assert report.output_size_bytes == round(5.57 * 1024**2)
    assert report.on_chip_used_bytes == round(4.21 * 1024**2)
    assert report.on_chip_remaining_bytes == round(3.29 * 1024**2)
    assert report.off_chip_used_bytes == 0
    assert report.subgraphs == 1
    assert (report.ops_total, report.ops_on_tpu, report.ops_on_cpu) == (267, 264, 3)
    assert report.placement == []
    assert report.log_file == "efficientdet_coral_v2_edgetpu.log"


V15_FULLY_MAPPED_WITH_TABLE = """\
Edge TPU Compiler version 15.0.340273435

Model compiled successfully in 352 ms.

Input model: mobilenet_v2_qat.tflite
Input size: 3.85MB
Output model: mobilenet_v2_qat_edgetpu.tflite
Output size: 4.12MB
On-chip memory used for caching model parameters: 3.50MB
On-chip memory remaining for caching model parameters: 4.10MB
Off-chip memory used for streaming uncached model parameters: 0.00B
Number of Edge TPU subgraphs: 1
Total number of operations: 72
Operation log: mobilenet_v2_qat_edgetpu.log

Operator                       Count      Status

ADD                            10         Mapped to Edge TPU
CONV_2D                        35         Mapped to Edge TPU
DEPTHWISE_CONV_2D              17         Mapped to Edge TPU
MEAN                           1          Mapped to Edge TPU
FULLY_CONNECTED                1          Mapped to Edge TPU
CONV_2D                        8          Mapped to Edge TPU
"""


def test_fully_mapped_model_without_the_cpu_counts_and_repeated_rows() -> None:
    report = parse_compiler_output(V15_FULLY_MAPPED_WITH_TABLE).resolve_counts()
    assert report.succeeded is True
    assert report.input_size_bytes == 3_850_000  # KB/MB taken as written
    assert (report.ops_total, report.ops_on_tpu, report.ops_on_cpu) == (72, 72, 0)
    rows = {r["operator"]: r["count"] for r in report.placement_by_status()}
    assert rows["CONV_2D"] == 43  # two rows for one operator: summed, not overwritten


def test_fully_mapped_without_any_table_derives_from_the_total() -> None:
    text = V15_FULLY_MAPPED_WITH_TABLE.split("Operator ")[0]
    report = parse_compiler_output(text).resolve_counts()
    assert (report.ops_total, report.ops_on_tpu, report.ops_on_cpu) == (72, 72, 0)


def test_one_operator_with_several_statuses_keeps_each_status() -> None:
    text = """Edge TPU Compiler version 16.0.384591198
Input: m.tflite
Output: m_edgetpu.tflite

Operator                       Count      Status

CONV_2D                        5          Mapped to Edge TPU
CONV_2D                        2          More than one subgraph is not supported
RESIZE_BILINEAR                1          Operation is otherwise supported, but not mapped due to some unspecified limitation
CONV_2D                        1          More than one subgraph is not supported
"""
    report = parse_compiler_output(text).resolve_counts()
    by_status = {(r["operator"], r["status"]): r["count"] for r in report.placement_by_status()}
    assert by_status[("CONV_2D", "Mapped to Edge TPU")] == 5
    assert by_status[("CONV_2D", "More than one subgraph is not supported")] == 3
    assert (report.ops_total, report.ops_on_tpu, report.ops_on_cpu) == (9, 5, 4)


def test_stdout_and_log_merge_without_overwriting() -> None:
    stdout = parse_compiler_output(fixture("edgetpu_compiler_v16_efficientdet_lite0_stdout.txt"))
    log = parse_compiler_output(fixture("edgetpu_compiler_v15_mnist_oplog_quantize_dequantize.txt"))
    merged = stdout.merge(log).resolve_counts()
    assert merged.input_model == "efficientdet_coral_v2.tflite"  # stdout wins
    assert len(merged.placement) == 7  # the table came from the log
    assert merged.ops_on_cpu == 3  # printed counts are kept, not re-derived


@pytest.mark.parametrize("text", [
    "Edge TPU Compiler version 16.0.384591198\nStarted a compilation timeout timer of 180 "
    "seconds.\nERROR: Didn't find op for builtin opcode 'FULLY_CONNECTED' version '12'\n"
    "ERROR: Registration failed.\nCompilation failed: Model failed in Tflite interpreter. "
    "Please ensure model can be loaded/run in Tflite interpreter.\nCompilation child process "
    "completed within timeout period.\nCompilation failed! \n",
    "Edge TPU Compiler version 2.1.302470888\nERROR: Model not quantized\n"
    "Compilation failed: Model not quantized\n",
])
def test_failures_keep_the_error_lines(text: str) -> None:
    report = parse_compiler_output(text)
    assert report.succeeded is False
    assert any(line.startswith("ERROR:") for line in report.errors)
    assert any(line.startswith("Compilation failed") for line in report.errors)


def test_unknown_lines_are_harmless_and_missing_figures_stay_none() -> None:
    report = parse_compiler_output("Edge TPU Compiler version 16.0.1\nSomething new: 42\n"
                                   "Input size: twelve\n")
    assert report.version == "16.0.1"
    assert report.input_size_bytes is None and report.ops_total is None
    assert report.succeeded is None


COMPILER_LOGS = sorted(FIXTURES.glob("edgetpu_compiler_*.txt"))


def test_there_are_real_compiler_logs_to_parse() -> None:
    assert len(COMPILER_LOGS) >= 2


@pytest.mark.parametrize("path", COMPILER_LOGS, ids=lambda path: path.name)
def test_every_real_compiler_log_gives_consistent_counts(path: Path) -> None:
    report = parse_compiler_output(path.read_text()).resolve_counts()
    assert report.version and report.version[:2] in {"15", "16"}
    assert report.ops_total is not None and report.ops_total > 0
    assert report.ops_on_tpu is not None and report.ops_on_cpu is not None
    assert report.ops_on_tpu + report.ops_on_cpu == report.ops_total
    assert report.succeeded is not False and not report.errors
    if report.placement:  # the per-op table, when the log has one, sums to the total
        assert sum(r["count"] for r in report.placement_by_status()) == report.ops_total
