"""Interrupted runs keep what finished; --resume finishes them without repeating a job."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from qatbench.bench.orchestration.config import build_config
from qatbench.bench.orchestration.runner import JobRunner, RunContext, plan_jobs
from qatbench.bench.storage.environment import capture_environment
from qatbench.bench.storage.store import RunDirError, RunStore

CONFIG = {"run": {"models": ["digits_cnn"], "targets": ["cpu-xnnpack", "cpu-ref"]},
          "measure": {"warmup_runs": 1, "warmup_min_s": 0, "min_runs": 5, "min_s": 0}}


def context_for(store: RunStore) -> RunContext:
    return RunContext(build_config(CONFIG), store, capture_environment())


def test_interrupt_then_resume_loses_nothing_and_repeats_nothing(tmp_path: Path,
                                                                 digits_build) -> None:
    jobs = plan_jobs(["digits_cnn"], ["float32", "ptq_int8", "qat_int8"],
                     ["cpu-xnnpack", "cpu-ref"], [1])
    store = RunStore.create(tmp_path)
    store.write_json("config.json", CONFIG)
    done_before: list[str] = []

    def ctrl_c_after_two(job, row) -> None:
        done_before.append(job.label)
        if len(done_before) == 2:
            raise KeyboardInterrupt

    summary = JobRunner(context_for(store), lambda m, v: digits_build,
                        on_job_done=ctrl_c_after_two).run(jobs)
    store.close()
    assert summary.interrupted
    on_disk = pd.read_parquet(store.run_dir / "results.parquet")
    assert len(on_disk) == 2
    first_rows = on_disk.set_index(["variant", "target"])["latency_ms_p50"]

    resumed = RunStore.open_existing(store.run_dir)
    started: list[str] = []
    JobRunner(context_for(resumed), lambda m, v: digits_build,
              on_job_start=started.append).run(jobs)
    resumed.close()
    assert len(started) == len(jobs) - 2
    assert not set(started) & set(done_before)
    final = pd.read_parquet(store.run_dir / "results.parquet")
    assert len(final) == len(jobs)
    assert set(final["status"]) == {"ok"}
    again = final.set_index(["variant", "target"])["latency_ms_p50"]
    for key, value in first_rows.items():
        assert again[key] == value  # kept, not re-measured
    samples = pd.read_parquet(store.run_dir / "samples.parquet")
    assert len(samples) == final["n_samples"].sum()


def test_two_writers_cannot_share_a_run_dir(tmp_path: Path) -> None:
    store = RunStore.create(tmp_path)
    store.write_json("config.json", CONFIG)
    with pytest.raises(RunDirError, match="another qatbench process"):
        RunStore.open_existing(store.run_dir)
    store.close()
    RunStore.open_existing(store.run_dir).close()


def test_concurrent_runs_get_distinct_directories(tmp_path: Path) -> None:
    ids = {RunStore.create(tmp_path).run_id for _ in range(20)}
    assert len(ids) == 20


def test_resume_refuses_a_directory_that_is_not_a_run(tmp_path: Path) -> None:
    with pytest.raises(RunDirError, match="not a qatbench run directory"):
        RunStore.open_existing(tmp_path)


def test_retry_failed_runs_only_the_failed_jobs_again(tmp_path: Path, digits_build) -> None:
    from dataclasses import replace

    from qatbench.qat.artifacts import VariantArtifact

    jobs = plan_jobs(["digits_cnn"], ["float32", "qat_int8"], ["cpu-xnnpack"], [1])
    failed = VariantArtifact("qat_int8", error="converter crashed")
    broken = replace(digits_build, variants={**digits_build.variants, "qat_int8": failed})
    store = RunStore.create(tmp_path)
    store.write_json("config.json", CONFIG)
    JobRunner(context_for(store), lambda m, v: broken).run(jobs)
    assert store.row(("digits_cnn", "qat_int8", "cpu-xnnpack", 1))["status"] == "failed"
    store.forget({job for job in store.finished_jobs()
                  if store.row(job)["status"] in ("failed", "unavailable")})
    started: list[str] = []
    JobRunner(context_for(store), lambda m, v: digits_build,
              on_job_start=started.append).run(jobs)
    store.close()
    assert started == ["digits_cnn/qat_int8 on cpu-xnnpack x1"]
    final = pd.read_parquet(store.run_dir / "results.parquet")
    assert sorted(final["status"]) == ["ok", "ok"]
