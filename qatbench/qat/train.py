"""Float training and QAT fine-tuning with tfmot, deterministic for a given seed.

QAT fine-tunes with one of two objectives:

- ``labels``: cross-entropy on the training labels, where the model has them.
- ``distill``: match the float model's outputs, so no label is needed. The loss is the KL
  divergence between the float (teacher) and fake-quant (student) class probabilities,
  both softened by a temperature T and scaled by T² (Hinton et al., 2015); T=1 by
  default: the student is the teacher itself, fake-quantized and starting from the
  teacher's weights, so the job is to reproduce the teacher's decisions, not to pass
  dark knowledge to a smaller network (on mnist_cnn T=1 landed 0.2-0.6 points nearer
  label QAT than T=2 or T=4). KL on
  probabilities rather than MSE on logits because (a) the ImageNet applications end in a
  softmax, where logits are only known up to a constant (log-probabilities are), and KL
  is blind to that constant; (b) it weighs the classes the float model finds plausible
  instead of spending the fit on the hundreds of irrelevant logits of a 1000-way output;
  (c) top-1 and argmax agreement, what the benchmark reports, live on the probabilities.

Random labels are never used: fitting noise moves weights and BatchNorm statistics away
from the float model, and that drift would be reported as quantization error.

Both run under ``[training] strategy`` (``Placement``): "default" enters no
``tf.distribute`` scope at all; "mirrored" and "multi_worker" build, clone, compile and
fit inside the strategy's scope, and ``batch_size`` is then the global batch, split
across the replicas (Keras' behaviour with a strategy).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from qatbench.models.arrays import count as data_count
from qatbench.models.arrays import take
from qatbench.models.datasets import Dataset
from qatbench.qat import eager
from qatbench.qat.budget import TrainingBudget
from qatbench.qat.errors import FineTuningDivergedError, QatModelError
from qatbench.qat.range_init import RangeStart, start_ranges

STRATEGIES = ("default", "mirrored", "multi_worker")


def _short_device(name: str) -> str:
    """``/job:localhost/replica:0/task:0/device:CPU:1`` -> ``/cpu:1``."""
    found = re.search(r"device:([A-Za-z_]+):(\d+)$", name)
    return f"/{found.group(1).lower()}:{found.group(2)}" if found else name


@dataclass(frozen=True)
class Placement:
    """Where training runs: a ``tf.distribute`` strategy and its replicas' devices.

    The "default" placement holds no strategy object and enters no scope: training runs
    exactly as it does without ``tf.distribute``. Otherwise models are built (or cloned,
    see ``adopt``), compiled and fitted inside ``scope()``.
    """

    strategy: str = "default"
    devices: tuple[str, ...] = ()  # the local replicas' devices, short names ("/gpu:0")
    detail: str = ""  # multi_worker: which worker of how many (TF_CONFIG)
    handle: Any = field(default=None, compare=False, repr=False)  # the tf.distribute object

    @property
    def distributed(self) -> bool:
        return self.handle is not None

    @contextlib.contextmanager
    def scope(self) -> Iterator[None]:
        if self.handle is None:
            yield
            return
        with self.handle.scope():
            yield

    def describe(self) -> str:
        """E.g. ``strategy mirrored over 2 devices (/cpu:0, /cpu:1)``; "" for default."""
        if not self.distributed:
            return ""
        count = len(self.devices)
        text = (f"strategy {self.strategy} over {count} device{'' if count == 1 else 's'} "
                f"({', '.join(self.devices)})")
        return f"{text}, {self.detail}" if self.detail else text

    @property
    def replicas(self) -> int:
        """Replicas in sync (every worker's, for multi_worker); 1 for the default."""
        return int(self.handle.num_replicas_in_sync) if self.handle is not None else 1

    def fit_arrays(self, x: Any, y: Any, batch_size: int, key: str, seed: int
                   ) -> tuple[Any, Any, int]:
        """What ``fit`` gets: ``x`` and ``y``, less the samples of a last global batch
        smaller than the replica count, and how many were left out (0 for "default").

        A replica given no sample makes TensorFlow abort the training step (a process
        abort in float training, "Matrix size-incompatible" in QAT; TF 2.21, tf_keras,
        two replicas, 65 samples in batches of 64), so those fewer-than-replicas samples,
        chosen by ``seed``, sit out every epoch. A batch smaller than the replica count
        leaves a replica empty at every step: an error naming ``key``.
        """
        total = data_count(x)
        extra = self.left_out(total, batch_size, key)
        if not extra:
            return x, y, 0
        keep = np.sort(np.random.default_rng(seed).permutation(total)[extra:])
        return take(x, keep), take(y, keep), extra

    def left_out(self, total: int, batch_size: int, key: str) -> int:
        """How many of ``total`` samples ``fit_arrays`` leaves out (see there)."""
        if self.handle is None:
            return 0
        if batch_size < self.replicas:
            raise QatModelError(
                f"[training] {key} = {batch_size} is the global batch, split across "
                f"{self.replicas} replicas ({self.describe()}): give at least "
                f"{self.replicas}, so that every replica gets a sample")
        extra = total % batch_size
        return extra if extra < self.replicas else 0

    def adopt(self, model: Any) -> Any:
        """``model`` with its variables created under this strategy: itself when they
        were (or for "default"), else a clone holding its weights, made in the scope (a
        user's model loaded before the strategy existed)."""
        if self.handle is None or all(self.handle.extended.variable_created_in_scope(v)
                                      for v in model.variables):
            return model
        import tf_keras

        with self.scope():
            clone = tf_keras.models.clone_model(model)
            clone.set_weights(model.get_weights())
        return clone


_PLACEMENTS: dict[str, Placement] = {}


def _cluster_detail(strategy: Any) -> str:
    """Which task of which cluster a multi-worker strategy is, from its TF_CONFIG."""
    resolver = getattr(strategy, "cluster_resolver", None)
    cluster = resolver.cluster_spec().as_dict() if resolver is not None else {}
    if not cluster:
        return "no TF_CONFIG: this process alone"
    tasks = sum(len(cluster.get(kind, [])) for kind in ("chief", "worker"))
    replicas = strategy.num_replicas_in_sync
    return (f"{resolver.task_type} {resolver.task_id} of {tasks} worker"
            f"{'' if tasks == 1 else 's'} (TF_CONFIG), {replicas} replica"
            f"{'' if replicas == 1 else 's'} in all")


def placement_for(name: str) -> Placement:
    """The ``Placement`` for ``[training] strategy`` (one per process and name: a
    multi-worker strategy configures TensorFlow's collectives once).

    "mirrored": ``MirroredStrategy`` over every GPU present, else over every logical CPU
    device (one, unless the process configured more, as the tests do). "multi_worker":
    ``MultiWorkerMirroredStrategy`` from the ``TF_CONFIG`` environment variable.
    """
    if name not in STRATEGIES:
        raise QatModelError(f"[training] strategy = {name!r}: not one of "
                            f"{', '.join(STRATEGIES)}")
    if name == "default":
        return Placement()
    if name in _PLACEMENTS:
        return _PLACEMENTS[name]
    import tensorflow as tf

    detail = ""
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or \
            tf.config.list_logical_devices("CPU")
        strategy = tf.distribute.MirroredStrategy([d.name for d in devices])
    else:
        if os.environ.get("TF_CONFIG"):
            try:
                json.loads(os.environ["TF_CONFIG"])
            except ValueError as error:
                raise QatModelError(f"[training] strategy = \"multi_worker\": TF_CONFIG is "
                                    f"not JSON ({error})") from None
        try:
            strategy = tf.distribute.MultiWorkerMirroredStrategy()
        except RuntimeError as error:  # TensorFlow ran before the strategy was made
            raise QatModelError(
                f"[training] strategy = \"multi_worker\": {error}; with a TF_CONFIG "
                "cluster the strategy must exist before TensorFlow runs anything, but this "
                "process already did (a model loaded first)") from None
        detail = _cluster_detail(strategy)
    placement = Placement(name, tuple(_short_device(d) for d in
                                      strategy.extended.worker_devices), detail, strategy)
    _PLACEMENTS[name] = placement
    return placement


def output_is_probabilities(model: Any, index: int) -> bool:
    """Does output ``index`` end in a softmax (the ImageNet applications) rather than
    logits?"""
    return "softmax" in str(getattr(model.outputs[index], "name", "")).lower()


def output_keys(model: Any) -> list[str]:
    """The model's output names as the user's data and config know them: a tfmot QAT
    model's wrappers are named ``quant_box``; the user says ``box``."""
    from qatbench.qat.export import signature_output_names

    return signature_output_names(model)


def _tasks(model: Any, tasks: dict[str, str] | None) -> list[str]:
    """Each output's task, in output order (the zoo: one class output)."""
    names = output_keys(model)
    return [(tasks or {}).get(name, "classification") for name in names]


def _user_loss(loss: str, key: str) -> Any:
    import tf_keras as keras

    if ":" in loss:
        from qatbench.qat.user_model import load_callable

        return load_callable(loss, key)
    try:
        return keras.losses.get(loss)
    except ValueError as error:
        raise QatModelError(f"{key}: unknown Keras loss {loss!r} ({error})") from None


def losses_for(model: Any, tasks: dict[str, str] | None = None,
               losses: str | dict[str, str] | None = None) -> list[Any]:
    """Per output: the user's loss, else sparse cross-entropy for a class output (from
    logits unless it ends in a softmax) and mean squared error for any other."""
    import tf_keras as keras

    chosen = []
    for index, (name, task) in enumerate(zip(output_keys(model), _tasks(model, tasks),
                                             strict=True)):
        user = losses.get(name) if isinstance(losses, dict) else losses
        if user:
            chosen.append(_user_loss(user, "loss" if isinstance(losses, str) else
                                     f"loss.{name}"))
        elif task == "classification":
            chosen.append(keras.losses.SparseCategoricalCrossentropy(
                from_logits=not output_is_probabilities(model, index)))
        else:
            chosen.append(keras.losses.MeanSquaredError())
    return chosen


def loss_label(model: Any, tasks: dict[str, str] | None = None,
               losses: str | dict[str, str] | None = None) -> str:
    """The losses ``losses_for`` chooses, in words: one name, or ``output: name`` each."""
    names = []
    for name, task in zip(output_keys(model), _tasks(model, tasks), strict=True):
        user = losses.get(name) if isinstance(losses, dict) else losses
        names.append((name, user or ("cross-entropy" if task == "classification"
                                     else "mean squared error")))
    if len({label for _, label in names}) == 1:
        return names[0][1]
    return ", ".join(f"{output}: {label}" for output, label in names)


def optimizer_for(name: str, learning_rate: float) -> Any:
    import tf_keras as keras

    try:
        optimizer = keras.optimizers.get(name)
    except ValueError as error:
        raise QatModelError(f"[training] optimizer = {name!r}: not a Keras optimizer "
                            f"({error})") from None
    optimizer.learning_rate = learning_rate
    return optimizer


def _compile(model: Any, learning_rate: float, budget: TrainingBudget | None = None,
             tasks: dict[str, str] | None = None,
             losses: str | dict[str, str] | None = None) -> None:
    loss = losses_for(model, tasks, losses)
    single_class = len(loss) == 1 and _tasks(model, tasks) == ["classification"]
    model.compile(optimizer=optimizer_for(budget.optimizer if budget else "adam",
                                          learning_rate),
                  loss=loss if len(loss) > 1 else loss[0],
                  metrics=["accuracy"] if single_class else None)


def _fit(model: Any, x: Any, y: Any, epochs: int, batch_size: int,
         placement: Placement | None) -> None:
    """``model.fit``, op by op when it is a few steps on one device (``qat.eager``: no
    graph traced for two steps of a 770-layer model)."""
    steps = eager.fit_steps(data_count(x), batch_size, epochs)
    distributed = placement is not None and placement.distributed
    model.run_eagerly = eager.runs_eagerly(steps) and not distributed
    model.fit(x, y, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=0)


def _labels(model: Any, y: Any) -> Any:
    """Labels as Keras wants them for this model: the user's dict keyed by output name
    becomes a list in the model's output order (a QAT model's outputs are renamed)."""
    if not isinstance(y, dict):
        return y
    ordered = [y[name] for name in output_keys(model)]
    return ordered[0] if len(ordered) == 1 else ordered


def for_model(model: Any, data: Dataset) -> Dataset:
    """``data`` with its labels in ``model``'s own layout (see ``_labels``)."""
    return Dataset(data.name, data.x_train, _labels(model, data.y_train), data.x_eval,
                   _labels(model, data.y_eval), data.num_classes)


def run_user_fit(reference: str, model: Any, data: Dataset) -> None:
    from qatbench.qat.user_model import load_callable

    load_callable(reference, "training.fit")(model, data)


def seed_everything(seed: int) -> None:
    import tf_keras as keras

    keras.utils.set_random_seed(seed)


def train_float(model: Any, data: Dataset, budget: TrainingBudget,
                tasks: dict[str, str] | None = None,
                losses: str | dict[str, str] | None = None,
                placement: Placement | None = None) -> int:
    """Train the float model in place on the training split (the user's ``fit`` if set);
    returns how many samples sat out (``Placement.fit_arrays``; 0 but under a strategy).

    Under ``placement`` (default: ``budget.strategy``'s), whose scope ``model`` must have
    been built in (``Placement.adopt``): the optimizer and losses are made in that scope,
    and ``batch_size`` is the global batch, split across its replicas. The user's ``fit``
    is called inside the scope too.
    """
    if budget.float_epochs == 0:
        return 0
    placement = placement or placement_for(budget.strategy)
    with placement.scope():
        _compile(model, budget.learning_rate, budget, tasks, losses)
        if budget.fit:
            run_user_fit(budget.fit, model, for_model(model, data))
            return 0
        x, y, left_out = placement.fit_arrays(data.x_train, _labels(model, data.y_train),
                                              budget.batch_size, "batch_size", budget.seed)
        _fit(model, x, y, budget.float_epochs, budget.batch_size, placement)
    return left_out


def resolve_objective(requested: str | None, has_labels: bool, model_name: str) -> str:
    """The objective QAT uses: the requested one, else labels where they exist."""
    if requested is None:
        return "labels" if has_labels else "distill"
    if requested == "labels" and not has_labels:
        raise QatModelError(
            f"[training] qat_objective = \"labels\", but {model_name} has no labelled "
            "training data here (an image folder only evaluates and calibrates); use "
            "qat_objective = \"distill\", or leave it unset")
    return requested


@dataclass(frozen=True)
class FineTuning:
    """What QAT fine-tuning actually fitted: for the manifest, the row's note and tests."""

    objective: str  # "labels" or "distill"
    inputs: int  # distinct inputs fitted on
    source: str  # "training images", "calibration inputs", "image-folder images", ...
    passes: str  # "2 epochs", "4 steps of 4"
    targets: str  # "integer labels" or "soft targets"
    temperature: float | None = None
    steps: int = 0  # optimizer steps taken
    # the tf.distribute strategy and devices it ran on ("": the default, one device)
    placement: str = ""
    # where the activation ranges started (None: QAT was not given inputs to start from)
    ranges: RangeStart | None = None
    loss: str = ""  # the label loss fitted, in words (``loss_label``)

    def describe(self) -> str:
        how = f"distill (KL, T={self.temperature:g})" if self.objective == "distill" \
            else f"labels ({self.loss or 'cross-entropy'})"
        where = f"; {self.placement}" if self.placement else ""
        where += f"; {self.ranges.describe()}" if self.ranges else ""
        if self.steps == 0:
            return f"QAT objective: {how}, but no fine-tuning step in this budget{where}"
        return f"QAT objective: {how} on {self.inputs:,} {self.source} ({self.passes}){where}"


def _epochs(count: int) -> str:
    return f"{count} epoch{'' if count == 1 else 's'}"


def softened(outputs: np.ndarray, from_probabilities: bool, temperature: float) -> np.ndarray:
    """Class probabilities at ``temperature`` from logits or from softmax outputs."""
    logits = np.log(np.clip(outputs, 1e-12, 1.0)) if from_probabilities else outputs
    z = logits.astype(np.float64) / temperature
    z -= z.max(axis=-1, keepdims=True)
    p = np.exp(z)
    return (p / p.sum(axis=-1, keepdims=True)).astype(np.float32)


def distillation_loss(temperature: float, from_probabilities: bool) -> Any:
    """T² · KL(teacher_T ‖ student_T), per sample; ``y_true`` are the teacher's soft targets."""
    import tensorflow as tf

    def loss(soft_targets: Any, outputs: Any) -> Any:
        logits = tf.math.log(tf.clip_by_value(outputs, 1e-12, 1.0)) if from_probabilities \
            else outputs
        log_student = tf.nn.log_softmax(logits / temperature, axis=-1)
        log_teacher = tf.math.log(tf.clip_by_value(soft_targets, 1e-12, 1.0))
        kl = tf.reduce_sum(soft_targets * (log_teacher - log_student), axis=-1)
        return temperature * temperature * kl

    return loss


def check_finite(model: Any, model_name: str) -> None:
    """Raise ``FineTuningDivergedError`` naming every variable of ``model`` that holds NaN
    or inf: the converter would otherwise turn them into a file TFLite refuses at load."""
    broken = [variable.name for variable in model.variables
              if variable.dtype.is_floating and not np.all(np.isfinite(variable.numpy()))]
    if broken:
        raise FineTuningDivergedError(model_name, broken)


def freeze_batch_norm(model: Any) -> int:
    """Keep BatchNorm statistics (and affine terms) at the float model's values.

    With no training split of its own, a model is fine-tuned on a few hundred inputs at
    most; batch statistics of a few images would overwrite ImageNet statistics. A frozen
    BatchNorm layer runs in inference mode in tf_keras; quantizer ranges still update.
    """
    import tf_keras

    frozen = 0
    for layer in model.layers:
        inner = getattr(layer, "layer", layer)  # tfmot's QuantizeWrapper keeps it in .layer
        if isinstance(inner, tf_keras.layers.BatchNormalization):
            inner.trainable = False
            frozen += 1
    return frozen


def _distill(qat_model: Any, float_model: Any, x: Any, epochs: int, batch_size: int,
             budget: TrainingBudget, tasks: dict[str, str] | None = None,
             placement: Placement | None = None, batch_key: str = "batch_size") -> None:
    """Fit the float model's outputs: T²·KL for class outputs, MSE for any other."""
    import tf_keras as keras

    from qatbench.models.arrays import as_float32

    x = as_float32(x)
    teacher = eager.predict(float_model, x, batch_size=64)
    teacher = teacher if isinstance(teacher, list) else [teacher]
    targets, losses = [], []
    for index, task in enumerate(_tasks(float_model, tasks)):
        if task == "classification":
            from_probabilities = output_is_probabilities(float_model, index)
            targets.append(softened(teacher[index], from_probabilities,
                                    budget.distill_temperature))
            losses.append(distillation_loss(budget.distill_temperature, from_probabilities))
        else:
            targets.append(np.asarray(teacher[index], dtype=np.float32))
            losses.append(keras.losses.MeanSquaredError())
    qat_model.compile(optimizer=optimizer_for(budget.optimizer, budget.qat_learning_rate),
                      loss=losses if len(losses) > 1 else losses[0])
    y = targets if len(targets) > 1 else targets[0]
    if placement is not None:  # leaves out what _left_out counted (the same seed)
        x, y, _ = placement.fit_arrays(x, y, batch_size, batch_key, budget.seed)
    _fit(qat_model, x, y, epochs, batch_size, placement)


def left_out_note(extra: int, replicas: int) -> str:
    """What a record says of the samples ``Placement.fit_arrays`` left out."""
    return (f"{extra} sample{'' if extra == 1 else 's'} left out: a last batch smaller "
            f"than the {replicas} replicas") if extra else ""


def _left_out(placement: Placement, x: Any, batch_size: int, key: str) -> tuple[int, str]:
    """How many samples fit under ``placement`` (see ``Placement.fit_arrays``), and what
    the record says of the ones left out ("" when none)."""
    total = data_count(x)
    extra = placement.left_out(total, batch_size, key)
    return total - extra, f", {left_out_note(extra, placement.replicas)}" if extra else ""


def fine_tune_qat(qat_model: Any, float_model: Any, labelled: Dataset | None,
                  unlabelled: Any, unlabelled_source: str, budget: TrainingBudget,
                  model_name: str = "", tasks: dict[str, str] | None = None,
                  losses: str | dict[str, str] | None = None,
                  placement: Placement | None = None) -> FineTuning:
    """Fine-tune with quantizers in the graph; returns what was fitted.

    ``labelled``: the model's own training split, if any (then distillation, when asked
    for, runs the same epochs over its images, labels unused). ``unlabelled``: the inputs
    to distil on otherwise (image-folder images or calibration inputs), for
    ``synthetic_qat_steps`` steps of ``synthetic_batch_size``.

    Under ``placement`` (default: ``budget.strategy``'s), in whose scope ``qat_model``
    must have been made (``quantize_for_training`` inside ``Placement.scope()``):
    optimizer and losses are made in that scope, batches are global (split across the
    replicas), and the returned record names the strategy and its devices.
    """
    placement = placement or placement_for(budget.strategy)
    with placement.scope():
        tuning = _fine_tune(qat_model, float_model, labelled, unlabelled, unlabelled_source,
                            budget, model_name, tasks, losses, placement)
    check_finite(qat_model, model_name or str(getattr(float_model, "name", "model")))
    return replace(tuning, placement=placement.describe()) if placement.distributed \
        else tuning


def _fine_tune(qat_model: Any, float_model: Any, labelled: Dataset | None,
               unlabelled: Any, unlabelled_source: str, budget: TrainingBudget,
               model_name: str, tasks: dict[str, str] | None,
               losses: str | dict[str, str] | None, placement: Placement) -> FineTuning:
    objective = resolve_objective(budget.qat_objective, labelled is not None,
                                  model_name or str(getattr(float_model, "name", "model")))
    if objective == "labels":
        assert labelled is not None  # resolve_objective guarantees it
        _compile(qat_model, budget.qat_learning_rate, budget, tasks, losses)
        count, left_out = data_count(labelled.x_train), ""
        if budget.qat_epochs and not budget.fit:  # the user's loop picks its own batches
            count, left_out = _left_out(placement, labelled.x_train, budget.batch_size,
                                        "batch_size")
        steps = eager.fit_steps(count, budget.batch_size, budget.qat_epochs)
        ranges = start_ranges(qat_model, labelled.x_train, budget)
        if steps and budget.fit:
            run_user_fit(budget.fit, qat_model, for_model(qat_model, labelled))
        elif steps:
            x, y, _ = placement.fit_arrays(labelled.x_train,
                                           _labels(qat_model, labelled.y_train),
                                           budget.batch_size, "batch_size", budget.seed)
            _fit(qat_model, x, y, budget.qat_epochs, budget.batch_size, placement)
        return FineTuning("labels", count, "training samples",
                          _epochs(budget.qat_epochs) + left_out,
                          "labels" if tasks else "integer labels", steps=steps,
                          ranges=ranges, loss=loss_label(qat_model, tasks, losses))
    if labelled is not None:
        x = labelled.x_train
        count, left_out = data_count(x), ""
        if budget.qat_epochs:
            count, left_out = _left_out(placement, x, budget.batch_size, "batch_size")
        steps = eager.fit_steps(count, budget.batch_size, budget.qat_epochs)
        ranges = start_ranges(qat_model, x, budget)
        if steps:
            _distill(qat_model, float_model, x, budget.qat_epochs, budget.batch_size, budget,
                     tasks, placement)
        return FineTuning("distill", count, "training samples (labels unused)",
                          _epochs(budget.qat_epochs) + left_out, "soft targets",
                          budget.distill_temperature, steps, ranges=ranges)
    steps, batch = budget.synthetic_qat_steps, budget.synthetic_batch_size
    unlabelled_count = data_count(unlabelled)
    if unlabelled_count == 0:
        return FineTuning("distill", 0, unlabelled_source, "0 steps", "soft targets",
                          budget.distill_temperature, 0)
    frozen = freeze_batch_norm(qat_model)
    ranges = start_ranges(qat_model, unlabelled, budget)
    if steps == 0:
        return FineTuning("distill", 0, unlabelled_source, "0 steps", "soft targets",
                          budget.distill_temperature, 0, ranges=ranges)
    order = np.random.default_rng(budget.seed).permutation(unlabelled_count)
    chosen = order[np.arange(steps * batch) % unlabelled_count]
    _distill(qat_model, float_model, take(unlabelled, chosen), 1, batch, budget, tasks,
             placement, "synthetic_batch_size")
    passes = f"{steps} steps of {batch}" + (", BatchNorm statistics frozen" if frozen else "")
    return FineTuning("distill", min(steps * batch, unlabelled_count), unlabelled_source,
                      passes, "soft targets", budget.distill_temperature, steps,
                      ranges=ranges)
