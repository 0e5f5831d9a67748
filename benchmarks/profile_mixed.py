"""Where int8 loses its time, and what the measured "make it faster" buys. Prints the
figures; asserts nothing.

One ``qatbench run`` with ``[run] profile = true`` and the ``mixed_int8`` variant over
NASNet-Mobile (int8 slower than float on XNNPACK) and MobileNetV2 (int8 faster), full
size, random weights, 1 thread on ``cpu-xnnpack``: each row and each profile its own
child process, one repeat. Prints, per model, the p50 ratios (int8 / float, mixed_int8
against both), the op types the profile proposed to keep float, each profile's coverage,
the op types whose time grew most in int8 (as a share of the float model's p50, so the
figure carries across days), and how many ops of each type int8 left outside XNNPACK.

    python benchmarks/profile_mixed.py [--out DIR] [--reuse RUN_DIR]

About 12 minutes on 2 cores (three conversions of NASNet-Mobile dominate). ``--reuse``
reads an earlier run of this script instead of running again.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

from qatbench.bench.statistics.op_profiles import grown, outside_delegate, side_by_side
from qatbench.bench.storage.environment import cpu_model
from qatbench.bench.storage.profiles import read_profiles

CONFIG = """
[run]
models = ["nasnet_mobile", "mobilenet_v2"]
variants = ["float32", "ptq_int8", "mixed_int8"]
targets = ["cpu-xnnpack"]
threads = [1]
timeout_s = 1800
profile = true
profile_op_s = 0.03

[measure]
warmup_min_s = 0.3
min_s = 1.0

[training]
representative_samples = 32
layer_error_samples = 0
"""


def run_once(out: Path) -> Path:
    config = out / "profile_mixed.toml"
    config.write_text(CONFIG)
    before = set(out.glob("*/results.parquet"))
    subprocess.run([sys.executable, "-m", "qatbench", "run", "--config", str(config),
                    "--out", str(out)], check=False)
    (made,) = set(out.glob("*/results.parquet")) - before
    return made.parent


def p50(results: pd.DataFrame, model: str, variant: str) -> float:
    row = results[(results["model"] == model) & (results["variant"] == variant)]
    return float(row["latency_ms_p50"].iloc[0]) if len(row) and \
        row["status"].iloc[0] == "ok" else float("nan")


def describe_model(run_dir: Path, results: pd.DataFrame, profiles: pd.DataFrame,
                   model: str) -> None:
    f, q, m = (p50(results, model, v) for v in ("float32", "ptq_int8", "mixed_int8"))
    print(f"\n{model}: int8 / float speed {f / q:.2f}x; mixed_int8 {q / m:.2f}x faster than "
          f"int8, {f / m:.2f}x than float (ratios of p50s; >1 = faster)")
    proposal = run_dir / "artifacts" / model / "keep_float_ops.json"
    if proposal.exists():
        kept = json.loads(proposal.read_text())
        print(f"  kept float: {', '.join(kept.get('ops', [])) or 'nothing'}"
              f"  ({kept.get('source', '')})")
    lines = profiles[profiles["model"] == model]
    by_variant = {str(v): g for v, g in lines.groupby("variant")}
    coverage = {v: float(g["coverage"].iloc[0]) for v, g in by_variant.items()}
    print("  coverage (ops' sum / whole p50): " +
          ", ".join(f"{v} {c:.2f}" for v, c in coverage.items()))
    if "float32" not in by_variant or "ptq_int8" not in by_variant:
        print("  (no float32 and ptq_int8 profiles: nothing to compare)")
        return
    table = grown(side_by_side(by_variant["float32"], by_variant["ptq_int8"]))
    whole_float = float(by_variant["float32"]["whole_p50_ms"].iloc[0])
    top = ", ".join(f"{row.op_type} +{row.change_ms / whole_float:.0%}"
                    for row in table.head(3).itertuples())
    print(f"  grew most in int8 (added time / float p50): {top or 'nothing grew'}")
    left = outside_delegate(by_variant["ptq_int8"])["op_type"].value_counts()
    print("  int8 ops left outside XNNPACK: " +
          (", ".join(f"{count} {op}" for op, count in left.items()) or "none"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="where the run goes")
    parser.add_argument("--reuse", type=Path, default=None,
                        help="an earlier run directory of this script: report it again")
    args = parser.parse_args()
    print(f"{datetime.date.today()}  {cpu_model()}  {os.cpu_count()} cores  "
          f"load {os.getloadavg()[0]:.1f}")
    if args.reuse:
        run_dir = args.reuse
    else:
        out = args.out or Path(tempfile.mkdtemp(prefix="qatbench-profile-mixed-"))
        run_dir = run_once(out)
    results = pd.read_parquet(run_dir / "results.parquet")
    profiles = read_profiles(run_dir)
    print(f"run {run_dir} (one qatbench run: one process per row and per profile, one "
          f"repeat); load average after: {os.getloadavg()[0]:.1f}")
    for model in results["model"].drop_duplicates():
        describe_model(run_dir, results, profiles, str(model))
    bad = results[results["status"] != "ok"]
    for row in bad.itertuples():
        print(f"  {row.model}/{row.variant}: {row.status}: {str(row.error)[:200]}")
    return 0 if bad.empty else 1


if __name__ == "__main__":
    sys.exit(main())
