"""The unified decision record: both latency statistics (cross-run ``latency.decide``,
paired ``paired.decide_paired``) answer with the same ``Decision``, each verdict filled
the same way; and at one run a side FASTER follows the host-noise rule SLOWER follows.

Expectations by hand. Cross-run at threshold 5% and floor 10%: same within ±10.0%,
decided beyond ±21.0% (2 ln 1.10); three repeats a side at ``[-a, 0, a]`` and
``d + [-a, 0, a]`` have the Welch interval ``d ± 2.2669 a`` (test_latency.py). Paired at
τ = 2%: log ratios ``c + [-b, b, -b, b]`` have the interval ``c ± 1.8374 b``
(test_paired.py).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

from qatbench.bench.statistics.compare import GateSettings, compare_runs
from qatbench.bench.statistics.latency import decide
from qatbench.bench.statistics.paired import decide_paired
from qatbench.bench.statistics.series_noise import SeriesNoise
from qatbench.bench.statistics.verdict import Decision, Verdict
from qatbench.bench.storage.runs import load_runs
from tests.bench.runs_helpers import fingerprint, lognormal, repeated, write_run
from tests.bench.statistics.gate_helpers import HERE


def cross_run(base_logs: list[float], current_logs: list[float],
              host_noise: bool = True) -> Decision:
    return decide(np.exp(base_logs), np.exp(current_logs), threshold=0.05, floor=0.10,
                  alpha=0.05, host_noise=host_noise)


def three(centre: float, a: float) -> list[float]:
    return [centre - a, centre, centre + a]


def paired(logs: list[float]) -> Decision:
    return decide_paired(np.ones(len(logs)), np.exp(logs), threshold=0.02)


def alternating(c: float, b: float) -> list[float]:
    return [c - b, c + b, c - b, c + b]


ONE_RUN_UNDECIDED = "--repeats 3 on both sides, or `qatbench ab BASE_FILE CURRENT_FILE`"
MORE_PAIRS = "more pairs (a higher --max-pairs or --budget)"

# (what, decision, verdict, change, resolve): every verdict of both statistics
TABLE = [
    ("K=1 inside the floor", lambda: cross_run([0.0], [math.log(1.05)]), Verdict.SAME,
     0.05, ""),
    ("K=1 +30%, this host's noise", lambda: cross_run([0.0], [math.log(1.3)]),
     Verdict.SLOWER, 0.30, ""),
    ("K=1 -30%, this host's noise", lambda: cross_run([0.0], [math.log(0.7)]),
     Verdict.FASTER, -0.30, ""),
    ("K=1 +30%, a floor from elsewhere",
     lambda: cross_run([0.0], [math.log(1.3)], host_noise=False), Verdict.UNKNOWN, 0.30,
     ONE_RUN_UNDECIDED),
    ("K=1 -30%, a floor from elsewhere: the same rule",
     lambda: cross_run([0.0], [math.log(0.7)], host_noise=False), Verdict.UNKNOWN, -0.30,
     ONE_RUN_UNDECIDED),
    # between ±10% and ±21%: K = 3 resolves it at the floor's implied spread
    ("K=1 +15%, between the bands", lambda: cross_run([0.0], [math.log(1.15)]),
     Verdict.UNKNOWN, 0.15, "--repeats 3 on both sides"),
    ("K=3 -30%, resolved", lambda: cross_run(three(0, 0.05), three(-0.30, 0.05)),
     Verdict.FASTER, math.expm1(-0.30), ""),
    ("K=3 -15%, resolved and narrow", lambda: cross_run(three(0, 0.01), three(-0.15, 0.01)),
     Verdict.FASTER, math.expm1(-0.15), ""),
    ("K=3 -30% with no host noise: repeats need none",
     lambda: cross_run(three(0, 0.05), three(-0.30, 0.05), host_noise=False),
     Verdict.FASTER, math.expm1(-0.30), ""),
    ("K=3 +30%", lambda: cross_run(three(0, 0.05), three(0.30, 0.05)), Verdict.SLOWER,
     math.expm1(0.30), ""),
    ("K=3 +25% in wide repeats", lambda: cross_run(three(0, 0.15), three(0.25, 0.15)),
     Verdict.UNKNOWN, math.expm1(0.25), "--repeats 21 on both sides"),
    ("pairs +10%", lambda: paired([0.10] * 4), Verdict.SLOWER, math.expm1(0.10), ""),
    ("pairs -10%", lambda: paired([-0.10] * 4), Verdict.FASTER, math.expm1(-0.10), ""),
    ("pairs 0", lambda: paired([0.0] * 4), Verdict.SAME, 0.0, ""),
    ("pairs straddling 0 and τ", lambda: paired(alternating(0.03, 0.03)), Verdict.UNKNOWN,
     math.expm1(0.03), MORE_PAIRS),
    ("two pairs", lambda: paired([0.1, 0.1]), Verdict.UNKNOWN, None, MORE_PAIRS),
]


@pytest.mark.parametrize(("what", "make", "verdict", "change", "resolve"), TABLE,
                         ids=[row[0] for row in TABLE])
def test_both_statistics_fill_one_record_the_same_way(
        what: str, make, verdict: Verdict, change: float | None, resolve: str) -> None:
    decision = make()
    assert type(decision) is Decision
    assert decision.verdict is verdict, decision
    assert decision.change == (None if change is None else pytest.approx(change))
    assert decision.resolve == resolve  # what would decide it: only when nothing did
    assert decision.decided is (verdict is not Verdict.UNKNOWN)
    assert decision.basis  # what it rests on, always said
    is_paired = what.startswith(("pairs", "two pairs"))
    if verdict is Verdict.UNKNOWN and not is_paired:
        assert resolve in decision.reason  # the reason a user reads names it too
    assert decision.threshold == (0.02 if is_paired else 0.05)
    # each statistic fills its own field of what it rests on, never the other's
    assert (decision.pairs is not None) is is_paired
    assert (decision.floor == 0.10) is not is_paired


def test_the_record_has_the_fields_the_gate_reads() -> None:
    names = [f.name for f in dataclasses.fields(Decision)]
    assert names == ["verdict", "change", "ci_low", "ci_high", "threshold", "basis",
                     "reason", "resolve", "repeats_needed", "floor", "pairs"]
    # the stored strings never change: results written before read the same
    assert [str(v) for v in Verdict] == ["slower", "faster", "same", "unknown", "broken",
                                         "missing", "new"]


# -- compare at one run a side: FASTER needs this host's noise, as SLOWER does ---------------

HOST = fingerprint(cpu_model="AMD EPYC 7B13", cpu_count="2", runtime="ai-edge-litert 2.3.0")
ROW = {"model": "m", "variant": "qat_int8", "target": "cpu-xnnpack", **HOST}
SERIES = ("m", "qat_int8", "cpu-xnnpack", "host", 1)


def one_run_verdict(tmp_path: Path, ratio: float, noise: str) -> str:
    """The verdict of one run a side, CURRENT ``ratio`` times BASE, where this host's
    noise is ``noise``: nothing (the built-in floor only), the series' history on this
    fingerprint (a 2% floor from 6 runs) or a noise-floor file measured here."""
    folder = tmp_path / f"{ratio}-{noise}"
    base = write_run(folder, "base", [{**ROW, "samples": lognormal(3.0, 0.005, 200, 1)}])
    current = write_run(folder, "current",
                        [{**ROW, "samples": lognormal(3.0 * ratio, 0.005, 200, 2)}])
    settings = {"nothing": GateSettings(),
                "history": GateSettings(history={(SERIES, HOST["fingerprint"]):
                                                 SeriesNoise(0.02, 6)}),
                "floor file": GateSettings(noise=HERE)}[noise]
    line = compare_runs(load_runs([base]), load_runs([current]), settings).iloc[0]
    assert line["gate"] == ("" if line["verdict"] != "slower" else line["gate"])
    return str(line["verdict"])


@pytest.mark.parametrize(("ratio", "noise", "verdict"), [
    (1.3, "nothing", "unknown"), (0.7, "nothing", "unknown"),
    (1.3, "history", "slower"), (0.7, "history", "faster"),
    (1.3, "floor file", "slower"), (0.7, "floor file", "faster"),
])
def test_one_run_a_side_decides_either_sign_only_on_this_hosts_noise(
        tmp_path: Path, ratio: float, noise: str, verdict: str) -> None:
    assert one_run_verdict(tmp_path, ratio, noise) == verdict


def test_repeats_decide_faster_without_this_hosts_noise(tmp_path: Path) -> None:
    """K = 3 a side measures its own spread: a 30% speed-up is faster on the built-in
    floor alone, its interval below zero."""
    spread = [0.0, 0.02, -0.02]
    base = write_run(tmp_path, "base", [{**ROW, "samples": repeated(3.0, spread, seed=1)}])
    current = write_run(tmp_path, "current",
                        [{**ROW, "samples": repeated(2.1, spread, seed=7)}])
    line = compare_runs(load_runs([base]), load_runs([current])).iloc[0]
    assert line["verdict"] == "faster" and line["ci_high"] < 0
    assert line["gate"] == ""
