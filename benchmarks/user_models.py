"""Your model, your data: the figures behind the README's "Your own model" section.
Prints them; asserts nothing.

1. Keras 3 -> tf_keras rebuild (``qatbench.qat.keras3``): Keras 3's own MobileNetV2 and
   EfficientNetB0 (random weights, 224x224, logits: ``classifier_activation=None``) and
   EfficientNetV2B0 (32x32, 10 classes: a net float32 rounding moves far),
   rebuilt as tf_keras; max |output difference| against the Keras 3 model on
   ``--inputs`` inputs in each model's input range, beside the tolerance the build
   enforces. Random weights with fresh BatchNorm statistics (mean 0, variance 1) shrink
   activations layer after layer to ~1e-11 at the output, where any two models agree;
   so first every BatchNorm's moving statistics are set to the statistics of the
   activations it sees (one forward pass in training mode at momentum 0), as training
   would, and the logits have a real scale to differ in.
2. The shipped example (``examples/keras3_digits``): ``make_model.py``, then
   ``qatbench run --config qatbench.toml`` at the full budget in a fresh process; float /
   PTQ / QAT top-1 with their Wilson 95% intervals, and the wall time from the command
   to the report.

    python benchmarks/user_models.py [--inputs 8] [--skip-example]

About 3 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _batch_norm_statistics(model: object, x: object) -> None:
    """Every BatchNorm's moving mean and variance set to what its input really is."""
    import keras

    norms = [layer for layer in model.layers
             if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in norms:
        layer.momentum = 0.0
    model(x, training=True)
    for layer in norms:
        layer.momentum = 0.99


def rebuild_figures(inputs: int) -> None:
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import keras
    import numpy as np

    from qatbench.qat.keras3 import (
        REBUILD_TOLERANCE,
        SENSITIVITY_FACTOR,
        prove_rebuild,
        rebuild,
    )

    print(f"Keras {keras.__version__} -> tf_keras rebuild, {inputs} inputs each, random "
          f"weights, logits (tolerance {REBUILD_TOLERANCE:g} x (1 + max |output|), or "
          f"{SENSITIVITY_FACTOR:g} x the model's own move under a one-ulp input change):")
    # EfficientNetV2B0 at 32x32, 10 classes: the rounding-sensitive net (logits ~1e3)
    # that the 1e-4 rule alone refused, held to its own one-ulp move instead
    for constructor, low, high, size, classes in (
            ("MobileNetV2", -1.0, 1.0, 224, 1000), ("EfficientNetB0", 0.0, 255.0, 224, 1000),
            ("EfficientNetV2B0", 0.0, 255.0, 32, 10)):
        keras.utils.set_random_seed(0)
        model = getattr(keras.applications, constructor)(
            weights=None, input_shape=(size, size, 3), classes=classes,
            classifier_activation=None)
        x = np.random.default_rng(0).uniform(low, high, (inputs, size, size, 3)).astype(
            np.float32)
        _batch_norm_statistics(model, x)
        started = time.perf_counter()
        rebuilt = rebuild(model)
        seconds = time.perf_counter() - started
        proof = prove_rebuild(model, rebuilt, x)
        (name,) = proof.max_abs_diff
        print(f"  {constructor:15s} {len(model.layers)} layers  max |diff| "
              f"{proof.max_abs_diff[name]:.3g}  max |output| {proof.scale[name]:.3g}  "
              f"one-ulp move {proof.sensitivity[name]:.3g}  diff/allowed "
              f"{proof.worst_ratio:.2g}  holds: {proof.holds}  rebuild {seconds:.1f} s")


def example_figures() -> None:
    import pandas as pd

    with tempfile.TemporaryDirectory(prefix="qatbench-example-") as scratch:
        work = Path(scratch)
        for name in ("make_model.py", "qatbench.toml"):
            shutil.copy(REPO / "examples" / "keras3_digits" / name, work / name)
        subprocess.run([sys.executable, "make_model.py"], cwd=work, check=True,
                       capture_output=True)
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "qatbench", "run", "--config", "qatbench.toml",
                        "--out", "results"], cwd=work, check=True, capture_output=True)
        wall = time.perf_counter() - started
        (run,) = (work / "results").iterdir()
        frame = pd.read_parquet(run / "results.parquet")
    print(f"examples/keras3_digits, `qatbench run --config qatbench.toml` (full budget, "
          f"{frame['target'].iloc[0]}): {wall:.0f} s from the command to the report")
    for _, row in frame.sort_values("variant").iterrows():
        print(f"  {row['variant']:9s} top-1 {row['accuracy_top1']:.1%} "
              f"[{row['accuracy_top1_ci_low']:.1%}, {row['accuracy_top1_ci_high']:.1%}] on "
              f"{row['eval_samples']} digits; size {row['size_bytes'] / 1024:.1f} KB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=8)
    parser.add_argument("--skip-example", action="store_true")
    args = parser.parse_args()
    from qatbench.bench.storage.environment import cpu_flags, cpu_model

    print(f"{datetime.date.today()}  {cpu_model()}  {os.cpu_count()} cores  "
          f"{platform.machine()}  CPU flags: {cpu_flags() or 'unknown'}")
    rebuild_figures(args.inputs)
    if not args.skip_example:
        example_figures()
    return 0


if __name__ == "__main__":
    sys.exit(main())
