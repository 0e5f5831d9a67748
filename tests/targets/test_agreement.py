"""Fidelity to the float model: 1.0 for a model against itself, lower for a damaged copy,
measured in the timing child on the target's own interpreter."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from qatbench.targets.agreement import agreement_top5, fidelity, output_snr_db
from qatbench.targets.base import NO_LABEL, EvalSet, Evaluation
from qatbench.targets.runtime import resolve_runtime
from qatbench.targets.worker import JobRequest, eval_digest, run_job

QUICK = {"warmup_runs": 1, "warmup_min_s": 0, "min_runs": 3, "min_s": 0}


def test_outputs_against_themselves_agree_fully_with_infinite_snr() -> None:
    outputs = np.random.default_rng(0).normal(size=(50, 10))
    same = fidelity(outputs, outputs.copy())
    assert (same.agreement_top1, same.agreement_top5, same.output_snr_db) == (1.0, 1.0, math.inf)


def test_damaged_outputs_agree_less_and_lose_snr() -> None:
    rng = np.random.default_rng(1)
    reference = rng.normal(size=(400, 10))
    slightly = fidelity(reference + rng.normal(scale=0.05, size=reference.shape), reference)
    badly = fidelity(reference + rng.normal(scale=1.0, size=reference.shape), reference)
    assert 0.9 < slightly.agreement_top1 < 1.0 and badly.agreement_top1 < 0.7
    assert slightly.output_snr_db == pytest.approx(10 * math.log10(1 / 0.05 ** 2), abs=1.0)
    assert badly.output_snr_db == pytest.approx(0.0, abs=1.0)
    assert badly.agreement_top1 < badly.agreement_top5 < 1.0


def test_top5_needs_more_than_five_classes_and_shapes_must_match() -> None:
    five = np.eye(5)
    assert agreement_top5(five, five) is None  # all five are in the top five: trivially 1
    assert output_snr_db(np.ones(3), np.zeros(3)) == -math.inf
    with pytest.raises(ValueError, match="shape"):
        fidelity(np.zeros((4, 10)), np.zeros((4, 9)))


def test_an_evaluation_scores_top1_only_with_labels() -> None:
    outputs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    labelled = EvalSet(np.zeros((3, 2)), np.array([0, 1, 1]))
    assert Evaluation.of_outputs(outputs, labelled).top1 == pytest.approx(2 / 3)
    unlabelled = EvalSet(np.zeros((3, 2)), np.full(3, NO_LABEL))
    assert not unlabelled.has_labels
    evaluation = Evaluation.of_outputs(outputs, unlabelled)
    assert evaluation.top1 is None and evaluation.samples == 3


def test_the_eval_set_keeps_its_reference(tmp_path: Path) -> None:
    data = EvalSet(np.zeros((2, 3), np.float32), np.array([NO_LABEL, NO_LABEL]), "x",
                   reference=np.eye(2, 4, dtype=np.float32), reference_source="here")
    data.save(tmp_path / "e.npz")
    loaded = EvalSet.load(tmp_path / "e.npz")
    assert np.array_equal(loaded.reference, data.reference)
    assert loaded.reference_source == "here" and eval_digest(loaded) == eval_digest(data)
    with pytest.raises(ValueError, match="reference"):
        EvalSet(np.zeros((2, 3)), np.zeros(2), reference=np.zeros((3, 4)))


def damaged_copy(model: Path, out: Path, scale: float = 1.5, seed: int = 0) -> Path:
    """The same graph with its largest float weight tensor perturbed by noise of
    ``scale`` times that tensor's own spread (its bytes replaced in the flatbuffer)."""
    interpreter = resolve_runtime().interpreter(str(model), threads=1,
                                                use_default_delegates=False)
    interpreter.allocate_tensors()
    weights = max((d for d in interpreter.get_tensor_details() if d["dtype"] == np.float32
                   and len(d["shape"]) >= 2 and _constant(interpreter, d["index"])),
                  key=lambda d: int(np.prod(d["shape"])))
    values = interpreter.get_tensor(weights["index"])
    blob = model.read_bytes()
    start = blob.find(values.tobytes())
    assert start > 0 and blob.count(values.tobytes()) == 1
    noise = np.random.default_rng(seed).normal(scale=scale * float(values.std()),
                                               size=values.shape)
    damaged = (values + noise).astype(np.float32).tobytes()
    out.write_bytes(blob[:start] + damaged + blob[start + len(damaged):])
    return out


