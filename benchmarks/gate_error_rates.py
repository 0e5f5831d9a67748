"""The regression gate's own error rates on this machine, measured, not asserted.

Run from the repository root (needs the ``qat`` extra only to *build* the test models;
timing uses ``qatbench bench`` like any user):

    python benchmarks/gate_error_rates.py                # full: ~15–20 min on 2 cores
    python benchmarks/gate_error_rates.py --quick        # a few minutes, wide intervals

What it does:

1. Builds float32 .tflite models with TensorFlow: ``chain20`` (20 conv blocks at
   28×28×32, ~3 ms, MobileNetV2-like), ``chain21``/``chain22``/``chain24`` (the same
   plus 1, 2, 4 blocks: about 5%, 10%, 20% slower) and ``tiny`` (one small conv and a
   dense layer, ~10 µs).
2. Measures what the extra blocks really cost: one long interleaved reference run of
   the chains (``--reference-repeats`` repeats each), not rescaled samples.
3. A/A: ``--runs`` independent ``qatbench bench --repeats K`` runs of all models, each
   in its own process. Every ordered pair of runs is gated, model by model:
   a ``slower``/``faster`` verdict on identical code is a false alarm. Detection: BASE
   = ``chain20`` of run i, CURRENT = ``chainNN`` of run j (i ≠ j), renamed to match.
4. The noise floor: per model, the largest change of the gate's estimate between two
   runs of identical code, with K = 1 (repeat 0 of each run) and with K repeats.
   Rates are reported twice: with the built-in default floor, and with a floor measured
   on the first half of the runs and applied to pairs of the second half (so the floor
   is never judged on the runs it came from).
5. Prints the rates with Wilson 95% intervals, the date, the machine and K, and writes
   them with the floor measured on all runs to ``--floor-file`` (default
   ``results/noise-floor.json``: the file ``qatbench compare`` reads for runs under
   ``results/``).

``--false-alarms`` measures instead what the gate does with no floor file at all, on
this host as it is ("alone": nothing started by the script) and with a CPU-bound
background load it starts itself (``--load-processes`` busy loops, one per core by
default, stopped at the end), the condition of a shared CI runner:

    python benchmarks/gate_error_rates.py --false-alarms [--runs 7] [--repeats 3]

Per condition, ``--runs`` independent ``qatbench bench --repeats K`` runs of ``chain20``
(~3 ms), ``chain21`` and ``tiny`` (~5 µs); every ordered pair of runs is gated model by
model (identical code: a ``slower`` verdict is a false alarm that fails the gate). Each
pair is judged at K = 1 (repeat 0 of each run) three ways -- the old rule (the built-in
floor decides alone), the gate as it is with nothing else under the results root
(a K = 1 ``slower`` needs this host's noise: ``unknown``), and the gate with the other
runs of the condition as the series' history on this host -- and at K = ``--repeats``.
Rates with Wilson 95% intervals (``scipy.stats.binomtest(...).proportion_ci("wilson")``),
the number of decisions, the load average and the machine are printed; a JSON lines file
keeps every decision. About 5 minutes per condition on 2 cores.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from qatbench.bench.statistics.compare import GateSettings, compare_runs
from qatbench.bench.statistics.noise import SCHEMA, FloorEntry, NoiseFloor
from qatbench.bench.statistics.series_noise import SeriesNoise, floor_from_levels
from qatbench.bench.statistics.units import UnitIndex
from qatbench.bench.storage.environment import cpu_model
from qatbench.bench.storage.key import RowKey
from qatbench.bench.storage.runs import LoadedRuns, load_runs, run_dirs_under

BASE_BLOCKS = 20
CHANNELS = 32  # 28×28×32 conv blocks: ~0.14 ms each on one x86 core, ~3 ms for 20
EXTRA_BLOCKS = {"chain21": 1, "chain22": 2, "chain24": 4}
MS_SCALE = 1.0  # p50 at or above this is "ms-scale" for the goals


def build_models(directory: Path) -> list[Path]:
    """The .tflite files (built once, then reused)."""
    names = [f"chain{BASE_BLOCKS}", *EXTRA_BLOCKS, "tiny"]
    paths = [directory / f"{name}.tflite" for name in names]
    if all(p.exists() for p in paths):
        return paths
    directory.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ["TF_USE_LEGACY_KERAS"] = "1"  # tf_keras, never Keras 3
    import tensorflow as tf
    import tf_keras as keras
    from chains import conv_chain

    def chain(blocks: int) -> Any:
        return conv_chain(blocks, 28, CHANNELS)

    def tiny() -> Any:
        inputs = keras.Input((12, 12, 8), batch_size=1)
        x = keras.layers.Conv2D(16, 3, activation="relu")(inputs)
        x = keras.layers.Flatten()(x)
        return keras.Model(inputs, keras.layers.Dense(10)(x))

    models = [chain(BASE_BLOCKS), *(chain(BASE_BLOCKS + n) for n in EXTRA_BLOCKS.values()),
              tiny()]
    for model, path in zip(models, paths, strict=True):
        path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    return paths


def bench(files: list[Path], out: Path, repeats: int, min_secs: float) -> Path:
    """One ``qatbench bench`` run in its own process; its run directory."""
    before = set(run_dirs_under(out)) if out.exists() else set()
    command = [sys.executable, "-m", "qatbench", "bench", *map(str, files), "--targets",
               "cpu-xnnpack", "--threads", "1", "--out", str(out), "--repeats", str(repeats),
               "--min-secs", str(min_secs)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"qatbench bench failed ({result.returncode}):\n{result.stderr[-2000:]}")
    (new,) = set(run_dirs_under(out)) - before
    return new


def only(loaded: LoadedRuns, model: str, rename: str | None = None) -> LoadedRuns:
    """The rows of one model (renamed, to pair a slowed model with its base)."""
    def pick(frame: pd.DataFrame) -> pd.DataFrame:
        part = frame[frame["model"].astype(str) == model].copy()
        if rename:
            part["model"] = rename
        return part.reset_index(drop=True)

    # p50 is decided on the repeat lines; the samples would only cost time here
    return LoadedRuns(pick(loaded.results), loaded.samples.iloc[0:0], loaded.run_dirs,
                      pick(loaded.repeats))


def units(loaded: LoadedRuns, model: str, k: int | None = None) -> np.ndarray:
    view = only(loaded, model)
    values = UnitIndex(view).of(view.results.iloc[0]).values
    return values[:k] if k else values


def log_change(base: np.ndarray, current: np.ndarray) -> float:
    return float(np.log(current).mean() - np.log(base).mean())


def wilson(successes: int, trials: int) -> dict[str, Any]:
    if trials == 0:
        return {"rate": None, "successes": 0, "trials": 0, "ci95": [None, None]}
    ci = stats.binomtest(successes, trials).proportion_ci(0.95, method="wilson")
    return {"rate": successes / trials, "successes": successes, "trials": trials,
            "ci95": [float(ci.low), float(ci.high)]}


def measure_floor(runs: list[LoadedRuns], models: list[str], repeats: int) -> NoiseFloor:
    """Per model scale (ms, µs) and K (1 and ``repeats``): the run-to-run noise floor.

    Every run's estimate of every model is compared with that model's mean over the runs
    (on logs: run-level effects scale latency); the residuals of all models of a scale
    are pooled and their spread taken robustly (MAD), so one outlier run neither sets
    the floor nor hides it. The floor is the 99% bound of the gap between two runs,
    ``z(0.995) · √2 · σ`` -- the reading ``statistics.latency`` gives a floor -- rounded
    up to 0.5%, at least 1%.
    """
    entries = []
    p50s = {m: float(np.median([units(r, m).mean() for r in runs])) for m in models}
    for scale_models in ([m for m in models if p50s[m] >= MS_SCALE],
                         [m for m in models if p50s[m] < MS_SCALE]):
        if not scale_models:
            continue
        p50 = float(np.median([p50s[m] for m in scale_models]))
        for k in sorted({1, repeats}):
            residuals = []
            for model in scale_models:
                levels = np.array([np.log(units(r, model, k)).mean() for r in runs])
                residuals.extend(levels - levels.mean())
            sigma = float(stats.median_abs_deviation(residuals, scale="normal"))
            bound = float(stats.norm.ppf(0.995)) * math.sqrt(2) * sigma
            floor = max(0.01, math.ceil(math.expm1(bound) * 200) / 200)
            entries.append(FloorEntry(p50_ms=p50, repeats=k, floor=floor))
    return NoiseFloor(tuple(entries), source="measured", cpu_model=cpu_model())


def rates(runs: list[LoadedRuns], models: list[str], fractions: dict[str, float],
          settings: GateSettings) -> dict[str, Any]:
    """A/A false alarms (per model scale) and detection (per slowdown) over ordered pairs."""
    base_model = f"chain{BASE_BLOCKS}"
    alarms: dict[str, list[int]] = {"ms": [0, 0], "us": [0, 0]}
    unknown: dict[str, list[int]] = {"ms": [0, 0], "us": [0, 0]}
    detected = {name: [0, 0] for name in EXTRA_BLOCKS}
    views = [{m: only(r, m) for m in models} for r in runs]
    renamed = [{n: only(r, n, rename=base_model) for n in EXTRA_BLOCKS} for r in runs]
    scales = {m: "ms" if np.median([units(r, m).mean() for r in runs]) >= MS_SCALE else "us"
              for m in models}
    for i, j in itertools.permutations(range(len(runs)), 2):
        for model in models:
            scale = scales[model]
            verdict = compare_runs(views[i][model], views[j][model], settings
                                   )["verdict"].iloc[0]
            alarms[scale][0] += verdict in {"slower", "faster"}
            alarms[scale][1] += 1
            unknown[scale][0] += verdict == "unknown"
            unknown[scale][1] += 1
        for name in EXTRA_BLOCKS:
            verdict = compare_runs(views[i][base_model], renamed[j][name],
                                   settings)["verdict"].iloc[0]
            detected[name][0] += verdict == "slower"
            detected[name][1] += 1
    return {
        "false_alarms": {scale: wilson(*counts) for scale, counts in alarms.items()},
        "unknown": {scale: wilson(*counts) for scale, counts in unknown.items()},
        "detection": {f"{fractions[name]:+.1%} ({name})": wilson(*counts)
                      for name, counts in detected.items()},
    }


def reference_fractions(files: list[Path], out: Path, repeats: int,
                        min_secs: float) -> dict[str, float]:
    """What the extra blocks cost, from one long interleaved run of the chains."""
    return fractions_of(load_runs([bench(files, out, repeats, min_secs)]))


def fractions_of(run: LoadedRuns) -> dict[str, float]:
    base = units(run, f"chain{BASE_BLOCKS}")
    return {name: math.expm1(log_change(base, units(run, name))) for name in EXTRA_BLOCKS}


FALSE_ALARM_MODELS = (f"chain{BASE_BLOCKS}", "chain21", "tiny")
# the old rule: the built-in figures decide K = 1 alone, as if measured here
OLD_RULE = NoiseFloor(source="built-in figures, decided on alone (the rule before issue 33)")


def first_repeat(loaded: LoadedRuns) -> LoadedRuns:
    """The run as if it had been timed once (K = 1): its repeat 0 only."""
    repeats = loaded.repeats[loaded.repeats["repeat"].astype(int) == 0]
    return LoadedRuns(loaded.results, loaded.samples, loaded.run_dirs, repeats)


def history_of(runs: list[LoadedRuns], model: str, skip: set[int]
               ) -> dict[tuple[Any, str], SeriesNoise]:
    """The series' history on this host: the other runs' K = 1 figures, in run order."""
    levels = [float(units(r, model, 1)[0]) for index, r in enumerate(runs) if index not in skip]
    noise = floor_from_levels(levels)
    if noise is None:
        return {}
    row = only(runs[0], model).results.iloc[0]
    return {(RowKey.of(row).series, str(row["fingerprint"])): noise}


def false_alarm_condition(runs: list[LoadedRuns], models: list[str]) -> dict[str, Any]:
    """Every ordered pair of runs, model by model: K = 1 three ways, and K = K."""
    ways = ("k1_old_rule", "k1_no_history", "k1_history", "k_repeats")
    counts = {way: {"slower": 0, "faster": 0, "unknown": 0, "same": 0, "decisions": 0}
              for way in ways}
    once = [first_repeat(r) for r in runs]
    lines = []
    for i, j in itertools.permutations(range(len(runs)), 2):
        for model in models:
            judged = {
                "k1_old_rule": (once[i], once[j], GateSettings(noise=OLD_RULE)),
                "k1_no_history": (once[i], once[j], GateSettings()),
                "k1_history": (once[i], once[j], GateSettings(
                    history=history_of(once, model, {j}))),
                "k_repeats": (runs[i], runs[j], GateSettings()),
            }
            for way, (base, current, settings) in judged.items():
                verdict = str(compare_runs(only(base, model), only(current, model), settings
                                           )["verdict"].iloc[0])
                counts[way][verdict] = counts[way].get(verdict, 0) + 1
                counts[way]["decisions"] += 1
                lines.append({"base": i, "current": j, "model": model, "way": way,
                              "verdict": verdict})
    return {"counts": counts, "false_alarms": {
        way: wilson(c["slower"], c["decisions"]) for way, c in counts.items()},
        "lines": lines}


def start_load(processes: int) -> list[subprocess.Popen]:
    """CPU-bound busy loops in processes of their own: the other tenants of a CI runner."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"])
            for _ in range(processes)]


