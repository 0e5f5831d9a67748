"""Interleaved A/B: ABBA order per pair, doubling while UNKNOWN, stopping when decided."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from qatbench.bench.orchestration.ab import AbSettings, Series, run_series
from tests.bench.cli_in_process import keep_sigterm  # noqa: F401


class ScriptedTimer:
    """A host whose speed drifts from call to call; CURRENT is ``effect`` slower."""

    def __init__(self, effect: float, noise: float, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.effect, self.noise = effect, noise
        self.calls: list[str] = []
        self.host = 1.0

    def __call__(self, side: str, model: Path, work: Path) -> float:
        self.calls.append(side)
        self.host *= float(np.exp(self.rng.normal(0, 0.002)))  # slow drift, shared by a pair
        factor = 1 + self.effect if side == "B" else 1.0
        return 1.0 * self.host * factor * float(np.exp(self.rng.normal(0, self.noise)))


SERIES = Series("m/qat_int8", Path("a.tflite"), Path("b.tflite"))


def test_pairs_are_adjacent_in_a_randomised_abba_order(tmp_path: Path) -> None:
    timer = ScriptedTimer(0.10, 0.002)
    outcome = run_series(SERIES, AbSettings(pairs=8, max_pairs=8), timer, tmp_path)
    orders = [p["order"] for p in outcome.pairs]
    assert set(orders) == {"AB", "BA"}  # neither side always runs second
    assert "".join(timer.calls) == "".join(orders)  # each pair's two runs back to back
    assert outcome.decision.verdict == "slower" and outcome.stopped == "decided"


def test_an_undecided_series_doubles_its_pairs_up_to_the_cap_and_stays_unknown(
        tmp_path: Path) -> None:
    ratios = iter([1.10, 0.95] * 8)  # +2% on average in ±8% noise: not resolvable in 16

    def timer(side: str, model: Path, work: Path) -> float:
        return next(ratios) if side == "B" else 1.0

    outcome = run_series(SERIES, AbSettings(pairs=4, max_pairs=16, threshold=0.02), timer,
                         tmp_path)
    assert outcome.decision.verdict == "unknown"
    assert outcome.stopped == "max pairs"
    assert len(outcome.pairs) == 16  # 4 -> 8 -> 16


def test_a_clear_answer_stops_early(tmp_path: Path) -> None:
    timer = ScriptedTimer(0.0, 0.001, seed=4)
    outcome = run_series(SERIES, AbSettings(pairs=4, max_pairs=64), timer, tmp_path)
    assert outcome.decision.verdict == "same" and len(outcome.pairs) == 4


@pytest.mark.slow
def test_qatbench_ab_finds_a_heavier_model_slower_from_the_command_line(
        tmp_path: Path, digits_build) -> None:
    pytest.importorskip("tensorflow")
    import tf_keras

    from qatbench.qat.export import Variant, export_variant

    inputs = tf_keras.Input((8, 8, 1))
    x = inputs
    for _ in range(4):
        x = tf_keras.layers.Conv2D(64, 3, padding="same", activation="relu")(x)
    heavy = tf_keras.Model(inputs, tf_keras.layers.Dense(10)(tf_keras.layers.Flatten()(x)))
    calibration = np.random.default_rng(0).uniform(0, 1, (8, 8, 8, 1)).astype(np.float32)
    slower = tmp_path / "qat_int8.tflite"
    export_variant(heavy, Variant.PTQ_INT8, calibration, slower)
    base = Path(str(digits_build.variants["qat_int8"].path))
    result = subprocess.run(
        [sys.executable, "-m", "qatbench", "ab", str(base), str(slower), "--target",
         "cpu-ref", "--pairs", "3", "--max-pairs", "6", "--min-secs", "0.05",
         "--min-runs", "5", "--out", str(tmp_path / "ab")],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 1, result.stdout + result.stderr  # SLOWER fails the gate
    verdicts = pd.read_parquet(tmp_path / "ab" / "ab_verdicts.parquet")
    assert list(verdicts["verdict"]) == ["slower"]
    assert verdicts["change"].iloc[0] > 1.0  # several times the work
    pairs = pd.read_parquet(tmp_path / "ab" / "ab.parquet")
    assert len(pairs) == 3 and set(pairs["order"]) <= {"AB", "BA"}
    assert "slower" in (tmp_path / "ab" / "ab.md").read_text()
    # instructions per inference: counted where perf and a counter exist, else stated why
    note = verdicts["instructions_note"].iloc[0]
    ratio = verdicts["instructions_ratio"].iloc[0]
    if pd.notna(ratio):  # CURRENT / BASE instructions, the median over the pairs
        expected = float(np.median(pairs["b_instructions"] / pairs["a_instructions"]))
        assert ratio == pytest.approx(expected)
        assert ratio > 1.5  # four 64-filter convolutions execute far more instructions
        assert note == f"median of {len(pairs)} pairs"
    else:
        assert "instructions not counted" in note or "perf" in note, note


# -- the command, in process, with a timer standing in for the timing child -------------

def _timer_factory(monkeypatch: pytest.MonkeyPatch, timer) -> None:
    """``qatbench ab`` times through ``ab.child_timer``; here through ``timer``."""
    from qatbench.bench.orchestration import ab

    monkeypatch.setattr(ab, "child_timer", lambda settings, options=None: timer)


def _file(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    path.write_bytes(b"TFL3 " + name.encode())
    return path


@pytest.fixture
def qatbench_ab(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture,
                request: pytest.FixtureRequest):
    """``qatbench ab ARGS`` in process (``cli.main`` installs a SIGTERM handler: the
    test process gets its own back)."""
    from tests.bench.cli_in_process import run_qatbench

    request.getfixturevalue("keep_sigterm")
    return lambda *args: run_qatbench(monkeypatch, capsys, "ab", *args)


def test_the_same_file_twice_is_one_series_and_the_same(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, qatbench_ab) -> None:
    """A/A: one series named by the file, both sides timed alternately, SAME (exit 0)."""
    model = _file(tmp_path, "net.tflite")
    rng = np.random.default_rng(1)
    seen = []

    def timer(side: str, path: Path, work: Path) -> float:
        seen.append(path)
        return 2.0 * float(np.exp(rng.normal(0, 0.002)))  # the file's cost, the host's noise

    _timer_factory(monkeypatch, timer)
    code, output = qatbench_ab(str(model), str(model), "--target", "cpu-ref",
                               "--out", str(tmp_path / "ab"))
    assert code == 0, output
    verdicts = pd.read_parquet(tmp_path / "ab" / "ab_verdicts.parquet")
    assert list(verdicts["series"]) == ["net"] and list(verdicts["verdict"]) == ["same"]
    pairs = pd.read_parquet(tmp_path / "ab" / "ab.parquet")
    assert len(pairs) == 4 and set(seen) == {model}  # 4 pairs decide it: 8 timings
    assert len(seen) == 8


def test_a_failing_target_is_exit_2_naming_it_and_keeps_the_pairs_before_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, qatbench_ab) -> None:
    from qatbench.bench.orchestration.ab import AbInputError

    base, current = _file(tmp_path, "a.tflite"), _file(tmp_path, "b.tflite")
    calls = []

    def timer(side: str, path: Path, work: Path) -> float:
        calls.append(side)
        if len(calls) == 5:  # the third pair's first run
            raise AbInputError(f"{path} on cpu-ref: failed: the delegate crashed")
        return 1.0

    _timer_factory(monkeypatch, timer)
    code, output = qatbench_ab(str(base), str(current), "--target", "cpu-ref",
                               "--out", str(tmp_path / "ab"))
    assert code == 2, output
    assert "on cpu-ref: failed: the delegate crashed" in " ".join(output.split())
    assert len(pd.read_parquet(tmp_path / "ab" / "ab.parquet")) == 2
    assert not (tmp_path / "ab" / "ab_verdicts.parquet").exists()  # no verdict on half


def test_a_real_child_that_cannot_time_the_file_is_exit_2_naming_it(
        tmp_path: Path, qatbench_ab) -> None:
    broken = _file(tmp_path, "broken.tflite")
    code, output = qatbench_ab(str(broken), str(broken), "--target", "cpu-ref",
                               "--min-runs", "3", "--min-secs", "0",
                               "--out", str(tmp_path / "ab"))
    assert code == 2, output
    assert str(broken) in " ".join(output.split()) and "Traceback" not in output


def test_an_interrupt_says_so_and_keeps_every_measured_pair(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, qatbench_ab) -> None:
    """Ctrl-C (SIGINT, or SIGTERM, which the CLI turns into one) in the third pair: the
    two measured pairs are on disk and the message says where (it exited 130 silently and
    discarded the series' pairs)."""
    base, current = _file(tmp_path, "a.tflite"), _file(tmp_path, "b.tflite")
    calls = []

    def timer(side: str, path: Path, work: Path) -> float:
        calls.append(side)
        if len(calls) == 6:
            raise KeyboardInterrupt
        return 1.0 + 0.5 * (side == "B")

    _timer_factory(monkeypatch, timer)
    code, output = qatbench_ab(str(base), str(current), "--target", "cpu-ref",
                               "--out", str(tmp_path / "ab"))
    assert code == 130, output
    text = " ".join(output.split())
    assert f"2 pair(s) measured so far are kept in {tmp_path / 'ab' / 'ab.parquet'}" in text
    pairs = pd.read_parquet(tmp_path / "ab" / "ab.parquet")
    assert list(pairs["pair"]) == [0, 1] and (pairs["b_ms"] == 1.5).all()
    assert not (tmp_path / "ab" / "ab_verdicts.parquet").exists()


# exec the rest of argv with SIGINT at its default (exec keeps a default disposition but
# also an ignored one, which is what a background job inherits)
_WITH_SIGINT_AT_DEFAULT = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])")