def _constant(interpreter, index: int) -> bool:
    try:
        return interpreter.get_tensor(index).size > 0
    except ValueError:
        return False


def _job(tmp_path: Path, name: str, target: str, model: Path, eval_path: str) -> JobRequest:
    work = tmp_path / name
    return JobRequest(target=target, model=str(model), work_dir=str(work),
                      result_path=str(work / "result.json"), spec=QUICK, eval_path=eval_path)


def test_the_build_saves_the_float_file_s_outputs_as_reference(digits_build) -> None:
    data = EvalSet.load(Path(digits_build.eval_path))
    assert data.reference is not None and data.reference.shape == (len(data.x), 10)
    assert data.reference_source == "float32.tflite, TFLite reference kernels"
    assert data.has_labels


def test_the_float_model_agrees_with_itself_and_a_damaged_copy_does_not(
        digits_build, tmp_path: Path) -> None:
    eval_path = digits_build.eval_path
    float_file = Path(digits_build.variants["float32"].path)
    itself = run_job(_job(tmp_path, "self", "cpu-ref", float_file, eval_path))
    assert itself.agreement_top1 == 1.0 and itself.output_snr_db == math.inf
    assert itself.agreement_top5 == 1.0
    assert itself.eval_samples == 360 and len(itself.predictions) == 360
    assert itself.eval_digest and itself.accuracy_top1 is not None

    broken = run_job(_job(tmp_path, "damaged", "cpu-ref",
                          damaged_copy(float_file, tmp_path / "damaged.tflite"), eval_path))
    assert broken.agreement_top1 is not None and broken.output_snr_db is not None
    assert broken.agreement_top1 < 0.9 and broken.output_snr_db < 10
    assert broken.accuracy_top1 < itself.accuracy_top1
    assert broken.eval_digest == itself.eval_digest


def test_int8_rows_agree_closely_but_not_bit_for_bit(digits_build, tmp_path: Path) -> None:
    for variant in ("ptq_int8", "qat_int8"):
        result = run_job(_job(tmp_path, variant, "cpu-xnnpack",
                              Path(digits_build.variants[variant].path),
                              digits_build.eval_path))
        assert result.agreement_top1 is not None and 0.85 < result.agreement_top1 <= 1.0
        assert result.output_snr_db is not None and 5 < result.output_snr_db < math.inf
        assert result.agreement_top5 is not None and result.agreement_top5 >= \
            result.agreement_top1
        predicted = np.asarray(result.predictions)
        data = EvalSet.load(Path(digits_build.eval_path))
        assert np.mean(predicted == data.y) == pytest.approx(result.accuracy_top1)


def test_a_float_model_with_one_answer_for_everything_reports_no_agreement() -> None:
    """Random-weight MobileNetV2 gives one ImageNet class for every synthetic input: any
    int8 model answering that class would 'agree 100%', so agreement is not reported."""
    from qatbench.targets.worker import _outcome

    reference = np.zeros((20, 1000))
    reference[:, 7] = 1.0  # class 7 for every input
    data = EvalSet(x=np.zeros((20, 4), np.float32), y=np.full(20, NO_LABEL),
                   reference=reference)
    collapsed = np.zeros((20, 1000))  # an int8 softmax that quantized to all zeros
    outcome = _outcome(Evaluation(top1=None, outputs=collapsed), data)
    assert outcome.agreement_top1 is None and outcome.agreement_top5 is None
    assert outcome.output_snr_db == pytest.approx(0.0)
    assert "class 7 for every one of the 20 inputs" in outcome.note
    informative = reference.copy()
    informative[::2, 7], informative[::2, 3] = 0.0, 1.0  # two classes: agreement means something
    data = EvalSet(x=data.x, y=data.y, reference=informative)
    assert _outcome(Evaluation(top1=None, outputs=informative), data).agreement_top1 == 1.0
