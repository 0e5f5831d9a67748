"""Start QAT's ranges where the data is, not at tfmot's initial values.

tfmot's ``MovingAverageQuantizer`` creates every activation's min/max at -6/+6 and moves
them toward each training batch's range by an exponential moving average of decay
0.999: it takes about a thousand steps to forget the start
(tensorflow/model-optimization#368). The input's ``AllValuesQuantizer`` starts at
[0, 0] and the weights' ``LastValueQuantizer`` at [-6, 6] until a training step runs. A
short fine-tune -- 2 distillation steps at ``--quick``, 4 on an ImageNet model, none
in a zero-step budget -- converts with activation ranges still near ±6: an int8 step of
0.047 where a tensor spans ±0.1, and a QAT row measurably worse than PTQ, which
calibrated its ranges on the data. On a two-output test model distilled for 2 steps
(8 seeds, ``benchmarks/qat_range_start.py``) the box head's output SNR against float was
19-35 dB below PTQ's from tfmot's start, and within 3.1 dB of it from the data.

So before fine-tuning the QAT model runs forward in training mode (quantizers update
only there) over a few batches of 64 fine-tuning inputs (fewer if ``batch_size`` is
smaller), with the moving average's decay replaced by the running-mean weights 0, 1/2,
2/3, ...: every activation range starts at the mean of the per-batch minimum and maximum
-- what the EMA converges to at that batch size -- and the input and weight ranges at
what their own quantizers record. Every other variable the forward passes touch
(BatchNorm's moving statistics, tfmot's step counters) is put back. Fine-tuning then
continues from there with tfmot's own EMA, as it would after a thousand steps.

tfmot's quantizers update a range only through three functions of ``quant_ops``
(``MovingAvgQuantize``, ``LastValueQuantize``, ``AllValuesQuantize``), each given the min
and max variables as its second and third arguments; wrapping them for the duration
both sets the decay and learns which variables are ranges. If a tfmot release renames
them, nothing is calibrated and the record says so: fine-tuning then starts where tfmot
starts it, as before.

A range the data left at zero width -- a tensor exactly zero on every calibration input
-- is opened to ``MIN_RANGE_WIDTH``. A zero-width range is no range: tfmot's
``FakeQuantWithMinMaxVars`` divides by its width, so the first training step turns it
into NaN, the NaN flows into every weight, and the converter writes nonsense parameters
(a zero point of -128 on a per-channel convolution filter, which TFLite refuses at
load). That is what the zoo's random-weight MobileNetV2 did at ``--quick``: its
activations shrink block by block until, from block 11 on, they are exactly zero on the
calibration inputs (``_open_zero_width`` says why such a range is not sent back to
tfmot's [-6, 6] either).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from qatbench.models.arrays import Arrays, as_float32, take
from qatbench.models.arrays import count as data_count
from qatbench.qat.budget import TrainingBudget

# Batches averaged, and their size: each is one forward pass, cheap beside fine-tuning.
# The size is a calibration batch, not the training one: a range from 4 inputs (the
# ImageNet models' distillation batch) clips what the next inputs reach, and PTQ, the
# baseline a QAT row is read against, calibrates on hundreds.
CALIBRATION_BATCHES = 8
CALIBRATION_BATCH_SIZE = 64
# The width a range the data left at [0, 0] is given: small beside any live tensor, and
# its int8 step (width / 255) still a normal float32, so tfmot's fake quantization does
# not divide by zero (which turns the first training step's weights into NaN).
MIN_RANGE_WIDTH = 2.0 ** -20


@dataclass(frozen=True)
class RangeStart:
    """How the activation ranges started: for the row's note and the tests."""

    ranges: int  # quantizer min/max pairs set from the data (0: none)
    batches: int  # forward passes they were averaged over
    batch_size: int
    reason: str = ""  # why none were set, if none were
    opened: int = 0  # pairs the data left zero-width, opened to MIN_RANGE_WIDTH
    lost: int = 0  # pairs the data made non-finite, sent back to tfmot's start

    def describe(self) -> str:
        if self.ranges:
            kept = "".join((
                f"; {self.opened} zero on every one of them (range opened to "
                f"{MIN_RANGE_WIDTH:g})" if self.opened else "",
                f"; {self.lost} not finite on them (left at tfmot's start)"
                if self.lost else ""))
            return (f"{self.ranges} quantizer ranges started from {self.batches} "
                    f"batch{'es' if self.batches != 1 else ''} of {self.batch_size} "
                    f"fine-tuning inputs{kept}")
        return f"quantizer ranges started at tfmot's initial values ({self.reason})"


# the functions of tfmot's quant_ops that update a range in training mode
RANGE_UPDATERS = ("MovingAvgQuantize", "LastValueQuantize", "AllValuesQuantize")


def _quant_ops() -> Any:
    from tensorflow_model_optimization.python.core.quantization.keras import quant_ops

    return quant_ops


