"""``run_ab``, the typed call behind ``qatbench ab``, called directly: a timer stands in
for the timing child, so each verdict is known from the figures it returns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from qatbench.bench.orchestration.ab import AbInputError
from qatbench.bench.orchestration.ab_session import (
    AbInterrupted,
    AbRequest,
    ab_settings,
    run_ab,
)


def _file(folder: Path, name: str) -> Path:
    path = folder / name
    path.write_bytes(b"TFL3 " + name.encode())
    return path


def _noisy(costs: dict[str, float], seed: int = 0):
    """A timer: each side's cost in ms times 0.2% lognormal host noise."""
    rng = np.random.default_rng(seed)
    calls: list[tuple[str, Path]] = []

    def timer(side: str, model: Path, work: Path) -> float:
        calls.append((side, model))
        return costs[side] * float(np.exp(rng.normal(0, 0.002)))

    return timer, calls


def test_a_current_20_percent_slower_is_slower_and_fails(tmp_path: Path) -> None:
    base, current = _file(tmp_path, "a.tflite"), _file(tmp_path, "b.tflite")
    timer, calls = _noisy({"A": 2.0, "B": 2.4})
    statuses: list[str] = []
    request = AbRequest(base, current, ab_settings("cpu-ref", 0.02), tmp_path / "ab")
    result = run_ab(request, timer, statuses.append)
    assert result.exit_code == 1
    (verdict,) = result.verdicts.to_dict("records")
    assert verdict["verdict"] == "slower"
    assert verdict["change"] == pytest.approx(0.20, abs=0.01)  # 2.4 / 2.0 - 1
    pairs = pd.read_parquet(tmp_path / "ab" / "ab.parquet")
    assert len(pairs) == verdict["pairs"] == len(calls) // 2  # every pair kept, on disk
    assert {model for _, model in calls} == {base, current}
    assert result.report == tmp_path / "ab" / "ab.md" and result.report.is_file()
    assert statuses[0] == "A/B a vs b" and statuses[1] == "A/B a vs b: pair 1"


def test_the_same_file_twice_is_same_and_passes_and_unknown_fails_only_when_asked(
        tmp_path: Path) -> None:
    model = _file(tmp_path, "net.tflite")
    timer, _ = _noisy({"A": 2.0, "B": 2.0}, seed=1)
    result = run_ab(AbRequest(model, model, ab_settings("cpu-ref", 0.02), tmp_path / "ab"),
                    timer)
    assert result.exit_code == 0
    assert list(result.verdicts["verdict"]) == ["same"]
    # a 2% threshold against 10% noise per timing cannot decide in 3 pairs: UNKNOWN
    # passes unless --fail-on-unknown
    for fail_on_unknown in (False, True):
        timer, _ = _noisy({"A": 2.0, "B": 2.0}, seed=2)
        noisy = np.random.default_rng(3)

        def very_noisy(side: str, path: Path, work: Path, timer=timer, noisy=noisy
                       ) -> float:
            return timer(side, path, work) * float(np.exp(noisy.normal(0, 0.10)))

        settings = ab_settings("cpu-ref", 0.02, pairs=3, max_pairs=3)
        result = run_ab(AbRequest(model, model, settings, tmp_path / f"u{fail_on_unknown}",
                                  fail_on_unknown=fail_on_unknown), very_noisy)
        assert list(result.verdicts["verdict"]) == ["unknown"]
        assert result.exit_code == int(fail_on_unknown)


def test_an_interrupt_keeps_the_pairs_measured_and_writes_no_verdict(tmp_path: Path) -> None:
    base, current = _file(tmp_path, "a.tflite"), _file(tmp_path, "b.tflite")
    calls = []

    def timer(side: str, model: Path, work: Path) -> float:
        calls.append(side)
        if len(calls) == 5:  # the third pair's first timing
            raise KeyboardInterrupt
        return 1.0

    with pytest.raises(AbInterrupted) as stopped:
        run_ab(AbRequest(base, current, ab_settings("cpu-ref", 0.02), tmp_path / "ab"),
               timer)
    assert stopped.value.pairs == 2
    assert len(pd.read_parquet(stopped.value.parquet)) == 2
    assert not (tmp_path / "ab" / "ab_verdicts.parquet").exists()
    assert not (tmp_path / "ab" / "ab.md").exists()


def test_inputs_that_cannot_be_paired_leave_no_folder(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a model")
    request = AbRequest(text, text, ab_settings("cpu-ref", 0.02), tmp_path / "ab")
    with pytest.raises(AbInputError, match=r"notes\.txt: not a \.tflite file"):
        run_ab(request, lambda side, model, work: 1.0)
    assert not (tmp_path / "ab").exists()


def test_ab_and_bisect_time_with_the_same_spec() -> None:
    """The timing spec of a series is written once: 20 runs and 0.5 s at least, unless
    the flags say otherwise."""
    spec = ab_settings("cpu-ref", 0.02).spec
    assert (spec.warmup_runs, spec.warmup_min_s, spec.min_runs, spec.min_s, spec.max_s) == (
        1, 0.2, 20, 0.5, 30.0)
    chosen = ab_settings("cpu-ref", 0.02, min_runs=5, min_secs=0.0).spec
    assert (chosen.min_runs, chosen.min_s) == (5, 0.0)
