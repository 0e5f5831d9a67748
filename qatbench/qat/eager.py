"""Few steps run eagerly: no graph is traced for work that runs a handful of batches.

tf_keras's ``fit`` and ``predict`` trace a ``tf.function`` the first time each model is
used, and the trace grows with the layer count: on NASNet-Mobile (~770 layers, with
QAT's quantize wrappers) at ``--quick``, a py-spy profile (one run) put most of the two
fine-tuning steps' time, and over half of the ``predict`` calls', in tracing. Keras's
own guidance for inputs that fit in a batch is to
call the model directly. So a fit of at most ``MAX_EAGER_STEPS`` steps compiles with
``run_eagerly=True``, and a prediction of at most ``MAX_EAGER_BATCHES`` batches calls
the model batch by batch; longer work keeps the traced graph, whose per-step speed wins.
The arithmetic is the same either way (``benchmarks/quick_build_time.py`` measures both).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from qatbench.models.arrays import count, take

MAX_EAGER_STEPS = 8
MAX_EAGER_BATCHES = 4


def fit_steps(samples: int, batch_size: int, epochs: int) -> int:
    """How many optimizer steps ``fit`` takes over ``samples`` (the last batch partial)."""
    return epochs * -(-samples // batch_size)


def runs_eagerly(steps: int) -> bool:
    """Whether a fit of this many steps is cheaper op by op than traced."""
    return steps <= MAX_EAGER_STEPS


def predict(model: Any, x: Any, batch_size: int) -> Any:
    """``model.predict(x, batch_size=batch_size, verbose=0)``, the same structure of
    NumPy arrays back (one array, a list, or a dict), without tracing when ``x`` (an
    array, or a dict or list of them) is a few batches."""
    samples = count(x)
    if samples == 0 or fit_steps(samples, batch_size, 1) > MAX_EAGER_BATCHES:
        return model.predict(x, batch_size=batch_size, verbose=0)
    import tensorflow as tf

    batches = [tf.nest.map_structure(np.asarray, model(
        take(x, slice(start, start + batch_size)), training=False))
        for start in range(0, samples, batch_size)]
    joined = tf.nest.map_structure(lambda *parts: np.concatenate(parts, axis=0), *batches)
    return list(joined) if isinstance(joined, tuple) else joined
