"""Whether a float model learnt anything: top-1 within noise of guessing.

A model that stayed at chance (random weights taken as trained, two epochs at
``--quick``, labels that do not match the inputs) still gets int8 rows, and their
agreement and SNR read as if they meant something. The rows say so instead: the float
model's hits on the eval set against a binomial at 1/classes (two-sided exact test).
"""

from __future__ import annotations

CHANCE_ALPHA = 0.05  # above this p-value, top-1 is not told apart from guessing


def chance_note(top1: float | None, samples: int, classes: int,
                majority: float | None = None) -> str:
    """A sentence when ``top1`` over ``samples`` eval inputs is within noise of
    guessing -- 1 in ``classes``, or always answering the most common eval class when
    that scores more (``majority``: its share of the eval labels); "" when top-1 is
    clearly away from it, or cannot be judged."""
    if top1 is None or samples < 1 or classes < 2:
        return ""
    from scipy.stats import binomtest

    guess = max(1 / classes, majority or 0.0)
    hits = round(top1 * samples)
    test = binomtest(hits, samples, guess)
    if test.pvalue <= CHANCE_ALPHA:
        return ""
    how = f"guessing 1 of {classes} classes ({100 / classes:.1f}%" if guess == 1 / classes \
        else f"always answering the most common class ({100 * guess:.1f}% of the eval labels"
    return (f"the float model is at chance: top-1 {100 * top1:.1f}% on {samples} eval "
            f"inputs is within noise of {how}, binomial test p={test.pvalue:.2g}) -- "
            "untrained or random weights, too few epochs ([training] float_epochs; --quick "
            "trains 2), or labels that do not match the inputs; its int8 rows compare a "
            "model that has learnt nothing")
