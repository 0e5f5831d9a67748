"""The regression gate's comparison of two runs (``statistics/compare.py``), in process:
what `nox -s mutation` found held only by the command-line tests (test_compare.py drives
``qatbench compare`` whole and is outside the mutation selection). Every run here is
written by the product's own store (``runs_helpers.write_run``) and read back with
``load_runs``; every expectation is stated by hand or computed with numpy from the
samples the test wrote: each row's verdict, its reason and the statuses, figures and
error it shows; which rows are paired (a deviceless row with its job's named row, a lost
target); which noise floor a series is judged against and what the reason says it rests
on; the refusal of another host and of runs with nothing in common; and the per-input
predictions found for the paired accuracy test."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from qatbench.bench.statistics.compare import (
    GateSettings,
    HostChanged,
    NothingMatched,
    compare_runs,
)
from qatbench.bench.statistics.noise import FloorEntry, NoiseFloor
from qatbench.bench.statistics.series_noise import SeriesNoise
from qatbench.bench.storage.key import RowKey
from qatbench.bench.storage.predictions import NO_LABEL, Predictions, save_predictions
from qatbench.bench.storage.runs import load_runs
from tests.bench.runs_helpers import fingerprint, lognormal, repeated, write_run
from tests.bench.statistics.gate_helpers import HERE

MS = 4.0  # above the built-in floor's largest scale (3 ms): its floor there is 10%


def job(model: str, status: str = "ok", *, target: str = "cpu-xnnpack",
        device: str = "host", seed: int = 0, ms: float = MS, **columns: Any) -> dict:
    """One results row for ``write_run``: an ``ok`` row gets 50 samples around ``ms``
    unless ``columns`` give its latency otherwise; any other status gets none."""
    spec = {"model": model, "variant": "qat_int8", "target": target, "device": device,
            "status": status, **columns}
    if status == "ok" and not any(name.startswith(("samples", "latency_ms")) for name in spec):
        spec["samples"] = lognormal(ms, 0.01, 50, seed)
    return spec


def compared(root: Path, base: list[dict], current: list[dict],
             settings: GateSettings | None = None) -> pd.DataFrame:
    """compare_runs of BASE and CURRENT written under ``root`` as two runs."""
    return compare_runs(load_runs([write_run(root, "base", base)]),
                        load_runs([write_run(root, "current", current)]), settings)


def by_model(frame: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """The rows of a comparison by model (each test's models are one row each)."""
    assert frame["model"].is_unique, frame[["model", "device", "verdict"]]
    return {str(line["model"]): line for line in frame.to_dict("records")}


def missing(value: Any) -> bool:
    return value is None or bool(pd.isna(value))


# -- what each row shows: verdicts, reasons, statuses, figures --------------------------------

def test_a_row_that_delivers_less_is_broken_and_one_never_timed_is_unknown(
        tmp_path: Path) -> None:
    """ok → failed and compiled → failed lose something (broken, with CURRENT's first
    error line); failed → failed and failed → ok were never timed on both sides (unknown,
    passing); a job whose CURRENT row never reached a device (no device name) is judged
    against its BASE row on the named device, as one row."""
    base_samples = lognormal(MS, 0.01, 50, 1)
    base = [job("crashed", samples=base_samples), job("compiled", "compiled"),
            job("still", "failed", error="old error"), job("fixed", "failed"),
            job("lost", seed=3)]
    current = [job("crashed", "failed", error="\nRuntimeError: delegate crashed\n  at op 3"),
               job("compiled", "failed"), job("still", "failed", error="old error"),
               job("fixed", seed=4),
               job("lost", "unavailable", device="", error="delegate not loadable")]
    lines = by_model(compared(tmp_path, base, current))
    assert len(lines) == 5  # the deviceless row joined its job's named row
    crashed = lines["crashed"]
    assert (crashed["verdict"], crashed["reason"]) == (
        "broken", "ok → failed: RuntimeError: delegate crashed")
    assert crashed["gate"] == "broken: ok → failed: RuntimeError: delegate crashed"
    assert crashed["error"] == "RuntimeError: delegate crashed"
    assert (crashed["base_status"], crashed["current_status"]) == ("ok", "failed")
    assert crashed["base_p50_ms"] == pytest.approx(float(np.median(base_samples)), rel=1e-12)
    assert missing(crashed["current_p50_ms"])
    assert crashed["base_repeats"] == 1 and missing(crashed["current_repeats"])
    assert (lines["compiled"]["verdict"], lines["compiled"]["reason"]) == (
        "broken", "compiled → failed")
    assert lines["compiled"]["error"] == ""
    for model, before, after in (("still", "failed", "failed"), ("fixed", "failed", "ok")):
        line = lines[model]
        assert (line["verdict"], line["reason"], line["gate"]) == (
            "unknown", f"not timed on both sides ({before} → {after})", "")
        assert (line["base_status"], line["current_status"]) == (before, after)
    joined = lines["lost"]
    assert (joined["device"], joined["verdict"]) == ("host", "broken")
    assert joined["reason"] == "ok → unavailable: delegate not loadable"
    assert (joined["base_status"], joined["current_status"]) == ("ok", "unavailable")


def test_rows_on_one_side_only_and_targets_lost_whole_are_missing_or_new(
        tmp_path: Path) -> None:
    """A row only in BASE is missing, one only in CURRENT new. A target every CURRENT job
    of which was unavailable (a lost Edge TPU, a lost phone) is missing for each BASE row
    that produced something on it (ok or compiled) -- naming the target and its first
    error -- while a row that had already failed in BASE lost nothing (unknown)."""
    added = lognormal(MS, 0.01, 50, 9)
    base = [job("dropped", seed=1), job("kept", seed=2),
            job("tpu_ok", target="edgetpu", device="usb:0", seed=3),
            job("tpu_compiled", "compiled", target="edgetpu", device="usb:0"),
            job("tpu_failed", "failed", target="edgetpu", device="usb:0"),
            job("tpu_gone", target="edgetpu", device="usb:0", seed=4),
            job("phone", target="nnapi", device="pixel-7", seed=5)]
    gone = {"status": "unavailable", "device": ""}
    current = [job("kept", seed=6), job("added", samples=added),
               job("tpu_compiled", target="edgetpu", **gone),
               job("tpu_ok", target="edgetpu", error="no Edge TPU found on usb:0\nretry",
                   **gone),
               job("tpu_failed", target="edgetpu", **gone),
               job("phone", target="nnapi", **gone)]
    lines = by_model(compared(tmp_path, base, current))
    assert len(lines) == 8
    dropped = lines["dropped"]
    assert (dropped["verdict"], dropped["reason"], dropped["gate"]) == (
        "missing", "not in CURRENT", "missing: not in CURRENT")
    assert (dropped["base_status"], dropped["current_status"], dropped["error"]) == (
        "ok", "", "")
    assert dropped["base_repeats"] == 1 and missing(dropped["current_repeats"])
    new = lines["added"]
    assert (new["verdict"], new["reason"], new["gate"]) == ("new", "not in BASE", "")
    assert (new["base_status"], new["current_status"]) == ("", "ok")
    assert new["current_p50_ms"] == pytest.approx(float(np.median(added)), rel=1e-12)
    assert missing(new["base_p50_ms"]) and new["current_repeats"] == 1
    tpu = "target edgetpu unavailable in CURRENT: no Edge TPU found on usb:0"
    for model in ("tpu_ok", "tpu_compiled", "tpu_gone"):
        line = lines[model]
        assert (line["verdict"], line["reason"], line["device"]) == ("missing", tpu, "usb:0")
        assert line["gate"] == f"missing: {tpu}"
    assert (lines["tpu_ok"]["current_status"], lines["tpu_ok"]["error"]) == (
        "unavailable", "no Edge TPU found on usb:0")
    assert lines["tpu_ok"]["base_status"] == "ok"
    assert lines["tpu_gone"]["current_status"] == ""
    assert (lines["tpu_failed"]["verdict"], lines["tpu_failed"]["reason"]) == (
        "unknown", "not timed on both sides (failed → unavailable)")
    phone = lines["phone"]  # lost with no error text
    assert phone["verdict"] == "missing"
    assert phone["reason"].rstrip(": ") == "target nnapi unavailable in CURRENT"


def test_a_deviceless_row_joins_its_jobs_one_named_row_and_never_a_guess(
        tmp_path: Path) -> None:
    """BASE's job that never reached a device (no device name) is judged against the
    CURRENT row of the same model, variant, target and threads on the device it reached
    -- when there is exactly one; a job that ran on two phones in CURRENT is not paired
    with either (each phone's row is new), and one CURRENT lacks is missing."""
    nowhere = {"status": "unavailable", "device": ""}
    base = [job("joined", target="gpu", **nowhere), job("two", target="gpu", **nowhere),
            job("absent", target="gpu", **nowhere),
            job("other", target="gpu", device="phone-a", seed=1)]
    phone_a = [job("other", target="gpu", device="phone-a", seed=2),
               job("joined", target="gpu", device="phone-a", seed=3),
               job("two", target="gpu", device="phone-a", seed=4)]
    phone_b = [job("two", target="gpu", device="phone-b", seed=5)]  # a second device host
    frame = compare_runs(load_runs([write_run(tmp_path, "base", base)]),
                         load_runs([write_run(tmp_path, "phone-a", phone_a),
                                    write_run(tmp_path, "phone-b", phone_b)]))
    joined = frame[frame["model"] == "joined"]
    assert len(joined) == 1
    line = joined.iloc[0]
    assert (line["device"], line["verdict"], line["reason"]) == (
        "", "unknown", "not timed on both sides (unavailable → ok)")
    assert (line["base_status"], line["current_status"]) == ("unavailable", "ok")
    two = frame[frame["model"] == "two"]
    assert {(d, v) for d, v in zip(two["device"], two["verdict"], strict=True)} == {
        ("", "missing"), ("phone-a", "new"), ("phone-b", "new")}
    assert (two.set_index("device").loc["", "current_status"]) == ""
    absent = frame[frame["model"] == "absent"].iloc[0]
    assert (absent["verdict"], absent["reason"]) == ("missing", "not in CURRENT")
    assert frame[frame["model"] == "other"].iloc[0]["verdict"] == "same"


def test_the_figures_shown_are_the_metrics_own(tmp_path: Path) -> None:
    """At p50 a row shows its median (or, for a tool that reports only a mean, the
    mean) and the change is that of the repeat medians; at p90 the row shows and is
    judged on its 90th percentile; a row that timed nothing shows no figure."""
    before, after = lognormal(MS, 0.05, 60, 1), lognormal(MS * 1.02, 0.05, 60, 2)
    base = [job("timed", samples=before), job("reported", latency_ms_mean=3.0),
            job("failed", "failed")]
    current = [job("timed", samples=after), job("reported", latency_ms_mean=3.3),
               job("failed", "failed")]
    base_dir = write_run(tmp_path, "base", base)
    current_dir = write_run(tmp_path, "current", current)
    p50 = by_model(compare_runs(load_runs([base_dir]), load_runs([current_dir])))
    median_change = float(np.median(after) / np.median(before) - 1)
    assert p50["timed"]["change"] == pytest.approx(median_change, rel=1e-9)
    assert p50["timed"]["base_p50_ms"] == pytest.approx(float(np.median(before)), rel=1e-12)
    assert (p50["reported"]["base_p50_ms"], p50["reported"]["current_p50_ms"]) == (3.0, 3.3)
    assert missing(p50["failed"]["base_p50_ms"]) and missing(p50["failed"]["base_repeats"])
    p90 = by_model(compare_runs(load_runs([base_dir]), load_runs([current_dir]),
                                GateSettings(metric="p90")))
    tail = float(np.percentile(before, 90)), float(np.percentile(after, 90))
    assert p90["timed"]["base_p90_ms"] == pytest.approx(tail[0], rel=1e-12)
    assert p90["timed"]["current_p90_ms"] == pytest.approx(tail[1], rel=1e-12)
    assert p90["timed"]["change"] == pytest.approx(tail[1] / tail[0] - 1, rel=1e-9)
    assert missing(p90["reported"]["base_p90_ms"])  # a mean is no tail
    assert missing(p90["failed"]["base_p90_ms"]) and "base_p50_ms" not in p90["failed"]


def test_the_model_build_column_says_whether_the_same_bytes_were_timed(
        tmp_path: Path) -> None:
    base = [job("same", build_key="k1"), job("changed", build_key="k2"),
            job("old", build_key="k3"), job("neither")]
    current = [job("same", build_key="k1"), job("changed", build_key="k9"),
               job("old"), job("neither")]
    lines = by_model(compared(tmp_path, base, current))
    assert {model: line["model_build"] for model, line in lines.items()} == {
        "same": "same model", "changed": "changed model", "old": "", "neither": ""}


# -- what a timed row is judged against, and what its reason says it rests on ------------------

HOST = fingerprint(cpu_model="AMD EPYC 7B13", cpu_count="2", runtime="ai-edge-litert 2.3.0")
SERIES = ("m", "qat_int8", "cpu-xnnpack", "host", 1)
HISTORY = {(SERIES, HOST["fingerprint"]): SeriesNoise(0.02, 6)}
QUIET_HERE = NoiseFloor((FloorEntry(3.0, 1, 0.08), FloorEntry(3.0, 3, 0.03)),
                        source="floor.json")


@pytest.mark.parametrize(("repeats", "settings", "floor", "rests_on"), [
    (1, GateSettings(), 0.10, ""),
    (1, GateSettings(history=HISTORY), 0.02, "; this host's history: 6 runs, floor 2.0%"),
    (1, GateSettings(noise=HERE, history=HISTORY), 0.10,
     "; this host's history: 6 runs, floor 2.0%"),
    (1, GateSettings(noise=HERE), 0.10,
     "; noise floor measured on this host (a noise-floor file measured on this host)"),
    (2, GateSettings(history=HISTORY), 0.10, ""),
    (3, GateSettings(noise=QUIET_HERE), 0.03, ""),
], ids=["built-in", "history", "file-and-history", "file", "k2-history", "k3-entry"])
def test_a_series_is_judged_against_the_floor_of_its_scale_its_repeats_and_this_host(
        tmp_path: Path, repeats: int, settings: GateSettings, floor: float,
        rests_on: str) -> None:
    """A 4 ms model: the built-in floor of the nearest scale (10% at 3 ms, not 12% at
    12 µs); at one run a side this host's history of the series replaces the built-in
    floor, and a measured floor file's floor stands if larger; with repeats the floor is
    the one measured at that K and the history (a K = 1 figure) plays no part. The
    reason names the units and, at K = 1, where this host's noise came from."""
    spread = [0.0, 0.01, -0.01][:repeats]
    base = [{"model": "m", "variant": "qat_int8", "target": "cpu-xnnpack", **HOST,
             "samples": repeated(MS, spread, 0.01, 50, seed=1)}]
    current = [{**base[0], "samples": repeated(MS * 1.01, spread, 0.01, 50, seed=7)}]
    line = compared(tmp_path, base, current, settings).iloc[0]
    assert line["floor"] == pytest.approx(floor)
    assert line["reason"].endswith(f"; units: repeat medians{rests_on}"), line["reason"]


def test_an_undecided_rows_reason_says_why_then_what_it_rests_on(tmp_path: Path) -> None:
    """One run a side, +30% at p90 on the built-in floor: unknown, the reason naming what
    would decide it and then the basis -- the floor and the units of each side, which
    differ here (BASE's samples, CURRENT's p90 as an aggregate-only tool reported it)."""
    samples = lognormal(MS, 0.01, 50, 1)
    base = [job("m", samples=samples)]
    current = [job("m", latency_ms_p90=float(np.percentile(samples, 90)) * 1.3)]
    line = compared(tmp_path, base, current, GateSettings(metric="p90")).iloc[0]
    assert line["verdict"] == "unknown"
    reason = line["reason"]
    assert "would decide it; one run vs noise floor 10.0%" in reason
    assert reason.endswith("; units: repeat p90s of the samples / reported p90"), reason


def test_a_floor_measured_on_another_cpu_is_replaced_by_the_built_in_one(
        tmp_path: Path) -> None:
    measured = NoiseFloor((FloorEntry(3.0, 1, 0.03),), source="floor.json",
                          cpu_model="Intel Xeon 8375C")
    for cpu, source, floor in (("Intel Xeon 8375C", "floor.json", 0.03),
                               ("AMD EPYC 7B13", "built-in default", 0.10)):
        root = tmp_path / cpu.split()[0]
        rows = [job("m", cpu_model=cpu)]
        frame = compared(root, rows, rows, GateSettings(noise=measured))
        assert frame.attrs["noise_floor"].startswith(f"{source}: ")
        assert frame.iloc[0]["floor"] == pytest.approx(floor)
        notes = [note for note in frame.attrs["notes"] if "noise floor in" in note]
        assert notes == ([] if floor == 0.03 else [
            "noise floor in floor.json was measured on 'Intel Xeon 8375C', CURRENT ran on "
            "AMD EPYC 7B13: built-in defaults used"])


# -- like with like -------------------------------------------------------------------------

def _host(cpu: str, runtime: str = "ai-edge-litert 2.3.0") -> dict[str, str]:
    return fingerprint(cpu_model=cpu, cpu_count="2", runtime=runtime)


def _label(model: str) -> str:
    return f"{model}/qat_int8 on cpu-xnnpack [host] x1"


CPU = "cpu_model: 'AMD EPYC 7B13' (BASE) vs 'Intel Xeon 8375C' (CURRENT)"
RUNTIME = "runtime: 'ai-edge-litert 2.3.0' (BASE) vs 'ai-edge-litert 2.4.0' (CURRENT)"


def test_another_host_is_refused_naming_three_rows_and_every_difference(
        tmp_path: Path) -> None:
    """Four timed rows measured elsewhere (two kinds of difference) are refused; rows
    not timed on both sides are not checked (a failed row first in BASE does not end
    the check, and one that failed in CURRENT is not counted)."""
    amd, intel = _host("AMD EPYC 7B13"), _host("Intel Xeon 8375C")
    newer = _host("Intel Xeon 8375C", "ai-edge-litert 2.4.0")
    base = [job("m0", "failed", **amd), job("m1", **amd)] + [
        job(f"m{i}", seed=i, **amd) for i in range(2, 6)]
    current = [job("m0", "failed", **intel), job("m1", "failed", **intel)] + [
        job(f"m{i}", seed=10 + i, **(newer if i == 5 else intel)) for i in range(2, 6)]
    with pytest.raises(HostChanged) as raised:
        compared(tmp_path, base, current)
    message = str(raised.value)
    assert message.startswith(
        "4 matched row(s) were measured on a different host or runtime ("
        f"{_label('m2')}, {_label('m3')}, {_label('m4')}, ...): "
        f"{CPU} | {CPU}; {RUNTIME}. "), message
    assert "--allow-host-change" in message


def test_another_host_is_gated_only_when_allowed_and_then_noted(tmp_path: Path) -> None:
    amd, intel = _host("AMD EPYC 7B13"), _host("Intel Xeon 8375C")
    base = [job(f"m{i}", seed=i, **amd) for i in range(3)]
    current = [job(f"m{i}", seed=10 + i, **intel) for i in range(3)]
    base_dir = write_run(tmp_path, "base", base)
    current_dir = write_run(tmp_path, "current", current)
    with pytest.raises(HostChanged) as raised:
        compare_runs(load_runs([base_dir]), load_runs([current_dir]))
    assert str(raised.value).startswith(
        "3 matched row(s) were measured on a different host or runtime ("
        f"{_label('m0')}, {_label('m1')}, {_label('m2')}): {CPU}. ")
    frame = compare_runs(load_runs([base_dir]), load_runs([current_dir]),
                         GateSettings(allow_host_change=True))
    assert list(frame["verdict"]) == ["same"] * 3
    assert frame.attrs["host_changes"] == [CPU]
    assert frame.attrs["notes"] == [f"host changed: {CPU}"]  # both sides fingerprinted


def test_a_row_without_a_fingerprint_on_either_side_is_matched_with_a_note(
        tmp_path: Path) -> None:
    frame = compared(tmp_path, [job("m", **HOST)], [job("m")])
    assert frame.iloc[0]["verdict"] == "same"
    assert [note for note in frame.attrs["notes"] if "no fingerprint on a side" in note]


def test_runs_with_nothing_in_common_are_refused_listing_ten_keys_a_side(
        tmp_path: Path) -> None:
    base = [job(f"m{i:02d}", "failed") for i in range(11)]
    current = [job(f"other{i:02d}", "failed") for i in range(11)]
    with pytest.raises(NothingMatched) as raised:
        compared(tmp_path, base, current)
    message = str(raised.value)
    assert message.startswith("no rows matched on (model, variant, target, device, "
                              "threads).\n  in BASE only:    [('m00', 'qat_int8', ")
    base_part, current_part = message.split("in CURRENT only: ")
    # the first ten of each side, sorted
    assert "'m09'" in base_part and "'m10'" not in base_part
    assert current_part.startswith("[('other00', 'qat_int8', 'cpu-xnnpack', 'host', 1), ")
    assert "'other09'" in current_part and "'other10'" not in current_part


def test_of_one_series_held_twice_the_row_started_later_stands(tmp_path: Path) -> None:
    """Two fingerprints of one series in CURRENT (shards of two device hosts, merged):
    the later-started row is compared, and a row with no start time is the older."""
    base = write_run(tmp_path, "base", [job("m", started_at="2026-12-01T00:00")])
    undated = write_run(tmp_path, "a", [job("m", started_at=None, ms=MS * 2, seed=2,
                                            **_host("Intel Xeon 8375C"))])
    dated = write_run(tmp_path, "b", [job("m", started_at="2026-12-02T00:00",
                                          ms=MS * 1.01, seed=1, **_host("AMD EPYC 7B13"))])
    for shards in ([undated, dated], [dated, undated]):
        line = compare_runs(load_runs([base]), load_runs(shards)).iloc[0]
        assert line["current_p50_ms"] == pytest.approx(MS * 1.01, rel=0.02)
        assert line["verdict"] == "same"


# -- the per-input predictions the accuracy check pairs ----------------------------------------

def _unlabelled(agrees: np.ndarray) -> Predictions:
    reference = np.arange(len(agrees)) % 10
    predicted = np.where(agrees, reference, (reference + 1) % 10)
    return Predictions(predicted, np.full(len(agrees), NO_LABEL), reference, "inputs")


def test_each_sides_predictions_are_found_in_a_copied_run_and_in_shards(
        tmp_path: Path) -> None:
    """BASE is a run directory copied under another name (its rows name the old one);
    CURRENT two shards, the int8 row in the second. Both rows' predictions are found, so
    the agreement drop (20 of 400 inputs lost, none gained) is judged paired."""
    n = 400
    before = np.ones(n, bool)
    after = before.copy()
    after[:20] = False

    def int8(agrees: np.ndarray) -> dict:
        return job("m", agreement_top1=float(agrees.mean()), eval_samples=n)

    written = write_run(tmp_path, "base", [int8(before)])
    save_predictions(written, RowKey.of(load_runs([written]).results.iloc[0]),
                     _unlabelled(before))
    copied = tmp_path / "baseline-copy"
    shutil.copytree(written, copied)
    float_shard = write_run(tmp_path, "shard-a", [{**job("m"), "variant": "float32"}])
    int8_shard = write_run(tmp_path, "shard-b", [int8(after)])
    save_predictions(int8_shard, RowKey.of(load_runs([int8_shard]).results.iloc[0]),
                     _unlabelled(after))
    frame = compare_runs(load_runs([copied]), load_runs([float_shard, int8_shard]))
    gate = frame.set_index("variant").loc["qat_int8", "gate"]
    assert "top-1 agreement dropped 5.0 points" in gate
    assert "McNemar exact, paired" in gate, gate
