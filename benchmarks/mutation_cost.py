"""Where `nox -s mutation`'s time goes, from the stats of the last mutmut run.

mutmut forks one pytest session per mutant and runs the tests its stats pass saw reach the
mutated function (stopping at the first failure); a survivor runs all of them. So the
sum, over mutants, of those tests' durations bounds the run from above. This prints that
bound per module, with and without tests slower than ``--cap`` seconds, and the mutants
no selected test reaches -- the figures behind the selection in pyproject's
[tool.mutmut] (README, "nox sessions"). ``--remaining`` bounds only what a paused run has
still to check (mutmut keeps every result, and ``mutmut run`` resumes where it stopped).

    python benchmarks/mutation_cost.py [--mutants mutants] [--cap 1.0] [--remaining]

Reads ``mutants/mutmut-stats.json`` and ``mutants/**/*.py.meta`` (run `nox -s mutation`
or `mutmut run` first); the durations are those of the stats pass on the host that ran it.
"""

from __future__ import annotations

import argparse
import json
import platform
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path


def _cpu() -> tuple[str, str]:
    model, flags = platform.processor() or "unknown", ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and model in ("unknown", "x86_64", ""):
                model = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                wanted = ("avx2", "avx512f", "avx512_vnni", "amx_int8", "fma")
                flags = " ".join(f for f in line.split(":", 1)[1].split() if f in wanted)
                break
    except OSError:
        pass
    return model, flags


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mutants", type=Path, default=Path("mutants"))
    parser.add_argument("--cap", type=float, default=None,
                        help="also show the bound without tests slower than this (s)")
    parser.add_argument("--remaining", action="store_true",
                        help="only the mutants a resumed run has still to check")
    args = parser.parse_args()
    stats = json.loads((args.mutants / "mutmut-stats.json").read_text())
    durations: dict[str, float] = stats["duration_by_test"]
    tests_of: dict[str, list[str]] = stats["tests_by_mangled_function_name"]
    model, flags = _cpu()
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {model}, flags: {flags}; "
          f"{len(durations)} tests in the selection, {sum(durations.values()):.0f} s in all "
          "(stats pass)")
    bound, count, untested = Counter(), Counter(), Counter()
    for meta in sorted(args.mutants.rglob("*.py.meta")):
        module = str(meta.relative_to(args.mutants))[: -len(".py.meta")].replace("/", ".")
        keys = json.loads(meta.read_text()).get("exit_code_by_key", {})
        for key, exit_code in keys.items():
            if args.remaining and exit_code is not None:
                continue
            tests = [t for t in tests_of.get(key.rsplit("__mutmut_", 1)[0], ())
                     if args.cap is None or durations.get(t, 0.0) <= args.cap]
            count[module] += 1
            untested[module] += not tests
            bound[module] += sum(durations.get(t, 0.0) for t in tests)
    cap = "" if args.cap is None else f" (tests over {args.cap:g} s left out)"
    if args.remaining:
        cap += " (mutants still to check)"
    print(f"upper bound{cap}: hours | mutants | reached by no test | module")
    for module, seconds in bound.most_common():
        print(f"{seconds / 3600:7.2f} | {count[module]:5d} | {untested[module]:5d} | {module}")
    print(f"total {sum(bound.values()) / 3600:.2f} h over {sum(count.values())} mutants, "
          f"{sum(untested.values())} reached by no test")


if __name__ == "__main__":
    main()
