"""The interleaved A/B gate's error rates on this machine, measured, not asserted.

    python benchmarks/ab_error_rates.py                       # the goal's sample: hours
    python benchmarks/ab_error_rates.py --aa 40 --per-effect 10   # a first look

1. Builds float32 .tflite chains of ``BASE_BLOCKS`` conv blocks at 14x14x16 (weights
   small enough to stay in cache, so each block costs about the same) and the same chain
   plus 2, 3, 5 and 10 blocks: about +2%, +3%, +5% and +10% of extra work.
2. Measures what the extra blocks really cost: one long interleaved reference A/B per
   size (32 pairs), printed beside the detection rates.
3. A/A: ``--aa`` independent decisions of ``qatbench ab``'s logic (``run_series``: fresh
   child processes, randomised ABBA pairs, doubling while UNKNOWN up to
   ``--max-pairs``) with the same file on both sides; SLOWER or FASTER is a false alarm.
   Detection: ``--per-effect`` decisions per extra-work size; SLOWER is a detection.
   No noise-floor file is used anywhere. The decisions run in rounds (four A/A, then
   one per effect size) so host drift reaches every condition alike; each one is
   appended to ``--record`` as it is made, and ``--summarise FILE`` prints the rates of
   an interrupted run.
4. Prints every rate with its Wilson 95% interval, the mean pairs and seconds per
   decision, the date, the machine, its CPU flags and the CPUs the run was pinned to
   (``taskset -c 1 python ...`` keeps other work on the other core).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from scipy import stats

from qatbench.bench.orchestration.ab import AbSettings, Series, child_timer, run_series

BASE_BLOCKS = 100
CHANNELS = 16
EXTRA = {"+2%": 2, "+3%": 3, "+5%": 5, "+10%": 10}


def build(directory: Path) -> dict[str, Path]:
    names = {"base": BASE_BLOCKS, **{k: BASE_BLOCKS + v for k, v in EXTRA.items()}}
    paths = {name: directory / f"chain{blocks}.tflite" for name, blocks in names.items()}
    if all(p.exists() for p in paths.values()):
        return paths
    directory.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from chains import conv_chain

    from qatbench.qat.export import keras_converter

    for name, blocks in names.items():
        paths[name].write_bytes(keras_converter(conv_chain(blocks, 14, CHANNELS)).convert())
    return paths


def wilson(hits: int, trials: int) -> str:
    if trials == 0:
        return "n/a"
    ci = stats.binomtest(hits, trials).proportion_ci(0.95, method="wilson")
    return f"{hits}/{trials} = {hits / trials:.1%} [{ci.low:.1%}, {ci.high:.1%}]"


def decide(base: Path, current: Path, settings: AbSettings, work: Path, seed: int) -> Any:
    one = AbSettings(**{**settings.__dict__, "seed": seed})
    return run_series(Series("s", base, current), one, child_timer(one), work / f"d{seed}")


def record_line(condition: str, seed: int, outcome: Any) -> dict[str, Any]:
    d = outcome.decision
    return {"condition": condition, "seed": seed, "verdict": str(d.verdict),
            "change": d.change, "ci_low": d.ci_low, "ci_high": d.ci_high,
            "pairs": d.pairs, "seconds": round(outcome.seconds, 2),
            "stopped": outcome.stopped, "load1": os.getloadavg()[0]}


def summary(label: str, lines: list[dict[str, Any]], wanted: str) -> None:
    counted = {"false alarm": {"slower", "faster"}, "slower": {"slower"}}[wanted]
    if not lines:
        print(f"  {label:8s} {wanted:>12}: no decisions", flush=True)
        return
    hits = sum(line["verdict"] in counted for line in lines)
    unknown = sum(line["verdict"] == "unknown" for line in lines)
    pairs = statistics.mean(line["pairs"] for line in lines)
    seconds = [line["seconds"] for line in lines]
    print(f"  {label:8s} {wanted:>12}: {wilson(hits, len(lines))}; unknown {unknown}; "
          f"{pairs:.1f} pairs and {statistics.mean(seconds):.0f} s per decision "
          f"(longest {max(seconds):.0f} s)", flush=True)


def summarise(lines: list[dict[str, Any]], threshold: float, max_pairs: int) -> None:
    print(f"A/A and detection, threshold ±{threshold:.0%}, pairs 4 doubling to "
          f"{max_pairs}, no floor file:", flush=True)
    summary("A/A", [x for x in lines if x["condition"] == "A/A"], "false alarm")
    for label in EXTRA:
        summary(label, [x for x in lines if x["condition"] == label], "slower")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--aa", type=int, default=200)
    parser.add_argument("--per-effect", type=int, default=50)
    parser.add_argument("--max-pairs", type=int, default=32)
    parser.add_argument("--threshold", type=float, default=0.02)
    parser.add_argument("--models", type=Path, default=Path("results/ab-error-models"))
    parser.add_argument("--record", type=Path, default=None,
                        help="append every decision as a JSON line (kept if interrupted)")
    parser.add_argument("--summarise", type=Path, default=None,
                        help="print the rates from a --record file and stop")
    args = parser.parse_args()
    if args.summarise:
        lines = [json.loads(x) for x in args.summarise.read_text().splitlines() if x]
        summarise(lines, args.threshold, args.max_pairs)
        return 0
    from qatbench.bench.storage.environment import cpu_flags, cpu_model

    print(f"{datetime.date.today()}  {cpu_model()}  {os.cpu_count()} cores  "
          f"{platform.machine()}  CPU flags: {cpu_flags() or 'unknown'}", flush=True)
    print(f"pinned to CPUs {sorted(os.sched_getaffinity(0))}; load average at start "
          f"{os.getloadavg()[0]:.2f}", flush=True)
    paths = build(args.models)
    settings = AbSettings(target="cpu-xnnpack", pairs=4, max_pairs=args.max_pairs,
                          threshold=args.threshold, budget_s=180.0)
    record = args.record or Path(tempfile.gettempdir()) / "qatbench-ab-rates.jsonl"
    lines: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="qatbench-ab-rates-") as scratch:
        work = Path(scratch)
        long_run = AbSettings(**{**settings.__dict__, "pairs": 32, "max_pairs": 32})
        for label, blocks in EXTRA.items():
            reference = decide(paths["base"], paths[label], long_run, work,
                               10_000 + blocks).decision
            print(f"reference: +{blocks} blocks ({label} of the work) measured "
                  f"{reference.change:+.1%} [{reference.ci_low:+.1%}, "
                  f"{reference.ci_high:+.1%}] (32 pairs)", flush=True)
        # Rounds interleave the conditions (A/A ``aa / per_effect`` times, then one
        # decision per effect), so a slow change of the host reaches all of them alike
        # and an interrupted run still has a sample of each.
        per_round = max(1, round(args.aa / max(args.per_effect, 1)))
        rounds = max(args.per_effect, -(-args.aa // per_round))
        seed = 0
        with record.open("a") as out:
            for round_index in range(rounds):
                plan = ["A/A"] * min(per_round, args.aa - round_index * per_round)
                plan += list(EXTRA) if round_index < args.per_effect else []
                for condition in plan:
                    current = paths["base"] if condition == "A/A" else paths[condition]
                    outcome = decide(paths["base"], current, settings, work, seed)
                    line = record_line(condition, seed, outcome)
                    out.write(json.dumps(line) + "\n")
                    out.flush()
                    lines.append(line)
                    seed += 1
                print(f"round {round_index + 1}/{rounds} done, {len(lines)} decisions, "
                      f"load {os.getloadavg()[0]:.2f}", flush=True)
    print(f"every decision: {record}", flush=True)
    summarise(lines, args.threshold, args.max_pairs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
