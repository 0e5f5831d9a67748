"""One gate rule for every gate command: the same synthetic pairs give ``compare``, ``ab``
and ``bisect`` the exit codes (and the probe side) written here by hand, and a latency
check decides by its own threshold, not the one the table's verdict was reached at."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qatbench.bench.orchestration.ab import AbSettings, verdict_frame
from qatbench.bench.orchestration.bisect import probe_verdict
from qatbench.bench.statistics.checks import LatencyCheck, Pair, gate_exit_code, gate_frame
from qatbench.bench.statistics.compare import GateSettings, compare_runs, default_checks
from qatbench.bench.statistics.latency import RepeatEvidence
from qatbench.bench.statistics.noise import FloorEntry, NoiseFloor
from qatbench.bench.statistics.paired import PairedEvidence
from qatbench.bench.statistics.verdict import Verdict
from qatbench.bench.storage.runs import load_runs
from tests.bench.cli_in_process import keep_sigterm  # noqa: F401
from tests.bench.runs_helpers import repeated, write_run

# Four pairs of each kind at τ = 2% (ln 1.02 = 0.0198), A at 1 ms, B = A · exp(log ratio).
# Log ratios c + [-b, b, -b, b]: the 95% half-width is t(0.975, 3) · b · √(4/3) / 2 =
# 1.8374 · b (as in test_paired.py).
RATIOS = {
    "same": [0.0, 0.0, 0.0, 0.0],  # no spread, estimate 0: inside ±τ
    "slower": [0.10] * 4,  # no spread: the interval is +10.5%, above 0 and beyond τ
    "faster": [-0.10] * 4,
    # c = 0.03, b = 0.03: interval -0.025 … 0.085, straddles 0 and τ
    "unknown": [0.0, 0.06, 0.0, 0.06],
}
VERDICTS = {"same": Verdict.SAME, "slower": Verdict.SLOWER, "faster": Verdict.FASTER,
            "unknown": Verdict.UNKNOWN}


def synthetic(kinds: list[str]) -> list[Pair]:
    """One pair per kind, each its own series, with the verdict written above."""
    pairs = []
    for index, kind in enumerate(kinds):
        a = np.ones(4)
        b = np.exp(np.array(RATIOS[kind]))
        pairs.append(Pair((f"m{index}", "qat_int8", "cpu-ref", "", 1), {"status": "ok"},
                          {"status": "ok"}, VERDICTS[kind], evidence=PairedEvidence(a, b)))
    return pairs


AB = AbSettings(target="cpu-ref", threshold=0.02)


def compare_code(pairs: list[Pair], fail_on_unknown: bool) -> int:
    settings = GateSettings(threshold=0.02, fail_on_unknown=fail_on_unknown)
    return gate_exit_code(gate_frame(pairs, default_checks(settings)))


def ab_code(pairs: list[Pair], fail_on_unknown: bool) -> int:
    return gate_exit_code(verdict_frame(pairs, AB, fail_on_unknown))


# (kinds, exit without --fail-on-unknown, exit with it, bisect's side of such a probe)
TABLE = [
    (["same", "same"], 0, 0, "not slower"),
    (["faster", "same"], 0, 0, "not slower"),  # a speed-up fails nothing
    (["same", "slower"], 1, 1, "slower"),
    (["same", "unknown"], 0, 1, "unknown"),  # undecided: fails only when asked
    (["faster", "unknown", "slower"], 1, 1, "slower"),  # a slower series decides it
    ([], 0, 0, "not slower"),  # nothing judged fails nothing
]


@pytest.mark.parametrize(("kinds", "code", "strict_code", "side"), TABLE)
def test_one_rule_gives_compare_ab_and_bisect_their_answer(
        kinds: list[str], code: int, strict_code: int, side: str) -> None:
    pairs = synthetic(kinds)
    for pair in pairs:  # the synthetic verdicts are what the statistic says
        assert pair.evidence.decide(0.02).verdict is pair.verdict
    assert compare_code(pairs, False) == ab_code(pairs, False) == code
    assert compare_code(pairs, True) == ab_code(pairs, True) == strict_code
    assert probe_verdict(pairs, AB) == side


def test_the_rows_name_what_failed_the_same_way_for_compare_and_ab() -> None:
    pairs = synthetic(["same", "slower", "unknown"])
    strict = GateSettings(threshold=0.02, fail_on_unknown=True)
    compare_rows = gate_frame(pairs, default_checks(strict)).set_index("model")
    ab_rows = verdict_frame(pairs, AB, fail_on_unknown=True).set_index("model")
    for rows in (compare_rows, ab_rows):
        assert list(rows["verdict"]) == ["same", "slower", "unknown"]
        assert rows.loc["m0", "gate"] == ""
        # constant +10% log ratio: exp(0.10) - 1 = +10.5%, the interval a point
        assert rows.loc["m1", "gate"] == "p50 +10.5%, interval +10.5% to +10.5%"
        assert rows.loc["m2", "gate"].startswith("p50 undecided (--fail-on-unknown): "
                                                 "interval")


# -- the real ab command, on pairs of those kinds ------------------------------------------

@pytest.fixture
def qatbench_ab(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture,
                request: pytest.FixtureRequest):
    from tests.bench.cli_in_process import run_qatbench

    request.getfixturevalue("keep_sigterm")
    return lambda *args: run_qatbench(monkeypatch, capsys, "ab", *args)


@pytest.mark.parametrize(("kind", "flags", "code"), [
    ("same", [], 0), ("slower", [], 1), ("faster", [], 0),
    ("unknown", [], 0), ("unknown", ["--fail-on-unknown"], 1)])
def test_qatbench_ab_exits_by_the_rule(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       qatbench_ab, kind: str, flags: list[str],
                                       code: int) -> None:
    """``ab`` timing B at exactly these ratios to A (4 pairs, the cap: an unknown series
    stays unknown) exits as the table above says."""
    from qatbench.bench.orchestration import ab

    ratios = iter(np.exp(RATIOS[kind]))

    def timer(side: str, path: Path, work: Path) -> float:
        return float(next(ratios)) if side == "B" else 1.0

    monkeypatch.setattr(ab, "child_timer", lambda settings, options=None: timer)
    base, current = tmp_path / "a.tflite", tmp_path / "b.tflite"
    base.write_bytes(b"TFL3 a")
    current.write_bytes(b"TFL3 b")
    exit_code, output = qatbench_ab(str(base), str(current), "--target", "cpu-ref",
                                    "--pairs", "4", "--max-pairs", "4",
                                    "--out", str(tmp_path / "ab"), *flags)
    assert exit_code == code, output
    assert f"{kind}: 1" in (tmp_path / "ab" / "ab.md").read_text()


# -- a check owns its threshold ------------------------------------------------------------

# three repeats a side at [-a, 0, a] and d + [-a, 0, a], d = ln 1.08, a = 0.01, floor 2%:
# the Welch interval is d ± 2.7764 · √(2/3) · 0.01 = 0.0770 ± 0.0227 (+5.6% … +10.5%),
# clear of 0.
# At 5%: inner = ln 1.05 = 0.0488 < 0.0770 and the half-width 0.0227 ≤ 0.0488: slower.
# At 10%: inner = ln 1.10 = 0.0953 > 0.0770, half-width ≤ inner: same.
D, A = float(np.log(1.08)), 0.01
EIGHT_PERCENT = RepeatEvidence(np.exp([-A, 0.0, A]), np.exp([D - A, D, D + A]), 0.02, 0.05,
                               host_noise=True)


def test_a_latency_check_decides_by_its_own_threshold_not_the_runs() -> None:
    pair = Pair(("m", "qat_int8", "cpu-ref", "", 1), {"status": "ok"}, {"status": "ok"},
                Verdict.SLOWER, EIGHT_PERCENT.decide(0.05), evidence=EIGHT_PERCENT)
    assert pair.latency.verdict is Verdict.SLOWER and pair.latency.threshold == 0.05
    assert LatencyCheck(0.05).fails(pair) == "p50 +8.0%, interval +5.6% to +10.5%"
    stricter = LatencyCheck(0.10)
    assert stricter.decide(pair).verdict is Verdict.SAME
    assert stricter.decide(pair).threshold == 0.10
    assert stricter.fails(pair) is None  # the table said slower; this check says same
    # the paired statistic alike: +3% in every pair is slower at 2%, same at 5%
    paired = Pair(("m", "qat_int8", "cpu-ref", "", 1), None, None, Verdict.SLOWER,
                  evidence=PairedEvidence(np.ones(4), np.full(4, 1.03)))
    assert LatencyCheck(0.02).fails(paired) == "p50 +3.0%, interval +3.0% to +3.0%"
    assert LatencyCheck(0.05).fails(paired) is None


TWO_PERCENT = NoiseFloor((FloorEntry(p50_ms=3.0, repeats=1, floor=0.02),),
                         source="a noise-floor file measured on this host")


def test_compare_verdicts_are_the_latency_checks_at_the_gate_threshold(tmp_path: Path) -> None:
    """Runs of three repeats a side, CURRENT 8% slower in every repeat, on a 2% floor
    measured on this host: the gate at 5% calls it slower and fails, at 10% same and
    passes -- the verdict column and the gate column are the one check's decision."""
    spread = [0.0, 0.01, -0.01]
    row = {"model": "m", "variant": "qat_int8", "target": "cpu-ref"}
    base = write_run(tmp_path, "base", [{**row, "samples": repeated(3.0, spread, 0.002)}])
    current = write_run(tmp_path, "current",
                        [{**row, "samples": repeated(3.0 * 1.08, spread, 0.002, seed=7)}])
    for threshold, verdict, code in ((0.05, "slower", 1), (0.10, "same", 0)):
        frame = compare_runs(load_runs([base]), load_runs([current]),
                             GateSettings(threshold=threshold, noise=TWO_PERCENT))
        line = frame.iloc[0]
        assert (line["verdict"], line["threshold"]) == (verdict, threshold)
        assert gate_exit_code(frame) == code
        assert (line["gate"] != "") is (code == 1)
