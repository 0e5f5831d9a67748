"""Per-op profiles: host one-op models of real converted models, the phone's op tables
(the published Mi 11 output, and the simulated phone), and the timing row kept apart
from the profiled run."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from qatbench.bench.orchestration.profiling import profile_lines
from qatbench.bench.presentation.profile_report import coverage_frame
from qatbench.targets.android.benchmark_model_output import (
    parse_benchmark_output,
    profile_from_benchmark_output,
)
from qatbench.targets.base import MeasureSpec, Status
from qatbench.targets.host.op_cut import cut_model
from qatbench.targets.host.op_profile import profile_on_host
from qatbench.targets.op_profile import HOST_CUT, OpProfile, OpTiming
from qatbench.targets.registry import create_target
from qatbench.targets.runtime import resolve_runtime
from qatbench.targets.tflite_file import inspect_tflite
from tests.targets.android.test_target import Phone, phone, prepared_for  # noqa: F401 (fixture)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
OP_PROFILING = FIXTURES / "benchmark_model_android_mi11_nnapi_qti_gpu_op_profiling.txt"
SPEC = MeasureSpec(warmup_runs=1, warmup_min_s=0.05, min_runs=30, min_s=0.2)


def _convert(model, path: Path) -> Path:
    import tensorflow as tf

    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    return path


@pytest.fixture(scope="module")
def big_dense(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two large convolutions: a few ops, each far above per-call overheads and bound by
    compute, not by memory (large dense layers whose weights fit the cache one at a time
    but not together made the whole model 4x slower than its cut ops on this VM)."""
    keras = pytest.importorskip("tf_keras")
    model = keras.Sequential([keras.layers.Input((48, 48, 32)),
                              keras.layers.Conv2D(64, 3, padding="same", activation="relu"),
                              keras.layers.Conv2D(64, 3, padding="same", activation="relu"),
                              keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(10)])
    return _convert(model, tmp_path_factory.mktemp("dense") / "dense.tflite")


