"""Where QAT's quantizer ranges start: from the data (qatbench's default) or tfmot's own.

Run from the repository root (needs the ``qat`` extra):

    python benchmarks/qat_range_start.py [--seeds 0,1,2,3,4]

tfmot starts every activation range at [-6, 6] and moves it 0.1% per training step
toward each batch's range; qatbench starts it from a few batches of the fine-tuning
inputs (``qatbench/qat/range_init.py``). For each seed and each start, in this process:

- ``two_heads``: an untrained two-output model (a 4-way softmax and a 4-value box
  head), as the end-to-end test runs it: no labels, so QAT distils for
  ``synthetic_qat_steps`` steps (2 at ``--quick``) on unlabelled inputs (here the 8x8
  digits' images) -- the path of every model without labelled data;
- ``mnist_cnn``: the zoo model, trained, then QAT on its labels at the ``--quick``
  budget.

Prints each int8 ``.tflite``'s output SNR against the float Keras model on held-out
inputs (per output), mnist_cnn's int8 top-1, the PTQ file's SNR beside them, and per
model the paired difference (data - tfmot) over the seeds, with the date, machine and
CPU flags. Every figure of one seed comes from one process; seeds run one after another
in the same process (training is seeded, so they are independent draws of the
initialisation and batch order, not of the host).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

STARTS = ("tfmot", "data")


def two_heads() -> Any:
    """The end-to-end test's model: a class head and a box head, no labels."""
    import tf_keras as keras

    inputs = keras.Input((8, 8, 1), name="image")
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    classes = keras.layers.Dense(4, activation="softmax", name="classes")(x)
    box = keras.layers.Dense(4, name="box")(x)
    return keras.Model(inputs, [classes, box], name="two_heads")


def snr_per_output(path: Path, model: Any, x: Any) -> list[float]:
    """Each output's SNR (dB) of the ``.tflite`` file against the float Keras model."""
    import numpy as np

    from qatbench.qat.fidelity import tflite_outputs
    from qatbench.targets.agreement import output_snr_db

    names = list(model.output_names)
    reference = model.predict(x, batch_size=64, verbose=0)
    reference = reference if isinstance(reference, list) else [reference]
    widths = [int(np.prod(r.shape[1:])) for r in reference]
    got = tflite_outputs(path, x, names if len(names) > 1 else None)
    columns = np.split(got.reshape(len(got), -1), np.cumsum(widths)[:-1], axis=1)
    return [output_snr_db(c, r.reshape(len(r), -1)) for c, r in zip(columns, reference,
                                                                    strict=True)]


def measure(model_name: str, seed: int, work: Path) -> dict[str, Any]:
    import numpy as np
    from sklearn.datasets import load_digits

    from qatbench.bench.orchestration.config import load_config
    from qatbench.models.zoo import get_model_spec
    from qatbench.qat.export import Variant, export_variant
    from qatbench.qat.fidelity import tflite_outputs, top1
    from qatbench.qat.pipeline import build_data
    from qatbench.qat.quantize import quantize_for_training
    from qatbench.qat.train import fine_tune_qat, seed_everything, train_float

    budget = load_config(quick=True).training.model_copy(update={"seed": seed})
    seed_everything(seed)
    if model_name == "two_heads":
        model = two_heads()
        digits = load_digits()
        x = (digits.images[..., np.newaxis] / 16.0).astype(np.float32)
        order = np.random.default_rng(seed).permutation(len(x))
        train_x, eval_x, eval_y = x[order[:1437]], x[order[1437:]], None
        calibration, unlabelled = train_x[:200], train_x
        tasks = {"classes": "classification", "box": "regression"}
        labelled = None  # no labels: distilled on the images for synthetic_qat_steps
    else:
        spec = get_model_spec(model_name)
        built = spec.build()
        model = built.model
        data = build_data(spec, budget, built.weights, None)
        train_float(model, data.train, budget)
        labelled, unlabelled = data.train, data.unlabelled
        calibration, eval_x, eval_y, tasks = data.calibration, data.eval_x, data.eval_y, None
    ptq = work / f"{model_name}-{seed}-ptq.tflite"
    export_variant(model, Variant.PTQ_INT8, calibration, ptq)
    result: dict[str, Any] = {"ptq": snr_per_output(ptq, model, eval_x),
                              "outputs": list(model.output_names)}
    for start in STARTS:
        seed_everything(seed)
        qat_model, _ = quantize_for_training(model)
        tuning = fine_tune_qat(qat_model, model, labelled, unlabelled, "training images",
                               budget.model_copy(update={"qat_ranges": start}),
                               model_name, tasks)
        path = work / f"{model_name}-{seed}-{start}.tflite"
        export_variant(qat_model, Variant.QAT_INT8, calibration, path)
        result[start] = snr_per_output(path, model, eval_x)
        result[f"{start} steps"] = tuning.steps
        if eval_y is not None:
            result[f"{start} top1"] = 100 * top1(tflite_outputs(path, eval_x), eval_y)
    return result


def main() -> None:
    from qatbench.bench.storage.environment import cpu_flags, cpu_model

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--models", default="two_heads,mnist_cnn")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    print(f"# qat_range_start  {datetime.now(UTC):%Y-%m-%d %H:%M} UTC  "
          f"{platform.machine()}, {cpu_model()}, {os.cpu_count()} cores")
    print(f"# CPU flags: {cpu_flags()}")
    print("# --quick budget; SNR in dB of each int8 file against the float Keras model "
          "on held-out inputs; one process, seeds in turn")
    with TemporaryDirectory() as scratch:
        for model_name in args.models.split(","):
            diffs: dict[str, list[float]] = {}
            for seed in seeds:
                r = measure(model_name, seed, Path(scratch))
                for i, output in enumerate(r["outputs"]):
                    diffs.setdefault(output, []).append(r["data"][i] - r["tfmot"][i])
                    top = "" if "data top1" not in r else (
                        f"  top-1 tfmot {r['tfmot top1']:.1f}% data {r['data top1']:.1f}%")
                    print(f"{model_name:<10} seed {seed}  {output:<8} PTQ {r['ptq'][i]:6.1f}"
                          f"  QAT tfmot-start {r['tfmot'][i]:6.1f}  data-start "
                          f"{r['data'][i]:6.1f}  ({r['data steps']} steps){top}",
                          flush=True)
            for output, d in diffs.items():
                print(f"{model_name:<10} {output:<8} data - tfmot over {len(d)} seeds: "
                      f"median {statistics.median(d):+.1f} dB, min {min(d):+.1f}, "
                      f"max {max(d):+.1f}", flush=True)


if __name__ == "__main__":
    main()
