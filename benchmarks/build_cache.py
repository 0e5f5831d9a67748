"""What the build cache saves, and what makes it miss. Prints the figures; asserts nothing.

1. Wall time of `qatbench run --config cpu` (what `nox -s bench-cpu` runs) a second time
   against the first, and of `--config edgetpu` after `--config cpu` against `--config
   edgetpu` on an empty cache. Each trial starts from an empty cache (its own folder);
   every figure is one fresh process, ratios within a trial, ``--trials`` trials.
   Without an Edge TPU here the edgetpu run times the CPU rows and compiles nothing:
   its cost is the build, which is what the cache removes.
2. Hit or miss for each ingredient of the key: the cpu config's keys computed again with
   one ingredient changed at a time (nothing is built for this part).

    python benchmarks/build_cache.py [--trials 3] [--quick]

About 25 minutes on 2 cores at the full budget (8 with --quick).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed_run(config: str, cache: Path, out: Path, quick: bool) -> float:
    command = [sys.executable, "-m", "qatbench", "run", "--config", config, "--out", str(out)]
    if quick:
        command.append("--quick")
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True,
                            env={**os.environ, "QATBENCH_CACHE_DIR": str(cache)})
    seconds = time.perf_counter() - started
    if result.returncode not in (0, 1):  # 1: a row failed (e.g. no Edge TPU): still timed
        raise SystemExit(f"{' '.join(command)} exited {result.returncode}:\n"
                         f"{result.stderr[-2000:]}")
    return seconds


def wall_times(trials: int, quick: bool) -> None:
    second_ratio, edgetpu_ratio = [], []
    for trial in range(trials):
        with tempfile.TemporaryDirectory(prefix="qatbench-cache-bench-") as scratch:
            root = Path(scratch)
            cpu_first = timed_run("cpu", root / "cache", root / "r", quick)
            cpu_second = timed_run("cpu", root / "cache", root / "r", quick)
            edgetpu_after = timed_run("edgetpu", root / "cache", root / "r", quick)
            edgetpu_cold = timed_run("edgetpu", root / "cold", root / "r", quick)
        second_ratio.append(cpu_second / cpu_first)
        edgetpu_ratio.append(edgetpu_after / edgetpu_cold)
        print(f"  trial {trial + 1}: cpu {cpu_first:.0f} s then {cpu_second:.0f} s "
              f"({cpu_second / cpu_first:.2f}); edgetpu after cpu {edgetpu_after:.0f} s vs "
              f"{edgetpu_cold:.0f} s on an empty cache ({edgetpu_after / edgetpu_cold:.2f})",
              flush=True)
    print(f"second `--config cpu` / first: median {statistics.median(second_ratio):.2f} "
          f"(range {min(second_ratio):.2f}-{max(second_ratio):.2f}, {trials} trials)")
    print(f"`--config edgetpu` after cpu / on an empty cache: median "
          f"{statistics.median(edgetpu_ratio):.2f} (range {min(edgetpu_ratio):.2f}-"
          f"{max(edgetpu_ratio):.2f}, {trials} trials)")


def ingredients(quick: bool) -> None:
    from unittest import mock

    from qatbench.bench.orchestration import build_cache
    from qatbench.bench.orchestration.config import load_config

    config = load_config(Path("cpu"), quick=quick)
    model = config.run.models[0]
    budget = config.budget_for(model).model_dump()
    variants = config.variants_for(model)

    def key(**changes: object) -> str:
        arguments = {"model": model, "variants": variants, "budget": budget,
                     "source": None, "imagenet_dir": None, **changes}
        return build_cache.build_key(**arguments).key  # type: ignore[arg-type]

    base = key()
    versions = build_cache.package_versions()
    cases = [
        ("the same config again", key()),
        ("variants in another order", key(variants=list(reversed(variants)))),
        ("qat_epochs + 1", key(budget={**budget, "qat_epochs": budget["qat_epochs"] + 1})),
        ("seed 1", key(budget={**budget, "seed": 1})),
        ("one variant fewer", key(variants=variants[1:])),
        ("another model", key(model="digits_cnn")),
    ]
    with mock.patch.object(build_cache, "package_versions",
                           lambda: {**versions, "tensorflow": "2.99.0"}):
        cases.append(("another TensorFlow version", key()))
    with mock.patch.object(build_cache, "code_digest", lambda: "edited qat/ code"):
        cases.append(("qatbench's build code edited", key()))
    with tempfile.TemporaryDirectory() as scratch:
        data = Path(scratch) / "data.npz"
        data.write_bytes(b"one")
        source = {"keras": str(data), "data": str(data)}
        first = key(model="mine", source=source)
        data.write_bytes(b"two")
        cases.append(("a user's data file rewritten", "changed" if key(
            model="mine", source=source) != first else base))
    print(f"cache hit or miss over the key's ingredients ({model}, cpu config):")
    for name, found in cases:
        print(f"  {name:32s} {'hit' if found == base else 'miss'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--skip-wall-times", action="store_true")
    args = parser.parse_args()
    from qatbench.bench.storage.environment import cpu_flags, cpu_model

    print(f"{datetime.date.today()}  {cpu_model()}  {os.cpu_count()} cores  "
          f"{platform.machine()}  CPU flags: {cpu_flags() or 'unknown'}"
          f"{'  (--quick budget)' if args.quick else ''}")
    ingredients(args.quick)
    if not args.skip_wall_times:
        wall_times(args.trials, args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
