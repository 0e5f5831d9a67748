"""A phone's per-op profiles through the runner: ``op_profiling = true`` on an Android
target with ``--repeats K`` profiles each job once (its first repeat) into
profile.parquet, while every repeat is timed unprofiled."""

from __future__ import annotations

from pathlib import Path

from qatbench.bench.orchestration.config import build_config
from qatbench.bench.orchestration.runner import JobRunner, RunContext, plan_jobs
from qatbench.bench.storage.environment import capture_environment
from qatbench.bench.storage.profiles import read_profiles
from qatbench.bench.storage.runs import load_runs
from qatbench.bench.storage.store import RunStore
from qatbench.targets.registry import options_for_repeat, validate_target_options
from tests.targets.android.test_target import Phone, phone  # noqa: F401 (the simulated phone)

CONFIG = {"run": {"models": ["digits_cnn"], "targets": ["android-cpu"], "repeats": 2},
          "targets": {"android-cpu": {"op_profiling": True, "device": "PIXEL7"}},
          "measure": {"warmup_runs": 1, "warmup_min_s": 0, "min_runs": 5, "min_s": 0}}


def test_only_the_first_repeat_carries_first_repeat_options() -> None:
    options = validate_target_options("android-cpu", {"op_profiling": True,
                                                      "device": "PIXEL7"})
    assert options_for_repeat("android-cpu", options, 0) == options
    later = options_for_repeat("nnapi", options, 1)
    assert type(later) is type(options)  # still the target's own options, typed
    assert later.op_profiling is False and later.device == "PIXEL7"
    named = validate_target_options(  # a user-named phone target: same rule
        "pixel-cpu", {"kind": "android-cpu", "op_profiling": True, "device": "PIXEL7"})
    assert options_for_repeat("pixel-cpu", named, 2).op_profiling is False
    cpu = validate_target_options("cpu-xnnpack", {"python": "/x/python"})
    assert options_for_repeat("cpu-xnnpack", cpu, 1) == cpu


def test_a_phone_profiles_each_job_once_across_repeats(
        phone: Phone, digits_build, tmp_path: Path) -> None:  # noqa: F811
    store = RunStore.create(tmp_path / "results")
    store.write_json("config.json", CONFIG)
    context = RunContext(build_config(CONFIG), store, capture_environment())
    jobs = plan_jobs(["digits_cnn"], ["float32", "qat_int8"], ["android-cpu"], [1])
    JobRunner(context, lambda model, variants: digits_build).run(jobs, 2)
    store.close()

    runs = (tmp_path / "bm_argv.log").read_text().splitlines()
    profiled = [run for run in runs if "--enable_op_profiling=true" in run]
    assert len(runs) - len(profiled) == 2 * 2  # every repeat of both jobs timed unprofiled
    assert len(profiled) == 2  # and each job profiled once, not once per repeat
    loaded = load_runs([store.run_dir])
    assert set(loaded.results["status"]) == {"ok"}
    assert list(loaded.results["repeats"]) == [2, 2]
    profiles = read_profiles(store.run_dir)
    assert set(profiles["variant"]) == {"float32", "qat_int8"}
    assert set(profiles["source"]) == {"benchmark_model"}
    assert set(profiles["device"]) == {"Google Pixel 7 (PIXEL7)"}
    for _, lines in profiles.groupby("variant"):  # one profile per job: no op twice
        assert len(lines) > 0 and lines["op_index"].notna().all()
        assert lines["op_index"].is_unique
        assert lines["p50_ms"].gt(0).fillna(False).all()  # measured, never NA
    assert phone.files() == []
