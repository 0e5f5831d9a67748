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
   No noise-floor file is used anywhere.
4. Prints every rate with its Wilson 95% interval, the mean pairs and seconds per
   decision, the date, the machine and its CPU flags.
"""

from __future__ import annotations

import argparse
import datetime
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


def decisions(base: Path, current: Path, count: int, settings: AbSettings, work: Path,
              seed: int) -> list[Any]:
    timer = child_timer(settings)
    found = []
    for index in range(count):
        one = AbSettings(**{**settings.__dict__, "seed": seed + index})
        found.append(run_series(Series("s", base, current), one, timer,
                                work / f"d{seed + index}"))
    return found


def summary(label: str, outcomes: list[Any], wanted: str) -> None:
    counted = {"false alarm": {"slower", "faster"}, "slower": {"slower"}}[wanted]
    hits = sum(str(o.decision.verdict) in counted for o in outcomes)
    unknown = sum(str(o.decision.verdict) == "unknown" for o in outcomes)
    pairs = statistics.mean(o.decision.pairs for o in outcomes)
    seconds = statistics.mean(o.seconds for o in outcomes)
    print(f"  {label:8s} {wanted:>12}: {wilson(hits, len(outcomes))}; unknown "
          f"{unknown}; {pairs:.1f} pairs and {seconds:.0f} s per decision", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--aa", type=int, default=200)
    parser.add_argument("--per-effect", type=int, default=50)
    parser.add_argument("--max-pairs", type=int, default=32)
    parser.add_argument("--threshold", type=float, default=0.02)
    parser.add_argument("--models", type=Path, default=Path("results/ab-error-models"))
    args = parser.parse_args()
    from qatbench.bench.storage.environment import cpu_flags, cpu_model

    print(f"{datetime.date.today()}  {cpu_model()}  {os.cpu_count()} cores  "
          f"{platform.machine()}  CPU flags: {cpu_flags() or 'unknown'}", flush=True)
    paths = build(args.models)
    settings = AbSettings(target="cpu-xnnpack", pairs=4, max_pairs=args.max_pairs,
                          threshold=args.threshold, budget_s=180.0,
                          spec={"warmup_runs": 1, "warmup_min_s": 0.2, "min_runs": 20,
                                "min_s": 0.5, "max_s": 30.0})
    with tempfile.TemporaryDirectory(prefix="qatbench-ab-rates-") as scratch:
        work = Path(scratch)
        long_run = AbSettings(**{**settings.__dict__, "pairs": 32, "max_pairs": 32})
        for label, blocks in EXTRA.items():
            reference = decisions(paths["base"], paths[label], 1, long_run, work,
                                  10_000 + blocks)[0].decision
            print(f"reference: +{blocks} blocks ({label} of the work) measured "
                  f"{reference.change:+.1%} [{reference.ci_low:+.1%}, "
                  f"{reference.ci_high:+.1%}] (32 pairs)", flush=True)
        print(f"A/A and detection, threshold ±{args.threshold:.0%}, pairs 4 doubling to "
              f"{args.max_pairs}, no floor file:", flush=True)
        summary("A/A", decisions(paths["base"], paths["base"], args.aa, settings, work, 0),
                "false alarm")
        for label in EXTRA:
            summary(label, decisions(paths["base"], paths[label], args.per_effect,
                                     settings, work, 1000 * (1 + list(EXTRA).index(label))),
                    "slower")
    return 0


if __name__ == "__main__":
    sys.exit(main())
