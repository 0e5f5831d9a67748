"""Reports hold the rows a reader looks for; plots carry the data; runs and shards merge."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from qatbench.bench.presentation import plots
from qatbench.bench.storage.runs import load_runs
from tests.bench.runs_helpers import lognormal, matrix, write_run


@pytest.fixture
def captured_figures(monkeypatch: pytest.MonkeyPatch) -> dict[str, plt.Figure]:
    """Keep each figure the plot functions save, to look at what their axes hold."""
    figures: dict[str, plt.Figure] = {}
    original = plots._save

    def keep(fig: plt.Figure, path: Path) -> Path:
        figures[path.name] = fig
        fig.canvas.draw()
        return original(fig, path)

    monkeypatch.setattr(plots, "_save", keep)
    return figures


def test_report_md_and_html_hold_the_table_rows(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    summary = tmp_path / "step_summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    run = write_run(tmp_path, "r1", matrix(1.0, seed=1))
    result = subprocess.run([sys.executable, "-m", "qatbench", "report", str(run)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    markdown = (run / "report.md").read_text()
    # the classic table: model | float top-1 | QAT top-1 | PTQ top-1 | agreement | size | p50
    assert re.search(r"\| mnist_cnn \| 1 \| 96\.5% \| 97\.0% \|  \|  \| 480 → 126 kB "
                     r"\(3\.81x\) \| 0\.03 → 0\.012 ms \(2\.\d\dx\) \|", markdown), markdown
    assert "## Latency detail" in markdown and "![Plot: speedup](plots/speedup.png)" in markdown
    html = (run / "report.html").read_text()
    assert "<td>mnist_cnn</td>" in html
    # latency, speedup, accuracy vs latency, size, and the Pareto plot of the one target
    assert html.count("data:image/png;base64,") == 5
    assert "![Pareto: cpu-xnnpack](plots/pareto_cpu-xnnpack.png)" in markdown
    assert 'src="plots/' not in html  # self-contained
    assert summary.read_text().startswith("<!-- qatbench report: r1 -->\n# qatbench report")


def test_plots_carry_the_measured_values(tmp_path: Path, captured_figures) -> None:
    run = write_run(tmp_path, "r1", matrix(1.0, seed=1) + [
        {**row, "target": "cpu-ref", "samples": row["samples"] * 4}
        for row in matrix(1.0, seed=5)])
    results = load_runs([run]).results
    written = plots.write_run_plots(results, tmp_path / "plots")
    assert {p.name for p in written} == {"latency.png", "speedup.png",
                                         "accuracy_vs_latency.png", "size.png"}
    assert all(p.stat().st_size > 10_000 for p in written)

    latency_ax = captured_figures["latency.png"].axes[0]
    heights = sorted(round(bar.get_height(), 6) for bar in latency_ax.patches)
    expected = sorted(round(v, 6) for v in results["latency_ms_p50"].astype(float))
    assert heights == expected

    speedup_ax = captured_figures["speedup.png"].axes[0]
    bars = [p for p in speedup_ax.patches if p.get_width() < 1]  # not the 1.5-4x band
    assert sorted(round(b.get_height(), 6) for b in bars) == sorted(
        round(v, 6) for v in results.loc[results["variant"] != "float32", "speedup_vs_float"]
        .astype(float))
    band = [p for p in speedup_ax.patches if p not in bars]
    assert band, "the claimed 1.5-4x band is drawn"

    pareto_ax = captured_figures["accuracy_vs_latency.png"].axes[0]
    front = next(line for line in pareto_ax.lines if line.get_label() == "Pareto front")
    # int8 is faster and more accurate here: it dominates float32, alone on the front
    qat_p50 = results.query("variant == 'qat_int8' and target == 'cpu-xnnpack'")
    assert list(front.get_xdata()) == pytest.approx(list(qat_p50["latency_ms_p50"]))


def test_pareto_front_keeps_only_undominated_points() -> None:
    import numpy as np

    latency = np.array([1.0, 2.0, 3.0, 1.5])
    accuracy = np.array([0.90, 0.95, 0.94, 0.89])
    assert sorted(plots.pareto_front(latency, accuracy).tolist()) == [0, 1]


def test_a_run_without_latency_writes_no_empty_plots(tmp_path: Path) -> None:
    run = write_run(tmp_path, "compiled", [
        {"model": "m", "variant": "qat_int8", "target": "edgetpu", "status": "compiled",
         "size_bytes": 100}])
    written = plots.write_run_plots(load_runs([run]).results, tmp_path / "plots")
    assert [p.name for p in written] == ["size.png"]


def test_shards_merge_into_the_unsharded_rows(tmp_path: Path, digits_build) -> None:
    from qatbench.bench.orchestration.config import build_config
    from qatbench.bench.orchestration.runner import JobRunner, RunContext, plan_jobs
    from qatbench.bench.storage.environment import capture_environment
    from qatbench.bench.storage.store import RunStore

    config = build_config({"measure": {"warmup_runs": 1, "warmup_min_s": 0, "min_runs": 5,
                                       "min_s": 0}})
    variants, targets = ["float32", "ptq_int8", "qat_int8"], ["cpu-xnnpack", "cpu-ref"]

    def run(shard: tuple[int, int] | None) -> Path:
        store = RunStore.create(tmp_path / "results")
        store.write_json("config.json", config.model_dump())
        jobs = plan_jobs(["digits_cnn"], variants, targets, [1], shard)
        JobRunner(RunContext(config, store, capture_environment()),
                  lambda m, v: digits_build).run(jobs)
        store.close()
        return store.run_dir

    whole = load_runs([run(None)]).results
    merged_runs = load_runs([run((1, 3)), run((2, 3)), run((3, 3))])
    merged = merged_runs.results
    key = ["model", "variant", "target", "device", "threads"]
    stable = [*key, "status", "size_bytes", "accuracy_top1", "size_ratio_vs_float", "delegate"]
    order = lambda frame: frame[stable].sort_values(key).reset_index(drop=True)  # noqa: E731
    pd.testing.assert_frame_equal(order(merged), order(whole))
    int8 = merged[merged["variant"] != "float32"]
    assert int8["speedup_vs_float"].notna().all()  # recomputed across shards
    assert len(merged_runs.samples) == merged["n_samples"].sum()
    report = subprocess.run([sys.executable, "-m", "qatbench", "report",
                             *map(str, merged_runs.run_dirs)], capture_output=True, text=True,
                            timeout=120)
    assert report.returncode == 0, report.stderr
    assert (tmp_path / "results" / "merged-report" / "report.html").exists()


def test_an_int8_model_slower_than_float_stands_out_with_its_reason(tmp_path: Path) -> None:
    import json

    from qatbench.bench.presentation.report import slower_than_float_frame

    def row(variant: str, scale: float, outside: dict, kernels: int) -> dict:
        return {"model": "nasnet_mobile", "variant": variant, "target": "cpu-xnnpack",
                "size_bytes": 1000, "delegate": f"xnnpack ({kernels} kernels)",
                "extra": json.dumps({"ops_outside_delegate": outside}),
                "samples": lognormal(16.0 * scale, 0.01, 50, 1)}

    run = write_run(tmp_path, "r", [
        row("float32", 1.0, {"AVERAGE_POOL_2D": 8}, 3),
        row("qat_int8", 1.5, {"AVERAGE_POOL_2D": 40, "RELU": 48}, 37)])
    results = load_runs([run]).results
    table = slower_than_float_frame(results)
    assert list(table["variant"]) == ["qat_int8"]
    line = table.iloc[0]
    assert line["left out only in int8"] == "RELU×48, AVERAGE_POOL_2D×32"
    assert line["float32 delegate"] == "xnnpack (3 kernels)"
    plots.write_run_plots(results, tmp_path / "plots")
    from qatbench.bench.presentation.report import write_report

    markdown = write_report(results, [run], run).read_text()
    assert "## int8 slower than float32" in markdown


def test_the_pareto_front_does_not_draw_an_unresolvable_win() -> None:
    import numpy as np

    latency = np.array([1.0, 2.0, 3.0])
    # 96.2% [94.8-97.2] fastest, 96.9% [95.6-97.8] slower: intervals overlap, a tie
    low, high = np.array([94.8, 95.6, 98.0]), np.array([97.2, 97.8, 99.0])
    assert plots.resolvable_front(latency, low, high).tolist() == [0, 2]
    # the slowest one's interval overlaps the middle one's: no longer a resolvable gain
    assert plots.resolvable_front(latency, low, np.array([97.2, 98.5, 99.0])).tolist() == [0]
