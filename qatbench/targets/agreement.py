"""Fidelity of a model's outputs to the float32 model's, on the same inputs.

Where there is no labelled data (every random-weight or unlabelled ImageNet model), top-1
cannot be measured, but how far int8 strays from float can: the fraction of inputs
whose predicted class is the float model's (top-1 agreement), whether the float model's
class is among the int8 model's five best (top-5 agreement), and the output's
signal-to-noise ratio against the float output. Numpy only: it runs in the timing child.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

TOP5 = 5


@dataclass(frozen=True)
class Fidelity:
    """Agreement fractions in [0, 1] and SNR in dB (``inf`` for identical outputs)."""

    agreement_top1: float | None
    agreement_top5: float | None  # None with five classes or fewer (trivially 1)
    output_snr_db: float
    samples: int


def _rows(outputs: np.ndarray) -> np.ndarray:
    array = np.asarray(outputs, dtype=np.float64)
    return array.reshape(len(array), -1)


def agreement_top1(outputs: np.ndarray, reference: np.ndarray) -> float:
    """Fraction of inputs whose argmax is the reference's argmax."""
    return float(np.mean(np.argmax(_rows(outputs), axis=-1)
                         == np.argmax(_rows(reference), axis=-1)))


def agreement_top5(outputs: np.ndarray, reference: np.ndarray) -> float | None:
    """Fraction of inputs whose reference class is among the output's five best (top-5
    accuracy with the float model's answer as the label). None for five classes or
    fewer, where every class is among the five best and the figure is 1 by construction."""
    out, ref = _rows(outputs), _rows(reference)
    if out.shape[1] <= TOP5:
        return None
    best5 = np.argpartition(-out, TOP5 - 1, axis=-1)[:, :TOP5]
    target = np.argmax(ref, axis=-1)[:, np.newaxis]
    return float(np.mean(np.any(best5 == target, axis=-1)))


def output_snr_db(outputs: np.ndarray, reference: np.ndarray) -> float:
    """10·log10(Σ reference² / Σ (output − reference)²), pooled over every input and class.

    Pooled rather than averaged per input, so that a few near-zero reference rows cannot
    dominate; ``inf`` when the outputs are identical, ``-inf``/``nan`` never (a zero
    reference with a non-zero error is ``-inf``, which says what happened).
    """
    out, ref = _rows(outputs), _rows(reference)
    noise = float(np.sum((out - ref) ** 2))
    signal = float(np.sum(ref ** 2))
    if noise == 0.0:
        return math.inf
    if signal == 0.0:
        return -math.inf
    return 10.0 * math.log10(signal / noise)


def fidelity(outputs: np.ndarray, reference: np.ndarray) -> Fidelity:
    """Every fidelity figure of ``outputs`` against ``reference`` (same inputs, same order)."""
    out, ref = _rows(outputs), _rows(reference)
    if out.shape != ref.shape:
        raise ValueError(f"outputs have shape {out.shape} but the float reference has "
                         f"{ref.shape}")
    if len(out) == 0:
        raise ValueError("no outputs to compare")
    return Fidelity(agreement_top1(out, ref), agreement_top5(out, ref),
                    output_snr_db(out, ref), len(out))


def uninformative_reference(reference: np.ndarray) -> bool:
    """Whether the float model gives one class for every input: then agreement measures
    nothing (a model that always answers that class agrees 100%) -- as random-weight
    ImageNet models on synthetic inputs often do."""
    classes = np.argmax(_rows(reference), axis=-1)
    return len(classes) > 1 and len(np.unique(classes)) < 2


@dataclass(frozen=True)
class OutputFidelity:
    """One output of a multi-output or non-classification model against float."""

    name: str
    task: str
    snr_db: float
    cosine: float  # pooled over every input and value: 1.0 is the same direction
    max_abs_error: float
    samples: int

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "task": self.task, "snr_db": self.snr_db,
                "cosine": self.cosine, "max_abs_error": self.max_abs_error,
                "samples": self.samples}


def cosine_similarity(outputs: np.ndarray, reference: np.ndarray) -> float:
    """cos of the angle between the two outputs flattened over every input (pooled, so a
    one-value output -- a regression score -- still has a meaningful figure)."""
    out, ref = _rows(outputs).reshape(-1), _rows(reference).reshape(-1)
    norms = float(np.linalg.norm(out) * np.linalg.norm(ref))
    if norms == 0.0:
        return 1.0 if not np.any(out) and not np.any(ref) else 0.0
    return float(np.dot(out, ref) / norms)


def output_fidelity(name: str, task: str, outputs: np.ndarray, reference: np.ndarray
                    ) -> OutputFidelity:
    out, ref = _rows(outputs), _rows(reference)
    if out.shape != ref.shape:
        raise ValueError(f"output {name} has shape {out.shape} but the float reference has "
                         f"{ref.shape}")
    return OutputFidelity(name, task, output_snr_db(out, ref), cosine_similarity(out, ref),
                          float(np.max(np.abs(out - ref))) if out.size else 0.0, len(out))
