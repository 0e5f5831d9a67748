"""A simulated TFLite ``benchmark_model`` for tests: times the model with LiteRT on the host
(real figures) and prints them as the real tool's builds do.

Knobs (environment):
  SIM_BM_STYLE         new (INFO: prefix, percentiles, delta memory line; default) or old
  SIM_BM_SCI           1: averages in scientific notation (2.95034e+06)
  SIM_BM_NNAPI         complete (default), partial, none, fail (as the Mi 11 fixture)
  SIM_BM_ACCELERATORS  comma list for "NNAPI accelerators available"
  SIM_BM_FAIL_EXIT     exit status after "Benchmarking failed." (default 0: not always non-zero)
  SIM_BM_ARGV_LOG      append the command line to this file
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


def run_phase(interpreter, runs: int, min_s: float, max_s: float) -> list[float]:
    samples, start = [], time.perf_counter()
    while len(samples) < runs or time.perf_counter() - start < min_s:
        if time.perf_counter() - start > max_s:
            break
        t0 = time.perf_counter_ns()
        interpreter.invoke()
        samples.append((time.perf_counter_ns() - t0) / 1000)
    return samples


def main(argv: list[str]) -> int:
    if os.environ.get("SIM_BM_ARGV_LOG"):
        with open(os.environ["SIM_BM_ARGV_LOG"], "a") as handle:
            handle.write(" ".join(argv) + "\n")
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
    rng = np.random.default_rng(0)
    for detail in interpreter.get_input_details():
        dtype = np.dtype(detail["dtype"])
        value = (rng.integers(-128, 127, detail["shape"]) if dtype.kind == "i"
                 else rng.random(detail["shape"]))
        interpreter.set_tensor(detail["index"], value.astype(dtype))
    init_us = (time.perf_counter() - start) * 1e6
    say(f"The input model file size (MB): {os.path.getsize(graph) / 1e6:g}")
    say(f"Initialized session in {init_us / 1000:.3f}ms.")
    warmup_runs, warmup_s = int(flags.get("warmup_runs", "1")), float(flags.get(
        "warmup_min_secs", "0.5"))
    runs, min_s = int(flags.get("num_runs", "50")), float(flags.get("min_secs", "1"))
    max_s = float(flags.get("max_secs", "150"))
    say(f"Running benchmark for at least {warmup_runs} iterations and at least {warmup_s:g} "
        f"seconds but terminate if exceeding {max_s:g} seconds.")
    warm = run_phase(interpreter, warmup_runs, warmup_s, max_s)
    say(stats_line(warm, True))
    say(f"Running benchmark for at least {runs} iterations and at least {min_s:g} seconds but "
        f"terminate if exceeding {max_s:g} seconds.")
    timed = run_phase(interpreter, runs, min_s, max_s)
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
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
