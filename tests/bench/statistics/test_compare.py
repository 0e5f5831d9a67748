"""The regression gate as a device lab meets it: breakage and vanished targets fail, run
noise does not, real slowdowns do, and different hosts are refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from qatbench.bench.cli import app
from qatbench.bench.statistics.compare import GateSettings, compare_runs, gate_exit_code
from qatbench.bench.storage.runs import load_runs
from tests.bench.runs_helpers import fingerprint, lognormal, matrix, repeated, write_run
from tests.bench.statistics.gate_helpers import HERE, floor_file

MS = 3.0  # a MobileNetV2-like p50 in ms


def gate(*args: str | Path) -> tuple[int, str]:
    """(exit code, stdout + stderr) of ``qatbench compare ...``."""
    result = CliRunner().invoke(app, ["compare", *map(str, args)])
    output = result.stdout + (result.stderr or "")
    assert "Traceback" not in output
    return result.exit_code, output


def verdicts(base: Path, current: Path, **settings) -> dict[str, str]:
    frame = compare_runs(load_runs([base]), load_runs([current]), GateSettings(**settings))
    return {f"{r['model']}/{r['variant']}/{r['target']}": r["verdict"]
            for _, r in frame.iterrows()}


def row(model: str = "mobilenet_v2", variant: str = "qat_int8", target: str = "cpu-xnnpack",
        **columns) -> dict:
    return {"model": model, "variant": variant, "target": target, "size_bytes": 1000,
            **columns}


# -- breakage -------------------------------------------------------------------------------

def test_ok_to_failed_is_broken_and_exits_1_with_the_error(tmp_path: Path) -> None:
    base = write_run(tmp_path, "base", matrix(1.0, seed=1))
    current_rows = matrix(1.0, seed=2)
    current_rows[1] = {k: v for k, v in current_rows[1].items() if k != "samples"} | {
        "status": "failed", "error": "RuntimeError: XNNPACK delegate crashed\ntraceback..."}
    current = write_run(tmp_path, "current", current_rows)
    assert verdicts(base, current)["mnist_cnn/qat_int8/cpu-xnnpack"] == "broken"
    code, output = gate(base, current)
    assert code == 1 and "REGRESSION" in output
    compare_md = (current / "compare.md").read_text()
    assert "broken" in compare_md and "XNNPACK delegate crashed" in compare_md
    assert "traceback..." not in compare_md  # the first line of the error, not all of it
    assert gate(base, current, "--allow-broken")[0] == 0


def test_ok_to_unavailable_is_broken(tmp_path: Path) -> None:
    base = write_run(tmp_path, "base", matrix(1.0, seed=1))
    current_rows = matrix(1.0, seed=2)
    current_rows[1] = {k: v for k, v in current_rows[1].items() if k != "samples"} | {
        "status": "unavailable", "device": "", "error": "delegate not loadable"}
    current = write_run(tmp_path, "current", current_rows)
    assert verdicts(base, current) == {"mnist_cnn/float32/cpu-xnnpack": "same",
                                       "mnist_cnn/qat_int8/cpu-xnnpack": "broken"}
    code, output = gate(base, current)
    assert code == 1 and "delegate not loadable" in output


def test_a_vanished_key_is_missing_and_allow_missing_lets_it_pass(tmp_path: Path) -> None:
    base = write_run(tmp_path, "base", matrix(1.0, seed=1))
    current = write_run(tmp_path, "current", matrix(1.0, seed=2)[:1])
    assert verdicts(base, current)["mnist_cnn/qat_int8/cpu-xnnpack"] == "missing"
    code, output = gate(base, current)
    assert code == 1 and "missing" in output
    assert "not in CURRENT" in (current / "compare.md").read_text()
    assert gate(base, current, "--allow-missing")[0] == 0


def test_a_vanished_target_is_missing_for_each_of_its_keys(tmp_path: Path) -> None:
    tpu = [row("mobilenet_v2", v, "edgetpu", device="usb:0", samples=lognormal(2, 0.01, 50, i))
           for i, v in enumerate(["ptq_int8", "qat_int8"])]
    base = write_run(tmp_path, "base", matrix(1.0, seed=1) + tpu)
    lost = [row("mobilenet_v2", v, "edgetpu", device="", status="unavailable",
                error="no Edge TPU found on usb:0") for v in ["ptq_int8", "qat_int8"]]
    current = write_run(tmp_path, "current", matrix(1.0, seed=2) + lost)
    found = verdicts(base, current)
    assert found["mobilenet_v2/ptq_int8/edgetpu"] == "missing"
    assert found["mobilenet_v2/qat_int8/edgetpu"] == "missing"
    code, output = gate(base, current)
    assert code == 1 and "no Edge TPU found" in output
    # and a target that is not in CURRENT at all
    gone = write_run(tmp_path, "gone", matrix(1.0, seed=3))
    assert set(verdicts(base, gone).values()) == {"same", "missing"}
    assert gate(base, gone)[0] == 1


def test_a_new_row_is_new_and_passes(tmp_path: Path) -> None:
    base = write_run(tmp_path, "base", matrix(1.0, seed=1)[:1])
    current = write_run(tmp_path, "current", matrix(1.0, seed=2))
    assert verdicts(base, current)["mnist_cnn/qat_int8/cpu-xnnpack"] == "new"
    assert gate(base, current)[0] == 0


# -- like with like -------------------------------------------------------------------------

def test_two_fingerprints_exit_2_naming_the_difference(tmp_path: Path) -> None:
    parts = {"cpu_model": "AMD EPYC 7B13", "cpu_count": "2", "runtime": "ai-edge-litert 2.3.0"}
    base = write_run(tmp_path, "base", [row(samples=lognormal(MS, 0.01, 100, 1),
                                            **fingerprint(**parts))])
    other = parts | {"cpu_model": "Intel Xeon 8375C"}
    current = write_run(tmp_path, "current", [row(samples=lognormal(MS, 0.01, 100, 2),
                                                  **fingerprint(**other))])
    code, output = gate(base, current)
    assert code == 2
    assert "cpu_model" in output and "AMD EPYC 7B13" in output and "Intel Xeon 8375C" in output
    assert "runtime" not in output.split("cpu_model")[1].split(".")[0]  # only what differs
    code, output = gate(base, current, "--allow-host-change")
    assert code == 0
    assert "host changed" in (current / "compare.md").read_text()


def test_rows_without_a_fingerprint_are_matched_with_a_warning(tmp_path: Path) -> None:
    base = write_run(tmp_path, "base", matrix(1.0, seed=1))
    current = write_run(tmp_path, "current", matrix(1.0, seed=2))
    assert gate(base, current)[0] == 0
    assert "no fingerprint" in (current / "compare.md").read_text()


# -- noise is a verdict ----------------------------------------------------------------------



def test_a_30_percent_slowdown_with_one_run_and_no_host_noise_is_unknown(
        tmp_path: Path) -> None:
    """One run per side and a floor measured elsewhere (the built-in one): identical code
    moved +29.8% between two runs on a shared host, so +30% decides nothing -- the
    verdict is unknown and names what would decide it."""
    base = write_run(tmp_path, "base", matrix(1.0, seed=1, float_ms=MS, int8_ms=MS / 2))
    current = write_run(tmp_path, "current", matrix(1.3, seed=11, float_ms=MS,
                                                    int8_ms=MS / 2))
    frame = compare_runs(load_runs([base]), load_runs([current])).set_index("variant")
    assert frame.loc["qat_int8", "verdict"] == "unknown"
    assert frame.loc["float32", "verdict"] == "same"
    reason = frame.loc["qat_int8", "reason"]
    assert "--repeats 3" in reason and "qatbench ab" in reason and "this host" in reason
    assert frame.loc["qat_int8", "repeats_needed"] == 3
    code, output = gate(base, current)
    assert code == 0 and "no regression" in output
    assert gate(base, current, "--fail-on-unknown")[0] == 1


def test_a_30_percent_slowdown_with_one_run_and_a_floor_measured_here_fails(
        tmp_path: Path) -> None:
    base = write_run(tmp_path, "base", matrix(1.0, seed=1, float_ms=MS, int8_ms=MS / 2))
    current = write_run(tmp_path, "current", matrix(1.3, seed=11, float_ms=MS,
                                                    int8_ms=MS / 2))
    assert verdicts(base, current, noise=HERE) == {"mnist_cnn/float32/cpu-xnnpack": "same",
                                                   "mnist_cnn/qat_int8/cpu-xnnpack": "slower"}
    floor_file(tmp_path)
    code, output = gate(base, current)
    assert code == 1 and "REGRESSION" in output
    assert "| mnist_cnn | qat_int8 | cpu-xnnpack | 1 |" in (current / "compare.md").read_text()
    # at µs scale too
    base_us = write_run(tmp_path, "base_us", matrix(1.0, seed=1))
    slow_us = write_run(tmp_path, "slow_us", matrix(1.3, seed=11))
    assert verdicts(base_us, slow_us, noise=HERE)["mnist_cnn/qat_int8/cpu-xnnpack"] == "slower"


def _history(root: Path, moves: list[float]) -> None:
    """Earlier runs of one fingerprinted series under ``root``: run i at ``MS * moves[i]``
    (one repeat each), started one after another."""
    for index, move in enumerate(moves):
        write_run(root, f"2026010{index}", [row(samples=lognormal(MS * move, 0.005, 200,
                                                                  index), **HOST)])


HOST = fingerprint(cpu_model="AMD EPYC 7B13", cpu_count="2", runtime="ai-edge-litert 2.3.0")


def test_one_run_is_judged_against_the_series_history_on_this_host(tmp_path: Path) -> None:
    """Five earlier runs of the series on this fingerprint give the host's own noise:
    with runs that agree within 1%, +30% is slower; with runs of identical code that
    moved 20-30% from one to the next (a shared host), it is not."""
    quiet, busy = tmp_path / "quiet", tmp_path / "busy"
    _history(quiet, [1.0, 1.01, 0.995, 1.005, 0.99])
    _history(busy, [1.0, 1.25, 0.95, 1.2, 0.9])
    for root, verdicts_allowed, code in ((quiet, {"slower"}, 1),
                                         (busy, {"same", "unknown"}, 0)):
        base = write_run(root, "20260201", [row(samples=lognormal(MS, 0.005, 200, 7), **HOST)])
        current = write_run(root, "20260202", [row(samples=lognormal(MS * 1.3, 0.005, 200, 8),
                                                   **HOST)])
        assert gate(base, current)[0] == code
        text = (current / "compare.md").read_text()
        assert any(f"| {verdict} |" in text for verdict in verdicts_allowed), text
    assert "this host's history: 6 runs" in (quiet / "20260202" / "compare.md").read_text()
    # the history is the fingerprint's: another host's runs are not this host's noise
    other = tmp_path / "other"
    _history(other, [1.0, 1.01, 0.995, 1.005, 0.99])
    elsewhere = fingerprint(cpu_model="Intel Xeon 8375C", cpu_count="2",
                            runtime="ai-edge-litert 2.3.0")
    base = write_run(other, "20260201", [row(samples=lognormal(MS, 0.005, 200, 7),
                                             **elsewhere)])
    current = write_run(other, "20260202", [row(samples=lognormal(MS * 1.3, 0.005, 200, 8),
                                                **elsewhere)])
    assert gate(base, current)[0] == 0
    assert "| unknown |" in (current / "compare.md").read_text()


@pytest.mark.parametrize("shift", [1.08, 1 / 1.08])
def test_an_8_percent_wobble_of_identical_code_with_one_run_never_fails(
        tmp_path: Path, shift: float) -> None:
    # One process each, thousands of tight i.i.d. samples: a within-run test calls this
    # p ≈ 0; it is the size of shift identical code shows between two runs (issue 10).
    base = write_run(tmp_path, "base", matrix(1.0, seed=1, sigma=0.005, n=3000,
                                              float_ms=MS, int8_ms=MS / 2))
    current = write_run(tmp_path, "current", matrix(shift, seed=51, sigma=0.005, n=3000,
                                                    float_ms=MS, int8_ms=MS / 2))
    assert verdicts(base, current)["mnist_cnn/qat_int8/cpu-xnnpack"] == "same"
    assert gate(base, current)[0] == 0


def test_a_change_between_the_floor_and_twice_it_is_unknown_with_the_k_to_resolve(
        tmp_path: Path) -> None:
    base = write_run(tmp_path, "base", [row(samples=lognormal(MS, 0.005, 500, 1))])
    current = write_run(tmp_path, "current", [row(samples=lognormal(MS * 1.15, 0.005, 500, 2))])
    frame = compare_runs(load_runs([base]), load_runs([current]))
    line = frame.iloc[0]
    assert line["verdict"] == "unknown"
    assert "--repeats" in line["reason"] and line["repeats_needed"] >= 2
    assert gate(base, current)[0] == 0
    assert gate(base, current, "--fail-on-unknown")[0] == 1


def test_a_run_level_shift_within_the_repeat_spread_is_not_slower(tmp_path: Path) -> None:
    # Samples i.i.d. inside each repeat; repeats differ by a constant (process placement).
    spread = [0.0, 0.05, -0.04, 0.03, -0.02]
    base = write_run(tmp_path, "base", [row(samples=repeated(MS, spread, seed=1))])
    shifted = [s + 0.04 for s in spread[::-1]]
    current = write_run(tmp_path, "current", [row(samples=repeated(MS, shifted, seed=9))])
    assert verdicts(base, current)["mobilenet_v2/qat_int8/cpu-xnnpack"] in {"same", "unknown"}
    assert gate(base, current)[0] == 0


def test_repeats_that_disagree_too_much_are_unknown_naming_k(tmp_path: Path) -> None:
    base = write_run(tmp_path, "base", [row(samples=repeated(MS, [0.0, 0.25, -0.15], seed=1))])
    current = write_run(tmp_path, "current",
                        [row(samples=repeated(MS, [0.1, 0.4, -0.1], seed=5))])
    line = compare_runs(load_runs([base]), load_runs([current])).iloc[0]
    assert line["verdict"] == "unknown"
    assert "repeats disagree" in line["reason"]
    needed = line["repeats_needed"]
    assert ("too noisy" in line["reason"]) if pd.isna(needed) else needed > 3


def test_a_30_percent_slowdown_fails_with_repeats_too(tmp_path: Path) -> None:
    spread = [0.0, 0.02, -0.02, 0.01]
    base = write_run(tmp_path, "base", [row(samples=repeated(MS, spread, seed=1))])
    current = write_run(tmp_path, "current", [row(samples=repeated(MS * 1.3, spread, seed=7))])
    frame = compare_runs(load_runs([base]), load_runs([current]))
    assert frame.iloc[0]["verdict"] == "slower"
    assert frame.iloc[0]["ci_low"] > 0.2
    assert gate(base, current)[0] == 1


def test_a_measured_noise_floor_lets_repeats_detect_10_percent(tmp_path: Path) -> None:
    spread = [0.0, 0.01, -0.01, 0.005, -0.005]
    base = write_run(tmp_path, "base", [row(samples=repeated(MS, spread, seed=1))])
    current = write_run(tmp_path, "current", [row(samples=repeated(MS * 1.1, spread, seed=7))])
    # the built-in floor (10%) does not claim to resolve a 10% change...
    assert verdicts(base, current)["mobilenet_v2/qat_int8/cpu-xnnpack"] != "slower"
    # ...a floor measured on this host with K=5 (3%) does
    floor = {"schema": "qatbench/noise-floor/1", "machine": {"cpu_model": None},
             "floors": [{"p50_ms": MS, "repeats": 1, "floor": 0.08},
                        {"p50_ms": MS, "repeats": 5, "floor": 0.03}]}
    (tmp_path / "noise-floor.json").write_text(json.dumps(floor))  # the results root
    code, output = gate(base, current)
    assert code == 1, output
    assert "noise-floor.json" in (current / "compare.md").read_text()
    broken = tmp_path / "broken.json"
    broken.write_text("{}")
    code, output = gate(base, current, "--noise-floor", broken)
    assert code == 2 and "broken.json" in output


def test_rows_with_only_reported_aggregates_are_one_unit_each(tmp_path: Path) -> None:
    def reported(mean: float) -> list[dict]:  # as benchmark_model reports: no samples
        return [row("m", target="nnapi", latency_ms_mean=mean, latency_ms_std=0.05,
                    n_samples=100)]

    base = write_run(tmp_path, "base", reported(MS))
    assert verdicts(base, write_run(tmp_path, "slow", reported(MS * 1.3)), noise=HERE) == {
        "m/qat_int8/nnapi": "slower"}
    assert verdicts(base, write_run(tmp_path, "same", reported(MS * 1.05))) == {
        "m/qat_int8/nnapi": "same"}


def test_a_speedup_is_faster_and_passes(tmp_path: Path) -> None:
    """One run a side: faster on this host's measured floor, as slower is; on the built-in
    floor alone unknown, naming what would decide it -- and the gate passes either way."""
    base = write_run(tmp_path, "base", matrix(1.0, seed=1))
    current = write_run(tmp_path, "current", matrix(0.7, seed=31))
    key = "mnist_cnn/qat_int8/cpu-xnnpack"
    assert verdicts(base, current, noise=HERE)[key] == "faster"
    assert verdicts(base, current)[key] == "unknown"
    line = compare_runs(load_runs([base]), load_runs([current])).set_index("variant").loc[
        "qat_int8"]
    assert line["change"] == pytest.approx(-0.3, abs=0.01)
    assert "% from one run per side" in line["reason"]
    assert "not measured on this host" in line["reason"]
    assert "--repeats 3 on both sides" in line["reason"] and line["repeats_needed"] == 3
    assert gate(base, current)[0] == 0


def test_a_speedup_measured_with_repeats_is_faster_and_passes(tmp_path: Path) -> None:
    """With three repeats a side (the default of `nox -s regress`): a 30% speed-up is
    faster, its interval below zero, and the gate passes -- not a regression."""
    spread = [0.0, 0.02, -0.02]
    base = write_run(tmp_path, "base", [row(samples=repeated(MS, spread, seed=1))])
    current = write_run(tmp_path, "current", [row(samples=repeated(MS * 0.7, spread, seed=7))])
    line = compare_runs(load_runs([base]), load_runs([current])).iloc[0]
    assert line["verdict"] == "faster"
    assert line["ci_high"] < -0.2 and line["change"] == pytest.approx(-0.3, abs=0.02)
    assert line["gate"] == ""
    code, output = gate(base, current)
    assert code == 0 and "no regression" in output


def test_p90_metric_is_compared_on_the_tail(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    calm = MS * (1.0 + 0.01 * rng.standard_normal(400))
    spiky = calm.copy()
    spiky[::4] *= 1.6  # a quarter of the runs stall: the median holds, the p90 does not
    base = write_run(tmp_path, "base", [row(samples=calm)])
    current = write_run(tmp_path, "current", [row(samples=spiky)])
    key = "mobilenet_v2/qat_int8/cpu-xnnpack"
    assert verdicts(base, current, metric="p50")[key] == "same"
    assert verdicts(base, current, metric="p90", noise=HERE)[key] == "slower"


# -- size and accuracy ---------------------------------------------------------------------

def test_size_growth_and_accuracy_drop_fail_the_gate(tmp_path: Path) -> None:
    base = write_run(tmp_path, "base", matrix(1.0, seed=1))
    grown = write_run(tmp_path, "grown", matrix(1.0, seed=61, size_scale=1.10))
    worse = write_run(tmp_path, "worse", matrix(1.0, seed=71, qat_top1=0.95))
    for current, expected in ((grown, "size grew"), (worse, "top-1 dropped 2.0 points")):
        frame = compare_runs(load_runs([base]), load_runs([current]))
        assert gate_exit_code(frame) == 1
        assert expected in frame.set_index("variant").loc["qat_int8", "gate"]
        assert gate(base, current)[0] == 1


# -- usage ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("args", "message"), [
    (["--threshold", "5"], "5%"),
    (["--threshold", "-5%"], "non-negative"),
    (["--threshold", "abc"], "percentage"),
    (["--threshold", "nan"], "non-negative"),
    (["--alpha", "2"], "--alpha"),
    (["--alpha", "0"], "--alpha"),
])
def test_bad_thresholds_and_alphas_exit_2_saying_what_is_wrong(
        tmp_path: Path, args: list[str], message: str) -> None:
    base = write_run(tmp_path, "base", matrix(1.0, seed=1))
    code, output = gate(base, base, *args)
    assert code == 2 and message in output


def test_threshold_as_percentage_or_fraction_means_the_same(tmp_path: Path) -> None:
    base = write_run(tmp_path, "base", [row(samples=lognormal(MS, 0.005, 500, 1))])
    current = write_run(tmp_path, "current", [row(samples=lognormal(MS * 1.15, 0.005, 500, 2))])
    # at the default 5% a 15% change is between the floor and twice it: undecided, which
    # --fail-on-unknown fails -- so a threshold that is ignored cannot pass below
    out = tmp_path / "default.md"
    code, output = gate(base, current, "--fail-on-unknown", "--out", out)
    assert code == 1, output
    assert "| unknown |" in out.read_text()
    # a threshold of 30% makes a 15% change `same`, however it is written; each call is
    # judged by its own exit code and the compare.md it wrote itself
    for name, written in (("percent", "30%"), ("fraction", "0.3")):
        out = tmp_path / f"{name}.md"
        code, output = gate(base, current, "--threshold", written, "--fail-on-unknown",
                            "--out", out)
        assert code == 0, output
        assert "no regression" in output and "REGRESSION" not in output
        assert "| same |" in out.read_text() and "| unknown |" not in out.read_text()


def test_bad_input_exits_2_and_names_what_is_wrong(tmp_path: Path) -> None:
    base = write_run(tmp_path, "base", matrix(1.0, seed=1))
    code, output = gate(base, tmp_path / "nope")
    assert code == 2 and "nope" in output
    other = write_run(tmp_path, "other", [row("resnet", "float32", "edgetpu",
                                              samples=lognormal(1, 0.01, 20, 0))])
    code, output = gate(base, other)
    assert code == 2
    assert "no rows matched" in output and "resnet" in output and "mnist_cnn" in output


def test_results_csv_is_accepted_as_well_as_a_run_dir(tmp_path: Path) -> None:
    base = write_run(tmp_path, "base", matrix(1.0, seed=1))
    current = write_run(tmp_path, "current", matrix(1.4, seed=11))
    frame = compare_runs(load_runs([base / "results.csv"]), load_runs([current]),
                         GateSettings(noise=HERE))
    assert isinstance(frame, pd.DataFrame)
    assert frame.set_index("variant").loc["qat_int8", "verdict"] == "slower"


def test_one_disturbed_repeat_does_not_hide_a_10_percent_regression(tmp_path: Path) -> None:
    """Measured on this host: a repeat of the slowed model ran 13% slow (another tenant);
    the t-interval of 3 vs 3 then straddles 0, yet every CURRENT repeat is slower than
    every BASE repeat by more than twice the floor."""
    base = write_run(tmp_path, "base", [row(samples=repeated(2.79, [0.0, -0.004, 0.002],
                                                             seed=1))])
    current = write_run(tmp_path, "current", [row(samples=repeated(
        2.79, [0.113, 0.253, 0.108], seed=7))])
    floor = {"schema": "qatbench/noise-floor/1", "machine": {"cpu_model": None},
             "floors": [{"p50_ms": MS, "repeats": 1, "floor": 0.02},
                        {"p50_ms": MS, "repeats": 3, "floor": 0.02}]}
    (tmp_path / "noise-floor.json").write_text(json.dumps(floor))
    code, output = gate(base, current)
    assert code == 1, output
    assert "every repeat of CURRENT above every repeat of BASE" in (
        current / "compare.md").read_text()
