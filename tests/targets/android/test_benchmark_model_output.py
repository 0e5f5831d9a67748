"""benchmark_model output parsed from real samples (tests/fixtures/benchmark_model_*) and the
variants of its output the parser documents (qatbench/targets/android/benchmark_model_output.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from qatbench.targets.android.benchmark_model_output import StatsLine, parse_benchmark_output

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def test_newer_build_with_percentiles_and_prefix() -> None:
    out = parse_benchmark_output(
        fixture("benchmark_model_linux_aarch64_am62x_xnnpack_percentiles.txt"))
    assert out.warmup.count == 1 and out.warmup.curr == 905463
    timed = out.timed
    assert (timed.count, timed.min, timed.max, timed.avg, timed.std) == (
        50, 898007, 906121, 899641, 1549)
    assert (timed.p5, timed.median, timed.p95) == (898333, 899281, 904305)
    assert (out.init_us, out.first_inference_us, out.inference_avg_us) == (
        614333, 905463, 899641)
    assert (out.memory_init_mb, out.memory_overall_mb) == (146.363, 150.141)
    assert out.memory_kind == "delta from tool start"
    assert out.peak_memory_mb is None
    assert out.delegation_of("XNNPACK").extent == "partial"
    assert out.delegation_of("XNNPACK").kernels == 1
    assert not out.failed


def test_nnapi_failure_on_a_phone() -> None:
    out = parse_benchmark_output(fixture("benchmark_model_android_mi11_nnapi_failure.txt"))
    assert out.failed
    assert out.timed is None and out.warmup is None
    assert out.nnapi_accelerators == ["qti-default", "qti-dsp", "qti-gpu", "nnapi-reference"]
    assert out.delegation_of("NNAPI").extent == "failed"
    assert "NN API returned error ANEURALNETWORKS_BAD_DATA at line 1068 while adding " \
           "operation." in out.errors
    assert "Failed to apply NNAPI delegate." in out.errors


OLD_BUILD = """\
STARTING!
Num runs: [50]
Graph: [/data/local/tmp/mobilenet_quant_v1_224.tflite]
Use NNAPI: [1]
NNAPI accelerators available: [nnapi-reference]
Loaded model /data/local/tmp/mobilenet_quant_v1_224.tflite
INFO: Initialized TensorFlow Lite runtime.
INFO: Created TensorFlow Lite delegate for NNAPI.
Explicitly applied NNAPI delegate, and the model graph will be completely executed by the delegate.
The input model file size (MB): 4.27635
Initialized session in 74.617ms.
Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.
count=1 curr=2950340

Running benchmark for at least 50 iterations and at least 1 seconds but terminate if exceeding 150 seconds.
count=50 first=2.95034e+06 curr=2949001 min=2941122 max=2962123 avg=2.95034e+06 std=4510

Inference timings in us: Init: 74617, First inference: 2950340, Warmup (avg): 2.95034e+06, Inference (avg): 2.95034e+06
Note: as the benchmark tool itself affects memory footprint, the following is only APPROXIMATE to the actual memory footprint of the model at runtime. Take the information at your discretion.
Peak memory footprint (MB): init=3.26562 overall=10.5117
"""


def test_older_build_without_prefix_percentiles_and_with_scientific_notation() -> None:
    out = parse_benchmark_output(OLD_BUILD)
    assert out.timed.avg == pytest.approx(2_950_340)
    assert out.timed.median is None  # not printed: never guessed
    assert out.warmup.count == 1 and out.warmup.min == 2950340  # count=1 curr=X: all X
    assert out.warmup_avg_us == pytest.approx(2_950_340)
    assert (out.memory_overall_mb, out.memory_kind) == (10.5117, "peak")
    assert out.delegation_of("NNAPI").extent == "complete"


def test_logcat_prefix_all_same_and_op_profiling_tables() -> None:
    text = """\