def stop_load(load: list[subprocess.Popen]) -> None:
    for process in load:
        process.kill()
        process.wait()


def false_alarms(args: argparse.Namespace) -> None:
    from qatbench.bench.storage.environment import cpu_flags

    models = list(FALSE_ALARM_MODELS)
    files = [] if args.reuse_runs else build_models(args.work / f"models-c{CHANNELS}")
    chosen = [p for p in files if p.stem in models]
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC  {cpu_model()}, {os.cpu_count()} cores; "
          f"CPU flags: {cpu_flags() or 'unknown'}", flush=True)
    report: dict[str, Any] = {"measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
                              "machine": {"cpu_model": cpu_model(),
                                          "cpu_count": os.cpu_count()},
                              "runs": args.runs, "repeats": args.repeats,
                              "min_secs": args.min_secs, "models": models, "conditions": {}}
    for condition in args.conditions.split(","):
        if args.reuse_runs is not None:  # judge the runs of an earlier measurement again
            runs = [load_runs([d]) for d in run_dirs_under(args.reuse_runs / condition)]
            args.runs = len(runs)
            result = false_alarm_condition(runs, models)
            result.update({"background_load": f"as measured in {args.reuse_runs / condition}",
                           "load_average": [math.nan, math.nan], "duration_s": 0,
                           "p50_ms": {m: float(np.median([units(r, m).mean() for r in runs]))
                                      for m in models}})
            report["conditions"][condition] = result
            print_false_alarms(condition, result, args)
            continue
        load = start_load(args.load_processes) if condition == "loaded" else []
        started, load_before = datetime.now(UTC), os.getloadavg()[0]
        try:
            runs = []
            for index in range(args.runs):
                print(f"[{condition}] A/A run {index + 1}/{args.runs} (K={args.repeats}) ...",
                      flush=True)
                out = args.work / "false-alarms" / started.strftime("%Y%m%dT%H%M%S") / condition
                runs.append(load_runs([bench(chosen, out, args.repeats, args.min_secs)]))
        finally:
            stop_load(load)
        result = false_alarm_condition(runs, models)
        result.update({
            "background_load": (f"{len(load)} CPU-bound busy-loop processes started by this "
                                "script" if load else "none started by this script"),
            "load_average": [load_before, os.getloadavg()[0]],
            "duration_s": round((datetime.now(UTC) - started).total_seconds()),
            "p50_ms": {m: float(np.median([units(r, m).mean() for r in runs]))
                       for m in models}})
        report["conditions"][condition] = result
        print_false_alarms(condition, result, args)
    args.report.parent.mkdir(parents=True, exist_ok=True)
    with args.report.open("w", encoding="utf-8") as sink:
        for condition, result in report["conditions"].items():
            for line in result.pop("lines"):
                sink.write(json.dumps({"condition": condition, **line}) + "\n")
    summary = args.report.with_suffix(".json")
    summary.write_text(json.dumps(report, indent=2))
    print(f"written: {args.report} (every decision), {summary}")


