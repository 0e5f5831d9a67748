"""What running a few steps eagerly (``qat.eager``) saves in a ``--quick`` QAT build.

    python benchmarks/quick_build_time.py [--models nasnet_mobile,mobilenet_v2] [--rounds 2]

Each build is ``tests/qat/test_zoo_quick.py``'s: the zoo model at the test's image size,
the shipped ``--quick`` training table, the ``qat_int8`` variant through the product's
``build_variants`` (QAT, fine-tuning, conversion, fidelity and layer errors). Every build
runs in its own process, "eager" (the shipped limits) and "traced" (both limits 0: every
fit and predict traces its graph, as before) alternating, ``--rounds`` pairs per model;
it prints each wall time and the traced/eager ratio of each pair. Absolute times drift
with the host's load; the ratio within a pair is the figure.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _child(mode: str, name: str) -> None:
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "qat"))
    from test_zoo_quick import _at_test_size  # the test's sizes, not a copy of them

    from qatbench.bench.orchestration.config import load_config
    from qatbench.models.zoo import ZOO
    from qatbench.qat import eager
    from qatbench.qat.pipeline import build_variants

    if mode == "traced":
        eager.MAX_EAGER_STEPS = eager.MAX_EAGER_BATCHES = 0
    with tempfile.TemporaryDirectory() as work:
        started = time.monotonic()
        build = build_variants(_at_test_size(ZOO[name]), ["qat_int8"], Path(work),
                               load_config(quick=True).training)
        seconds = time.monotonic() - started
    error = build.variants["qat_int8"].error
    print(f"{seconds:.1f} {'ok' if not error else 'failed: ' + error[:80]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="nasnet_mobile,mobilenet_v2")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--child", nargs=2, metavar=("MODE", "MODEL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return
    from qatbench.bench.storage.environment import cpu_flags, cpu_model

    print(f"{datetime.date.today()}  {cpu_model()}  {os.cpu_count()} cores  "
          f"{platform.machine()}  CPU flags: {cpu_flags() or 'unknown'}")
    print(f"load average at start {os.getloadavg()[0]:.2f}; each build its own process")
    for name in args.models.split(","):
        for round_ in range(args.rounds):
            times = {}
            order = ("eager", "traced") if round_ % 2 == 0 else ("traced", "eager")
            for mode in order:
                out = subprocess.run([sys.executable, __file__, "--child", mode, name],
                                     capture_output=True, text=True, check=False)
                line = (out.stdout.strip().splitlines() or [f"nan failed: {out.stderr[-200:]}"])[-1]
                seconds, _, status = line.partition(" ")
                times[mode] = float(seconds)
                print(f"{name:16s} round {round_ + 1} {mode:6s} {float(seconds):7.1f} s  {status}",
                      flush=True)
            ratio = times["traced"] / times["eager"]
            print(f"{name:16s} round {round_ + 1} traced/eager {ratio:.2f}", flush=True)


if __name__ == "__main__":
    main()
