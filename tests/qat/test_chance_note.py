"""A float model that learnt nothing is said to be at chance in every row's note."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("tensorflow")

from qatbench.models.datasets import sklearn_digits
from qatbench.models.zoo import BuiltModel, ModelSpec
from qatbench.qat.budget import TrainingBudget
from qatbench.qat.pipeline import build_variants


def _digits_net() -> BuiltModel:
    import tf_keras as keras

    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Flatten()(keras.layers.Conv2D(4, 3, activation="relu")(inputs))
    return BuiltModel(keras.Model(inputs, keras.layers.Dense(10)(x)), "random")


@pytest.mark.parametrize(("epochs", "at_chance"), [(0, True), (8, False)])
def test_the_note_says_at_chance_only_when_the_float_model_is(tmp_path: Path, epochs: int,
                                                              at_chance: bool) -> None:
    """Untrained: ~10% on ten classes, the note says so; trained 8 epochs on the
    digits: far above, no note."""
    spec = ModelSpec("digits_net", "test", (8, 8, 1), 10, _digits_net,
                     lambda: sklearn_digits())
    budget = TrainingBudget(float_epochs=epochs, representative_samples=8,
                            layer_error_samples=0, learning_rate=0.01)
    build = build_variants(spec, ["float32"], tmp_path / "b", budget)
    top1 = build.variants["float32"].keras_top1
    assert top1 is not None
    assert ("the float model is at chance" in build.data_note) is at_chance, (top1,
                                                                            build.data_note)
    if at_chance:
        assert f"top-1 {100 * top1:.1f}% on 360 eval inputs" in build.data_note
