"""PyTorch models: the figures behind the README's "PyTorch models" section.
Prints them; asserts nothing.

1. The shipped example (``examples/torch_digits``): ``qatbench run --config
   qatbench.toml`` (its own budget, cpu-xnnpack, no build cache) in a fresh process:
   float / PTQ / QAT top-1 with Wilson 95% intervals, size and latency ratios against
   float32, each variant's litert-torch conversion time, the QAT conversion gap, and the
   wall time from the command to the report. One run: each figure rests on one process
   (``--repeats`` 1).
2. The install size of the ``torch`` extra in this environment: every distribution the
   extra's requirements reach that the rest of qatbench (its dependencies and the qat,
   test and explore extras) does not, with its installed size (the files its RECORD
   lists, as they lie on disk).

    python benchmarks/torch_digits.py [--skip-example]

About 10 minutes on 2 busy cores (the conversions dominate).
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata as metadata
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OTHER_EXTRAS = ("qat", "test", "explore")


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~\[;(]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _reached(roots: list[str]) -> set[str]:
    """Every installed distribution the requirements reach (markers for extras ignored:
    an extra of a dependency is not installed unless asked for)."""
    seen: set[str] = set()
    pending = [_name(r) for r in roots]
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        seen.add(name)
        pending += [_name(r) for r in dist.requires or [] if "extra ==" not in r]
    return seen


def _installed_bytes(name: str) -> int:
    dist = metadata.distribution(name)
    total = 0
    for file in dist.files or []:
        path = Path(str(dist.locate_file(file)))
        if path.is_file():
            total += path.stat().st_size
    return total


def install_figures() -> None:
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    rest = _reached(list(project["dependencies"]) + [r for e in OTHER_EXTRAS
                                                     for r in extras[e]])
    extra = _reached(list(extras["torch"])) - rest
    sizes = sorted(((_installed_bytes(n), n) for n in extra), reverse=True)
    total = sum(size for size, _ in sizes)
    print(f"the torch extra adds {len(sizes)} distributions, {total / 1e6:,.0f} MB installed "
          f"(beyond qatbench with {', '.join(OTHER_EXTRAS)}); the largest:")
    for size, name in sizes[:8]:
        print(f"  {name:22s} {metadata.version(name):14s} {size / 1e6:8,.0f} MB")


def _conversion_seconds(note: str) -> str:
    found = re.search(r"litert-torch conversion ([0-9.]+) s", note or "")
    return f"{found.group(1)} s" if found else "-"


def example_figures() -> None:
    import json

    import pandas as pd

    with tempfile.TemporaryDirectory(prefix="qatbench-torch-example-") as scratch:
        work = Path(scratch)
        for name in ("model.py", "qatbench.toml"):
            shutil.copy(REPO / "examples" / "torch_digits" / name, work / name)
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "qatbench", "run", "--config", "qatbench.toml",
                        "--out", "results", "--no-cache"], cwd=work, check=True,
                       capture_output=True)
        wall = time.perf_counter() - started
        (run,) = (work / "results").iterdir()
        frame = pd.read_parquet(run / "results.parquet")
        manifest = json.loads((run / "artifacts" / "torch_digits" / "manifest.json")
                              .read_text())
    versions = ", ".join(f"{k} {v}" for k, v in manifest["framework"].items() if k != "name")
    print(f"examples/torch_digits, `qatbench run --config qatbench.toml` ({versions}; "
          f"{frame['target'].iloc[0]}, 1 process per figure): {wall:.0f} s from the command "
          "to the report")
    for _, row in frame.sort_values("variant").iterrows():
        variant = manifest["variants"][row["variant"]]
        ratios = "" if row["variant"] == "float32" else \
            f"; {row['size_ratio_vs_float']:.2f}x smaller, {row['speedup_vs_float']:.2f}x " \
            "the float32 speed"
        print(f"  {row['variant']:9s} top-1 {row['accuracy_top1']:.1%} "
              f"[{row['accuracy_top1_ci_low']:.1%}, {row['accuracy_top1_ci_high']:.1%}] on "
              f"{row['eval_samples']} digits; {row['size_bytes'] / 1024:.1f} KB; p50 "
              f"{row['latency_ms_p50'] * 1000:.1f} us{ratios}; conversion "
              f"{_conversion_seconds(variant['note'])}")
    qat = manifest["variants"]["qat_int8"]
    print(f"  conversion gap (PT2E module in PyTorch minus its .tflite, reference kernels): "
          f"{qat['conversion_gap_points']:+.1f} points of top-1 ({qat['keras_qat_top1']:.1%} "
          f"vs {qat['tflite_top1']:.1%} on {qat['conversion_samples']} digits)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-example", action="store_true")
    args = parser.parse_args()
    from qatbench.bench.storage.environment import cpu_flags, cpu_model

    print(f"{datetime.date.today()}  {cpu_model()}  {os.cpu_count()} cores  "
          f"{platform.machine()}  CPU flags: {cpu_flags() or 'unknown'}")
    install_figures()
    if not args.skip_example:
        example_figures()
    return 0


if __name__ == "__main__":
    sys.exit(main())
