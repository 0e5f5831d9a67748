"""How well ``history``'s step detector blames the right run, on series with a known step.

    python benchmarks/changepoint_accuracy.py [--series 400] [--seed 7]

``qatbench history`` and its alerts name the run that made a model slower
(``bench/statistics/changepoints.find_steps``). This draws random series of run levels
(ms) with one known step -- 6% to 20%, up or down, after 4-14 runs at the old level and
``min_runs``-11 at the new one, log-normal run-to-run noise of 0.3%, 1% or 2%, and in
half of them one outlier run (+30%) anywhere -- and counts, for ``--min-runs`` 1, 2 and 3:

- *exact*: a step reported at the first run at the new level;
- *extra*: more than one step reported (a recovery or a second step that never happened);
- *flat*: any step reported on 20 runs of noise alone (a false alert);
- *short*: any step reported when only ``min_runs - 1`` runs sit at a +10% level at the
  end of the series (not a level yet at that ``--min-runs``: the right answer is none).

Each count has its Wilson 95% interval (scipy). The series are synthetic: the figures
say what the detector does with these noise levels, not with a given lab's runs.
Pure computation, no timing: the figures do not depend on the host's load.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform

import numpy as np
from scipy import stats

from qatbench.bench.statistics.changepoints import find_steps

STEPS = (0.06, 0.1, 0.2, -0.1)
NOISES = (0.003, 0.01, 0.02)


def _rate(hits: int, n: int) -> str:
    interval = stats.binomtest(hits, n).proportion_ci(confidence_level=0.95, method="wilson")
    return f"{hits:4d}/{n} = {hits / n:6.1%} [{interval.low:.1%}, {interval.high:.1%}]"


def measure(min_runs: int, series: int, rng: np.random.Generator) -> dict[str, int]:
    counts = {"exact": 0, "extra": 0, "flat": 0, "short": 0}
    for _ in range(series):
        before, after = int(rng.integers(4, 15)), int(rng.integers(max(min_runs, 2), 12))
        step, noise = float(rng.choice(STEPS)), float(rng.choice(NOISES))
        levels = np.concatenate([np.full(before, 3.0), np.full(after, 3.0 * (1 + step))])
        levels *= np.exp(rng.normal(0, noise, levels.size))
        if rng.random() < 0.5:
            levels[rng.integers(0, levels.size)] *= 1.3
        found = find_steps(levels, min_runs=min_runs)
        counts["exact"] += any(s.index == before for s in found)
        counts["extra"] += len(found) > 1
        counts["flat"] += bool(find_steps(3.0 * np.exp(rng.normal(0, noise, 20)),
                                          min_runs=min_runs))
        if min_runs > 1:
            short = np.concatenate([np.full(before, 3.0), np.full(min_runs - 1, 3.3)])
            short *= np.exp(rng.normal(0, 0.003, short.size))
            counts["short"] += bool(find_steps(short, min_runs=min_runs))
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=400, help="series per --min-runs")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    from qatbench.bench.storage.environment import cpu_flags, cpu_model

    print(f"{datetime.date.today()}  {cpu_model()}  {os.cpu_count()} cores  "
          f"{platform.machine()}  CPU flags: {cpu_flags() or 'unknown'}")
    print(f"{args.series} random series per --min-runs, seed {args.seed}; one process")
    rng = np.random.default_rng(args.seed)
    for min_runs in (1, 2, 3):
        counts = measure(min_runs, args.series, rng)
        print(f"--min-runs {min_runs}: exact {_rate(counts['exact'], args.series)}; "
              f"extra {_rate(counts['extra'], args.series)}; "
              f"flat {_rate(counts['flat'], args.series)}"
              + ("" if min_runs == 1 else f"; short {_rate(counts['short'], args.series)}"))


if __name__ == "__main__":
    main()
