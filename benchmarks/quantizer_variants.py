"""Static int8 against the LiteRT Quantizer's variants on this host. Prints the figures;
asserts nothing.

For ``mnist_cnn`` and ``mobilenet_v2``: static int8 (``qat_int8``, ``ptq_int8``),
``dynamic_int8``, ``int4_weights``, ``int8_weights`` and ``fp16`` against ``float32`` --
speed (float p50 / variant p50: >1 is faster), size and fidelity (the run's output SNR
and top-1 agreement with float32) -- and, from the per-op profiles, which op types
explain the static-int8 loss or gain (each op type's change as a share of the gap between
the float32 and int8 profiles' sums, as ``statistics/op_profiles.py: side_by_side`` and
``statistics/explain.py`` compute them).

It drives the product: ``qatbench build`` once (so every repeat times the same files),
then ``qatbench run --artifacts DIR --repeats K`` with ``[run] profile = true``; each
figure's repeats are K separate timing processes, pass after pass. It reads the run
with the product's loaders (``load_runs``, ``read_profiles``).

    python benchmarks/quantizer_variants.py [--repeats 5] [--full] [--out DIR] [--reuse RUN_DIR]

``--full``: the default training budget (mnist_cnn's float training is minutes); without
it the build uses ``--quick`` (2 float epochs, 1 QAT epoch, 50 calibration samples).
With ``--quick``: 8 minutes with 3 repeats, 18 with 5, on one CPU of a 2-core host that
other work shared (2026-12-03). Output of record: ``benchmarks/measured/``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

from qatbench.bench.statistics.explain import host_cause, profile_causes
from qatbench.bench.statistics.op_profiles import side_by_side
from qatbench.bench.storage.environment import cpu_flags, cpu_model
from qatbench.bench.storage.profiles import read_profiles
from qatbench.bench.storage.runs import load_runs
from qatbench.qat.artifacts import ModelBuild

MODELS = ("mnist_cnn", "mobilenet_v2")
STATIC = ("qat_int8", "ptq_int8")
OTHERS = ("dynamic_int8", "int4_weights", "int8_weights", "fp16")
VARIANTS = ("float32", *STATIC, *OTHERS)
SHARED_LOAD = 0.5  # a load average above this: the CPU was not idle while timing
CONFIG = f"""
[run]
models = {list(MODELS)!r}
variants = {list(VARIANTS)!r}
targets = ["cpu-xnnpack"]
threads = [1]
timeout_s = 1800
profile = true
profile_op_s = 0.03

[measure]
warmup_min_s = 0.3
min_s = 1.0

