"""Pairing of two rows' predictions (what McNemar's test is computed on) and the
errors' content, as `nox -s mutation` found no test holding: rows pair by the inputs'
digest when both have one, else by their labels."""

from __future__ import annotations

import numpy as np
import pytest

from qatbench.bench.storage.predictions import Predictions


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
