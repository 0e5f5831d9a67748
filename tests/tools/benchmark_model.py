"""A simulated TFLite ``benchmark_model`` for tests: times the model with LiteRT on the host
(real figures) and prints them as the real tool's builds do.

Knobs (environment):
  SIM_BM_STYLE         new (INFO: prefix, percentiles, delta memory line; default) or old
  SIM_BM_SCI           1: averages in scientific notation (2.95034e+06)
  SIM_BM_NNAPI         complete (default), partial, none, fail (as the Mi 11 fixture)
  SIM_BM_ACCELERATORS  comma list for "NNAPI accelerators available"
  SIM_BM_FAIL_EXIT     exit status after "Benchmarking failed." (default 0: not always non-zero)
  SIM_BM_ARGV_LOG      append the command line to this file
  SIM_BM_PID_LOG       append this process's pid (what `kill PID` on the phone must reach)
  SIM_BM_HANG          sleep this many seconds before the warm-up (a stuck delegate)
  SIM_BM_PROFILE_OVERHEAD_US  with --enable_op_profiling=true: the profiler's cost per op
                       and run (default 20), added to every profiled run as the real one adds it
  SIM_BM_LOG_LINE      print this line after loading the model (e.g. a model whose op or
                       file names contain words such as "not found")
"""

from __future__ import annotations

import os
import resource
import sys
import time

import numpy as np

STYLE = os.environ.get("SIM_BM_STYLE", "new")
SCI = os.environ.get("SIM_BM_SCI") == "1"


def say(line: str, tool_line: bool = True) -> None:
    print(("INFO: " if STYLE == "new" or not tool_line else "") + line)


def stats_line(samples_us: list[float], warmup: bool) -> str:
    if len(samples_us) == 1:
        x = samples_us[0]
        text = f"count=1 curr={x:.0f}"
        return text + (f" p5={x:.0f} median={x:.0f} p95={x:.0f}" if STYLE == "new" else "")
    data = np.asarray(samples_us)
    avg = f"{data.mean():g}" if SCI else f"{data.mean():.0f}"
    text = (f"count={data.size} first={data[0]:.0f} curr={data[-1]:.0f} min={data.min():.0f} "
            f"max={data.max():.0f} avg={avg} std={data.std():.0f}")
    if STYLE == "new":
        p5, median, p95 = np.percentile(data, [5, 50, 95])
        text += f" p5={p5:.0f} median={median:.0f} p95={p95:.0f}"
    return text


def input_layers(flags: dict[str, str]) -> list[tuple[str, tuple[int, int] | None]]:
    """``--input_layer`` names with their ``--input_layer_value_range`` (none when not
    given); the framework reads the ranges only beside ``--input_layer_shape``."""
    if not flags.get("input_layer") or not flags.get("input_layer_shape"):
        return []
    ranges = {}
    for item in filter(None, flags.get("input_layer_value_range", "").split(":")):
        name, low, high = item.split(",")
        ranges[name] = (int(low), int(high))
    return [(name, ranges.get(name)) for name in flags["input_layer"].split(",")]


def random_tensor(detail: dict, value_range: tuple[int, int] | None,
                  rng: np.random.Generator) -> np.ndarray:
    """What the benchmark framework's CreateRandomTensorData fills an input with: floats in
    [-0.5, 0.5); integers in the given range, else int32/int64/int16 0..99, uint8
    0..254, int8 -127..127 (both ends inclusive)."""
    dtype = np.dtype(detail["dtype"])
    shape = detail["shape"]
    if dtype.kind == "f":
        return rng.uniform(-0.5, 0.5, shape).astype(dtype)
    defaults = {"uint8": (0, 254), "int8": (-127, 127)}
    low, high = value_range or defaults.get(dtype.name, (0, 99))
    return rng.integers(low, high, shape, endpoint=True).astype(dtype)


def run_phase(interpreter, runs: int, min_s: float, max_s: float, overhead_s: float = 0.0
              ) -> list[float]:
    samples, start = [], time.perf_counter()
    while len(samples) < runs or time.perf_counter() - start < min_s:
        if time.perf_counter() - start > max_s:
            break
        t0 = time.perf_counter_ns()
        interpreter.invoke()
        if overhead_s:
            time.sleep(overhead_s)
        samples.append((time.perf_counter_ns() - t0) / 1000)
    return samples


