"""Per-input predictions of a results row: what paired accuracy tests are computed on.

A top-1 of 96.2% against 96.9% on 1,000 images says nothing by itself; the same 1,000
images answered by both models, input by input, do (McNemar's test on the inputs where
exactly one of them is right). Each evaluated row keeps, in
``predictions/<row>.npz`` of its run directory: the class it predicted for every eval
input, the labels (``NO_LABEL`` = -1 where there are none), the float32 model's class
(``-1`` where the build saved no reference) and a digest of the inputs, so two rows --
of one run or of two runs -- are paired only when they saw the same inputs.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qatbench.atomic import atomic_write
from qatbench.bench.storage.key import RowKey
from qatbench.bench.storage.layout import PREDICTIONS_DIR
from qatbench.bench.storage.store import DamagedStoreFile

NO_LABEL = -1  # as ``qatbench.targets.base.NO_LABEL``
PREDICTIONS_ADVICE = ("it holds one row's class for every eval input (what the paired "
                      "accuracy tests use): restore it from a copy of the run directory, or "
                      "move it out of predictions/ (that row then has no paired test)")


@dataclass(frozen=True)
class Predictions:
    """One row's answer for every eval input, with what it is judged against."""

    predicted: np.ndarray  # class per input
    labels: np.ndarray  # true class per input, NO_LABEL where none
    reference: np.ndarray  # the float32 model's class per input, -1 where unknown
    digest: str = ""  # which inputs (``targets.worker.eval_digest``)

    def __post_init__(self) -> None:
        if not len(self.predicted) == len(self.labels) == len(self.reference):
            raise ValueError(f"{len(self.predicted)} predictions, {len(self.labels)} labels "
                             f"and {len(self.reference)} reference classes")

    @property
    def has_labels(self) -> bool:
        return len(self.labels) > 0 and bool(np.all(self.labels != NO_LABEL))

    @property
    def has_reference(self) -> bool:
        return len(self.reference) > 0 and bool(np.all(self.reference >= 0))

    @property
    def correct(self) -> np.ndarray | None:
        """Whether each input was classified right (None without labels)."""
        return self.predicted == self.labels if self.has_labels else None

    @property
    def agrees(self) -> np.ndarray | None:
        """Whether each input got the float model's class (None without a reference)."""
        return self.predicted == self.reference if self.has_reference else None

    def hits(self, basis: str) -> np.ndarray | None:
        """``correct`` for basis "top1", ``agrees`` for "agreement"."""
        if basis not in ("top1", "agreement"):
            raise ValueError(f"basis must be 'top1' or 'agreement', not {basis!r}")
        return self.correct if basis == "top1" else self.agrees

    def pairs_with(self, other: Predictions) -> bool:
        """Whether the two answered the same inputs in the same order."""
        return len(self.predicted) == len(other.predicted) and (
            self.digest == other.digest if self.digest and other.digest
            else bool(np.array_equal(self.labels, other.labels)))


def file_name(key: RowKey) -> str:
    """A readable, unique file name for a row key (devices may hold ':' or '/')."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", "-".join(
        str(part) for part in (key.model, key.variant, key.target, key.device or "",
                               f"t{key.threads}") if part != ""))
    unique = hashlib.sha256(repr(key.as_tuple()).encode()).hexdigest()[:10]
    return f"{readable}-{unique}.npz"


def predictions_path(run_dir: Path, key: RowKey) -> Path:
    return run_dir / PREDICTIONS_DIR / file_name(key)


def save_predictions(run_dir: Path, key: RowKey, predictions: Predictions) -> Path:
    """Write one row's predictions atomically (the store's writer); return the file."""
    path = predictions_path(run_dir, key)
    path.parent.mkdir(parents=True, exist_ok=True)

    def write(temporary: Path) -> None:
        with temporary.open("wb") as handle:  # a handle: np.savez would append ".npz"
            np.savez_compressed(handle, predicted=predictions.predicted.astype(np.int32),
                                labels=predictions.labels.astype(np.int32),
                                reference=predictions.reference.astype(np.int32),
                                digest=np.array(predictions.digest))

    atomic_write(path, write)
    return path


def load_predictions(run_dir: Path, key: RowKey) -> Predictions | None:
    """The row's predictions, or None when it has none (not evaluated, or evaluated by a
    qatbench that did not keep them)."""
    path = predictions_path(run_dir, key)
    if not path.is_file():
        return None
    try:
        with np.load(path) as data:
            return Predictions(predicted=data["predicted"].astype(np.int64),
                               labels=data["labels"].astype(np.int64),
                               reference=data["reference"].astype(np.int64),
                               digest=str(data["digest"]))
    except PermissionError:
        raise
    except Exception as error:  # not a zip, truncated, a member missing, not arrays
        problem = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise DamagedStoreFile(path, f"{type(error).__name__}: {problem}",
                               PREDICTIONS_ADVICE) from None
