"""How much does the harness add to what it measures? Prints the figures; asserts nothing.

The suite's reported p50 for a model (default: MobileNetV2 int8 on ``cpu-xnnpack``,
1 thread), measured the way every run measures it (``qatbench bench`` in a child
process), against a bare ``interpreter.invoke()`` loop over the same file with the same
threads in this script's process. Target: suite / bare = 1.00 ± 0.03. Two suite runs
back to back give the run-to-run agreement (ratio of medians).

    python benchmarks/harness_overhead.py [--model FILE.tflite] [--threads 1] [--rounds 3]

Without ``--model`` it uses the newest ``results/*/artifacts/mobilenet_v2/*int8.tflite``,
or builds MobileNetV2 ptq_int8 (needs the ``qat`` extra, about a minute).
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from qatbench.targets.base import MeasureSpec
from qatbench.targets.inputs import random_input
from qatbench.targets.runtime import resolve_runtime

MEASURE = MeasureSpec(threads=1, warmup_runs=1, warmup_min_s=0.5, min_runs=200, min_s=3.0)


def find_or_build_model(results_root: Path) -> Path:
    found = sorted(results_root.glob("*/artifacts/mobilenet_v2/*int8.tflite"),
                   key=lambda p: p.stat().st_mtime)
    if found:
        return found[-1]
    from qatbench.models.zoo import get_model_spec
    from qatbench.qat.budget import TrainingBudget
    from qatbench.qat.pipeline import build_variants

    out = Path(tempfile.mkdtemp(prefix="qatbench-overhead-"))
    print("building mobilenet_v2 ptq_int8 (no previous run found) ...", flush=True)
    build = build_variants(get_model_spec("mobilenet_v2"), ["ptq_int8"], out,
                           TrainingBudget(representative_samples=20))
    return Path(build.variants["ptq_int8"].path)


def bare_loop_p50(model: Path, spec: MeasureSpec) -> float:
    """What a user would write by hand: default delegates (XNNPACK), warm up, time invoke."""
    interpreter = resolve_runtime().interpreter(str(model), threads=spec.threads)
    interpreter.allocate_tensors()
    rng = np.random.default_rng(spec.seed)
    for detail in interpreter.get_input_details():
        interpreter.set_tensor(detail["index"], random_input(detail, rng))
    deadline = time.perf_counter() + spec.warmup_min_s
    while time.perf_counter() < deadline:
        interpreter.invoke()
    samples = []
    start = time.perf_counter()
    while len(samples) < spec.min_runs or time.perf_counter() - start < spec.min_s:
        t0 = time.perf_counter_ns()
        interpreter.invoke()
        samples.append((time.perf_counter_ns() - t0) / 1e6)
    return statistics.median(samples)


def suite_p50(model: Path, spec: MeasureSpec, out: Path) -> float:
    command = [sys.executable, "-m", "qatbench", "bench", str(model), "--targets", "cpu-xnnpack",
               "--threads", str(spec.threads), "--out", str(out),
               "--warmup-runs", str(spec.warmup_runs), "--min-runs", str(spec.min_runs),
               "--min-secs", str(spec.min_s)]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    newest = max(out.iterdir(), key=lambda p: p.stat().st_mtime)
    results = pd.read_parquet(newest / "results.parquet")
    return float(results["latency_ms_p50"].iloc[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3, help="suite/bare pairs, interleaved")
    parser.add_argument("--results", type=Path, default=Path("results"))
    args = parser.parse_args()
    model = args.model or find_or_build_model(args.results)
    spec = MeasureSpec(threads=args.threads, warmup_runs=MEASURE.warmup_runs,
                       warmup_min_s=MEASURE.warmup_min_s, min_runs=MEASURE.min_runs,
                       min_s=MEASURE.min_s)
    print(f"model: {model} ({model.stat().st_size / 1e6:.1f} MB), threads={spec.threads}")
    suite, bare = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for round_index in range(args.rounds):
            suite.append(suite_p50(model, spec, Path(tmp)))
            bare.append(bare_loop_p50(model, spec))
            print(f"round {round_index + 1}: suite p50 {suite[-1]:.3f} ms, "
                  f"bare invoke() loop p50 {bare[-1]:.3f} ms, "
                  f"ratio {suite[-1] / bare[-1]:.3f}")
    ratio = statistics.median(suite) / statistics.median(bare)
    back_to_back = [a / b for a, b in itertools.pairwise(suite)]
    verdict = "within" if abs(ratio - 1) <= 0.03 else "OUTSIDE"
    print(f"\nharness overhead: suite/bare p50 ratio = {ratio:.3f} ({verdict} 1.00 ± 0.03)")
    print("back-to-back suite runs, ratio of medians: "
          + ", ".join(f"{r:.3f}" for r in back_to_back))


if __name__ == "__main__":
    main()