@contextlib.contextmanager
def _observed_ranges(decay: list[float], seen: set[tuple[str, str]]) -> Iterator[None]:
    """Within: tfmot's moving-average update uses ``decay[0]`` instead of 0.999, and the
    names of every (min, max) variable pair a quantizer updates are put in ``seen`` (names,
    not objects: under a ``tf.distribute`` strategy a layer may pass a replica's component
    of the model's variable)."""
    quant_ops = _quant_ops()
    originals: dict[str, Callable[..., Any]] = {
        name: getattr(quant_ops, name) for name in RANGE_UPDATERS}

    def observing(name: str) -> Callable[..., Any]:
        original = originals[name]

        def update(inputs: Any, min_var: Any, max_var: Any, *args: Any, **kwargs: Any
                   ) -> Any:
            seen.add((min_var.name, max_var.name))
            if name == "MovingAvgQuantize":
                kwargs["ema_decay"] = decay[0]
            return original(inputs, min_var, max_var, *args, **kwargs)

        return update

    for name in RANGE_UPDATERS:
        setattr(quant_ops, name, observing(name))
    try:
        yield
    finally:
        for name, original in originals.items():
            setattr(quant_ops, name, original)


def start_ranges_from_data(qat_model: Any, inputs: Arrays, seed: int = 0,
                           batch_size: int = CALIBRATION_BATCH_SIZE) -> RangeStart:
    """Set ``qat_model``'s quantizer ranges from ``inputs`` (the fine-tuning inputs);
    leaves every other variable as it was."""
    total = data_count(inputs)
    if total == 0:
        return RangeStart(0, 0, batch_size, "no fine-tuning inputs")
    missing = [name for name in RANGE_UPDATERS if not hasattr(_quant_ops(), name)]
    if missing:
        return RangeStart(0, 0, batch_size, f"this tfmot has no {', '.join(missing)}")
    size = min(batch_size, total)
    batches = min(CALIBRATION_BATCHES, max(1, total // size))
    order = np.random.default_rng(seed).permutation(total)[:batches * size]
    before = [(variable, variable.numpy()) for variable in qat_model.variables]
    decay, seen = [0.0], set[tuple[str, str]]()
    with _observed_ranges(decay, seen):
        for k in range(batches):
            decay[0] = k / (k + 1)  # range_k = mean of the first k+1 batches' ranges
            qat_model(as_float32(take(inputs, order[k * size:(k + 1) * size])),
                      training=True)
    lost = _lost_pairs(qat_model, seen)  # non-finite: the data held inf or NaN
    kept = {name for pair in seen - lost for name in pair}
    for variable, value in before:
        if variable.name not in kept:
            variable.assign(value)
    opened = _open_zero_width(qat_model, seen - lost)
    return RangeStart(len(seen), batches, size, opened=opened, lost=len(lost))


def _range_values(qat_model: Any) -> dict[str, Any]:
    return {variable.name: variable for variable in qat_model.variables}


def _lost_pairs(qat_model: Any, seen: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """The (min, max) pairs the data left non-finite: they go back to tfmot's start."""
    variables = _range_values(qat_model)
    return {(low, high) for low, high in seen
            if low in variables and high in variables
            and not (np.all(np.isfinite(variables[low].numpy()))
                     and np.all(np.isfinite(variables[high].numpy())))}


def _open_zero_width(qat_model: Any, seen: set[tuple[str, str]]) -> int:
    """Give every zero-width range (per-channel ranges element by element) a width of
    ``MIN_RANGE_WIDTH`` above its value; returns how many pairs needed it.

    tfmot's moving-average ranges always hold 0, so a zero-width range is [0, 0]: a
    tensor that was exactly zero on every calibration input (a dead ReLU, or a random
    network whose signal has died out). Sending it back to tfmot's [-6, 6] instead
    is no cure: TFLite's ADD needs its output scale above 2**-19 of its inputs' (the
    multiplier check in add.cc's Prepare aborts the process otherwise), and a residual
    sum whose live input started from the data at 1e-6 and whose dead input sat at
    ±6 broke that -- the converter's calibration step died with SIGABRT. A width just
    above zero keeps every range on the data's own scale.
    """
    variables = _range_values(qat_model)
    opened = 0
    for low_name, high_name in seen:
        if low_name not in variables or high_name not in variables:
            continue  # a replica's component: its model variable carries the same name
        low, high = variables[low_name].numpy(), variables[high_name].numpy()
        closed = np.asarray(high - low) <= 0
        if np.any(closed):
            variables[high_name].assign(np.where(closed, low + MIN_RANGE_WIDTH, high)
                                        .astype(high.dtype))
            opened += 1
    return opened


def start_ranges(qat_model: Any, inputs: Arrays, budget: TrainingBudget) -> RangeStart:
    """Where the quantizer ranges start, as ``[training] qat_ranges`` asks. Batches are
    no larger than ``batch_size``: what the user said fits in memory for training fits
    a forward pass."""
    if budget.qat_ranges == "tfmot":
        return RangeStart(0, 0, 0, "qat_ranges = \"tfmot\"")
    return start_ranges_from_data(qat_model, inputs, budget.seed,
                                  min(CALIBRATION_BATCH_SIZE, budget.batch_size))
