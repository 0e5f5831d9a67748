"""A model without labelled data still gets an eval set: inputs apart from the calibration
inputs, labels NO_LABEL, and the float32 file's outputs as reference -- so its int8 rows
have agreement with float where top-1 cannot exist."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow_model_optimization")

from qatbench.models.datasets import synthetic_inputs
from qatbench.models.zoo import ModelSpec
from qatbench.qat.pipeline import build_variants
from qatbench.targets.base import NO_LABEL, EvalSet
from qatbench.targets.worker import JobRequest, run_job
from tests.qat.test_distill import BUDGET, CLASSES, _unlabelled_model

# a random float model with one answer for every input would leave agreement empty
UNLABELLED = ModelSpec("varied_unlabelled", "test model without labelled data", (16, 16, 3),
                       CLASSES, partial(_unlabelled_model, flatten=True), None,
                       input_range=(-1.0, 1.0))

QUICK = {"warmup_runs": 1, "warmup_min_s": 0, "min_runs": 3, "min_s": 0}


def test_an_unlabelled_model_is_compared_with_its_float_model(tmp_path: Path) -> None:
    budget = BUDGET.model_copy(update={"layer_error_samples": 0, "max_eval_samples": 40})
    build = build_variants(UNLABELLED, ["float32", "ptq_int8"], tmp_path / "b", budget)
    assert build.eval_path is not None and build.accuracy_note
    data = EvalSet.load(Path(build.eval_path))
    assert len(data.x) == 40 and not data.has_labels and (data.y == NO_LABEL).all()
    assert data.reference is not None and data.reference.shape == (40, 5)
    assert "reference kernels" in data.reference_source
    calibration = synthetic_inputs(UNLABELLED.input_shape, budget.representative_samples,
                                   budget.seed, *UNLABELLED.input_range).astype(np.float16)
    stored = {x.tobytes() for x in data.x.astype(np.float16)}
    assert len(stored) == 40 and not stored & {c.tobytes() for c in calibration}

    work = tmp_path / "job"
    result = run_job(JobRequest(target="cpu-ref", model=build.variants["ptq_int8"].path,
                                work_dir=str(work), result_path=str(work / "r.json"),
                                spec=QUICK, eval_path=build.eval_path))
    assert result.accuracy_top1 is None  # no labels: never a made-up top-1
    float_classes = np.argmax(data.reference, axis=1)
    assert len(set(float_classes)) > 1, (  # the premise, named if a host's init breaks it
        "the random float model gives one class for every input, so agreement is "
        "(rightly) not reported: this test needs a model whose class varies")
    # agreement is the share of inputs on which the int8 file picks the float file's class
    assert result.agreement_top1 == pytest.approx(
        np.mean(np.asarray(result.predictions) == float_classes))
    assert result.output_snr_db is not None and result.output_snr_db > 0
    assert result.agreement_top5 is None  # five classes: top-5 is trivially 1
    assert result.eval_samples == 40 and len(result.predictions) == 40

    # the float32 file on the kernels its reference came from agrees with itself everywhere
    work = tmp_path / "float-job"
    itself = run_job(JobRequest(target="cpu-ref", model=build.variants["float32"].path,
                                work_dir=str(work), result_path=str(work / "r.json"),
                                spec=QUICK, eval_path=build.eval_path))
    assert list(itself.predictions) == float_classes.tolist()
    assert itself.agreement_top1 == 1.0
