"""A simulated LiteRT ``benchmark_litert_model`` (Android) for tests: runs the pushed
AOT-compiled model through ``CompiledModel`` on the host, with the host's Intel OpenVINO
dispatch library standing in for the phone vendor's, and prints what the real tool
prints (TFLite's benchmark framework: the same lines as ``benchmark_model``).

It checks what a phone would: the dispatch directory given by
``--dispatch_library_path`` holds a ``libLiteRtDispatch_*.so`` and is on
``LD_LIBRARY_PATH``; with ``--require_full_delegation`` a model that is not fully
accelerated fails. ``SIM_LBM_ARGV_LOG`` records the command line and environment.
"""

from __future__ import annotations

import glob
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmark_model import run_phase, say, stats_line


class _Runner:
    def __init__(self, model, inputs, outputs) -> None:
        self.model, self.inputs, self.outputs = model, inputs, outputs

    def invoke(self) -> None:
        self.model.run_by_index(0, self.inputs, self.outputs)


def main(argv: list[str]) -> int:
    flags = dict(a[2:].split("=", 1) for a in argv if a.startswith("--") and "=" in a)
    if os.environ.get("SIM_LBM_ARGV_LOG"):
        with open(os.environ["SIM_LBM_ARGV_LOG"], "a") as handle:
            handle.write(json.dumps({"argv": argv, "LD_LIBRARY_PATH":
                                     os.environ.get("LD_LIBRARY_PATH", "")}) + "\n")
    graph, dispatch = flags.get("graph", ""), flags.get("dispatch_library_path", "")
    say("STARTING!")
    say(f"Graph: [{graph}]")
    if flags.get("use_npu") == "true":
        if not glob.glob(os.path.join(dispatch, "libLiteRtDispatch_*.so")):
            print(f"ERROR: [litert_dispatch.cc:170] No dispatch library found in {dispatch}")
            return 1
        if dispatch not in os.environ.get("LD_LIBRARY_PATH", "").split(":"):
            print("ERROR: vendor runtime libraries not found: LD_LIBRARY_PATH lacks "
                  f"{dispatch}")
            return 1
    import ai_edge_litert
    from ai_edge_litert.compiled_model import CompiledModel
    from ai_edge_litert.environment import Environment, EnvironmentOptions
    from ai_edge_litert.hardware_accelerator import HardwareAccelerator as HA
    from ai_edge_litert.options import CpuOptions, Options

    host_dispatch = Path(ai_edge_litert.__file__).parent / "vendors/intel_openvino/dispatch"
    start = time.perf_counter()
    accel = (HA.NPU if flags.get("use_npu") == "true" else HA(0)) | \
        (HA.CPU if flags.get("use_cpu", "true") == "true" else HA(0))
    env = Environment.create(options=EnvironmentOptions(dispatch_library_path=str(
        host_dispatch)))
    model = CompiledModel.from_file(graph, environment=env, options=Options(
        hardware_accelerators=accel,
        cpu_options=CpuOptions(num_threads=int(flags.get("num_threads", "1")))))
    if flags.get("require_full_delegation") == "true" and not model.is_fully_accelerated():
        print("ERROR: Model is not fully accelerated but --require_full_delegation was set.")
        say("Benchmarking failed.")
        return 1
    inputs, outputs = model.create_input_buffers(0), model.create_output_buffers(0)
    rng = np.random.default_rng(0)
    for buffer, detail in zip(inputs, model.get_input_tensor_details(
            next(iter(model.get_signature_list()))).values(), strict=False):
        buffer.write(rng.integers(-128, 127, detail["shape"]).astype(detail["dtype"]))
    init_us = (time.perf_counter() - start) * 1e6
    say(f"Initialized session in {init_us / 1000:.3f}ms.")
    runner = _Runner(model, inputs, outputs)
    max_s = float(flags.get("max_secs", "150"))
    warm = run_phase(runner, int(flags.get("warmup_runs", "1")),
                     float(flags.get("warmup_min_secs", "0.5")), max_s)
    say(stats_line(warm, True))
    timed = run_phase(runner, int(flags.get("num_runs", "50")),
                      float(flags.get("min_secs", "1")), max_s)
    say(stats_line(timed, False))
    say(f"Inference timings in us: Init: {init_us:.0f}, First inference: {warm[0]:.0f}, "
        f"Warmup (avg): {np.mean(warm):.0f}, Inference (avg): {np.mean(timed):.0f}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    say(f"Memory footprint delta from the start of the tool (MB): init={peak * 0.8:.3f} "
        f"overall={peak * 0.9:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
