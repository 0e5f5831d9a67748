"""How much of the whole model a host per-op profile covers, on this host, now. Prints the
figures; asserts nothing.

The coverage of a ``host-cut`` profile is the sum of the one-op models' p50s over the whole
model's p50. On a compute-bound model (two 3x3 convolutions at 48x48x32 -> 64, the model
``tests/targets/host/test_op_profile.py`` profiles) it is about 1 on a quiet host; the
whole model and its ops are timed a second apart, so a burst of other work in between
moves it (0.38 on a 2-core VM shared with TensorFlow jobs, 0.95 alone). That is why the
test asserts what every host guarantees (every op timed, coverage reported and flagged
outside the 0.8-1.2 band) and this script prints what the figure is.

Each profile is one ``qatbench profile`` process (``--runs`` of them, one after another):

    python benchmarks/op_profile_coverage.py [--runs 5] [--work DIR]

About 20 s per run on 2 cores (the build of the model with TensorFlow adds ~15 s once).
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
from pathlib import Path

RELIABLE = (0.8, 1.2)


def build_model(path: Path) -> Path:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    import tensorflow as tf
    import tf_keras as keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.layers.Input((48, 48, 32)),
                              keras.layers.Conv2D(64, 3, padding="same", activation="relu"),
                              keras.layers.Conv2D(64, 3, padding="same", activation="relu"),
                              keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(10)])
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    return path


def one_profile(model: Path, out: Path) -> tuple[float, int]:
    """(coverage, ops) of one ``qatbench profile`` process."""
    from qatbench.bench.storage.profiles import PROFILE_FILE, read_profiles

    def run_dirs() -> set[Path]:
        return {p.parent for p in out.glob(f"*/{PROFILE_FILE}")}

    before = run_dirs() if out.exists() else set()
    result = subprocess.run([sys.executable, "-m", "qatbench", "profile", str(model),
                             "--targets", "cpu-xnnpack", "--threads", "1", "--out", str(out),
                             "--min-runs", "30", "--min-secs", "0.2"],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"qatbench profile exited {result.returncode}:\n"
                         f"{(result.stdout + result.stderr)[-2000:]}")
    (run_dir,) = run_dirs() - before
    profile = read_profiles(run_dir)
    return float(profile["coverage"].iloc[0]), len(profile)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    from qatbench.bench.storage.environment import cpu_flags, cpu_model

    work = args.work or Path(tempfile.mkdtemp(prefix="op-coverage-"))
    work.mkdir(parents=True, exist_ok=True)
    model = work / "dense.tflite"
    if not model.exists():
        build_model(model)
    load_before = os.getloadavg()[0]
    coverages = []
    for index in range(args.runs):
        coverage, ops = one_profile(model, work / "results")
        coverages.append(coverage)
        print(f"profile {index + 1}/{args.runs}: {ops} ops, coverage {coverage:.2f}",
              flush=True)
    low, high = RELIABLE
    inside = sum(low <= c <= high for c in coverages)
    print(f"\n{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC  {cpu_model()}, "
          f"{os.cpu_count()} cores, {platform.machine()}  CPU flags: {cpu_flags() or 'unknown'}")
    print(f"load average (1 min) {load_before:.1f} before, {os.getloadavg()[0]:.1f} after")
    print(f"coverage over {args.runs} independent profile processes: median "
          f"{statistics.median(coverages):.2f}, min {min(coverages):.2f}, "
          f"max {max(coverages):.2f}; inside {low}-{high}: {inside} of {args.runs}")


if __name__ == "__main__":
    main()
