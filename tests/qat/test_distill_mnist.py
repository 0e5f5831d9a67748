"""Distilled QAT keeps up with label QAT: mnist_cnn at the CI (``--quick``) budget, labels
withheld from QAT, lands within 1 point of label QAT's int8 top-1 on the held-out digits."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tensorflow_model_optimization")
pytest.importorskip("mlxtend")

pytestmark = pytest.mark.slow


def test_distilled_qat_is_within_a_point_of_label_qat(tmp_path) -> None:
    from qatbench.bench.orchestration.config import load_config
    from qatbench.models.zoo import get_model_spec
    from qatbench.qat.export import Variant, export_variant
    from qatbench.qat.fidelity import tflite_outputs, top1
    from qatbench.qat.pipeline import build_data
    from qatbench.qat.quantize import quantize_for_training
    from qatbench.qat.train import fine_tune_qat, seed_everything, train_float

    budget = load_config(quick=True).training
    spec = get_model_spec("mnist_cnn")
    seed_everything(budget.seed)
    built = spec.build()
    data = build_data(spec, budget, built.weights, None)
    train_float(built.model, data.train, budget)
    int8_top1 = {}
    for objective in ("labels", "distill"):
        seed_everything(budget.seed)
        qat_model, _ = quantize_for_training(built.model)
        tuning = fine_tune_qat(qat_model, built.model, data.train, data.unlabelled,
                               data.unlabelled_source,
                               budget.model_copy(update={"qat_objective": objective}))
        assert tuning.objective == objective and tuning.steps > 0
        path = tmp_path / f"{objective}.tflite"
        export_variant(qat_model, Variant.QAT_INT8, data.calibration, path)
        int8_top1[objective] = top1(tflite_outputs(path, data.eval_x), data.eval_y)
    assert len(data.eval_y) >= 500 and np.isfinite(list(int8_top1.values())).all()
    assert int8_top1["distill"] >= int8_top1["labels"] - 0.01 - 1e-9, int8_top1
