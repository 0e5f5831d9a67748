"""Where a run directory keeps things, and how a row names the file it measured."""

from __future__ import annotations

from pathlib import Path

import pytest

from qatbench.bench.storage import layout


def test_a_file_of_the_run_is_recorded_relative_and_moves_with_the_run(tmp_path: Path
                                                                        ) -> None:
    run_dir = tmp_path / "results" / "run-1"
    built = layout.artifacts_dir(run_dir, "digits") / "ptq_int8.tflite"
    recorded = layout.recorded_model_file(run_dir, built)
    assert recorded == "artifacts/digits/ptq_int8.tflite"
    moved = tmp_path / "elsewhere" / "run-1"
    assert layout.model_file_path(moved, recorded) == moved / "artifacts/digits/ptq_int8.tflite"


def test_a_file_timed_in_place_is_recorded_by_its_absolute_path(tmp_path: Path) -> None:
    run_dir = tmp_path / "results" / "run-1"
    outside = tmp_path / "models" / ".." / "models" / "mine.tflite"
    recorded = layout.recorded_model_file(run_dir, outside)
    assert recorded == str(tmp_path.resolve() / "models" / "mine.tflite")
    assert layout.model_file_path(run_dir, recorded) == Path(recorded)


@pytest.mark.parametrize("recorded", [None, "", float("nan")])
def test_a_row_without_a_file_names_none(recorded: object) -> None:
    assert layout.model_file_path(Path("/r"), recorded) is None


def test_job_folders() -> None:
    run_dir = Path("/results/run-1")
    assert layout.job_work_dir(run_dir, "m-float32-cpu-t1", 2) == Path(
        "/results/run-1/jobs/m-float32-cpu-t1/r2")
    assert layout.profile_work_dir(run_dir, "m-float32-cpu-t1") == Path(
        "/results/run-1/jobs/m-float32-cpu-t1/profile")
    with pytest.raises(ValueError, match="repeat must be >= 0"):
        layout.job_work_dir(run_dir, "slug", -1)
