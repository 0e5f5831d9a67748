"""Float training and QAT fine-tuning with tfmot, deterministic for a given seed."""

from __future__ import annotations

from typing import Any

import numpy as np

from qatbench.models.datasets import Dataset, synthetic_inputs
from qatbench.qat.budget import TrainingBudget


def outputs_probabilities(model: Any) -> bool:
    """Does the model end in a softmax (the ImageNet applications) rather than logits?"""
    return all("softmax" in str(getattr(t, "name", "")).lower() for t in model.outputs)


def _compile(model: Any, learning_rate: float) -> None:
    import tf_keras as keras

    loss = keras.losses.SparseCategoricalCrossentropy(
        from_logits=not outputs_probabilities(model))
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss,
                  metrics=["accuracy"])


def seed_everything(seed: int) -> None:
    import tf_keras as keras

    keras.utils.set_random_seed(seed)


def train_float(model: Any, data: Dataset, budget: TrainingBudget) -> None:
    """Train the float model in place on the training split."""
    if budget.float_epochs == 0:
        return
    _compile(model, budget.learning_rate)
    model.fit(data.x_train, data.y_train, epochs=budget.float_epochs,
              batch_size=budget.batch_size, shuffle=True, verbose=0)


def fine_tune_qat(qat_model: Any, data: Dataset | None, input_shape: tuple[int, ...],
                  input_range: tuple[float, float], budget: TrainingBudget) -> None:
    """Fine-tune with quantizers in the graph; without data, synthetic steps set the ranges."""
    _compile(qat_model, budget.qat_learning_rate)
    if data is not None:
        if budget.qat_epochs:
            qat_model.fit(data.x_train, data.y_train, epochs=budget.qat_epochs,
                          batch_size=budget.batch_size, shuffle=True, verbose=0)
        return
    steps = budget.synthetic_qat_steps
    if steps == 0:
        return
    count = steps * budget.synthetic_batch_size
    x = synthetic_inputs(input_shape, count, budget.seed, *input_range)
    classes = int(qat_model.output_shape[-1])
    y = np.random.default_rng(budget.seed).integers(0, classes, size=count)
    qat_model.fit(x, y, epochs=1, batch_size=budget.synthetic_batch_size, verbose=0)
