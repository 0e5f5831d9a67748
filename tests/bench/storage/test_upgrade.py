"""Old run directories read through the one upgrade step, and the format version.

The fixtures under ``fixtures/old_runs/`` were written by the stores of each earlier
shape, taken from git history (``make_old_runs.py`` says which commit wrote which). Each
is read as today's shape in memory -- never rewritten on disk -- and gives the report and
the gate the figures qatbench gave before the upgrade step existed: ``expected/*.md`` are
the report.md files qatbench wrote for them at commit 84ce073, before this change.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from qatbench.bench.cli import app
from qatbench.bench.storage import layout
from qatbench.bench.storage.profiles import read_profiles
from qatbench.bench.storage.runs import load_runs
from qatbench.bench.storage.store import RunStore, read_command, read_config
from qatbench.bench.storage.upgrade import FORMAT_VERSION, NewerRunFormat
from qatbench.qat import artifacts
from tests.bench.cli_in_process import keep_sigterm, run_qatbench  # noqa: F401
from tests.bench.storage.old_runs import OLD_RUNS, copy_old_run

EXPECTED = OLD_RUNS / "expected"
SHAPES = ("before_repeats", "before_format_versions", "bench_before_entry",
          "bench_before_format_versions")
# the samples make_old_runs.py stored: (variant, repeat) -> ms
SAMPLES = {("float32", 0): [2.0, 2.2, 2.1, 2.3, 2.0, 2.4],
           ("float32", 1): [2.1, 2.1, 2.2, 2.0, 2.3, 2.2],
           ("ptq_int8", 0): [1.0, 1.1, 1.2, 1.0, 1.1, 1.3],
           ("ptq_int8", 1): [1.2, 1.1, 1.0, 1.1, 1.2, 1.1]}


def _snapshot(run_dir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run_dir)): p.read_bytes()
            for p in sorted(run_dir.rglob("*")) if p.is_file()}


def test_a_run_from_before_repeats_reads_as_one_repeat_a_row(tmp_path: Path) -> None:
    run_dir = copy_old_run("before_repeats", tmp_path)
    raw = pd.read_parquet(run_dir / layout.RESULTS_FILE)
    assert "repeats" not in raw and "fingerprint" not in raw  # the old shape, really
    assert (run_dir / layout.SAMPLES_FILE).is_file()  # one file, not parts
    before = _snapshot(run_dir)

    loaded = load_runs([run_dir])

    results = loaded.results.set_index("variant")
    assert results["repeats"].tolist() == [1, 1]
    assert results["fingerprint"].isna().all()  # not guessed
    assert set(loaded.samples["repeat"]) == {0}
    lines = loaded.repeats.set_index("variant")
    assert sorted(lines.index) == ["float32", "ptq_int8"]  # one line a row
    for variant in ("float32", "ptq_int8"):
        assert lines.loc[variant, "latency_ms_p50"] == pytest.approx(
            np.median(SAMPLES[(variant, 0)]))
        assert results.loc[variant, "model_file"] == f"artifacts/digits_cnn/{variant}.tflite"
    assert _snapshot(run_dir) == before  # read in memory; nothing written


def test_a_run_from_before_format_versions_keeps_its_repeats(tmp_path: Path) -> None:
    run_dir = copy_old_run("before_format_versions", tmp_path)
    loaded = load_runs([run_dir])
    results = loaded.results.set_index("variant")
    assert results["repeats"].tolist() == [2, 2]
    assert results["fingerprint"].notna().all()
    per_repeat = loaded.repeats.set_index(["variant", "repeat"])["latency_ms_p50"]
    for (variant, repeat), samples in SAMPLES.items():
        assert per_repeat[(variant, repeat)] == pytest.approx(np.median(samples))
    # the manifest recorded the building host's path; the run's own copy is found
    assert results.loc["float32", "model_file"] == "artifacts/digits_cnn/float32.tflite"


@pytest.mark.parametrize("name", ["bench_before_entry", "bench_before_format_versions"])
def test_a_bench_run_names_the_files_its_requests_named(tmp_path: Path, name: str) -> None:
    """Both spellings of a job's request file: its fields alone, and the child entry's."""
    run_dir = copy_old_run(name, tmp_path)
    results = load_runs([run_dir]).results.set_index("model")
    models = tmp_path / "lab-models"
    assert results.loc["float32", "model_file"] == str(models / "float32.tflite")
    assert results.loc["ptq_int8", "model_file"] == str(models / "ptq_int8.tflite")


def test_a_profile_run_names_its_files_by_the_profile_jobs(tmp_path: Path) -> None:
    run_dir = copy_old_run("profile_before_format_versions", tmp_path)
    models = tmp_path / "lab-models"
    files = read_profiles(run_dir).groupby("variant")["model_file"].first().to_dict()
    assert files == {"float32": str(models / "float32.tflite"),
                     "int8": str(models / "ptq_int8.tflite")}


def test_a_file_no_longer_there_is_no_model_file(tmp_path: Path) -> None:
    run_dir = tmp_path / "bench_before_entry"
    shutil.copytree(OLD_RUNS / run_dir.name, run_dir)  # /lab/models does not exist here
    assert load_runs([run_dir]).results["model_file"].isna().all()


@pytest.mark.parametrize("name", SHAPES)
def test_report_of_an_old_run_is_the_report_qatbench_wrote_before(tmp_path: Path,
                                                                   name: str) -> None:
    run_dir = copy_old_run(name, tmp_path)
    out = tmp_path / "report"
    result = CliRunner().invoke(app, ["report", str(run_dir), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "report.md").read_text() == (EXPECTED / f"{name}.report.md").read_text()


def _compare(base: Path, current: Path, out: Path) -> tuple[int, pd.DataFrame]:
    result = CliRunner().invoke(app, ["compare", str(base), str(current), "--out", str(out),
                                      "--allow-host-change"], env={"COLUMNS": "300"})
    lines = [line for line in out.read_text().splitlines()
             if line.startswith("| digits_cnn") or line.startswith("| model")]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]
    return result.exit_code, pd.DataFrame(rows[1:], columns=rows[0])


def test_compare_of_an_old_run_against_a_newer_one(tmp_path: Path) -> None:
    """The gate decides on one unit (K=1) for the run from before repeats, two for the
    other, with the p50 of each side as the medians of its samples: same, exit 0."""
    base, current = (copy_old_run(name, tmp_path) for name in
                     ("before_repeats", "before_format_versions"))
    code, table = _compare(base, current, tmp_path / "compare.md")
    assert code == 0
    table = table.set_index("variant")
    for variant in ("float32", "ptq_int8"):
        both = SAMPLES[(variant, 0)] + SAMPLES[(variant, 1)]
        expected_base = np.median(SAMPLES[(variant, 0)])
        expected_current = np.median(both)
        assert float(table.loc[variant, "base_p50_ms"]) == pytest.approx(expected_base,
                                                                         abs=5e-4)
        assert float(table.loc[variant, "current_p50_ms"]) == pytest.approx(
            expected_current, abs=5e-4)
        assert table.loc[variant, "K"] == "1/2"
        assert table.loc[variant, "verdict"] == "same"


def test_resuming_a_run_from_before_repeats_counts_each_row_as_done(tmp_path: Path
                                                                      ) -> None:
    """What the runner asks before timing a job again (``repeats_done``): each old row
    is one repeat done, so ``--resume`` times none of them again."""
    run_dir = copy_old_run("before_repeats", tmp_path)
    store = RunStore.open_existing(run_dir)
    try:
        for variant in ("float32", "ptq_int8"):
            job = ("digits_cnn", variant, "cpu-xnnpack", 1)
            assert store.repeats_done(job) == 1
            assert list(store.repeat_samples(job)[0]) == SAMPLES[(variant, 0)]
    finally:
        store.close()


# -- the format version -------------------------------------------------------------------

def test_todays_writer_stamps_the_version_and_its_reader_accepts_it(tmp_path: Path) -> None:
    store = RunStore.create(tmp_path)
    store.write_config({"run": {"models": ["m"]}})
    store.write_command({"command": "bench", "files": ["/a.tflite"]})
    row = {"run_id": store.run_id, "model": "m", "variant": "float32",
           "target": "cpu-xnnpack", "device": "host", "threads": 1, "status": "ok",
           "latency_ms_p50": 1.0, "repeats": 1, "model_file": "/a.tflite"}
    store.add(row, (1.0, 1.0))
    store.close()
    assert json.loads((store.run_dir / layout.CONFIG_FILE).read_text())[
        "format_version"] == FORMAT_VERSION
    assert json.loads((store.run_dir / layout.COMMAND_FILE).read_text())[
        "format_version"] == FORMAT_VERSION
    assert read_config(store.run_dir) == {"run": {"models": ["m"]}}  # stamp not config
    assert read_command(store.run_dir) == {"command": "bench", "files": [Path("/a.tflite")]}
    loaded = load_runs([store.run_dir])
    assert loaded.results["model_file"].tolist() == ["/a.tflite"]


def test_the_build_manifest_is_stamped_with_the_same_version(tmp_path: Path) -> None:
    build = artifacts.ModelBuild("m", "trained", None, "", {
        "float32": artifacts.VariantArtifact("float32", str(tmp_path / "f.tflite"), 4)})
    build.save(tmp_path)
    assert artifacts.FORMAT_VERSION == FORMAT_VERSION
    assert json.loads((tmp_path / artifacts.MANIFEST).read_text())[
        "format_version"] == FORMAT_VERSION
    assert artifacts.ModelBuild.load(tmp_path) == build


@pytest.mark.usefixtures("keep_sigterm")
@pytest.mark.parametrize("file", [layout.CONFIG_FILE, layout.COMMAND_FILE])
def test_a_run_from_a_newer_qatbench_is_refused_with_exit_2(
        tmp_path: Path, file: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = copy_old_run("before_format_versions", tmp_path)
    path = run_dir / file
    data = json.loads(path.read_text()) if path.exists() else {"command": "run"}
    path.write_text(json.dumps({**data, "format_version": FORMAT_VERSION + 1}))
    with pytest.raises(NewerRunFormat, match="upgrade qatbench"):
        load_runs([run_dir])
    for command in (["report", str(run_dir), "--out", str(tmp_path / "r")],
                    ["compare", str(run_dir), str(run_dir), "--out", str(tmp_path / "c.md")]):
        code, said = run_qatbench(monkeypatch, capsys, *command)  # as the console script
        assert code == 2, (command, said)
        assert "upgrade qatbench" in said
        assert f"format version {FORMAT_VERSION + 1}" in " ".join(said.split())


def test_a_stamp_that_is_no_version_is_named(tmp_path: Path) -> None:
    run_dir = copy_old_run("before_format_versions", tmp_path)
    config = run_dir / layout.CONFIG_FILE
    config.write_text(json.dumps({**json.loads(config.read_text()), "format_version": "3"}))
    with pytest.raises(NewerRunFormat, match=r"config\.json: format_version '3'"):
        read_config(run_dir)
