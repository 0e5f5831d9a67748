"""Repeats: K independent child processes per measurement, interleaved across the matrix,
summarised into one row whose CI comes from the repeats."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from qatbench.bench.orchestration.config import build_config
from qatbench.bench.orchestration.repeats import summarise
from qatbench.bench.orchestration.runner import JobRunner, RunContext, plan_jobs
from qatbench.bench.storage.environment import capture_environment
from qatbench.bench.storage.runs import load_runs
from qatbench.bench.storage.store import RunStore

CONFIG = {"run": {"models": ["digits_cnn"], "targets": ["cpu-xnnpack"], "repeats": 2},
          "measure": {"warmup_runs": 1, "warmup_min_s": 0, "min_runs": 5, "min_s": 0}}


def repeat_row(status: str = "ok", p50: float = 1.0, error: str = "") -> dict:
    return {"model": "m", "variant": "qat_int8", "target": "cpu-xnnpack", "threads": 1,
            "status": status, "error": error, "latency_ms_p50": p50, "accuracy_top1": 0.9}


def test_the_ci_of_repeated_rows_comes_from_the_repeats() -> None:
    rng = np.random.default_rng(0)
    # each repeat is tight inside, but the repeats sit 15% apart: a run-level shift
    samples = {i: level * (1 + 0.001 * rng.standard_normal(500))
               for i, level in enumerate([1.0, 1.15, 1.3])}
    rows = [repeat_row(p50=float(np.median(s))) for s in samples.values()]
    row = summarise(rows, samples)
    assert row["repeats"] == 3
    assert row["latency_ms_p50_ci_low"] < 1.0 < 1.3 < row["latency_ms_p50_ci_high"]
    assert row["noisy"]  # 13% between repeats
    assert row["accuracy_top1"] == 0.9  # from the repeat that evaluated


def test_an_outlier_tail_does_not_move_a_repeats_unit() -> None:
    """Each repeat's unit is the median of its samples: a repeat whose process stalled on
    a fifth of its runs (10x) still counts at its typical speed. The row's CI is then the
    textbook t-interval of the log medians (scipy), the medians known by construction."""
    from scipy import stats

    levels = [1.0, 1.1, 1.2]
    samples = {i: np.full(100, level) for i, level in enumerate(levels)}
    samples[1] = np.concatenate([np.full(80, 1.1), np.full(20, 11.0)])  # the stalls
    rows = [repeat_row(p50=float(np.median(s))) for s in samples.values()]
    row = summarise(rows, samples)
    logs = np.log(levels)
    half = stats.t.ppf(0.975, 2) * logs.std(ddof=1) / np.sqrt(3)
    assert row["latency_ms_p50_ci_low"] == pytest.approx(np.exp(logs.mean() - half))
    assert row["latency_ms_p50_ci_high"] == pytest.approx(np.exp(logs.mean() + half))
    assert row["latency_ms_p50"] == pytest.approx(1.1)  # the pooled samples' median


def test_a_failed_repeat_fails_the_row_and_keeps_the_figures() -> None:
    samples = {0: np.full(10, 1.0), 2: np.full(10, 1.1)}
    rows = [repeat_row(), repeat_row("failed", None, "died of SIGSEGV"), repeat_row(p50=1.1)]
    row = summarise(rows, samples)
    assert row["status"] == "failed"
    assert row["error"].startswith("repeat 2 of 3: died of SIGSEGV")
    assert row["n_samples"] == 20


def test_aggregate_only_tools_count_each_repeat_once() -> None:
    rows = [{**repeat_row(p50=None), "latency_ms_mean": mean, "n_samples": 50,
             "latency_ms_min": mean - 0.1, "latency_ms_max": mean + 0.1}
            for mean in (2.0, 2.2, 2.1)]
    row = summarise(rows, {})
    assert row["latency_ms_mean"] == pytest.approx(2.1)
    assert row["n_samples"] == 150
    assert row["latency_ms_p50_ci_low"] < 2.1 < row["latency_ms_p50_ci_high"]


def test_repeats_are_interleaved_across_the_matrix(tmp_path: Path) -> None:
    store = RunStore.create(tmp_path)
    jobs = plan_jobs(["a", "b"], ["float32"], ["cpu-xnnpack"], [1])
    runner = JobRunner(RunContext(build_config(CONFIG), store, capture_environment()),
                       lambda m, v: None)
    order = [(repeat, job.model) for repeat, job in runner.pending(jobs, 3)]
    assert order == [(0, "a"), (0, "b"), (1, "a"), (1, "b"), (2, "a"), (2, "b")]
    store.close()


def test_a_repeated_run_stores_every_repeat(tmp_path: Path, digits_build) -> None:
    store = RunStore.create(tmp_path)
    store.write_json("config.json", CONFIG)
    context = RunContext(build_config(CONFIG), store, capture_environment())
    jobs = plan_jobs(["digits_cnn"], ["float32", "qat_int8"], ["cpu-xnnpack"], [1])
    started: list[str] = []
    JobRunner(context, lambda m, v: digits_build, on_job_start=started.append).run(jobs, 2)
    store.close()
    assert started == ["digits_cnn/float32 on cpu-xnnpack x1",
                       "digits_cnn/qat_int8 on cpu-xnnpack x1",
                       "digits_cnn/float32 on cpu-xnnpack x1 (repeat 2)",
                       "digits_cnn/qat_int8 on cpu-xnnpack x1 (repeat 2)"]
    loaded = load_runs([store.run_dir])
    assert list(loaded.results["repeats"]) == [2, 2]
    assert set(loaded.results["status"]) == {"ok"}
    assert loaded.repeats.groupby("variant")["repeat"].apply(sorted).to_dict() == {
        "float32": [0, 1], "qat_int8": [0, 1]}
    assert set(loaded.samples["repeat"]) == {0, 1}
    int8 = loaded.results.set_index("variant").loc["qat_int8"]
    assert int8["n_samples"] == len(loaded.samples[loaded.samples["variant"] == "qat_int8"])
    assert int8["accuracy_top1"] > 0.5  # evaluated once, kept through the repeats
    parts = json.loads(int8["fingerprint_parts"])
    assert parts["cpu_model"] and parts["runtime"].startswith(("ai-edge-litert", "tflite"))
    assert parts["delegate"] == "xnnpack"
    assert len(int8["fingerprint"]) == 12
    assert loaded.results["fingerprint"].nunique() == 1


class _ScriptedRunner(JobRunner):
    """The runner's own repeat bookkeeping, with each repeat's measurement scripted."""

    def __init__(self, context: RunContext, figures: list[dict]) -> None:
        super().__init__(context, lambda m, v: None)
        self.figures = figures

    def run_one(self, job, build, repeat=0):
        row = {**repeat_row(p50=self.figures[repeat]["p50"]), "model": job.model,
               "variant": job.variant, "run_id": self.context.store.run_id,
               "device": "", "repeats": 1, **self.figures[repeat]}
        row.pop("p50")
        return row, tuple(np.full(5, self.figures[repeat]["p50"]))


def test_start_up_figures_are_the_median_of_every_repeat_not_of_a_summary(
        tmp_path: Path) -> None:
    """init 10, 20, 90 ms over three repeats is a row of 20 ms (issue: each repeat used
    to read the stored summary back, giving 15). Memory is the largest repeat's."""
    store = RunStore.create(tmp_path)
    figures = [{"p50": 1.0, "init_ms": 10.0, "first_inference_ms": 3.0, "peak_memory_mb": 50.0},
               {"p50": 1.1, "init_ms": 20.0, "first_inference_ms": 1.0, "peak_memory_mb": 70.0},
               {"p50": 1.2, "init_ms": 90.0, "first_inference_ms": 2.0, "peak_memory_mb": 60.0}]
    runner = _ScriptedRunner(RunContext(build_config(CONFIG), store, capture_environment()),
                             figures)
    (job,) = plan_jobs(["m"], ["qat_int8"], ["cpu-xnnpack"], [1])
    rows = [runner.run_repeat(job, None, repeat) for repeat in range(3)]
    assert [r["init_ms"] for r in rows] == [10.0, 15.0, 20.0]
    stored = store.row(job.key)
    assert (stored["init_ms"], stored["first_inference_ms"]) == (20.0, 2.0)
    assert stored["peak_memory_mb"] == 70.0
    assert stored["latency_ms_p50"] == pytest.approx(1.1)
    lines = store.repeat_lines(job.key)
    assert [line["init_ms"] for line in lines] == [10.0, 20.0, 90.0]  # each repeat's own
    store.close()
