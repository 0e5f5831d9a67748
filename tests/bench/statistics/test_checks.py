"""The gate's checks one by one: what each fails, what it lets pass, and the message a
user reads in the ``gate`` column -- above all the accuracy check on ``agreement_top1``,
the only accuracy gate for a model without labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qatbench.bench.statistics.checks import (
    AccuracyCheck,
    BrokenCheck,
    LatencyCheck,
    MissingCheck,
    Pair,
    SizeCheck,
    first_line,
    run_checks,
)
from qatbench.bench.statistics.compare import GateSettings, compare_runs, default_checks
from qatbench.bench.statistics.latency import RepeatEvidence
from qatbench.bench.statistics.verdict import Verdict
from qatbench.bench.storage.key import RowKey
from qatbench.bench.storage.predictions import NO_LABEL, Predictions, save_predictions
from qatbench.bench.storage.runs import load_runs
from tests.bench.runs_helpers import lognormal, write_run

SERIES = ("mobilenet_v2", "qat_int8", "cpu-xnnpack", "host", 1)
FLOAT = ("mobilenet_v2", "float32", "cpu-xnnpack", "host", 1)


def pair(base: dict | None, current: dict | None, series: tuple = SERIES,
         verdict: Verdict = Verdict.SAME, **fields) -> Pair:
    return Pair(series, base, current, verdict, **fields)


# -- first_line ----------------------------------------------------------------------------

def test_first_line_is_the_first_non_empty_line_stripped() -> None:
    assert first_line("\n  \n  RuntimeError: boom  \ntraceback\n") == "RuntimeError: boom"
    assert first_line(None) == "" and first_line(float("nan")) == "" and first_line("") == ""
    assert first_line("   \n\n") == ""
    assert first_line(404) == "404"


def test_first_line_truncates_to_the_limit_with_an_ellipsis() -> None:
    assert first_line("x" * 160) == "x" * 160
    assert first_line("x" * 161) == "x" * 159 + "…"
    assert len(first_line("y" * 500)) == 160
    assert first_line("abcdef", limit=4) == "abc…"


# -- latency ---------------------------------------------------------------------------------

def units(base_logs: list[float], current_logs: list[float],
          host_noise: bool = True) -> RepeatEvidence:
    """Repeat units at these logs, judged against a 10% floor at alpha 0.05."""
    return RepeatEvidence(np.exp(base_logs), np.exp(current_logs), 0.10, 0.05, host_noise)


THIRTY = units([0.0], [np.log(1.3)])  # one run a side, +30%: beyond twice the 10% floor
# three repeats a side at [-a, 0, a] and d + [-a, 0, a]: the Welch interval is
# d ± t(0.975, 4) · a · √(2/3) = d ± 2.7764 · 0.8165 · 0.02 = d ± 0.045338
D, A = float(np.log(1.25)), 0.02
REPEATED = units([-A, 0.0, A], [D - A, D, D + A])


def test_latency_fails_a_slower_row_with_its_change_and_interval() -> None:
    check = LatencyCheck(0.05)
    assert check.name == "latency" and check.metric == "p50"
    assert check.fails(pair({}, {}, evidence=THIRTY)) == "p50 +30.0%"
    low, high = np.exp(D - 0.045338) - 1, np.exp(D + 0.045338) - 1  # +19.5%, +30.8%
    assert f"{low:+.1%} to {high:+.1%}" == "+19.5% to +30.8%"
    assert LatencyCheck(0.05, "p90").fails(pair({}, {}, evidence=REPEATED)) == (
        "p90 +25.0%, interval +19.5% to +30.8%")


@pytest.mark.parametrize(("evidence", "verdict"), [
    (units([0.0], [np.log(1.05)]), "same"),  # inside the 10% floor
    (units([0.0], [np.log(0.7)]), "faster"),
    (units([0.0], [np.log(1.3)], host_noise=False), "unknown"),  # floor not this host's
])
def test_latency_passes_what_is_not_slower(evidence: RepeatEvidence, verdict: str) -> None:
    check = LatencyCheck(0.05)
    assert check.decide(pair({}, {}, evidence=evidence)).verdict == verdict
    assert check.fails(pair({}, {}, evidence=evidence)) is None


def test_latency_fails_unknown_only_when_asked() -> None:
    unknown = pair({}, {}, evidence=units([0.0], [np.log(1.3)], host_noise=False))
    message = LatencyCheck(0.05, fail_on_unknown=True).fails(unknown)
    assert message.startswith("p50 undecided (--fail-on-unknown): +30.0% from one run per "
                              "side, beyond the floor 10.0% that was not measured on this "
                              "host")
    assert LatencyCheck(0.05, fail_on_unknown=False).fails(unknown) is None
    # a row that was not timed on both sides has no measurements: nothing to fail, whatever
    # verdict it carries
    assert LatencyCheck(0.05, fail_on_unknown=True).fails(
        pair({}, {}, verdict=Verdict.UNKNOWN)) is None
    assert LatencyCheck(0.05).fails(pair({}, {}, verdict=Verdict.SLOWER)) is None


# -- size ------------------------------------------------------------------------------------

def test_size_fails_an_int8_file_grown_beyond_the_threshold() -> None:
    check = SizeCheck(0.05)
    assert check.name == "size"
    assert check.fails(pair({"size_bytes": 1000}, {"size_bytes": 1060})) == "size grew +6.0%"
    assert check.fails(pair({"size_bytes": 1000}, {"size_bytes": 1050})) is None  # at it
    assert check.fails(pair({"size_bytes": 1000}, {"size_bytes": 500})) is None
    assert SizeCheck(0.0).fails(pair({"size_bytes": 1000}, {"size_bytes": 1001})) == (
        "size grew +0.1%")


def test_size_ignores_float_models_and_rows_without_a_size() -> None:
    check = SizeCheck(0.05)
    assert check.fails(pair({"size_bytes": 1000}, {"size_bytes": 2000}, FLOAT)) is None
    assert check.fails(pair({"size_bytes": 0}, {"size_bytes": 2000})) is None
    assert check.fails(pair({"size_bytes": 1}, {"size_bytes": 2})) == "size grew +100.0%"
    assert check.fails(pair({"size_bytes": float("nan")}, {"size_bytes": 2000})) is None
    assert check.fails(pair({"size_bytes": 1000}, {"size_bytes": None})) is None
    assert check.fails(pair({"size_bytes": 1000}, None)) is None
    assert check.fails(pair(None, {"size_bytes": 1000})) is None


# -- accuracy: top-1 and agreement ------------------------------------------------------------

def test_the_accuracy_check_judges_top1_and_agreement_with_the_float_model() -> None:
    check = AccuracyCheck(1.0)
    assert check.name == "accuracy"
    assert dict(check.columns) == {"accuracy_top1": "top-1",
                                   "agreement_top1": "top-1 agreement"}
    assert AccuracyCheck in {type(c) for c in default_checks(GateSettings())}
    (accuracy,) = [c for c in default_checks(GateSettings(accuracy_drop_points=2.5))
                   if c.name == "accuracy"]
    assert accuracy == AccuracyCheck(2.5)


def test_an_agreement_drop_fails_a_model_without_labels() -> None:
    # an unlabelled model: no top-1, only agreement with its float32 model
    check = AccuracyCheck(1.0)
    base = {"accuracy_top1": None, "agreement_top1": 0.99}
    assert check.fails(pair(base, {"accuracy_top1": None, "agreement_top1": 0.96})) == (
        "top-1 agreement dropped 3.0 points")
    assert check.fails(pair(base, {"accuracy_top1": None, "agreement_top1": 0.985})) is None
    assert check.fails(pair(base, {"accuracy_top1": None, "agreement_top1": 0.975})) == (
        "top-1 agreement dropped 1.5 points")


def test_without_sample_sizes_the_threshold_alone_decides_each_column() -> None:
    check = AccuracyCheck(1.0)
    base = {"accuracy_top1": 0.97, "agreement_top1": 0.99}
    both = check.fails(pair(base, {"accuracy_top1": 0.95, "agreement_top1": 0.97}))
    assert both == "top-1 dropped 2.0 points; top-1 agreement dropped 2.0 points"
    assert check.fails(pair(base, {"accuracy_top1": 0.95, "agreement_top1": 0.99})) == (
        "top-1 dropped 2.0 points")
    assert check.fails(pair(base, {"accuracy_top1": 0.99, "agreement_top1": 1.0})) is None
    assert check.fails(pair(base, {"accuracy_top1": 0.95, "agreement_top1": 0.97},
                            FLOAT)) is None  # the float model is the reference
    assert check.fails(pair(base, None)) is None and check.fails(pair(None, base)) is None
    assert AccuracyCheck(5.0).fails(pair(base, {"accuracy_top1": 0.95,
                                                "agreement_top1": 0.97})) is None
    # a drop of exactly the threshold is not beyond it (values exact in binary)
    assert AccuracyCheck(25.0).fails(pair({"accuracy_top1": 0.5},
                                          {"accuracy_top1": 0.25})) is None
    assert AccuracyCheck(24.0).fails(pair({"accuracy_top1": 0.5},
                                          {"accuracy_top1": 0.25})) == (
        "top-1 dropped 25.0 points")


def test_an_old_run_without_a_sample_size_keeps_the_threshold_rule() -> None:
    # merged with newer rows, an old run's eval_samples reads back as NaN, not None
    old = {"accuracy_top1": 0.97, "eval_samples": float("nan")}
    assert AccuracyCheck(1.0).fails(pair(old, {"accuracy_top1": 0.95,
                                               "eval_samples": 1000})) == (
        "top-1 dropped 2.0 points")
    assert AccuracyCheck(1.0).fails(pair({"accuracy_top1": float("nan")},
                                         {"accuracy_top1": 0.5})) is None


def test_with_sample_sizes_an_agreement_drop_must_be_resolved_unpaired() -> None:
    check = AccuracyCheck(1.0)
    base = {"agreement_top1": 0.99, "eval_samples": 1000}
    # 99.0% -> 96.0% of 1000: Fisher's exact test resolves it
    message = check.fails(pair(base, {"agreement_top1": 0.96, "eval_samples": 1000}))
    assert message is not None
    assert message.startswith("top-1 agreement dropped 3.0 points (p = ")
    assert "Fisher exact, unpaired" in message
    # 99% -> 97% of 100 inputs: beyond the threshold, but the sample cannot tell
    small = {"agreement_top1": 0.99, "eval_samples": 100}
    assert check.fails(pair(small, {"agreement_top1": 0.97, "eval_samples": 100})) is None
    # only one side knows its sample size: the threshold-only rule
    assert check.fails(pair(small, {"agreement_top1": 0.97})) == (
        "top-1 agreement dropped 2.0 points")


def unlabelled(correct_vs_float: np.ndarray, digest: str = "same-inputs") -> Predictions:
    reference = np.arange(len(correct_vs_float)) % 10
    predicted = np.where(correct_vs_float, reference, (reference + 1) % 10)
    return Predictions(predicted, np.full(len(reference), NO_LABEL), reference, digest)


def test_a_paired_agreement_drop_is_judged_by_mcnemar() -> None:
    n = 1000
    before = np.ones(n, bool)
    before[:10] = False  # 99.0% agreement
    lost = before.copy()
    lost[10:40] = False  # 96.0%: 30 inputs lost, none gained
    swapped = np.ones(n, bool)
    swapped[10:55] = False  # 95.5%, but 10 inputs gained: 45 vs 10 discordant
    check = AccuracyCheck(1.0)
    base = {"agreement_top1": 0.99, "eval_samples": n}
    message = check.fails(pair(base, {"agreement_top1": 0.96, "eval_samples": n},
                               base_predictions=unlabelled(before),
                               current_predictions=unlabelled(lost)))
    assert message is not None and "top-1 agreement dropped 3.0 points" in message
    assert "McNemar exact, paired" in message
    # the paired drop comes from the predictions, not from the stored rates
    message = check.fails(pair(base, {"agreement_top1": 0.955, "eval_samples": n},
                               base_predictions=unlabelled(before),
                               current_predictions=unlabelled(swapped)))
    assert message is not None and "dropped 3.5 points" in message and "McNemar" in message
    # predictions of other inputs are not paired: Fisher on the rates
    message = check.fails(pair(base, {"agreement_top1": 0.96, "eval_samples": n},
                               base_predictions=unlabelled(before, "a"),
                               current_predictions=unlabelled(lost, "b")))
    assert message is not None and "Fisher exact, unpaired" in message


def test_top1_is_paired_on_the_labels_and_agreement_on_the_float_models_classes() -> None:
    """The float model changed too: 30 inputs now wrong, yet still agreeing with float.
    Top-1 dropped (judged against the labels), agreement did not."""
    n = 1000
    labels = np.zeros(n, int)
    base = Predictions(np.zeros(n, int), labels, np.zeros(n, int), "same")
    moved = np.zeros(n, int)
    moved[:30] = 1
    current = Predictions(moved, labels, moved.copy(), "same")
    rows = ({"accuracy_top1": 1.0, "agreement_top1": 1.0, "eval_samples": n},
            {"accuracy_top1": 0.97, "agreement_top1": 1.0, "eval_samples": n})
    message = AccuracyCheck(1.0).fails(pair(*rows, base_predictions=base,
                                            current_predictions=current))
    assert message is not None and message.startswith("top-1 dropped 3.0 points")
    assert "McNemar exact, paired" in message and "agreement" not in message
    # the mirror image: agreement lost on 30 inputs, top-1 unchanged
    drifted = Predictions(np.zeros(n, int), labels, moved.copy(), "same")
    rows = ({"accuracy_top1": 1.0, "agreement_top1": 1.0, "eval_samples": n},
            {"accuracy_top1": 1.0, "agreement_top1": 0.97, "eval_samples": n})
    message = AccuracyCheck(1.0).fails(pair(*rows, base_predictions=base,
                                            current_predictions=drifted))
    assert message is not None and message.startswith("top-1 agreement dropped 3.0 points")
    assert "McNemar exact, paired" in message


def test_no_paired_drop_passes_even_if_the_stored_rates_differ() -> None:
    n = 1000
    same = np.ones(n, bool)
    same[:10] = False
    check = AccuracyCheck(1.0)
    assert check.fails(pair({"agreement_top1": 0.99, "eval_samples": n},
                            {"agreement_top1": 0.96, "eval_samples": n},
                            base_predictions=unlabelled(same),
                            current_predictions=unlabelled(same))) is None


def agreement_run(root: Path, run_id: str, agrees: np.ndarray) -> Path:
    """An unlabelled int8 row (no top-1) with its per-input agreement with float32."""
    row = {"model": "mobilenet_v2", "variant": "qat_int8", "target": "cpu-xnnpack",
           "size_bytes": 1000, "agreement_top1": float(agrees.mean()),
           "eval_samples": len(agrees), "samples": lognormal(3.0, 0.01, 100, 1)}
    run_dir = write_run(root, run_id, [row])
    stored = load_runs([run_dir]).results.iloc[0]
    save_predictions(run_dir, RowKey.of(stored), unlabelled(agrees))
    return run_dir


def test_the_gate_fails_an_unlabelled_model_whose_agreement_dropped(tmp_path: Path) -> None:
    n = 1000
    before = np.ones(n, bool)
    before[:10] = False
    after = before.copy()
    after[10:40] = False
    base = agreement_run(tmp_path, "base", before)
    current = agreement_run(tmp_path, "current", after)
    frame = compare_runs(load_runs([base]), load_runs([current]))
    gate = str(frame["gate"].iloc[0])
    assert "top-1 agreement dropped 3.0 points" in gate and "McNemar" in gate
    same = agreement_run(tmp_path, "same", before)
    assert str(compare_runs(load_runs([base]), load_runs([same]))["gate"].iloc[0]) == ""


# -- broken, missing, the list ----------------------------------------------------------------

def test_broken_and_missing_fail_unless_allowed() -> None:
    broken = pair({}, {}, verdict=Verdict.BROKEN, reason="ok → failed: boom")
    missing = pair({}, None, verdict=Verdict.MISSING, reason="not in CURRENT")
    assert BrokenCheck().fails(broken) == "broken: ok → failed: boom"
    assert BrokenCheck(allowed=True).fails(broken) is None
    assert BrokenCheck().fails(missing) is None
    assert MissingCheck().fails(missing) == "missing: not in CURRENT"
    assert MissingCheck(allowed=True).fails(missing) is None
    assert MissingCheck().fails(broken) is None
    assert (BrokenCheck().name, MissingCheck().name) == ("broken", "missing")


def test_run_checks_returns_every_failure_in_the_order_of_the_list() -> None:
    grown = pair({"size_bytes": 1000, "accuracy_top1": 0.97},
                 {"size_bytes": 2000, "accuracy_top1": 0.90})
    checks = [AccuracyCheck(1.0), SizeCheck(0.05), BrokenCheck()]
    assert run_checks(grown, checks) == ["top-1 dropped 7.0 points", "size grew +100.0%"]
    assert run_checks(grown, checks[::-1]) == ["size grew +100.0%", "top-1 dropped 7.0 points"]
    assert run_checks(grown, []) == []


def test_default_checks_carry_the_settings() -> None:
    settings = GateSettings(threshold=0.2, metric="p90", fail_on_unknown=True,
                            allow_missing=True, allow_broken=True, accuracy_drop_points=3.0)
    checks = {check.name: check for check in default_checks(settings)}
    assert {name: checks[name] for name in ("missing", "broken", "latency", "size",
                                            "accuracy")} == {
        "missing": MissingCheck(True), "broken": BrokenCheck(True),
        "latency": LatencyCheck(0.2, "p90", True), "size": SizeCheck(0.2),
        "accuracy": AccuracyCheck(3.0)}
    checks = {check.name: check for check in default_checks(GateSettings())}
    assert {name: checks[name] for name in ("missing", "broken", "latency", "size",
                                            "accuracy")} == {
        "missing": MissingCheck(False), "broken": BrokenCheck(False),
        "latency": LatencyCheck(0.05, "p50", False), "size": SizeCheck(0.05),
        "accuracy": AccuracyCheck(1.0)}


def test_a_drop_of_exactly_the_threshold_passes_whatever_floating_point_makes_of_it() -> None:
    """0.99 -> 0.98 is 1.0000000000000009 points in floating point; the README's rule is a
    drop *beyond* the threshold, so exactly 1 point with --accuracy-drop 1 passes."""
    from qatbench.bench.statistics.accuracy import accuracy_drop

    exact = accuracy_drop(0.99, 10_000, 0.98, 10_000, threshold_points=1.0)
    assert not exact.fails and exact.message == ""
    beyond = accuracy_drop(0.99, 10_000, 0.9799, 10_000, threshold_points=1.0)
    assert beyond.fails
