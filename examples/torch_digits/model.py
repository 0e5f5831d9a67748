"""A small PyTorch CNN on scikit-learn's 8x8 digits, for ``torch = "model.py:digits_cnn"``.

The layers QAT users meet in real PyTorch models -- convolution, BatchNorm, ReLU,
pooling, a linear head -- in NCHW, as PyTorch has it. ``digits`` returns the data as
``(x, y)`` channels-last, as scikit-learn and the Keras side give images: qatbench moves
them to NCHW for the module and says so in the report's data note. No download: the
digits ship inside the scikit-learn wheel.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class DigitsCNN(nn.Module):
    """conv-BN-ReLU x2, max-pool, global average pool, linear: 10 logits."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.MaxPool2d(2))
        self.head = nn.Linear(32 * 4 * 4, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.flatten(self.features(x), 1))


def digits_cnn() -> nn.Module:
    """Untrained (``trained = false``): qatbench trains it on the data first."""
    return DigitsCNN()


def digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 digits scaled to [0, 1], (N, 8, 8, 1), and their labels."""
    from sklearn.datasets import load_digits

    loaded = load_digits()
    return (loaded.images[..., np.newaxis] / 16.0).astype(np.float32), \
        loaded.target.astype(np.int64)