def main(argv: list[str]) -> int:
    if os.environ.get("SIM_BM_ARGV_LOG"):
        with open(os.environ["SIM_BM_ARGV_LOG"], "a") as handle:
            handle.write(" ".join(argv) + "\n")
    if os.environ.get("SIM_BM_PID_LOG"):
        with open(os.environ["SIM_BM_PID_LOG"], "a") as handle:
            handle.write(f"{os.getpid()}\n")
    flags = dict(a[2:].split("=", 1) for a in argv if a.startswith("--") and "=" in a)
    graph = flags.get("graph", "")
    threads = int(flags.get("num_threads", "1"))
    use_nnapi = flags.get("use_nnapi") == "true"
    say("STARTING!")
    say("Log parameter values verbosely: [0]")
    say(f"Num threads: [{threads}]")
    say(f"Graph: [{graph}]")
    say(f"#threads used for CPU inference: [{threads}]")
    if use_nnapi:
        say("Use NNAPI: [1]")
        if flags.get("nnapi_execution_preference"):
            say(f"NNAPI execution preference: [{flags['nnapi_execution_preference']}]")
        if flags.get("nnapi_accelerator_name"):
            say(f"NNAPI accelerator name: [{flags['nnapi_accelerator_name']}]")
        say("NNAPI accelerators available: ["
            + os.environ.get("SIM_BM_ACCELERATORS", "qti-default,qti-dsp,nnapi-reference") + "]")
    if not os.path.isfile(graph):
        print(f"ERROR: Could not open '{graph}'.")
        print(f"ERROR: Failed to mmap model {graph}")
        return 1
    say(f"Loaded model {graph}")
    if os.environ.get("SIM_BM_LOG_LINE"):
        print(os.environ["SIM_BM_LOG_LINE"])
    print("INFO: Initialized TensorFlow Lite runtime.")
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    start = time.perf_counter()
    xnnpack = flags.get("use_xnnpack", "true") == "true" and not use_nnapi
    interpreter = Interpreter(
        model_path=graph, num_threads=threads,
        experimental_op_resolver_type=(OpResolverType.AUTO if xnnpack else
                                       OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES))
    interpreter.allocate_tensors()
    mode = os.environ.get("SIM_BM_NNAPI", "complete")
    if use_nnapi:
        print("INFO: Created TensorFlow Lite delegate for NNAPI.")
        say("NNAPI delegate created.")
        if mode == "fail":
            print("ERROR: NN API returned error ANEURALNETWORKS_BAD_DATA at line 1068 while "
                  "adding operation.\n")
            print("ERROR: Restored original execution plan after delegate application failure.")
            say("Failed to apply NNAPI delegate.")
            say("Benchmarking failed.")
            return int(os.environ.get("SIM_BM_FAIL_EXIT", "0"))
        if mode == "complete":
            say("Explicitly applied NNAPI delegate, and the model graph will be completely "
                "executed by the delegate.")
        elif mode == "partial":
            say("Explicitly applied NNAPI delegate, and the model graph will be partially "
                "executed by the delegate w/ 2 delegate kernels.")
        else:
            say("Though NNAPI delegate is explicitly applied, the model graph will not be "
                "executed by the delegate.")
    elif xnnpack:
        print("INFO: Created TensorFlow Lite XNNPACK delegate for CPU.")
        say("Explicitly applied XNNPACK delegate, and the model graph will be completely "
            "executed by the delegate.")
    details = interpreter.get_input_details()
    layers = input_layers(flags)
    if layers and len(layers) != len(details):  # a TFLITE_TOOLS_CHECK: the tool aborts
        print(f"ERROR: Inputs mismatch: Model inputs #:{len(layers)} expected: {len(details)}")
        sys.stdout.flush()
        os.abort()
    rng = np.random.default_rng(0)
    for position, detail in enumerate(details):
        value_range = layers[position][1] if layers else None
        interpreter.set_tensor(detail["index"], random_tensor(detail, value_range, rng))
    init_us = (time.perf_counter() - start) * 1e6
    say(f"The input model file size (MB): {os.path.getsize(graph) / 1e6:g}")
    say(f"Initialized session in {init_us / 1000:.3f}ms.")
    warmup_runs, warmup_s = int(flags.get("warmup_runs", "1")), float(flags.get(
        "warmup_min_secs", "0.5"))
    runs, min_s = int(flags.get("num_runs", "50")), float(flags.get("min_secs", "1"))
    max_s = float(flags.get("max_secs", "150"))
    say(f"Running benchmark for at least {warmup_runs} iterations and at least {warmup_s:g} "
        f"seconds but terminate if exceeding {max_s:g} seconds.")
    sys.stdout.flush()
    time.sleep(float(os.environ.get("SIM_BM_HANG", "0")))
    profiling = flags.get("enable_op_profiling") == "true"
    overhead_s = 0.0
    if profiling:
        overhead_s = float(os.environ.get("SIM_BM_PROFILE_OVERHEAD_US", "20")) * 1e-6 * len(
            interpreter._get_ops_details())
    try:
        warm = run_phase(interpreter, warmup_runs, warmup_s, max_s, overhead_s)
    except RuntimeError as error:  # the kernels' own messages, as the runtime logs them
        for line in str(error).replace("Node number", "\nNode number").splitlines():
            if line.strip():
                print(f"ERROR: {line.strip()}")
        say("Benchmarking failed.")
        return int(os.environ.get("SIM_BM_FAIL_EXIT", "0"))
    say(stats_line(warm, True))
    say(f"Running benchmark for at least {runs} iterations and at least {min_s:g} seconds but "
        f"terminate if exceeding {max_s:g} seconds.")
    timed = run_phase(interpreter, runs, min_s, max_s, overhead_s)
    say(stats_line(timed, False))
    avg = (lambda v: f"{v:g}") if SCI else (lambda v: f"{v:.0f}")
    say(f"Inference timings in us: Init: {init_us:.0f}, First inference: {warm[0]:.0f}, "
        f"Warmup (avg): {avg(float(np.mean(warm)))}, Inference (avg): "
        f"{avg(float(np.mean(timed)))}")
    say("Note: as the benchmark tool itself affects memory footprint, the following is only "
        "APPROXIMATE to the actual memory footprint of the model at runtime. Take the "
        "information at your discretion.")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if STYLE == "new":
        say(f"Memory footprint delta from the start of the tool (MB): init={peak * 0.8:.3f} "
            f"overall={peak * 0.9:.3f}")
        if flags.get("report_peak_memory_footprint") == "true":
            say(f"Overall peak memory footprint (MB) via periodic monitoring: {peak:.3f}")
    else:
        say(f"Peak memory footprint (MB): init={peak * 0.8:.3f} overall={peak:.3f}")
    if profiling:
        print_op_profile(graph, threads, xnnpack, use_nnapi and mode, init_us, timed)
    return 0


