"""How much faster is qatbench's Keras -> .tflite conversion than ``from_keras_model``?
Prints the figures; asserts nothing.

``qatbench.qat.export.keras_converter`` converts the model's serving function with its
variables in a plain ``tf.Module``; ``TFLiteConverter.from_keras_model`` first writes a
Keras SavedModel, tracing every layer again. Both convert the same graph (the same file:
tests/qat/test_export.py). Each figure here is one fresh process (TensorFlow's tracing
caches would favour whichever converter runs second in a process), the two converters
alternating, ``--runs`` processes each; the ratio is per model and variant, from medians.

    python benchmarks/conversion_time.py [--models mobilenet_v2 resnet50] [--size 224]
                                         [--runs 3]

About 6 minutes on 2 cores with the defaults.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import time

CHILD = "--child"


def convert_once(model_name: str, size: int, variant: str, converter: str) -> float:
    """Seconds ``converter`` takes to convert ``model_name`` as ``variant`` (in this process)."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import numpy as np
    import tensorflow as tf

    from qatbench.models.zoo import get_model_spec
    from qatbench.qat import export
    from qatbench.qat.quantize import quantize_for_training

    model = get_model_spec(model_name).build(input_shape=(size, size, 3), classes=1000).model
    if variant == "qat_int8":
        model, _ = quantize_for_training(model)
    if converter == "from_keras_model":
        export.keras_converter = tf.lite.TFLiteConverter.from_keras_model
    calibration = np.random.default_rng(0).random((4, size, size, 3), dtype=np.float32)
    started = time.perf_counter()
    export.convert(model, export.Variant(variant), calibration)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["mobilenet_v2"])
    parser.add_argument("--variants", nargs="+", default=["float32", "qat_int8"])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--runs", type=int, default=3, help="fresh processes per converter")
    parser.add_argument(CHILD, nargs=4, metavar=("MODEL", "SIZE", "VARIANT", "CONVERTER"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        model, size, variant, converter = args.child
        print(json.dumps(convert_once(model, int(size), variant, converter)))
        return 0

    from qatbench.bench.storage.environment import cpu_model

    print(f"{datetime.date.today()}  {cpu_model()}  {os.cpu_count()} cores  "
          f"load {os.getloadavg()[0]:.1f}  input {args.size}x{args.size}x3, "
          f"{args.runs} processes per converter")
    for model in args.models:
        for variant in args.variants:
            seconds: dict[str, list[float]] = {"keras_converter": [], "from_keras_model": []}
            for _ in range(args.runs):
                for converter, times in seconds.items():
                    result = subprocess.run(
                        [sys.executable, __file__, CHILD, model, str(args.size), variant,
                         converter], capture_output=True, text=True, check=True)
                    times.append(json.loads(result.stdout.strip().splitlines()[-1]))
            fast, slow = (statistics.median(seconds[name]) for name in seconds)
            print(f"  {model:<14} {variant:<9} keras_converter {fast:6.1f} s  "
                  f"from_keras_model {slow:6.1f} s  ratio {slow / fast:4.1f}x  "
                  f"(runs: {', '.join(f'{t:.1f}' for t in seconds['keras_converter'])} | "
                  f"{', '.join(f'{t:.1f}' for t in seconds['from_keras_model'])})", flush=True)
    print(f"  load average after: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
