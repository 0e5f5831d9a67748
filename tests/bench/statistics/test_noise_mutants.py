"""Noise-floor inputs mutation testing found unpinned: a floor written as a percentage is
refused with the fraction to write instead, and a zero level never enters a series'
history (its log would be -inf and the floor with it)."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest
from scipy import stats

from qatbench.bench.statistics.noise import NoiseFloorError, load_noise_floor
from qatbench.bench.statistics.series_noise import floor_from_levels


@pytest.mark.parametrize(("floor", "would_be", "write"), [
    (8, "800%", "write 0.08 for 8%"),
    (1, "100%", "write 0.01 for 1%"),  # 1 is a percentage too: a floor is below 1
    (12.5, "1250%", "write 0.125 for 12.5%"),
])
def test_a_floor_written_as_a_percentage_is_refused_with_the_fraction_to_write(
        tmp_path: Path, floor: float, would_be: str, write: str) -> None:
    path = tmp_path / "floor.json"
    path.write_text(f'{{"floors": [{{"p50_ms": 3, "repeats": 1, "floor": {floor}}}]}}')
    with pytest.raises(NoiseFloorError) as raised:
        load_noise_floor(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: floor {floor:g} would be {would_be} -- ")
    assert write in message


def test_a_zero_or_negative_level_is_no_run_of_the_history() -> None:
    """Levels 1.00, 1.01, ... with a 0 and a -1 among them (a run that timed nothing):
    the floor is that of the five positive levels, by the documented rule
    t(0.995, n - 1) · √2 · σ with σ² = mean squared successive log change / 2."""
    levels = [1.0, 1.01, 1.0, 1.01, 1.0]
    changes = [math.log(b / a) for a, b in itertools.pairwise(levels)]
    sigma = math.sqrt(sum(c * c for c in changes) / len(changes) / 2)
    expected = math.expm1(float(stats.t.ppf(0.995, 4)) * math.sqrt(2) * sigma)
    noise = floor_from_levels([1.0, 0.0, 1.01, 1.0, -1.0, 1.01, 1.0])
    assert noise is not None and noise.runs == 5
    assert noise.floor == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("entry", [
    '{"p50_ms": 3, "repeats": 1, "floor": 0}',
    '{"p50_ms": 0, "repeats": 1, "floor": 0.1}',
    '{"p50_ms": 3, "repeats": 0, "floor": 0.1}',
])
def test_an_out_of_range_floor_entry_is_refused_with_the_rule_it_breaks(
        tmp_path: Path, entry: str) -> None:
    """The message states what a valid entry is, so the file can be fixed from it."""
    path = tmp_path / "floor.json"
    path.write_text(f'{{"floors": [{entry}]}}')
    with pytest.raises(NoiseFloorError) as raised:
        load_noise_floor(path)
    assert str(raised.value) == (f"{path}: every floor must have p50_ms > 0, repeats ≥ 1 "
                                 "and 1 > floor > 0 (a fraction: 0.08 = 8%)")
