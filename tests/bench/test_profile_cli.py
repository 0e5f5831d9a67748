"""``qatbench profile``: per-op profiles of existing files into profile.parquet and a
report, and profile.parquet's replace-by-key writes."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from qatbench.bench.storage.profiles import add_profile, profile_frame, read_profiles
from tests.bench.test_cli import qatbench


def test_profile_pairs_float_and_int8_files(tmp_path: Path, float_tflite: Path,
                                            int8_tflite: Path) -> None:
    result = qatbench("profile", str(int8_tflite), "--against", str(float_tflite),
                      "--targets", "cpu-xnnpack,cpu-ref", "--min-runs", "10",
                      "--min-secs", "0.05", "--warmup-runs", "1", "--op-secs", "0.02",
                      "--out", str(tmp_path / "results"))
    assert result.returncode == 0, result.stderr + result.stdout
    (run_dir,) = (tmp_path / "results").iterdir()
    profiles = pd.read_parquet(run_dir / "profile.parquet")
    assert set(profiles["variant"]) == {"int8", "float32"}
    assert set(profiles["target"]) == {"cpu-xnnpack", "cpu-ref"}
    ops = profiles.groupby(["variant", "target"]).size().unstack()
    assert (ops["cpu-xnnpack"] == ops["cpu-ref"]).all()  # one row per op on every target
    assert profiles["p50_ms"].notna().all() and (profiles["coverage"] > 0).all()
    assert profiles.loc[profiles["target"] == "cpu-ref", "delegated"].isna().all()
    report = (run_dir / "profile.md").read_text()
    assert "## Per-op profiles" in report
    assert report.count("| host-cut |") == 4  # every profile's coverage is stated


def test_profile_of_a_key_replaces_its_earlier_lines(tmp_path: Path) -> None:
    key = {"run_id": "r", "model": "m", "variant": "float32", "target": "cpu-ref",
           "device": "host", "threads": 1, "fingerprint": "f", "source": "host-cut"}
    ops = [{"op_index": 0, "op_type": "CONV_2D", "name": "c", "delegated": None,
            "p50_ms": 3.0}, {"op_index": 1, "op_type": "RELU", "name": "r",
                              "delegated": None, "p50_ms": 1.0}]
    add_profile(tmp_path, profile_frame(key, ops, 5.0))
    add_profile(tmp_path, profile_frame({**key, "variant": "ptq_int8"}, ops[:1], 2.0))
    add_profile(tmp_path, profile_frame(key, ops[:1], 4.0))
    lines = read_profiles(tmp_path)
    assert len(lines) == 2
    float_line = lines[lines["variant"] == "float32"].iloc[0]
    assert float_line["share"] == 1.0 and float_line["coverage"] == 0.75
