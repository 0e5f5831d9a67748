"""The user's data against the model before anything trains: ranges that fit, labels
that are classes, and more than one class."""

from __future__ import annotations

import numpy as np
import pytest

from qatbench.models.datasets import Dataset
from qatbench.models.sources import ModelSource

pytest.importorskip("tensorflow")


def image_model(rescale: bool = False) -> object:
    """A float 8x8 classifier (tf_keras), its first layer a Rescaling when asked."""
    import tf_keras as keras

    inputs = keras.Input((8, 8, 1), name="image")
    x = keras.layers.Rescaling(1 / 255)(inputs) if rescale else inputs
    x = keras.layers.Flatten()(keras.layers.Conv2D(4, 3)(x))
    return keras.Model(inputs, keras.layers.Dense(10)(x))


def dataset(x: np.ndarray, y: np.ndarray) -> Dataset:
    return Dataset("d", x[:30], y[:30], x[30:], y[30:], 10)


RNG = np.random.default_rng(0)
LABELS = np.arange(40) % 10


def test_pixels_0_to_255_into_a_model_that_does_not_rescale_warn() -> None:
    from qatbench.qat.user_model import data_range_warnings

    pixels = RNG.integers(0, 256, (40, 8, 8, 1)).astype(np.uint8)
    (warning,) = data_range_warnings(image_model(), dataset(pixels, LABELS), ModelSource(
        keras="m.h5"))
    assert warning.startswith("data range: input image gets uint8 data in 0..255")
    assert "Rescaling" in warning
    # the same pixels as float32 whole numbers are the same mistake
    assert data_range_warnings(image_model(), dataset(pixels.astype(np.float32), LABELS),
                               ModelSource(keras="m.h5"))
    # a model that rescales itself expects them
    assert data_range_warnings(image_model(rescale=True), dataset(pixels, LABELS),
                               ModelSource(keras="m.h5")) == []


def test_unit_range_data_is_quiet_and_data_far_outside_a_set_input_range_warns() -> None:
    from qatbench.qat.user_model import data_range_warnings

    unit = RNG.uniform(0, 1, (40, 8, 8, 1)).astype(np.float32)
    assert data_range_warnings(image_model(), dataset(unit, LABELS),
                               ModelSource(keras="m.h5")) == []
    wide = RNG.uniform(-30, 30, (40, 8, 8, 1)).astype(np.float32)
    source = ModelSource(keras="m.h5", input_range=(-1.0, 1.0))
    (warning,) = data_range_warnings(image_model(), dataset(wide, LABELS), source)
    assert "far outside input_range [-1, 1]" in warning
    # within one width of the range: noise, not a mistake
    near = RNG.uniform(-1.5, 1.5, (40, 8, 8, 1)).astype(np.float32)
    assert data_range_warnings(image_model(), dataset(near, LABELS), source) == []


def test_token_ids_are_not_pixels() -> None:
    import tf_keras as keras

    from qatbench.qat.user_model import data_range_warnings

    tokens = keras.Input((6,), dtype="int32")
    x = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(300, 4)(tokens))
    model = keras.Model(tokens, keras.layers.Dense(10)(x))
    ids = RNG.integers(0, 300, (40, 6)).astype(np.int32)
    assert data_range_warnings(model, dataset(ids, LABELS), ModelSource(keras="m.h5")) == []


@pytest.mark.parametrize(("labels", "words"), [
    (np.arange(40) % 10 + 0.5, "holds 1 value(s) per sample, but the output has 10"),
    (np.full(40, 3), "one class only (3)"),
])
def test_float_labels_and_a_single_class_are_refused(labels: np.ndarray, words: str) -> None:
    """0.5 … 9.5 are neither classes nor a 10-wide regression target; one class makes
    top-1 a vacuous 100%."""
    from qatbench.qat.user_model import SourceError, check_data, output_tasks

    model = image_model()
    data = dataset(RNG.uniform(0, 1, (40, 8, 8, 1)).astype(np.float32), labels)
    source = ModelSource(keras="m.h5")
    with pytest.raises(SourceError, match=r"models\.m\.data") as refused:
        check_data(model, data, output_tasks(model, source, data), "m")
    assert words in str(refused.value)


def test_fractional_labels_for_a_declared_class_output_are_refused() -> None:
    from qatbench.qat.user_model import SourceError, check_data, output_tasks

    model = image_model()
    data = dataset(RNG.uniform(0, 1, (40, 8, 8, 1)).astype(np.float32),
                   np.arange(40) % 10 + 0.5)
    source = ModelSource(keras="m.h5", task="classification")
    with pytest.raises(SourceError, match=r"fractional values \(e\.g\. 0\.5\)"):
        check_data(model, data, output_tasks(model, source, data), "m")
