"""Pairing of two rows' predictions (what McNemar's test is computed on), where they are
kept and the errors' content, as `nox -s mutation` found no test holding: rows pair by
the inputs' digest when both have one, else by their labels; a row's file keeps the name
earlier qatbench versions gave it; a damaged file is named with its error and what to do."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from qatbench.bench.storage.key import RowKey
from qatbench.bench.storage.predictions import (
    Predictions,
    load_predictions,
    predictions_path,
    save_predictions,
)
from tests.bench.storage.damaged import refusal


def answers(labels: list[int], digest: str = "") -> Predictions:
    return Predictions(np.array([0, 1, 2]), np.array(labels), np.array([0, 1, 1]), digest)


def test_rows_pair_by_digest_when_both_have_one_else_by_their_labels() -> None:
    assert answers([0, 1, 2], "d1").pairs_with(answers([2, 2, 2], "d1"))  # the digest decides
    assert not answers([0, 1, 2], "d1").pairs_with(answers([0, 1, 2], "d2"))
    # one digest missing (a row from before digests): the labels decide
    assert answers([0, 1, 2], "d1").pairs_with(answers([0, 1, 2], ""))
    assert answers([0, 1, 2], "").pairs_with(answers([0, 1, 2], "d2"))
    assert not answers([0, 1, 2], "").pairs_with(answers([0, 1, 1], "d2"))
    # no digest at all
    assert answers([0, 1, 2]).pairs_with(answers([0, 1, 2]))
    assert not answers([0, 1, 2]).pairs_with(answers([0, 2, 2]))


def test_mismatched_lengths_and_an_unknown_basis_name_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="3 predictions, 2 labels and 3 reference classes"):
        Predictions(np.array([0, 1, 2]), np.array([0, 1]), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="basis must be 'top1' or 'agreement', not 'top5'"):
        answers([0, 1, 2]).hits("top5")


# (key, the file name every qatbench since predictions were kept gives its row: readable
# parts with runs of other characters as "_", then sha256(repr(key tuple))[:10])
NAMED = [
    (RowKey("MobileNet_V3", "qat_int8", "nnapi", "usb:1-2/3", 4, "ab12"),
     "MobileNet_V3-qat_int8-nnapi-usb_1-2_3-t4-a43b1a0d07.npz"),
    (RowKey("digits_cnn", "float32", "cpu-xnnpack", "", 1),  # no device: no part
     "digits_cnn-float32-cpu-xnnpack-t1-d3c5c8442c.npz"),
]


@pytest.mark.parametrize(("key", "name"), NAMED)
def test_a_rows_predictions_keep_the_file_name_earlier_runs_have(
        tmp_path: Path, key: RowKey, name: str) -> None:
    """A run directory written by an earlier qatbench is read by a later one: the name
    is part of the format (a changed name reads every old row as "no predictions")."""
    path = tmp_path / "predictions" / name
    saved = Predictions(np.array([3, 1, 2]), np.array([3, 1, 0]), np.array([3, 0, 2]), "d")
    assert save_predictions(tmp_path, key, saved) == path
    assert [p.name for p in path.parent.iterdir()] == [name]
    loaded = load_predictions(tmp_path, key)
    assert loaded is not None
    for read, written in ((loaded.predicted, [3, 1, 2]), (loaded.labels, [3, 1, 0]),
                          (loaded.reference, [3, 0, 2])):
        assert read.dtype.kind == "i" and read.tolist() == written  # class numbers


def _npz(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


WHOLE = _npz(predicted=np.arange(3), labels=np.arange(3), reference=np.arange(3),
             digest=np.array("d"))
ADVICE = ("it holds one row's class for every eval input (what the paired accuracy tests "
          "use): restore it from a copy of the run directory, or move it out of "
          "predictions/ (that row then has no paired test)")


@pytest.mark.parametrize(("content", "problem"), [
    (b"", "EOFError: No data left in file"),  # written empty
    (WHOLE[:-30], "BadZipFile: File is not a zip file"),  # cut short
    (_npz(predicted=np.arange(3), labels=np.arange(3), reference=np.arange(3)),
     "KeyError: 'digest is not a file in the archive'"),
    (_npz(predicted=np.arange(3), labels=np.arange(2), reference=np.arange(2),
          digest=np.array("d")), "ValueError: 3 predictions, 2 labels and 2 reference classes"),
])
def test_a_damaged_predictions_file_is_named_with_its_error_and_what_to_do(
        tmp_path: Path, content: bytes, problem: str) -> None:
    key = NAMED[1][0]
    path = predictions_path(tmp_path, key)
    path.parent.mkdir()
    path.write_bytes(content)
    said = refusal(lambda run_dir: load_predictions(run_dir, key), tmp_path, path)
    assert said == f"{path} is damaged ({problem}); {ADVICE}. Nothing was changed"