@pytest.mark.parametrize("signum", ["SIGINT", "SIGTERM"])
def test_a_signal_to_qatbench_ab_keeps_every_pair_it_measured(
        tmp_path: Path, float_tflite: Path, signum: str) -> None:
    """Ctrl-C (SIGINT) or a CI cancel (SIGTERM) to the real command while its timing
    children run: exit 130, a line saying where the pairs are, and every pair written
    before the signal still there (64 pairs asked for: it cannot finish first).

    The command starts with SIGINT at its default, as from a terminal: a suite started in
    the background (`cmd &` in a script, as a CI wall-time run is) inherits SIGINT
    *ignored*, and Python then rightly installs no KeyboardInterrupt handler, so Ctrl-C
    would not reach the command at all (this test failed that way, on every Python, only
    in such runs)."""
    import signal
    import time

    out = tmp_path / "ab"
    process = subprocess.Popen(
        [sys.executable, "-c", _WITH_SIGINT_AT_DEFAULT,
         "-m", "qatbench", "ab", str(float_tflite), str(float_tflite),
         "--target", "cpu-ref", "--pairs", "64", "--max-pairs", "64", "--min-runs", "3",
         "--min-secs", "0", "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while not (out / "ab.parquet").exists() and time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        time.sleep(0.1)
    seen = len(pd.read_parquet(out / "ab.parquet"))
    process.send_signal(getattr(signal, signum))
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stdout + stderr
    kept = pd.read_parquet(out / "ab.parquet")
    assert seen >= 1 and len(kept) >= seen
    assert list(kept["pair"]) == list(range(len(kept)))
    assert f"pair(s) measured so far are kept in {out / 'ab.parquet'}" in " ".join(
        stderr.split())
    assert not (out / "ab_verdicts.parquet").exists()


def test_an_unreadable_archive_given_to_ab_is_named_without_an_option_ab_lacks(
        tmp_path: Path) -> None:
    """`qatbench ab BASE.tar.gz CURRENT.tar.gz`: a broken archive is named by its path alone
    (the same unpack step serves `run --artifacts`, whose errors name that option; `ab`
    has no such option)."""
    from qatbench.bench.orchestration.ab import AbInputError, _files_of

    broken = tmp_path / "base.tar.gz"
    broken.write_bytes(b"not a gzip stream")
    with pytest.raises(AbInputError) as raised:
        _files_of(broken, tmp_path / "scratch")
    assert str(raised.value).startswith(f"{broken}: not a readable .tar.gz")
    assert "--artifacts" not in str(raised.value)
