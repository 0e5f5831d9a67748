"""Per-row predictions: one atomic file per row key, paired only on the same inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qatbench.bench.storage.key import RowKey
from qatbench.bench.storage.predictions import (
    NO_LABEL,
    Predictions,
    file_name,
    load_predictions,
    save_predictions,
)

KEY = RowKey("digits_cnn", "qat_int8", "nnapi", "usb:1-2/3", 1, "abc123")


def test_predictions_round_trip_by_row_key(tmp_path: Path) -> None:
    kept = Predictions(np.array([1, 2, 3]), np.array([1, 2, 0]), np.array([1, 0, 3]), "d1")
    path = save_predictions(tmp_path, KEY, kept)
    assert path.parent.name == "predictions" and "/" not in path.name.removesuffix(".npz")
    loaded = load_predictions(tmp_path, KEY)
    assert loaded is not None and loaded.digest == "d1"
    assert loaded.correct.tolist() == [True, True, False]
    assert loaded.agrees.tolist() == [True, False, True]
    assert load_predictions(tmp_path, RowKey(*KEY.as_tuple()[:-1], "other")) is None
    assert not list(path.parent.glob(".*.tmp"))  # the atomic writer left nothing behind


def test_keys_that_differ_only_in_punctuation_get_their_own_files() -> None:
    assert file_name(RowKey("m", "v", "t", "a:b", 1)) != file_name(RowKey("m", "v", "t", "a_b", 1))


def test_without_labels_there_is_no_top1_and_pairing_needs_the_same_inputs() -> None:
    unlabelled = Predictions(np.array([0, 1]), np.full(2, NO_LABEL), np.array([0, 0]), "d1")
    assert unlabelled.correct is None and unlabelled.hits("agreement").tolist() == [True, False]
    other_inputs = Predictions(np.array([0, 1]), np.full(2, NO_LABEL), np.array([0, 0]), "d2")
    assert not unlabelled.pairs_with(other_inputs)
    assert unlabelled.pairs_with(Predictions(np.array([1, 1]), np.full(2, NO_LABEL),
                                             np.array([0, 0]), "d1"))
    with pytest.raises(ValueError):
        unlabelled.hits("top5")
