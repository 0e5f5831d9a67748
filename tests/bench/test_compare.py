"""The regression gate decides from raw samples: real slowdowns fail, noise does not."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from qatbench.bench.compare import GateSettings, compare_runs, regressed
from qatbench.bench.runs import load_runs
from tests.bench.runs_helpers import lognormal, matrix, write_run


def qatbench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "qatbench", *args], capture_output=True,
                          text=True, timeout=120)


def verdicts(base: Path, current: Path, **settings) -> dict[str, str]:
    frame = compare_runs(load_runs([base]), load_runs([current]), GateSettings(**settings))
    return dict(zip(frame["variant"], frame["verdict"], strict=True))


def test_a_20_percent_slowdown_is_slower_and_exits_1(tmp_path: Path) -> None:
    base = write_run(tmp_path, "base", matrix(1.0, seed=1))
    current = write_run(tmp_path, "current", matrix(1.2, seed=11))
    assert verdicts(base, current) == {"float32": "same", "qat_int8": "slower"}
    result = qatbench("compare", str(base), str(current))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "REGRESSION" in result.stdout
    compare_md = (current / "compare.md").read_text()
    assert "| mnist_cnn | qat_int8 | cpu-xnnpack | 1 |" in compare_md
    assert "slower" in compare_md


def test_the_same_distribution_is_same_and_exits_0(tmp_path: Path) -> None:
    base = write_run(tmp_path, "base", matrix(1.0, seed=1))
    current = write_run(tmp_path, "current", matrix(1.0, seed=21))
    assert set(verdicts(base, current).values()) == {"same"}
    assert qatbench("compare", str(base), str(current)).returncode == 0


def test_a_speedup_is_faster_and_passes(tmp_path: Path) -> None:
    base = write_run(tmp_path, "base", matrix(1.0, seed=1))
    current = write_run(tmp_path, "current", matrix(0.7, seed=31))
    assert verdicts(base, current)["qat_int8"] == "faster"
    assert qatbench("compare", str(base), str(current)).returncode == 0


def test_heavy_noise_with_overlap_is_not_slower(tmp_path: Path) -> None:
    # medians 8% apart, but spread 40%: too few samples to tell from noise at a strict level
    base = write_run(tmp_path, "base", matrix(1.0, seed=1, sigma=0.4, n=30))
    current = write_run(tmp_path, "current", matrix(1.08, seed=41, sigma=0.4, n=30))
    assert verdicts(base, current)["qat_int8"] != "slower"


def test_a_significant_change_below_the_threshold_is_same(tmp_path: Path) -> None:
    base = write_run(tmp_path, "base", matrix(1.0, seed=1, sigma=0.005, n=2000))
    current = write_run(tmp_path, "current", matrix(1.03, seed=51, sigma=0.005, n=2000))
    frame = compare_runs(load_runs([base]), load_runs([current]))
    row = frame[frame["variant"] == "qat_int8"].iloc[0]
    assert row["p_value"] < 1e-6 and row["verdict"] == "same"
    assert row["change"] == pytest.approx(0.03, abs=0.01)


def test_too_few_samples_is_unknown(tmp_path: Path) -> None:
    base = write_run(tmp_path, "base", matrix(1.0, seed=1, n=3))
    current = write_run(tmp_path, "current", matrix(2.0, seed=2, n=3))
    assert set(verdicts(base, current).values()) == {"unknown"}


def test_rows_without_raw_samples_use_the_reported_statistics(tmp_path: Path) -> None:
    def reported(mean: float) -> list[dict]:  # as benchmark_model reports: no samples
        return [{"model": "m", "variant": "qat_int8", "target": "nnapi", "size_bytes": 1000,
                 "latency_ms_mean": mean, "latency_ms_std": 0.05, "n_samples": 100}]

    base = write_run(tmp_path, "base", reported(1.0))
    assert verdicts(base, write_run(tmp_path, "slow", reported(1.3))) == {"qat_int8": "slower"}
    assert verdicts(base, write_run(tmp_path, "same", reported(1.005))) == {"qat_int8": "same"}


def test_size_growth_and_accuracy_drop_fail_the_gate(tmp_path: Path) -> None:
    base = write_run(tmp_path, "base", matrix(1.0, seed=1))
    grown = write_run(tmp_path, "grown", matrix(1.0, seed=61, size_scale=1.10))
    worse = write_run(tmp_path, "worse", matrix(1.0, seed=71, qat_top1=0.95))
    for current, expected in ((grown, "size grew"), (worse, "top-1 dropped 2.0 points")):
        frame = compare_runs(load_runs([base]), load_runs([current]))
        assert regressed(frame)
        assert expected in frame.set_index("variant").loc["qat_int8", "gate"]
        assert qatbench("compare", str(base), str(current)).returncode == 1


def test_p90_metric_is_compared_on_the_tail(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    calm = 1.0 + 0.01 * rng.standard_normal(400)
    spiky = calm.copy()
    spiky[::4] *= 1.6  # a quarter of the runs stall: the median holds, the p90 does not
    row = {"model": "m", "variant": "qat_int8", "target": "cpu-xnnpack", "size_bytes": 1}
    base = write_run(tmp_path, "base", [{**row, "samples": calm}])
    current = write_run(tmp_path, "current", [{**row, "samples": spiky}])
    assert verdicts(base, current, metric="p50")["qat_int8"] == "same"
    assert verdicts(base, current, metric="p90")["qat_int8"] == "slower"


def test_bad_input_exits_2_and_names_what_is_wrong(tmp_path: Path) -> None:
    base = write_run(tmp_path, "base", matrix(1.0, seed=1))
    missing = qatbench("compare", str(base), str(tmp_path / "nope"))
    assert missing.returncode == 2 and "nope" in missing.stderr
    other = write_run(tmp_path, "other", [{"model": "resnet", "variant": "float32",
                                           "target": "edgetpu", "size_bytes": 1,
                                           "samples": lognormal(1, 0.01, 20, 0)}])
    unmatched = qatbench("compare", str(base), str(other))
    assert unmatched.returncode == 2
    assert "no rows matched" in unmatched.stderr
    assert "resnet" in unmatched.stderr and "mnist_cnn" in unmatched.stderr


def test_results_csv_is_accepted_as_well_as_a_run_dir(tmp_path: Path) -> None:
    base = write_run(tmp_path, "base", matrix(1.0, seed=1))
    current = write_run(tmp_path, "current", matrix(1.2, seed=11))
    frame = compare_runs(load_runs([base / "results.csv"]), load_runs([current]))
    assert isinstance(frame, pd.DataFrame)
    assert frame.set_index("variant").loc["qat_int8", "verdict"] == "slower"
