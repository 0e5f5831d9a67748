"""A token-id model (int32 ids into an ``Embedding``) as float and full-integer files,
shared by the input tests and the phone tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

VOCAB = 37  # rows of the embedding table: ids 0..36 are valid, 37 is out of bounds
TOKENS = 12  # ids per sample


@pytest.fixture(scope="session")
def token_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """An int32-token Embedding model as a float file and a full-integer file (int32 ids
    in, int8 out), converted by qatbench's own exporter."""
    pytest.importorskip("tensorflow")
    import tf_keras as keras

    from qatbench.qat.export import Variant, export_variant

    tokens = keras.Input((TOKENS,), dtype="int32", name="tokens")
    x = keras.layers.Embedding(VOCAB, 4)(tokens)
    x = keras.layers.GlobalAveragePooling1D()(x)
    model = keras.Model(tokens, keras.layers.Dense(3)(x))
    folder = tmp_path_factory.mktemp("tokens")
    calibration = np.random.default_rng(0).integers(0, VOCAB, (20, TOKENS)).astype(np.int32)
    files = {}
    for variant in (Variant.FLOAT32, Variant.PTQ_INT8):
        files[variant.value] = folder / f"{variant.value}.tflite"
        export_variant(model, variant, calibration, files[variant.value])
    return files
