"""Distilled QAT (labels withheld) against label QAT: mnist_cnn int8 top-1, per budget.

Run from the repository root (needs the ``qat`` extra):

    python benchmarks/distill_vs_labels.py [--seeds 0,1,2]

For each budget (the shipped ``cpu`` config and its ``--quick`` variant) and seed: trains
the float model once, then fine-tunes two copies with QAT -- one on the labels, one by
distillation from the float model on the same images with their labels withheld -- and
converts both to int8. Prints the int8 ``.tflite`` top-1 of each on the held-out digits
and the difference, with the date and machine. The README quotes its output.
"""

from __future__ import annotations

import argparse
import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def measure(quick: bool, seed: int, work: Path, qat_ranges: str) -> dict[str, float]:
    from qatbench.bench.orchestration.config import load_config
    from qatbench.models.zoo import get_model_spec
    from qatbench.qat.export import Variant, export_variant
    from qatbench.qat.fidelity import tflite_outputs, top1
    from qatbench.qat.pipeline import build_data
    from qatbench.qat.quantize import quantize_for_training
    from qatbench.qat.train import fine_tune_qat, seed_everything, train_float

    budget = load_config(quick=quick).training.model_copy(
        update={"seed": seed, "qat_ranges": qat_ranges})
    spec = get_model_spec("mnist_cnn")
    seed_everything(seed)
    built = spec.build()
    data = build_data(spec, budget, built.weights, None)
    train_float(built.model, data.train, budget)
    result = {}
    for objective in ("labels", "distill"):
        seed_everything(seed)
        qat_model, _ = quantize_for_training(built.model)
        fine_tune_qat(qat_model, built.model, data.train, data.unlabelled,
                      data.unlabelled_source,
                      budget.model_copy(update={"qat_objective": objective}))
        path = work / f"{quick}-{seed}-{objective}.tflite"
        export_variant(qat_model, Variant.QAT_INT8, data.calibration, path)
        result[objective] = 100 * top1(tflite_outputs(path, data.eval_x), data.eval_y)
    result["eval"] = len(data.eval_y)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--qat-ranges", choices=("data", "tfmot"), default="data",
                        help="where QAT's quantizer ranges start ([training] qat_ranges)")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    from qatbench.bench.storage.environment import cpu_flags, cpu_model

    print(f"# distill_vs_labels  {datetime.now(UTC):%Y-%m-%d %H:%M} UTC  "
          f"{platform.machine()}, {cpu_model()}, {os.cpu_count()} cores")
    print(f"# CPU flags: {cpu_flags()}")
    print(f"# QAT ranges start: {args.qat_ranges}; int8 top-1 on the held-out digits; "
          "one process, budgets and seeds in turn")
    print(f"{'budget':<8} {'seed':>4} {'eval':>5} {'label QAT':>10} {'distilled':>10} "
          f"{'diff (pt)':>10}")
    with TemporaryDirectory() as scratch:
        for quick in (False, True):
            for seed in seeds:
                r = measure(quick, seed, Path(scratch), args.qat_ranges)
                print(f"{'quick' if quick else 'default':<8} {seed:>4} {r['eval']:>5} "
                      f"{r['labels']:>9.1f}% {r['distill']:>9.1f}% "
                      f"{r['distill'] - r['labels']:>+10.1f}", flush=True)


if __name__ == "__main__":
    main()