TABLE_HEADER = ("\t             [node type]\t          [start]\t  [first]\t [avg ms]\t     [%]\t"
                "  [cdf%]\t  [mem KB]\t[times called]\t[Name]")


def _table_row(kind: str, start: float, first: float, avg: float, percent: float, cdf: float,
               name: str) -> str:
    return (f"\t{kind:>24}\t{start:>17.3f}\t{first:>9.3f}\t{avg:>9.3f}\t{percent:>7.3f}%\t"
            f"{cdf:>7.3f}%\t{0.0:>10.3f}\t{1:>9}\t{name}")


def print_op_profile(graph: str, threads: int, xnnpack: bool, nnapi_mode: str | bool,
                     init_us: float, timed: list[float]) -> None:
    """The op tables the real tool prints with --enable_op_profiling=true (shaped as the
    Mi 11 fixture), with per-op times measured on the host by cutting the model."""
    import tempfile
    from pathlib import Path

    from qatbench.targets.base import MeasureSpec
    from qatbench.targets.host.op_profile import profile_on_host
    from qatbench.targets.runtime import resolve_runtime

    with tempfile.TemporaryDirectory() as work:
        profile = profile_on_host(resolve_runtime(), Path(graph), Path(work),
                                  MeasureSpec(threads=threads, min_runs=5, min_s=0.01,
                                              warmup_min_s=0.0), use_delegate=xnnpack)
    delegate = "TfLiteXNNPackDelegate" if xnnpack else "TfLiteNnapiDelegate"
    ops = list(profile.ops)
    half = len(ops) // 2
    rows: list[tuple[str, float, str]] = []  # node type, avg ms, name
    for position, op in enumerate(ops):
        taken = op.delegated if xnnpack else (
            nnapi_mode == "complete" or (nnapi_mode == "partial" and position < half))
        ms = op.p50_ms or 0.0
        if taken and rows and rows[-1][0] == delegate:
            kind, total, names = rows[-1]
            rows[-1] = (kind, total + ms, names[:-1] + f", {op.name}]")
        else:
            rows.append((delegate if taken else op.op_type, ms, f"[{op.name}]"))
    total = sum(ms for _, ms, _ in rows) or 1.0
    table, start = [], 0.0
    for node, (kind, ms, names) in enumerate(rows):
        table.append((kind, start, ms, 100 * ms / total, 0.0, f"{names}:{node}"))
        start += ms
    print("Profiling Info for Benchmark Initialization:")
    print("============================== Run Order ==============================")
    print(TABLE_HEADER)
    print(_table_row("AllocateTensors", 0.0, init_us / 1000, init_us / 1000, 100.0, 100.0,
                     "AllocateTensors/0"))
    print(f"\nTimings (microseconds): count=1 curr={init_us:.0f}\nMemory (bytes): count=0\n")
    print("Operator-wise Profiling Info for Regular Benchmark Runs:")
    for title, order in (("Run Order", table),
                         ("Top by Computation Time", sorted(table, key=lambda r: -r[2]))):
        print(f"============================== {title} ==============================")
        print(TABLE_HEADER)
        cumulative = 0.0  # each table's cdf runs down that table's own order
        for kind, start, ms, percent, _, name in order:
            cumulative += percent
            print(_table_row(kind, start, ms, ms, percent, cumulative, name))
        print()
    print(f"Number of nodes executed: {len(table)}")
    data = np.asarray(timed)
    print(f"Timings (microseconds): count={data.size} first={data[0]:.0f} curr={data[-1]:.0f} "
          f"min={data.min():.0f} max={data.max():.0f} avg={data.mean():.0f} "
          f"std={data.std():.0f}")
    print("Memory (bytes): count=0")
    print(f"{len(table)} nodes observed")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