11-20 10:15:01.123  4242  4242 I tflite  : Running benchmark for at least 1 iterations
11-20 10:15:01.200  4242  4242 I tflite  : count=3 curr=1500(all same)
11-20 10:15:02.200  4242  4242 I tflite  : count=0
INFO: Though NNAPI delegate is explicitly applied, the model graph will not be executed by the delegate.
INFO: Timings (microseconds): count=50 first=10 curr=11 min=9 max=12 avg=10.5 std=1
INFO: Overall peak memory footprint (MB) via periodic monitoring: 42.5
"""
    out = parse_benchmark_output(text)
    assert out.warmup == StatsLine(count=3, first=1500, curr=1500, min=1500, max=1500,
                                   avg=1500, std=0.0)
    assert out.timed.count == 0 and out.timed.avg is None
    assert out.delegation_of("NNAPI").extent == "none"
    assert out.peak_memory_mb == 42.5
    assert out.init_us is None


def test_partial_delegation_and_unknown_lines() -> None:
    out = parse_benchmark_output(
        "WARN: Something we never saw before: 12\n"
        "INFO: Explicitly applied NNAPI delegate, and the model graph will be partially "
        "executed by the delegate w/ 3 delegate kernels.\n")
    assert out.delegation_of("NNAPI").kernels == 3
    assert out.timed is None and not out.failed


BENCHMARK_LOGS = sorted(FIXTURES.glob("benchmark_model_*.txt"))
# The real logs with a timed result, named by hand (read from the files, not by the parser
# under test: a parser that lost the timed line must fail below, not drop the cases).
TIMED_LOGS = [FIXTURES / "benchmark_model_linux_aarch64_am62x_xnnpack_percentiles.txt"]


def test_there_are_real_benchmark_logs_to_parse() -> None:
    assert len(BENCHMARK_LOGS) >= 3
    assert set(TIMED_LOGS) <= set(BENCHMARK_LOGS)


@pytest.mark.parametrize("path", BENCHMARK_LOGS, ids=lambda path: path.name)
def test_every_real_log_gives_figures_or_a_stated_failure(path: Path) -> None:
    out = parse_benchmark_output(path.read_text())
    if out.failed:
        assert out.errors and out.timed is None
        return
    assert out.timed is not None or out.profiled_runs is not None
    if out.timed is not None:  # the timed line is the one the summary's average names
        assert out.timed.count > 0 and out.timed.avg == pytest.approx(out.inference_avg_us)
        assert out.timed.min <= out.timed.avg <= out.timed.max


@pytest.mark.parametrize("path", TIMED_LOGS, ids=lambda path: path.name)
def test_a_published_tail_without_the_warmup_line_keeps_the_timed_figures(path: Path) -> None:
    full = parse_benchmark_output(path.read_text())
    assert full.timed is not None and full.warmup is not None
    lines = path.read_text().splitlines()
    warmup_at = next(i for i, line in enumerate(lines)
                     if "count=" in line and not line.startswith("#"))
    assert parse_benchmark_output(lines[warmup_at]).stats == [full.warmup]
    tail = parse_benchmark_output("\n".join(lines[warmup_at + 1:]))
    assert tail.warmup is None  # not in the tail: not guessed from the timed line
    assert tail.timed is not None and tail.timed == full.timed
    assert tail.inference_avg_us == full.inference_avg_us


def test_op_profiling_timings_are_kept_apart_from_the_result() -> None:
    out = parse_benchmark_output(
        fixture("benchmark_model_android_mi11_nnapi_qti_gpu_op_profiling.txt"))
    assert out.profiled_init == StatsLine(count=1, first=967410, curr=967410, min=967410,
                                          max=967410, avg=967410, std=0.0)
    runs = out.profiled_runs
    assert (runs.count, runs.first, runs.min, runs.max, runs.avg, runs.std) == (
        50, 165973, 151326, 178235, 164609, 5818)
    assert out.timed is None and out.warmup is None  # the profiler's totals are not results
    assert not out.failed and out.errors == []


def test_without_a_summary_order_decides_and_a_lone_line_stays_unassigned() -> None:
    two = parse_benchmark_output("count=1 curr=900\ncount=5 first=1 curr=1 min=1 max=2 "
                                 "avg=1.2 std=0\n")
    assert (two.warmup.count, two.timed.count) == (1, 5)
    lone = parse_benchmark_output("INFO: count=5 first=1 curr=1 min=1 max=2 avg=1.2 std=0\n")
    assert lone.timed is None and lone.warmup is None and len(lone.stats) == 1
