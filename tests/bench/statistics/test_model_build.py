"""The gate says whether a series timed the same model bytes or a changed model."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from qatbench.bench.cli import app
from qatbench.bench.statistics.compare import model_build
from tests.bench.runs_helpers import matrix, write_run
from tests.bench.statistics.gate_helpers import floor_file


def test_the_build_key_tells_same_from_changed_models() -> None:
    assert model_build({"build_key": "a1"}, {"build_key": "a1"}) == "same model"
    assert model_build({"build_key": "a1"}, {"build_key": "b2"}) == "changed model"
    assert model_build({"build_key": None}, {"build_key": "b2"}) == ""
    assert model_build(None, {"build_key": "b2"}) == ""


def test_compare_names_a_slowdown_of_the_same_model_as_such(tmp_path: Path) -> None:
    def rows(scale: float, int8_key: str) -> list[dict]:
        found = matrix(scale, seed=int(scale * 10))
        found[0]["build_key"], found[1]["build_key"] = "float0key", int8_key
        return found

    floor_file(tmp_path)  # measured on this host: one run per side may fail the gate
    base = write_run(tmp_path / "base", "r1", rows(1.0, "int8key1"))
    same = write_run(tmp_path / "same", "r2", rows(1.5, "int8key1"))
    changed = write_run(tmp_path / "changed", "r3", rows(1.5, "int8key2"))
    for current, verdict in ((same, "same model"), (changed, "changed model")):
        out = tmp_path / f"{current.parent.name}.md"
        result = CliRunner().invoke(app, ["compare", str(base), str(current), "--out",
                                          str(out), "--noise-floor",
                                          str(tmp_path / "noise-floor.json")])
        assert result.exit_code == 1, result.output
        text = out.read_text()
        assert "qat_int8` on cpu-xnnpack x1: " in text
        failing = next(line for line in text.splitlines() if "qat_int8` on" in line)
        assert failing.endswith(f"({verdict})")
    summary = (tmp_path / "same.md").read_text()
    assert "Models: 2 series time the same model bytes" in summary