def print_false_alarms(condition: str, result: dict[str, Any], args: argparse.Namespace
                       ) -> None:
    titles = {"k1_old_rule": "K=1, old rule (built-in floor decides alone)",
              "k1_no_history": "K=1, the gate, nothing else under results/",
              "k1_history": f"K=1, the gate, the other {args.runs - 1} runs as history",
              "k_repeats": f"K={args.repeats}, the gate (repeats)"}
    low_load, high_load = result["load_average"]
    print(f"\n[{condition}] background load: {result['background_load']}; load average "
          f"{low_load:.1f} -> {high_load:.1f}; {args.runs} runs x K={args.repeats}, "
          + ("" if args.reuse_runs else f"{args.min_secs:g} s a repeat, ")
          + f"{result['duration_s']} s; p50: "
          + ", ".join(f"{m} {v:.3g} ms" for m, v in result["p50_ms"].items()))
    for way, title in titles.items():
        c = result["counts"][way]
        r = result["false_alarms"][way]
        low, high = r["ci95"]
        print(f"  {title}: false alarms (slower) {c['slower']}/{c['decisions']} = "
              f"{r['rate']:.1%} (Wilson 95% {low:.1%}-{high:.1%}); faster {c['faster']}, "
              f"unknown {c['unknown']}, same {c['same']}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=12, help="A/A runs (N ≥ 10 for the "
                        "README's figures)")
    parser.add_argument("--repeats", type=int, default=3, help="K per run")
    parser.add_argument("--min-secs", type=float, default=1.0, help="timed seconds a repeat")
    parser.add_argument("--reference-repeats", type=int, default=10)
    parser.add_argument("--quick", action="store_true",
                        help="4 runs, K=2, 0.3 s a repeat: minutes, for a smoke test")
    parser.add_argument("--work", type=Path, default=Path("results/gate-error-rates"))
    parser.add_argument("--floor-file", type=Path, default=Path("results/noise-floor.json"))
    parser.add_argument("--reuse", action="store_true",
                        help="analyse the runs already under --work instead of timing anew")
    parser.add_argument("--false-alarms", action="store_true",
                        help="A/A false alarms with no floor file, alone and under load")
    parser.add_argument("--conditions", default="alone,loaded",
                        help="with --false-alarms: alone, loaded or both")
    parser.add_argument("--load-processes", type=int, default=os.cpu_count() or 2,
                        help="with --false-alarms: busy loops in the loaded condition")
    parser.add_argument("--reuse-runs", type=Path, default=None,
                        help="with --false-alarms: judge the runs under DIR/<condition> "
                             "again instead of timing anew")
    parser.add_argument("--report", type=Path,
                        default=Path("results/gate-false-alarms.jsonl"))
    args = parser.parse_args()
    if args.false_alarms:
        if args.runs < 7 and args.reuse_runs is None:
            parser.error("--false-alarms needs --runs >= 7 (the history of a pair is the "
                         "other runs, and a series' history needs 5)")
        if "--min-secs" not in sys.argv:
            args.min_secs = 0.3
        false_alarms(args)
        return
    if args.quick:
        args.runs, args.repeats, args.min_secs, args.reference_repeats = 4, 2, 0.3, 4
    if args.runs < 4 or args.repeats < 1:
        parser.error("--runs must be at least 4 (two per half) and --repeats at least 1")
    started = datetime.now(UTC)
    load_before = os.getloadavg()
    files = build_models(args.work / f"models-c{CHANNELS}")
    chains = [p for p in files if p.stem.startswith("chain")]
    print(f"reference run: {len(chains)} chains x {args.reference_repeats} repeats ...",
          flush=True)
    if args.reuse:
        (reference,) = run_dirs_under(args.work / "reference")
        fractions = fractions_of(load_runs([reference]))
    else:
        fractions = reference_fractions(chains, args.work / "reference",
                                        args.reference_repeats, max(args.min_secs, 2.0))
    print("  measured slowdowns: " + ", ".join(f"{n} {f:+.1%}" for n, f in fractions.items()))
    runs = []
    if args.reuse:
        runs = [load_runs([d]) for d in run_dirs_under(args.work / "aa")]
        args.runs = len(runs)
        args.repeats = int(runs[0].results["repeats"].max())
    for index in range(0 if args.reuse else args.runs):
        print(f"A/A run {index + 1}/{args.runs} (K={args.repeats}) ...", flush=True)
        runs.append(load_runs([bench(files, args.work / "aa", args.repeats, args.min_secs)]))
    models = [p.stem for p in files]
    default = rates(runs, models, fractions, GateSettings())
    half = len(runs) // 2
    split_floor = measure_floor(runs[:half], models, args.repeats)
    measured = rates(runs[half:], models, fractions, replace(GateSettings(), noise=split_floor))
    floor = measure_floor(runs, models, args.repeats)
    report = {
        "schema": SCHEMA,
        "measured_at": started.isoformat(timespec="seconds"),
        "duration_s": round((datetime.now(UTC) - started).total_seconds()),
        "machine": {"cpu_model": cpu_model(), "cpu_count": os.cpu_count()},
        # other work on the host inflates every figure: a load above the core count
        # means the rates describe the contention, not the gate
        "load_average": {"before": load_before, "after": os.getloadavg()},
        "runs": args.runs, "repeats": args.repeats, "min_secs": args.min_secs,
        "models": {m: float(np.median([units(r, m).mean() for r in runs])) for m in models},
        "slowdowns": fractions,
        "floors": [{"p50_ms": e.p50_ms, "repeats": e.repeats, "floor": e.floor}
                   for e in floor.entries],
        "with_default_floor": default,
        "with_measured_floor_split_half": measured,
    }
    args.floor_file.parent.mkdir(parents=True, exist_ok=True)
    args.floor_file.write_text(json.dumps(report, indent=2))
    print_report(report)
    print(f"written: {args.floor_file}")


def print_report(report: dict[str, Any]) -> None:
    def line(label: str, r: dict[str, Any]) -> str:
        if r["rate"] is None:
            return f"  {label}: no pairs"
        low, high = r["ci95"]
        return (f"  {label}: {r['rate']:.1%} ({r['successes']}/{r['trials']}; "
                f"95% CI {low:.1%}–{high:.1%})")

    print(f"\n{report['measured_at']}  {report['machine']['cpu_model']}, "
          f"{report['machine']['cpu_count']} cores; {report['runs']} runs, "
          f"K={report['repeats']}; load average {report['load_average']['before'][0]:.1f}"
          f" → {report['load_average']['after'][0]:.1f}")
    print("models (p50 ms): " + ", ".join(f"{m} {v:.3g}" for m, v in report["models"].items()))
    print("noise floor: " + ", ".join(f"{f['floor']:.1%} at {f['p50_ms']:.3g} ms K={f['repeats']}"
                                      for f in report["floors"]))
    for title, key in (("default floor", "with_default_floor"),
                       ("measured floor (split half)", "with_measured_floor_split_half")):
        block = report[key]
        print(f"{title}:")
        for scale in ("ms", "us"):
            print(line(f"false alarms, {scale}-scale model pairs", block["false_alarms"][scale]))
            print(line(f"unknown, {scale}-scale", block["unknown"][scale]))
        for name, r in block["detection"].items():
            print(line(f"detected slowdown {name}", r))


if __name__ == "__main__":
    main()
