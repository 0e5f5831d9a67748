"""A run with ``[run] profile = true`` and ``mixed_int8``: every variant profiled into
profile.parquet, the op types slower in int8 proposed, mixed_int8 built, timed and
reported with its measured speedup -- on a model built so that int8 is slower than
float on XNNPACK, as NASNet-Mobile is (standalone int8 RELU and AVERAGE_POOL_2D are left
to the builtin kernels)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from qatbench.bench.orchestration.config import ConfigError, build_config
from qatbench.bench.orchestration.runner import JobRunner, RunContext, plan_jobs
from qatbench.bench.presentation.report import write_report
from qatbench.bench.storage.environment import capture_environment
from qatbench.bench.storage.profiles import read_profiles
from qatbench.bench.storage.store import RunStore
from qatbench.qat.artifacts import MixedProposal

pytestmark = pytest.mark.slow

CONFIG = {"run": {"models": ["digits_cnn"], "targets": ["cpu-xnnpack"], "profile": True,
                  "profile_op_s": 0.05, "variants": ["float32", "ptq_int8", "mixed_int8"]},
          "measure": {"warmup_runs": 1, "warmup_min_s": 0.1, "min_runs": 50, "min_s": 0.3},
          "training": {"layer_error_samples": 0, "representative_samples": 16}}


def relu_pool_spec():
    """NASNet's pattern in small: concatenations feeding a standalone ReLU and 3x3
    average pools (ops XNNPACK runs in float but leaves to the builtin kernels in int8)."""
    import tf_keras as keras

    from qatbench.models.zoo import BuiltModel, ModelSpec

    def build() -> BuiltModel:
        x = keras.layers.Input((32, 32, 16))
        h = keras.layers.Concatenate()([keras.layers.Conv2D(16, 1)(x),
                                        keras.layers.Conv2D(16, 1)(x)])
        for _ in range(3):
            r = keras.layers.ReLU()(h)
            h = keras.layers.Concatenate()([
                keras.layers.AveragePooling2D(3, strides=1, padding="same")(r),
                keras.layers.AveragePooling2D(3, strides=1, padding="same")(r)])
            h = keras.layers.Conv2D(32, 1)(h)
        y = keras.layers.Dense(10)(keras.layers.GlobalAveragePooling2D()(h))
        return BuiltModel(keras.Model(x, y), "random")

    return ModelSpec("relu_pool", "NASNet-style cells", (32, 32, 16), 10, build,
                     input_range=(-1.0, 1.0))


def test_mixed_needs_ops_or_profiles() -> None:
    with pytest.raises(ConfigError, match="mixed_int8 needs the op types to keep float"):
        build_config({"run": {"variants": ["float32", "mixed_int8"]}})
    assert build_config({"run": {"variants": ["mixed_int8"]},
                         "training": {"keep_float_ops": ["RELU"]}})


def test_profiled_run_builds_times_and_reports_mixed_int8(tmp_path: Path) -> None:
    pytest.importorskip("tensorflow_model_optimization")
    from qatbench.qat.budget import TrainingBudget
    from qatbench.qat.pipeline import build_variants

    config = build_config(CONFIG)
    store = RunStore.create(tmp_path)
    spec = relu_pool_spec()
    builds: list[list[str]] = []

    def provider(model: str, variants):
        builds.append(list(variants))
        return build_variants(spec, variants, store.run_dir / "artifacts" / model,
                              TrainingBudget(**CONFIG["training"]))

    jobs = plan_jobs(["relu_pool"], config.run.variants, config.run.targets, [1])
    summary = JobRunner(RunContext(config, store, capture_environment()), provider).run(jobs)
    store.flush()
    results = store.results.set_index("variant")
    report = write_report(store.results, [store.run_dir], store.run_dir)
    store.close()

    assert not summary.interrupted, summary
    assert builds == [["float32", "ptq_int8"], ["mixed_int8"]]  # mixed after the profiles
    assert summary.counts == {"ok": 3}, results[["status", "error"]]
    profiles = read_profiles(store.run_dir)
    assert set(profiles["variant"]) == {"float32", "ptq_int8", "mixed_int8"}
    assert set(profiles["source"]) == {"host-cut"}
    int8 = profiles[profiles["variant"] == "ptq_int8"]
    assert not int8[int8["op_type"] == "AVERAGE_POOL_2D"]["delegated"].any()

    proposal = MixedProposal.load(store.run_dir / "artifacts" / "relu_pool")
    assert "AVERAGE_POOL_2D" in proposal.ops, proposal
    p50 = results["latency_ms_p50"]
    assert pd.notna(p50["mixed_int8"]) and pd.notna(p50["ptq_int8"])
    assert p50["ptq_int8"] > p50["float32"]  # the premise: int8 is slower here
    speedup = p50["ptq_int8"] / p50["mixed_int8"]
    assert speedup > 1.5  # measured: several times faster than int8 on this model

    text = report.read_text()
    assert "## Where the time goes: relu_pool on cpu-xnnpack x1" in text
    assert "AVERAGE_POOL_2D" in text.split("## Where the time goes")[1]
    assert "## Made faster? mixed_int8, measured" in text
    mixed_part = text.split("## Made faster? mixed_int8, measured")[1]
    assert f"{speedup:.2f}x" in mixed_part and "faster than int8" in mixed_part
    assert (store.run_dir / "plots" / "op_types_relu_pool_cpu-xnnpack_1_ptq_int8.png").exists()
