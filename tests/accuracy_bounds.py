"""Accuracy assertions that state what their sample can show, and so hold on any host.

One training run on one host is one draw. TensorFlow's CPU kernels differ by instruction
set (AVX2, AVX-512, VNNI, AMX, Arm dot product), so one seed trains a slightly different
model on each host, and a top-1 measured on a few hundred inputs carries a binomial error
of about a point (500 digits at 94%: SE 1.1 points). A test that holds two such figures to
a fixed margin passes on one host and fails on the next with nothing wrong in the product
(issue 24 item 4: ``{'labels': 0.948, 'distill': 0.934}`` on an AVX2-only EPYC).

These helpers judge with statistics the tests do not take from the code under test where
they can:

- ``assert_floor``: the 95% Wilson interval of a top-1 (or agreement) lies wholly above a
  floor -- the sample *shows* the model is far above chance or an untrained model. The
  interval is SciPy's (``binomtest(...).proportion_ci(method="wilson")``), not the
  product's own ``wilson_interval``.
- ``assert_no_drop_beyond``: the product's gate rule (``accuracy_drop``, held to
  textbook values by ``tests/bench/statistics/test_accuracy.py``): B is not worse
  than A by more than ``points`` *and* by more than the sample explains -- McNemar's exact
  test on paired per-input hits when they are given, Fisher's exact test on the counts
  otherwise. A broken model (chance accuracy, labels scrambled, a wrong input scale) is
  tens of points worse with p far below 0.05 and fails; a difference inside the sample's
  noise passes on every host.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import binomtest

from qatbench.bench.statistics.accuracy import DropTest, accuracy_drop


def hits_of(predicted: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per input: was the prediction (a class per input, or output rows) the truth?"""
    predicted, truth = np.asarray(predicted), np.asarray(truth).reshape(-1)
    if predicted.ndim == 2:
        predicted = np.argmax(predicted, axis=-1)
    if predicted.shape != truth.shape:
        raise ValueError(f"{predicted.shape} predictions for {truth.shape} truths")
    return predicted == truth


def assert_floor(hits_or_rate: np.ndarray | float, floor: float, what: str,
                 n: int | None = None) -> tuple[float, float]:
    """The sample shows the rate is above ``floor``: its 95% Wilson interval's low end is.

    ``hits_or_rate``: per-input booleans, or a rate over ``n`` inputs. Returns the
    interval."""
    if n is None:
        hits = np.asarray(hits_or_rate, dtype=bool).reshape(-1)
        successes, n = int(hits.sum()), len(hits)
    else:
        successes = round(float(hits_or_rate) * n)
    assert n > 0, f"{what}: no inputs"
    interval = binomtest(successes, n).proportion_ci(confidence_level=0.95, method="wilson")
    low, high = float(interval.low), float(interval.high)
    assert low > floor, (f"{what}: {successes}/{n} = {successes / n:.3f} (95% CI "
                         f"{low:.3f}-{high:.3f}) does not show a rate above {floor}")
    return low, high


def assert_no_drop_beyond(base: np.ndarray | float, current: np.ndarray | float, *,
                          points: float, what: str, base_n: int | None = None,
                          current_n: int | None = None) -> DropTest:
    """CURRENT is not worse than BASE by more than ``points`` beyond the sample's noise.

    Per-input hit vectors (the same inputs, in the same order): McNemar's exact test,
    paired. Rates with their ``base_n`` / ``current_n``: Fisher's exact test, unpaired."""
    if base_n is None and current_n is None:
        base_hits = np.asarray(base, dtype=bool).reshape(-1)
        current_hits = np.asarray(current, dtype=bool).reshape(-1)
        assert len(base_hits) == len(current_hits) > 0, (what, len(base_hits),
                                                          len(current_hits))
        test = accuracy_drop(float(base_hits.mean()), len(base_hits),
                             float(current_hits.mean()), len(current_hits),
                             threshold_points=points, label=what, base_hits=base_hits,
                             current_hits=current_hits)
    else:
        assert base_n and current_n, f"{what}: give both counts for rates"
        test = accuracy_drop(float(base), base_n, float(current), current_n,
                             threshold_points=points, label=what)
    assert not test.fails, test.message
    return test


def assert_within(a: np.ndarray | float, b: np.ndarray | float, *, points: float, what: str,
                  a_n: int | None = None, b_n: int | None = None) -> None:
    """Neither of A and B is worse than the other by more than ``points`` beyond noise."""
    assert_no_drop_beyond(a, b, points=points, what=f"{what} (second vs first)",
                          base_n=a_n, current_n=b_n)
    assert_no_drop_beyond(b, a, points=points, what=f"{what} (first vs second)",
                          base_n=b_n, current_n=a_n)