[training]
layer_error_samples = 0
"""


def _qatbench(*args: str) -> None:
    command = [sys.executable, "-m", "qatbench", *args]
    print("$ qatbench " + " ".join(args), flush=True)
    subprocess.run(command, check=False)


def run_once(out: Path, repeats: int, quick: bool) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    config = out / "quantizer_variants.toml"
    config.write_text(CONFIG.replace("'", '"'))
    artifacts = out / "artifacts"
    _qatbench("build", "--config", str(config), "--out", str(artifacts),
              *(["--quick"] if quick else []))
    before = set(out.glob("*/results.parquet"))
    _qatbench("run", "--config", str(config), "--artifacts", str(artifacts), "--repeats",
              str(repeats), "--out", str(out))
    (made,) = set(out.glob("*/results.parquet")) - before
    return made.parent


def _row(results: pd.DataFrame, model: str, variant: str) -> pd.Series | None:
    rows = results[(results["model"] == model) & (results["variant"] == variant)]
    return rows.iloc[0] if len(rows) else None


def _per_repeat_speed(repeats: pd.DataFrame, model: str, variant: str) -> list[float]:
    """float p50 / variant p50 within each pass (the same repeat number)."""
    lines = repeats[repeats["model"] == model]
    by = {v: g.set_index("repeat")["latency_ms_p50"].astype(float)
          for v, g in lines.groupby("variant")}
    if "float32" not in by or variant not in by:
        return []
    both = pd.concat([by["float32"], by[variant]], axis=1, join="inner").dropna()
    return [float(f / q) for f, q in both.itertuples(index=False) if q > 0]


def _fmt(value: object, pattern: str) -> str:
    return "-" if value is None or pd.isna(value) else format(value, pattern)


def describe_model(run_dir: Path, results: pd.DataFrame, repeats: pd.DataFrame,
                   model: str) -> None:
    build = ModelBuild.load(run_dir / "artifacts" / model)
    weights = build.weights if build is not None else "?"
    print(f"\n{model} (cpu-xnnpack, 1 thread; weights: {weights})")
    if build is not None and build.accuracy_note:
        print(f"  eval: {build.accuracy_note}")
    if weights == "random":
        print("  fidelity columns are not meaningful for random weights (the float model's "
              "outputs are near constant); speed and size are")
    print(f"  {'variant':<13} {'p50 ms':>8} {'speed':>6} {'per repeat':>20} {'size KB':>9} "
          f"{'shrink':>6} {'SNR dB':>7} {'agree':>6} {'top-1':>6}  repeats")
    for variant in VARIANTS:
        row = _row(results, model, variant)
        if row is None:
            print(f"  {variant:<13} no row")
            continue
        if row["status"] != "ok":
            print(f"  {variant:<13} {row['status']}: {str(row['error'])[:160]}")
            continue
        per = _per_repeat_speed(repeats, model, variant)
        spread = f"{min(per):.2f}..{max(per):.2f}" if per and variant != "float32" else ""
        size = row["size_bytes"] / 1024 if pd.notna(row["size_bytes"]) else None
        print(f"  {variant:<13} {_fmt(row['latency_ms_p50'], '.3f'):>8} "
              f"{_fmt(row['speedup_vs_float'], '.2f'):>6} {spread:>20} {_fmt(size, '.1f'):>9} "
              f"{_fmt(row['size_ratio_vs_float'], '.2f'):>6} "
              f"{_fmt(row['output_snr_db'], '.1f'):>7} "
              f"{_fmt(row['agreement_top1'], '.3f'):>6} {_fmt(row['accuracy_top1'], '.3f'):>6}"
              f"  {_fmt(row['repeats'], 'd')}")


def describe_ops(profiles: pd.DataFrame, model: str) -> None:
    lines = profiles[profiles["model"] == model]
    by_variant = {str(v): g for v, g in lines.groupby("variant")}
    if "float32" not in by_variant:
        print(f"  no float32 profile of {model}")
        return
    float_lines = by_variant["float32"]
    for variant in STATIC:
        if variant not in by_variant:
            print(f"  no {variant} profile")
            continue
        int8_lines = by_variant[variant]
        f_sum = float(float_lines["p50_ms"].astype("Float64").sum())
        q_sum = float(int8_lines["p50_ms"].astype("Float64").sum())
        gap = q_sum - f_sum
        coverage = float(int8_lines["coverage"].iloc[0])
        word = "loss" if gap > 0 else "gain"
        print(f"  {variant} vs float32, per-op profile (one process each): ops' sum "
              f"{f_sum:.3f} -> {q_sum:.3f} ms, {word} {abs(gap):.3f} ms; coverage "
              f"{coverage:.2f} (ops' sum / whole p50); by op type, a + share is part of "
              f"the {word}, a - share works against it")
        table = side_by_side(float_lines, int8_lines)
        table = table.reindex(table["change_ms"].abs().sort_values(ascending=False).index)
        for row in table.head(5).itertuples():
            share = row.change_ms / gap if gap else float("nan")
            print(f"    {row.op_type:<20} {_fmt(row.float_ms, '.3f'):>8} -> "
                  f"{_fmt(row.int8_ms, '.3f'):>8} ms  change {row.change_ms:+.3f} ms "
                  f"= {share:+.0%} of the {word}")
        if gap > 0:
            for cause in profile_causes(float_lines, int8_lines)[:3]:
                print(f"    explain.py: {cause.text}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="where the run goes")
    parser.add_argument("--repeats", type=int, default=5,
                        help="timing processes per row (run pass after pass)")
    parser.add_argument("--full", action="store_true",
                        help="the default training budget instead of --quick")
    parser.add_argument("--reuse", type=Path, default=None,
                        help="an earlier run directory of this script: report it again")
    args = parser.parse_args()
    flags = cpu_flags()
    load_before = os.getloadavg()[0]
    print(f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC  {cpu_model()}  "
          f"{os.cpu_count()} cores  affinity {sorted(os.sched_getaffinity(0))}  "
          f"load {load_before:.1f}")
    print(f"CPU flags (kernel-relevant): {flags}")
    if args.reuse:
        run_dir = args.reuse
    else:
        out = args.out or Path(tempfile.mkdtemp(prefix="qatbench-quantizer-variants-"))
        run_dir = run_once(out, args.repeats, quick=not args.full)
    loaded = load_runs([run_dir])
    results, repeats = loaded.results, loaded.repeats
    profiles = read_profiles(run_dir)
    print(f"\nrun {run_dir}: build budget {'default' if args.full else '--quick'}; each row "
          f"is its own timing process per repeat ({results['repeats'].max()} repeats, "
          "pass after pass); 'speed' = float32 p50 / variant p50 of the row (>1 faster), "
          "'per repeat' the same ratio within each pass; profiles: one process per "
          f"profiled file. Load average before {load_before:.1f}, after "
          f"{os.getloadavg()[0]:.1f}")
    if max(load_before, os.getloadavg()[0]) > SHARED_LOAD:
        print(f"timed on CPU(s) {sorted(os.sched_getaffinity(0))} while other work shared "
              "them: quote ratios within this run, not absolute times")
    first = results.iloc[0] if len(results) else None
    if first is not None:
        host = host_cause(first.to_dict())
        print("host (explain.py): " + (host.text if host else "int8 dot-product "
              "instructions present in the recorded flags"))
    for model in MODELS:
        describe_model(run_dir, results, repeats, model)
        describe_ops(profiles, model)
    bad = results[results["status"] != "ok"]
    return 0 if bad.empty else 1


if __name__ == "__main__":
    sys.exit(main())
