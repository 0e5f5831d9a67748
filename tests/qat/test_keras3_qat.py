"""QAT for what a Keras 3 rebuild holds: hard-swish and the squeeze-excite arithmetic
that spells hard-sigmoid, constant add/multiply, LayerNormalization and GELU, and
Conv1D + Embedding on integer tokens -- each through qatbench's quantize configs, named
in the plan, and (where the converter can) a full-integer file."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")


def test_hard_swish_squeeze_excite_and_layer_norm_convert_full_integer(tmp_path: Path
                                                                       ) -> None:
    import keras
    from keras import ops

    from qatbench.qat.export import Variant, export_variant
    from qatbench.qat.fidelity import tflite_outputs
    from qatbench.qat.keras3 import rebuild
    from qatbench.qat.quantize import quantize_for_training
    from qatbench.qat.range_init import start_ranges_from_data

    keras.utils.set_random_seed(5)
    image = keras.Input((16, 16, 3), name="image")
    x = keras.layers.Conv2D(8, 3, padding="same", name="stem")(image)
    x = keras.layers.Activation("hard_silu", name="stem_hswish")(x)
    squeeze = keras.layers.GlobalAveragePooling2D(keepdims=True, name="squeeze")(x)
    squeeze = keras.layers.Conv2D(8, 1, name="excite")(squeeze)
    gate = ops.relu6(squeeze + 3.0) * (1.0 / 6.0)  # MobileNetV3's hard sigmoid
    x = keras.layers.Multiply(name="se_mul")([x, gate])
    x = keras.layers.LayerNormalization(name="norm")(x)
    x = keras.layers.Dense(8, activation="gelu", name="mlp")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    model = keras.Model(image, keras.layers.Dense(4, name="logits")(x), name="se_net")
    float_model = rebuild(model)

    qat_model, plan = quantize_for_training(float_model)
    configured = set(plan.configured.values())
    assert {"KerasOp[HardSilu]", "KerasOp[Add]", "KerasOp[Multiply]", "KerasOp[Relu6]",
            "LayerNormalization", "Multiply"} <= configured
    for name in configured:
        assert name in plan.describe()  # what the row's note says
    x_in = np.random.default_rng(0).uniform(0, 1, (64, 16, 16, 3)).astype(np.float32)
    start_ranges_from_data(qat_model, x_in)
    path = tmp_path / "qat_int8.tflite"
    info = export_variant(qat_model, Variant.QAT_INT8, x_in, path)
    assert info.is_full_integer and info.has_integer_io
    reference = float_model.predict(x_in[:16], verbose=0)
    got = tflite_outputs(path, x_in[:16])
    snr = 10 * np.log10(np.mean(reference ** 2) / np.mean((reference - got) ** 2))
    assert snr > 15, snr  # int8 arithmetic that still computes the model


def test_embedding_and_conv1d_on_tokens_get_weight_and_output_quantizers() -> None:
    import keras

    from qatbench.qat.keras3 import rebuild
    from qatbench.qat.quantize import quantize_for_training

    keras.utils.set_random_seed(2)
    tokens = keras.Input((12,), dtype="int32", name="tokens")
    x = keras.layers.Embedding(30, 8, name="embed")(tokens)
    x = keras.layers.Conv1D(8, 3, activation="relu", name="conv")(x)
    x = keras.layers.GlobalAveragePooling1D(name="pool")(x)
    model = keras.Model(tokens, keras.layers.Dense(3, name="logits")(x), name="tokens_net")
    float_model = rebuild(model)
    qat_model, plan = quantize_for_training(float_model)
    assert plan.configured == {"embed": "Embedding", "conv": "Conv1D"}
    ids = np.random.default_rng(0).integers(0, 30, (16, 12)).astype(np.int32)
    qat_model(ids, training=True)  # the token input gets no fake-quant: int32 runs
    names = {v.name for v in qat_model.variables}
    # the table and the kernel are fake-quantized (tfmot's weight min/max), the outputs too
    assert any("embed" in n and "embeddings_min" in n for n in names), sorted(names)
    assert any("conv" in n and "kernel_min" in n for n in names), sorted(names)
    np.testing.assert_allclose(qat_model.predict(ids, verbose=0),
                               float_model.predict(ids, verbose=0), atol=0.1)
