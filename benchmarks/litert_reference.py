"""Our numbers beside Google's: ``qatbench bench`` against LiteRT's own benchmark tool.

Times one model with Google's ``ai_edge_litert/tools/benchmark_litert_model.py`` (the
``CompiledModel`` API on the CPU, 1 thread) and with ``qatbench bench`` on ``litert-cpu``
(the same API) and ``cpu-xnnpack`` (the Interpreter API), round after round, interleaved
so that a slow minute of the machine lands on both tools. Prints every round and the
ratio of medians. Google's tool times around the Python call too (``perf_counter``
around ``run_by_name``), so the two should agree within that overhead; its figures are
printed to 0.01 ms, which bounds the agreement that can be read for a model under 1 ms.

    python benchmarks/litert_reference.py [--model FILE.tflite] [--rounds 5] [--runs 200]

Without ``--model`` it uses the newest ``results/*/artifacts/mobilenet_v2/*int8.tflite``
(or builds MobileNetV2 ptq_int8, as ``harness_overhead.py`` does).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
from harness_overhead import find_or_build_model  # this directory, run as a script

OURS = ("litert-cpu", "cpu-xnnpack")


def google_p50(model: Path, runs: int, warmup: int, out: Path) -> float:
    """Median of Google's tool (CPU, 1 thread), from its ``--result_json``."""
    result = out / "google.json"
    subprocess.run([sys.executable, "-m", "ai_edge_litert.tools.benchmark_litert_model",
                    f"--model={model}", "--num_threads=1", f"--num_runs={runs}",
                    f"--warmup_runs={warmup}", f"--result_json={result}"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return float(json.loads(result.read_text())["latency"]["median_ms"])


def ours_p50(model: Path, runs: int, out: Path) -> dict[str, float]:
    """p50 of ``qatbench bench`` per target, with the suite's own warm-up rules."""
    subprocess.run([sys.executable, "-m", "qatbench", "bench", str(model), "--targets",
                    ",".join(OURS), "--threads", "1", "--out", str(out),
                    "--min-runs", str(runs)], check=True, stdout=subprocess.DEVNULL)
    newest = max(out.iterdir(), key=lambda p: p.stat().st_mtime)
    results = pd.read_parquet(newest / "results.parquet")
    return {row.target: float(row.latency_ms_p50) for row in results.itertuples()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=200, help="timed runs per tool and round")
    parser.add_argument("--warmup", type=int, default=20, help="Google's tool: warm-up runs")
    parser.add_argument("--results", type=Path, default=Path("results"))
    args = parser.parse_args()
    model = args.model or find_or_build_model(args.results)
    print(f"model: {model} ({model.stat().st_size / 1e6:.2f} MB), 1 thread, "
          f"{args.rounds} interleaved rounds")
    google: list[float] = []
    ours: dict[str, list[float]] = {name: [] for name in OURS}
    with tempfile.TemporaryDirectory() as tmp:
        for index in range(args.rounds):
            google.append(google_p50(model, args.runs, args.warmup, Path(tmp)))
            for name, p50 in ours_p50(model, args.runs, Path(tmp) / "runs").items():
                ours[name].append(p50)
            print(f"round {index + 1}: benchmark_litert_model.py {google[-1]:.3f} ms | "
                  + " | ".join(f"{n} {v[-1]:.4f} ms" for n, v in ours.items()))
    reference = statistics.median(google)
    print(f"\nGoogle benchmark_litert_model.py (CompiledModel, CPU) median p50: "
          f"{reference:.3f} ms")
    for name, values in ours.items():
        median = statistics.median(values)
        print(f"qatbench {name}: median p50 {median:.4f} ms, ratio to Google's "
              f"{median / reference:.3f}")


if __name__ == "__main__":
    main()
