"""The CPU targets time real models and evaluate on their own interpreter."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qatbench.targets.base import EvalSet, MeasureSpec, Status
from qatbench.targets.host.cpu import cpu_ref, cpu_xnnpack
from tests.accuracy_bounds import assert_floor, assert_within, hits_of

FAST = MeasureSpec(warmup_runs=2, warmup_min_s=0, min_runs=20, min_s=0)


@pytest.mark.parametrize("factory", [cpu_xnnpack, cpu_ref])
def test_measure_keeps_every_sample(factory, int8_tflite: Path, tmp_path: Path) -> None:
    target = factory()
    assert target.probe().available
    measurement = target.measure(target.prepare(int8_tflite, tmp_path), FAST)
    assert measurement.status is Status.OK
    assert len(measurement.samples_ms) == 20
    assert measurement.init_ms is not None and measurement.init_ms > 0
    assert measurement.first_inference_ms is not None
    assert measurement.peak_memory_mb and measurement.peak_memory_mb > 10
    assert measurement.runtime.startswith(("ai-edge-litert", "tflite-runtime"))


def test_xnnpack_says_whether_it_took_the_graph(float_tflite: Path, tmp_path: Path) -> None:
    xnn = cpu_xnnpack().measure(cpu_xnnpack().prepare(float_tflite, tmp_path), FAST)
    ref = cpu_ref().measure(cpu_ref().prepare(float_tflite, tmp_path), FAST)
    assert xnn.delegate.startswith("xnnpack (")
    assert xnn.extra["delegate_kernels"] >= 1
    assert ref.delegate == "none"
    assert xnn.extra["ops_outside_delegate"] == {}  # XNNPACK took every op of this CNN


class _Interpreter:
    """Just the node list, as ``_get_ops_details`` gives it after delegation."""

    def __init__(self, ops: list[dict]) -> None:
        self.ops = [{"index": i, **op} for i, op in enumerate(ops)]

    def _get_ops_details(self) -> list[dict]:
        return self.ops


def test_ops_outside_delegate_are_those_between_no_delegate_boundaries() -> None:
    from qatbench.targets.host.interpreter_target import ops_outside_delegate

    # 0 -CONV-> 1 -RELU-> 2 -POOL-> 3 -CONV-> 4 ; the delegate took 0..2 and 3..4, not POOL
    graph = _Interpreter([
        {"op_name": "CONV_2D", "inputs": [0, 10], "outputs": [1]},
        {"op_name": "RELU", "inputs": [1], "outputs": [2]},
        {"op_name": "AVERAGE_POOL_2D", "inputs": [2], "outputs": [3]},
        {"op_name": "CONV_2D", "inputs": [3, 11], "outputs": [4]},
        {"op_name": "DELEGATE", "inputs": [0, 10], "outputs": [2]},
        {"op_name": "DELEGATE", "inputs": [3, 11], "outputs": [4]},
    ])
    assert ops_outside_delegate(graph) == {"AVERAGE_POOL_2D": 1}


@pytest.mark.parametrize("variant", ["float32", "ptq_int8", "qat_int8"])
def test_on_target_top1_matches_keras(digits_build, variant: str, tmp_path: Path) -> None:
    """One trained model on 360 digits: top-1 is known to about ±2 points, so it is
    judged as a sample. Catches: inputs fed at the wrong scale or zero point, outputs
    read from the wrong tensor or dequantized wrongly, a delegate that computes wrong --
    each tens of points off Keras's top-1 and off the same file on TFLite's reference
    kernels (digit by digit, McNemar), and a ``top1`` that is not its own outputs'."""
    from qatbench.qat.fidelity import tflite_outputs

    artifact = digits_build.variants[variant]
    data = EvalSet.load(Path(digits_build.eval_path))
    target = cpu_xnnpack()
    evaluation = target.evaluate(target.prepare(Path(artifact.path), tmp_path), data)
    assert evaluation is not None and evaluation.top1 is not None
    n = len(data.y)
    assert evaluation.samples == n and evaluation.outputs is not None
    on_target = hits_of(evaluation.outputs, data.y)
    assert evaluation.top1 == pytest.approx(on_target.mean())
    assert_floor(on_target, 0.8, f"{variant} top-1 on cpu-xnnpack")
    # int8 inputs are quantized with the model's own scale: top-1 stays near Keras's
    # (within 3 points beyond the counts' noise, Fisher) ...
    assert_within(artifact.keras_top1, evaluation.top1, points=3.0, a_n=n, b_n=n,
                  what=f"{variant} top-1: Keras vs cpu-xnnpack")
    # ... and the same file on the reference kernels decides the same digits
    reference = hits_of(tflite_outputs(Path(artifact.path), data.x), data.y)
    assert_within(reference, on_target, points=1.0,
                  what=f"{variant} top-1: reference kernels vs cpu-xnnpack")


def test_evaluate_rejects_wrong_input_shape(float_tflite: Path, tmp_path: Path) -> None:
    data = EvalSet(np.zeros((4, 28, 28, 1), np.float32), np.zeros(4, np.int64))
    target = cpu_ref()
    with pytest.raises(ValueError, match="expects"):
        target.evaluate(target.prepare(float_tflite, tmp_path), data)