@pytest.fixture(scope="module")
def with_cumsum(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Dense (XNNPACK takes it) then a CUMSUM (XNNPACK has no kernel for it)."""
    keras = pytest.importorskip("tf_keras")
    import tensorflow as tf

    inputs = keras.layers.Input((256,))
    hidden = keras.layers.Dense(256)(inputs)
    outputs = keras.layers.Lambda(lambda x: tf.math.cumsum(x, axis=-1))(hidden)
    return _convert(keras.Model(inputs, outputs), tmp_path_factory.mktemp("cs") / "cs.tflite")


def test_cut_models_keep_each_op_with_its_weights(int8_tflite: Path, tmp_path: Path) -> None:
    cuts = cut_model(int8_tflite)
    info = inspect_tflite(int8_tflite)
    assert Counter(c.op_type for c in cuts) == Counter(info.op_counts)
    whole = resolve_runtime().interpreter(str(int8_tflite), threads=1)
    tensors = {d["index"]: d for d in whole.get_tensor_details()}
    for cut in cuts:
        path = tmp_path / f"{cut.index}.tflite"
        path.write_bytes(cut.content)
        alone = inspect_tflite(path)
        assert alone.op_counts == {cut.op_type: 1}
        for fed, original in zip(alone.inputs, cut.input_tensors, strict=True):
            source = tensors[original]  # same tensor: shape, type and quantization
            assert fed.shape == tuple(source["shape"]) and fed.dtype == source["dtype"].__name__
            assert (fed.scale, fed.zero_point) == tuple(source["quantization"])


def _reliable_flag(profile: OpProfile) -> str:
    """What the report's coverage table says of one profile (``qatbench profile``)."""
    key = {"model": "dense", "variant": "float32", "target": "cpu-xnnpack", "device": "",
           "threads": 1, "fingerprint": "f"}
    (flag,) = coverage_frame(profile_lines(profile, key))["reliable"]
    return flag


def test_host_profile_times_every_op_and_reports_its_coverage(
        big_dense: Path, tmp_path: Path) -> None:
    """What a profile guarantees on any host, busy or not: one row per op of the file in
    file order, each op timed on the kernels the whole model gives it, the coverage (the
    ops' sum over the whole model) reported, and flagged UNRELIABLE exactly when it falls
    outside the 0.8-1.2 band. How close the coverage comes to 1 is a measurement of the
    host's load as much as of the profiler (0.38 on a busy 2-core VM, 0.95 alone):
    ``benchmarks/op_profile_coverage.py`` prints it, no test asserts it.

    Catches: a missing or doubled op, an op left untimed or timed outside the delegate,
    a coverage that is not the ops' sum over the whole, a profile that does not survive
    its JSON, and an out-of-band coverage shown as reliable."""
    info = inspect_tflite(big_dense)
    profile = profile_on_host(resolve_runtime(), big_dense, tmp_path, SPEC, use_delegate=True)
    assert [op.op_index for op in profile.ops] == list(range(info.ops_total))
    assert Counter(op.op_type for op in profile.ops) == Counter(info.op_counts)
    assert all(op.p50_ms is not None and op.p50_ms > 0 for op in profile.ops)
    assert all(op.n_samples > 0 for op in profile.ops)
    assert all(op.delegated for op in profile.ops)
    assert profile.whole_p50_ms is not None and profile.whole_p50_ms > 0
    assert profile.coverage == pytest.approx(
        sum(op.p50_ms for op in profile.ops) / profile.whole_p50_ms)
    assert OpProfile.from_json(profile.to_json()) == profile
    assert _reliable_flag(profile) == ("yes" if 0.8 <= profile.coverage <= 1.2
                                       else "UNRELIABLE")


@pytest.mark.parametrize(("ops_ms", "whole_ms", "flag"), [
    ((0.19, 0.19), 1.0, "UNRELIABLE"),  # 0.38: the busy host's profile
    ((0.40, 0.39), 1.0, "UNRELIABLE"),  # 0.79: just below the band
    ((0.40, 0.40), 1.0, "yes"),  # 0.80: the band's edge is inside
    ((0.50, 0.45), 1.0, "yes"),  # 0.95: the quiet host's
    ((0.60, 0.60), 1.0, "yes"),  # 1.20
    ((0.70, 0.60), 1.0, "UNRELIABLE"),  # 1.30: ops cost more alone than inside the model
])
def test_a_coverage_outside_the_band_is_flagged_unreliable(
        ops_ms: tuple[float, float], whole_ms: float, flag: str) -> None:
    ops = tuple(OpTiming(index, "CONV_2D", f"conv{index}", True, ms, 10)
                for index, ms in enumerate(ops_ms))
    assert _reliable_flag(OpProfile(HOST_CUT, ops, whole_ms)) == flag


def test_an_op_outside_the_delegate_is_marked(with_cumsum: Path, tmp_path: Path) -> None:
    profile = profile_on_host(resolve_runtime(), with_cumsum, tmp_path, SPEC,
                              use_delegate=True, op_s=0.05)
    placed = {op.op_type: op.delegated for op in profile.ops}
    assert placed["CUMSUM"] is False
    assert placed["FULLY_CONNECTED"] is True
    reference = profile_on_host(resolve_runtime(), with_cumsum, tmp_path, SPEC,
                                use_delegate=False, op_s=0.05)
    assert {op.delegated for op in reference.ops} == {None}  # no delegate: nothing left out


def test_the_published_op_profiling_output_parses() -> None:
    out = parse_benchmark_output(OP_PROFILING.read_text())
    assert out.timed is None  # the profiler's own Timings line is not a result
    assert out.profiled_runs.avg == 164609
    assert len(out.op_run_order) == 14 and len(out.op_top_by_time) == 10
    first = out.op_run_order[0]
    assert (first.node_type, first.avg_ms, first.percent, first.cdf_percent,
            first.node_index) == ("STRIDED_SLICE", 2.086, 1.267, 1.267, 0)
    delegates = [row for row in out.op_run_order if row.is_delegate]
    assert [row.node_type for row in delegates] == ["TfLiteNnapiDelegate"] * 3
    assert sum(row.avg_ms for row in delegates) == pytest.approx(152.264)
    assert out.op_top_by_time[0].cdf_percent == 50.878
    profile = profile_from_benchmark_output(out.op_run_order, out.op_top_by_time, None,
                                            delegate="nnapi")
    assert len(profile.ops) == 14 and profile.coverage is None  # no unprofiled timing here
    assert profile.total_ms == pytest.approx(sum(r.avg_ms for r in out.op_run_order))
    assert [op.op_type for op in profile.ops if not op.delegated].count("TRANSPOSE") == 3


def test_a_profiled_phone_run_does_not_become_the_timing_row(
        phone: Phone, int8_tflite: Path, tmp_path: Path,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Catches a timing row taken from the profiled run (or a profile from the timed one).
    The simulated profiler costs 1 ms per op and run -- far above the host's load noise
    on a model that runs in microseconds, so "slower" cannot flip on a busy host (at the
    simulator's default 20 us a load burst in the timed run could)."""
    overhead_ms = 1.0
    monkeypatch.setenv("SIM_BM_PROFILE_OVERHEAD_US", str(overhead_ms * 1000))
    target = create_target("android-cpu", {"op_profiling": True})
    prepared = prepared_for(target, int8_tflite, tmp_path)
    measurement = target.measure(prepared, MeasureSpec(warmup_runs=1, warmup_min_s=0,
                                                       min_runs=20, min_s=0))
    assert measurement.status is Status.OK
    runs = (tmp_path / "bm_argv.log").read_text().splitlines()
    assert len(runs) == 2
    assert "--enable_op_profiling=true" not in runs[0] and \
        "--enable_op_profiling=true" in runs[1]
    timed = parse_benchmark_output(Path(prepared.extra["log"]).read_text()).timed
    assert measurement.reported.n_samples == timed.count
    assert measurement.reported.mean_ms == pytest.approx(timed.avg / 1000)
    # the profiled run pays the profiler's cost per op: slower, and kept apart
    ops = sum(inspect_tflite(int8_tflite).op_counts.values())
    assert measurement.extra["op_profiled_avg_ms"] > \
        measurement.reported.mean_ms + 0.5 * overhead_ms * ops, measurement.extra
    profile = OpProfile.from_json(Path(measurement.extra["op_profile"]).read_text())
    assert profile.source == "benchmark_model"
    assert profile.whole_p50_ms == measurement.reported.p50_ms
    node_types = {op.op_type for op in profile.ops}
    assert node_types <= {"TfLiteXNNPackDelegate", *inspect_tflite(int8_tflite).op_counts}
    assert json.loads(Path(measurement.extra["op_profile"]).read_text())["ops"]
