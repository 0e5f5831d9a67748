"""A recurrent layer TensorFlow's converter refuses gets the fix, not only MLIR text."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")


def test_a_dynamic_shape_lstm_gets_the_unroll_hint_and_the_hint_works(tmp_path: Path) -> None:
    import tf_keras as keras

    from qatbench.qat.conversion_hints import conversion_hint
    from qatbench.qat.export import Variant, export_variant

    def model(unroll: bool) -> keras.Model:
        inputs = keras.Input((10, 4))
        x = keras.layers.LSTM(8, unroll=unroll, name="encoder")(inputs)
        return keras.Model(inputs, keras.layers.Dense(3)(x))

    calibration = np.random.default_rng(0).normal(size=(8, 10, 4)).astype(np.float32)
    dynamic = model(unroll=False)
    with pytest.raises(Exception, match="TensorList") as refused:  # the converter's own
        export_variant(dynamic, Variant.FLOAT32, calibration, tmp_path / "a.tflite")
    hint = conversion_hint(dynamic, refused.value)
    assert "encoder (LSTM)" in hint and "unroll=True" in hint
    assert "keras.Input((10, 4), batch_size=1)" in hint
    # what the hint says converts, to float32 and to full-integer int8
    unrolled = model(unroll=True)
    for variant in (Variant.FLOAT32, Variant.PTQ_INT8):
        export_variant(unrolled, variant, calibration, tmp_path / f"{variant.value}.tflite")


def test_no_hint_for_errors_it_does_not_know() -> None:
    import tf_keras as keras

    from qatbench.qat.conversion_hints import conversion_hint

    inputs = keras.Input((10, 4))
    lstm = keras.Model(inputs, keras.layers.LSTM(2)(inputs))
    assert conversion_hint(lstm, RuntimeError("some other converter failure")) == ""
    dense = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    assert conversion_hint(dense, RuntimeError("'tf.TensorListReserve' op requires")) == ""
