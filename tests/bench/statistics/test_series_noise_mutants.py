"""A series' own noise floor read from the runs under a results root -- the function the
gate calls before a one-run SLOWER -- reached in process (mutation testing found only the
whole-CLI `compare` tests reaching it). Levels are chosen so the floor is computed here by
hand from the module's documented rule."""

from __future__ import annotations

import itertools
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from qatbench.bench.statistics.series_noise import history_noise
from tests.bench.runs_helpers import fingerprint, write_run

HERE = fingerprint(cpu="AMD EPYC 7B13", runtime="litert 1.4")
ELSEWHERE = fingerprint(cpu="Intel Xeon 8375C", runtime="litert 1.4")
SERIES = ("mnist_cnn", "qat_int8", "cpu-xnnpack", "host", 1)
LEVELS = [1.00, 1.02, 0.99, 1.01, 1.03, 1.00]  # ms, oldest first


def _spread(index: int) -> float:
    """How widely run ``index``'s samples spread around its level (differs per run, so
    the p90s move unlike the medians)."""
    return 0.02 * (index % 3 + 1)


def _samples(level_ms: float, spread: float) -> np.ndarray:
    """11 samples evenly spaced around the level, the first the fastest: the median
    (index 5) is the level exactly, the p90 (index 9) level · (1 + 0.8 · spread)."""
    return level_ms * (1 + spread * (np.arange(11) - 5) / 5)


def _row(level_ms: float, where: dict[str, str], spread: float = 0.02, **extra) -> dict:
    return {"model": "mnist_cnn", "variant": "qat_int8", "target": "cpu-xnnpack",
            "samples": _samples(level_ms, spread), **where, **extra}


def _floor_by_hand(levels: list[float]) -> float:
    """σ² = mean of squared successive log changes / 2; floor = t(0.995, n-1)·√2·σ."""
    from scipy import stats

    changes = [math.log(b / a) for a, b in itertools.pairwise(levels)]
    sigma = math.sqrt(sum(c * c for c in changes) / len(changes) / 2)
    return max(0.01, math.expm1(float(stats.t.ppf(0.995, len(levels) - 1))
                                * math.sqrt(2) * sigma))


# folder names out of time order: the runs must be read in the order they started (a
# step read out of order would count as several changes)
NAMES = ["c", "e", "a", "f", "b", "d"]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six runs of the series on this host (one with a failed float32 row too), and five
    of it on another host whose runs swing by 30%. One host per run, as a run is. Before
    the series' row, five of this host's runs hold an ok row of another model with an
    empty fingerprint, and the first an ok row that timed nothing (neither is history,
    nor stops the rows after it); a damaged run sorts before them all."""
    root = tmp_path_factory.mktemp("history")
    damaged = root / "0-damaged"
    damaged.mkdir()
    (damaged / "results.parquet").write_bytes(b"not a parquet file")
    for index, (level, name) in enumerate(zip(LEVELS, NAMES, strict=True)):
        rows = [_row(level, HERE, _spread(index))]
        if index < 5:  # five runs: enough for a floor, were an empty fingerprint a host
            rows.insert(0, _row(level, {"fingerprint": ""}, model="mnist_mlp", samples=[],
                                latency_ms_p50=level))
        if index == 0:
            rows.insert(0, _row(level, HERE, variant="ptq_int8", samples=[]))
        if index == 2:
            rows.append(_row(5.0, HERE, status="failed", variant="float32"))  # not ok
        write_run(root, f"here-{name}", rows, started_at=f"2026-01-0{index + 1}T00:00:00")
    for index, level in enumerate(LEVELS[:5]):
        write_run(root, f"there-{index}", [_row(level * (1 + 0.3 * (index % 2)), ELSEWHERE)],
                  started_at=f"2026-01-0{index + 1}T12:00:00")
    return root


@pytest.fixture(scope="module")
def found(root: Path) -> dict:
    return history_noise([root])


def test_the_floor_comes_from_this_hosts_runs_of_the_series_in_time_order(found: dict) -> None:
    here = found[(SERIES, HERE["fingerprint"])]
    assert here.runs == len(LEVELS)
    assert here.floor == pytest.approx(_floor_by_hand(LEVELS), rel=1e-9)
    elsewhere = found[(SERIES, ELSEWHERE["fingerprint"])]
    noisy = [level * (1 + 0.3 * (index % 2)) for index, level in enumerate(LEVELS[:5])]
    assert elsewhere.runs == 5
    assert elsewhere.floor == pytest.approx(_floor_by_hand(noisy), rel=1e-9)
    assert elsewhere.floor > 0.3 > here.floor  # that host's noise is not this host's
    # the failed row is no history: float32 has no floor
    assert set(found) == {(SERIES, HERE["fingerprint"]), (SERIES, ELSEWHERE["fingerprint"])}


def test_the_run_under_judgement_is_left_out_and_damage_or_repetition_change_nothing(
        root: Path, found: dict, tmp_path: Path) -> None:
    newest = f"here-{NAMES[-1]}"  # started last
    without = history_noise([root], exclude_run_ids=[newest, "there-4"])
    # the other host is left with 4 runs, below the 5 a floor needs: none
    assert set(without) == {(SERIES, HERE["fingerprint"])}
    assert without[(SERIES, HERE["fingerprint"])].floor == pytest.approx(
        _floor_by_hand(LEVELS[:-1]), rel=1e-9)
    damaged = tmp_path / "damaged-root"
    bad = damaged / "20250101T000000Z-x"
    bad.mkdir(parents=True)
    (bad / "results.parquet").write_bytes(b"not a parquet file")
    assert history_noise([damaged, root, root, tmp_path / "missing"]) == found


def test_a_run_under_judgement_copied_to_another_folder_is_left_out_by_its_run_id(
        root: Path, tmp_path: Path) -> None:
    """CURRENT's run copied under another name (into BASE's root, say): its folder name
    no longer says which run it is, its rows' run_id still does."""
    newest = f"here-{NAMES[-1]}"
    shutil.copytree(root / newest, tmp_path / "copies" / "renamed-run")
    # a root that is not there is skipped, not the end of the roots
    without = history_noise([tmp_path / "missing", root, tmp_path / "copies"],
                            exclude_run_ids=[newest])
    here = without[(SERIES, HERE["fingerprint"])]
    assert here.runs == len(LEVELS) - 1
    assert here.floor == pytest.approx(_floor_by_hand(LEVELS[:-1]), rel=1e-9)


def test_the_levels_are_the_repeat_medians_by_default_and_p90s_when_asked(
        root: Path, found: dict) -> None:
    """By default a run's level is its repeat's median (the level itself: the fixture's
    samples are spread around it, the first one lowest); for p90 the 10th of the 11
    sorted samples, level · (1 + 0.8 · spread), whose spread differs run by run."""
    assert found[(SERIES, HERE["fingerprint"])].floor == pytest.approx(
        _floor_by_hand(LEVELS), rel=1e-9)
    p90 = history_noise([root], metric="p90")
    here = [level * (1 + 0.8 * _spread(index)) for index, level in enumerate(LEVELS)]
    assert p90[(SERIES, HERE["fingerprint"])].floor == pytest.approx(_floor_by_hand(here),
                                                                      rel=1e-9)
    assert p90[(SERIES, HERE["fingerprint"])].floor != pytest.approx(
        found[(SERIES, HERE["fingerprint"])].floor, rel=1e-3)
