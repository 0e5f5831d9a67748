"""Float training and QAT fine-tuning of a PyTorch module, with the Keras core's budget.

The objective follows the Keras core's rule (``TrainingBudget.qat_objective``): labels
where the model has labelled training data -- cross-entropy on a class output, mean
squared error otherwise, or the user's ``loss = "module:function"`` called as
``loss(outputs, targets)`` -- else distillation from the float module (KL divergence of
softened class outputs at ``distill_temperature``, MSE on anything else) on the training
inputs, never the eval inputs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from qatbench.qat.budget import TrainingBudget
from qatbench.qat.pytorch.pt2e import tensor

OPTIMIZERS = ("adam", "sgd", "rmsprop", "adamw")


@dataclass(frozen=True)
class Objective:
    """What a fine-tune fits: ``labels`` or ``distill``, for a class output or not."""

    kind: str  # "labels" or "distill"
    classification: bool
    loss: Callable[..., Any] | None = None  # the user's, for labels
    temperature: float = 1.0

    def describe(self, epochs: int, samples: int) -> str:
        what = "labels" if self.kind == "labels" else "distillation from the float module"
        return f"QAT objective {self.kind}: {epochs} epoch(s) of PT2E QAT on {samples} " \
               f"training samples ({what})"


def seed_torch(seed: int) -> None:
    """The run's seed for torch's generators; deterministic kernels where torch has them."""
    import torch

    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def optimizer(parameters: Any, name: str, learning_rate: float) -> Any:
    import torch

    choices = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD,
               "rmsprop": torch.optim.RMSprop, "adamw": torch.optim.AdamW}
    if name not in choices:
        raise ValueError(f"optimizer {name!r} is not one PyTorch sources take; choose from "
                         f"{', '.join(OPTIMIZERS)}")
    return choices[name](parameters, lr=learning_rate)


def _batches(count: int, batch_size: int, seed: int) -> list[np.ndarray]:
    order = np.random.default_rng(seed).permutation(count)
    return [order[start:start + batch_size] for start in range(0, count, batch_size)]


def label_loss(outputs: Any, targets: Any, objective: Objective) -> Any:
    import torch.nn.functional as functional

    if objective.loss is not None:
        return objective.loss(outputs, targets)
    if objective.classification:
        return functional.cross_entropy(outputs, targets.long())
    return functional.mse_loss(outputs.reshape(targets.shape), targets.float())


def distill_loss(outputs: Any, teacher: Any, objective: Objective) -> Any:
    import torch.nn.functional as functional

    if not objective.classification:
        return functional.mse_loss(outputs, teacher)
    t = objective.temperature
    return functional.kl_div(functional.log_softmax(outputs / t, dim=-1),
                             functional.softmax(teacher / t, dim=-1),
                             reduction="batchmean") * t * t


def fit(module: Any, x: np.ndarray, y: np.ndarray | None, objective: Objective,
        epochs: int, learning_rate: float, budget: TrainingBudget,
        teacher: Any = None) -> float | None:
    """``epochs`` passes over ``x`` in shuffled batches (seeded); the last batch's loss.
    ``teacher`` (distillation): the float module whose outputs are the targets."""
    import torch

    if epochs == 0 or len(x) == 0:
        return None
    step = optimizer([p for p in module.parameters() if p.requires_grad], budget.optimizer,
                     learning_rate)
    last = None
    for epoch in range(epochs):
        for index in _batches(len(x), budget.batch_size, budget.seed + epoch):
            inputs = tensor(x[index])
            outputs = module(inputs)
            if objective.kind == "labels":
                assert y is not None
                targets = torch.from_numpy(np.asarray(y[index]))
                loss = label_loss(outputs, targets, objective)
            else:
                with torch.no_grad():
                    targets = teacher(inputs)
                loss = distill_loss(outputs, targets, objective)
            step.zero_grad()
            loss.backward()
            step.step()
            last = float(loss.detach())
    return last
