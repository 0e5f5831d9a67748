"""The noise floor: which file the gate uses, what floor a row gets from it, and that a
floor measured on another CPU is ignored with a warning (README, "Regression gate")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qatbench.bench.cli import app
from qatbench.bench.statistics.noise import (
    DEFAULT_ENTRIES,
    FLOOR_ENV,
    FloorEntry,
    NoiseFloor,
    NoiseFloorError,
    find_noise_floor,
    for_host,
    load_noise_floor,
)
from tests.bench.runs_helpers import repeated, write_run

MS = 3.0
LAB_CPU = "AMD EPYC 7B13"
OTHER_CPU = "Intel(R) Xeon(R) Platinum 8375C"


def floor_file(path: Path, cpu_model: str | None, floors: list[dict]) -> Path:
    path.write_text(json.dumps({"schema": "qatbench/noise-floor/1",
                                "machine": {"cpu_model": cpu_model}, "floors": floors}))
    return path


MEASURED = [{"p50_ms": MS, "repeats": 1, "floor": 0.08},
            {"p50_ms": MS, "repeats": 5, "floor": 0.03}]


# -- the floor a row gets -----------------------------------------------------------------

def test_the_built_in_floor_is_10_percent_at_ms_scale_and_12_at_us_scale() -> None:
    floor = NoiseFloor()
    assert floor.entries == DEFAULT_ENTRIES
    assert floor.source == "built-in default" and floor.cpu_model is None and not floor.notes
    assert floor.floor(3.0) == 0.10
    assert floor.floor(0.012) == 0.12
    assert floor.floor(50.0) == 0.10  # beyond the largest scale: the nearest
    assert floor.floor(0.001) == 0.12  # below the smallest: the nearest
    assert floor.floor(1.0) == 0.12  # between two scales: the larger floor
    for unknown in (None, float("nan"), float("inf"), 0.0, -1.0):
        assert floor.floor(unknown) == 0.12  # no usable latency: the largest floor


def test_entries_with_more_repeats_than_compared_are_not_used() -> None:
    floor = NoiseFloor((FloorEntry(3.0, 1, 0.08), FloorEntry(3.0, 3, 0.04),
                        FloorEntry(3.0, 5, 0.02)))
    assert floor.floor(3.0, repeats=1) == 0.08
    assert floor.floor(3.0, repeats=2) == 0.08
    assert floor.floor(3.0, repeats=3) == 0.04
    assert floor.floor(3.0, repeats=4) == 0.04
    assert floor.floor(3.0, repeats=5) == 0.02
    assert floor.floor(3.0, repeats=9) == 0.02
    assert floor.floor(3.0, repeats=0) == 0.08  # as one repeat


def test_one_repeat_a_side_is_the_default_and_never_gets_a_floor_measured_with_two() -> None:
    floor = NoiseFloor((FloorEntry(3.0, 1, 0.08), FloorEntry(3.0, 2, 0.05)))
    assert floor.floor(3.0) == 0.08
    assert floor.floor(3.0, repeats=1) == 0.08
    assert floor.floor(3.0, repeats=2) == 0.05


def test_without_an_entry_for_so_few_repeats_the_fewest_measured_apply() -> None:
    floor = NoiseFloor((FloorEntry(3.0, 3, 0.04), FloorEntry(3.0, 5, 0.02),
                        FloorEntry(0.01, 3, 0.06)))
    assert floor.floor(3.0, repeats=1) == 0.04
    assert floor.floor(0.01, repeats=2) == 0.06


def test_between_two_scales_the_larger_floor_applies_whichever_side_it_is() -> None:
    rising = NoiseFloor((FloorEntry(1.0, 1, 0.05), FloorEntry(10.0, 1, 0.09)))
    falling = NoiseFloor((FloorEntry(10.0, 1, 0.05), FloorEntry(1.0, 1, 0.09)))
    for floor in (rising, falling):
        assert floor.floor(3.0) == 0.09
    assert rising.floor(1.0) == 0.05 and rising.floor(10.0) == 0.09  # a measured scale
    assert rising.floor(0.5) == 0.05 and rising.floor(20.0) == 0.09
    # no usable latency (a zero figure too): the largest floor, not the smallest scale's
    for unknown in (None, float("nan"), 0.0, -1.0):
        assert rising.floor(unknown) == 0.09


def test_outside_the_measured_range_the_nearest_scale_applies() -> None:
    floor = NoiseFloor((FloorEntry(1.0, 1, 0.06), FloorEntry(3.0, 1, 0.04),
                        FloorEntry(10.0, 1, 0.05), FloorEntry(0.01, 1, 0.12)))
    assert floor.floor(50.0) == 0.05  # the 10 ms floor, not another one below
    assert floor.floor(0.001) == 0.12
    assert floor.floor(5.0) == 0.05 and floor.floor(2.0) == 0.06


def test_describe_names_the_source_and_every_floor_in_order() -> None:
    floor = NoiseFloor((FloorEntry(3.0, 5, 0.03), FloorEntry(3.0, 1, 0.08),
                        FloorEntry(0.012, 1, 0.12)), source="lab.json")
    assert floor.describe() == ("lab.json: 12.0% at 0.012 ms (K=1), 8.0% at 3 ms (K=1), "
                                "3.0% at 3 ms (K=5)")


# -- the file -------------------------------------------------------------------------------

def test_a_floor_file_is_read_with_its_host(tmp_path: Path) -> None:
    path = floor_file(tmp_path / "floor.json", LAB_CPU, MEASURED)
    floor = load_noise_floor(path)
    assert floor.entries == (FloorEntry(MS, 1, 0.08), FloorEntry(MS, 5, 0.03))
    assert floor.source == str(path) and floor.cpu_model == LAB_CPU
    assert floor.floor(MS, 5) == 0.03
    path.write_text(json.dumps({"floors": MEASURED}))  # no machine: any host
    assert load_noise_floor(path).cpu_model is None


@pytest.mark.parametrize(("content", "message"), [
    ("not json", "not a qatbench noise-floor file"),
    ("{}", "not a qatbench noise-floor file"),
    ('{"floors": [{"p50_ms": 3}]}', "not a qatbench noise-floor file"),
    ('{"floors": [{"p50_ms": "x", "repeats": 1, "floor": 0.1}]}', "ValueError"),
    ('{"floors": []}', "every floor must"),
    ('{"floors": [{"p50_ms": 3, "repeats": 1, "floor": 0}]}', "every floor must"),
    ('{"floors": [{"p50_ms": 3, "repeats": 1, "floor": 100}]}',
     r"floor > 0 \(a fraction: 0.08 = 8%\)$"),
    ('{"floors": [{"p50_ms": 0, "repeats": 1, "floor": 0.1}]}', "every floor must"),
    ('{"floors": [{"p50_ms": 3, "repeats": 0, "floor": 0.1}]}', "every floor must"),
])
def test_a_bad_floor_file_is_refused_naming_it(tmp_path: Path, content: str,
                                              message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(NoiseFloorError, match=message) as error:
        load_noise_floor(path)
    assert str(path) in str(error.value)


def test_edge_values_of_a_floor_file_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "edge.json"
    path.write_text('{"floors": [{"p50_ms": 0.001, "repeats": 1, "floor": 0.999}]}')
    assert load_noise_floor(path).floor(None) == 0.999


def test_an_unreadable_floor_file_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(NoiseFloorError, match="cannot read the noise-floor file") as error:
        load_noise_floor(tmp_path / "absent.json")
    assert "absent.json" in str(error.value)


def test_the_option_then_the_environment_then_the_results_root(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    option = floor_file(tmp_path / "option.json", None, [{"p50_ms": 1, "repeats": 1,
                                                          "floor": 0.01}])
    env = floor_file(tmp_path / "env.json", None, [{"p50_ms": 1, "repeats": 1,
                                                    "floor": 0.02}])
    root = tmp_path / "results"
    root.mkdir()
    monkeypatch.delenv(FLOOR_ENV, raising=False)
    assert find_noise_floor(None, root) == NoiseFloor()  # nothing anywhere: the default
    assert find_noise_floor(None, None) == NoiseFloor()
    floor_file(root / "noise-floor.json", None, [{"p50_ms": 1, "repeats": 1, "floor": 0.03}])
    assert find_noise_floor(None, root).source == str(root / "noise-floor.json")
    monkeypatch.setenv(FLOOR_ENV, str(env))
    assert find_noise_floor(None, root).source == str(env)
    assert find_noise_floor(option, root).source == str(option)
    monkeypatch.setenv(FLOOR_ENV, "")
    assert find_noise_floor(None, root).source == str(root / "noise-floor.json")


# -- another host's floor ------------------------------------------------------------------

def test_a_floor_from_the_host_current_ran_on_is_used() -> None:
    measured = NoiseFloor((FloorEntry(MS, 1, 0.02),), source="lab.json", cpu_model=LAB_CPU)
    assert for_host(measured, {LAB_CPU}) is measured
    assert for_host(measured, set()) is measured  # rows without a CPU: nothing to say
    anywhere = NoiseFloor((FloorEntry(MS, 1, 0.02),), source="any.json")
    assert for_host(anywhere, {OTHER_CPU}) is anywhere


@pytest.mark.parametrize("cpus", [{OTHER_CPU}, {LAB_CPU, OTHER_CPU}])
def test_a_floor_from_another_cpu_is_replaced_by_the_defaults_with_a_note(
        cpus: set[str]) -> None:
    measured = NoiseFloor((FloorEntry(MS, 1, 0.02),), source="lab.json", cpu_model=LAB_CPU)
    used = for_host(measured, cpus)
    assert used.entries == DEFAULT_ENTRIES and used.floor(MS) == 0.10
    assert used.cpu_model is None
    (note,) = used.notes
    assert "lab.json" in note and repr(LAB_CPU) in note and OTHER_CPU in note
    assert "built-in defaults used" in note
    assert f"CURRENT ran on {', '.join(sorted(cpus))}: " in note


def rows(median: float, shifts: list[float], seed: int, cpu: str) -> list[dict]:
    return [{"model": "mobilenet_v2", "variant": "qat_int8", "target": "cpu-xnnpack",
             "size_bytes": 1000, "cpu_model": cpu,
             "samples": repeated(median, shifts, seed=seed)}]


@pytest.mark.parametrize(("measured_on", "code"), [(LAB_CPU, 1), (OTHER_CPU, 0)])
def test_the_gate_ignores_a_floor_measured_on_another_cpu_with_a_warning(
        tmp_path: Path, measured_on: str, code: int) -> None:
    """A 10% regression, K = 5: a 3% floor of this CPU resolves it (exit 1); the same
    floor measured on another CPU must not be applied -- the built-in 10% decides."""
    spread = [0.0, 0.01, -0.01, 0.005, -0.005]
    base = write_run(tmp_path, "base", rows(MS, spread, 1, LAB_CPU))
    current = write_run(tmp_path, "current", rows(MS * 1.1, spread, 7, LAB_CPU))
    path = floor_file(tmp_path / "floor.json", measured_on, MEASURED)
    result = CliRunner().invoke(app, ["compare", str(base), str(current),
                                      "--noise-floor", str(path)])
    output = " ".join((result.stdout + (result.stderr or "")).split())  # however wrapped
    assert result.exit_code == code, output
    compare_md = (current / "compare.md").read_text()
    if measured_on == LAB_CPU:
        assert "slower" in compare_md and "built-in defaults used" not in output
    else:
        assert "slower" not in compare_md
        assert "warning: noise floor in" in output and "built-in defaults used" in output
        assert repr(OTHER_CPU) in output
