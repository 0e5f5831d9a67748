"""A ``[models.NAME]`` source made into what the pipeline builds: a ``ModelSpec``.

The user's model (a saved file, Keras 3 rebuilt and proved, or a builder function), the
user's data in the model's own input layout, and what each output is (a class vector or
anything else) -- everything checked here, before anything trains, with errors that
name the config key (``SourceError``) so the CLI can exit 2 with them.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qatbench.errors import UserError
from qatbench.models.arrays import Arrays, count, non_finite
from qatbench.models.datasets import Dataset
from qatbench.models.sources import ModelSource
from qatbench.models.user_data import (
    DATA_RANGE,
    DataError,
    ImageDirData,
    load_function_data,
    load_image_dir,
    load_npz,
    unit,
)
from qatbench.models.zoo import BuiltModel, ModelSpec
from qatbench.qat.errors import QatModelError

CLASSIFICATION, REGRESSION = "classification", "regression"
PROOF_SAMPLES = 32  # calibration inputs a Keras 3 rebuild is proved on


class SourceError(UserError, ValueError):
    """A user's model source or data is unusable; ``key`` is the config key to fix."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key


def _user_frame(error: BaseException) -> str:
    """The user's own line that raised (the last frame outside qatbench and the stdlib)."""
    frames = [f for f in traceback.extract_tb(error.__traceback__)
              if "/qatbench/" not in f.filename and "importlib" not in f.filename]
    if not frames:
        return ""
    frame = frames[-1]
    return f" (at {frame.filename}:{frame.lineno}: {frame.line})"


def load_callable(reference: str, key: str) -> Callable[..., Any]:
    """``package.module:function`` or ``/path/file.py:function``, with the user's own
    error line when importing it fails."""
    where, name = reference.rsplit(":", 1)
    module = import_module_or_file(where, key)
    function = getattr(module, name, None)
    if not callable(function):
        raise SourceError(key, f"{where} has no function {name!r}")
    return function


def import_module_or_file(where: str, key: str) -> Any:
    """Import ``package.module`` or ``/path/file.py`` (its folder on the path while it
    imports, for its own sibling imports); a failure names the user's own line."""
    try:
        if where.endswith(".py"):
            path = Path(where)
            module_name = f"qatbench_user_{path.stem}_{abs(hash(str(path))) % 10**8}"
            spec = importlib.util.spec_from_file_location(module_name, path)
            if spec is None or spec.loader is None:
                raise SourceError(key, f"{path} cannot be imported as a Python file")
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            sys.path.insert(0, str(path.parent))  # its own sibling imports
            try:
                spec.loader.exec_module(module)
            finally:
                sys.path.remove(str(path.parent))
        else:
            module = importlib.import_module(where)
    except SourceError:
        raise
    except Exception as error:
        raise SourceError(key, f"importing {where} failed: {type(error).__name__}: {error}"
                               f"{_user_frame(error)}") from None
    return module


_IMPORTED: dict[str, Any] = {}  # a file imported once per process, whatever calls for it


def import_user_modules(source: ModelSource, name: str) -> None:
    """The source's ``imports``, before its model loads, so the classes they register
    (``@keras.saving.register_keras_serializable``) resolve."""
    for item in source.imports:
        if item not in _IMPORTED:
            _IMPORTED[item] = import_module_or_file(item, f"models.{name}.imports")


def _call(function: Callable[..., Any], key: str, *args: Any) -> Any:
    try:
        return function(*args)
    except Exception as error:
        raise SourceError(key, f"{getattr(function, '__name__', 'function')}() raised "
                               f"{type(error).__name__}: {error}{_user_frame(error)}") from None


@dataclass
class LoadedModel:
    model: Any  # tf_keras.Model
    weights: str  # what the row says about the weights
    note: str = ""  # e.g. the Keras 3 rebuild and its proof
    keras3: Any = None  # the original Keras 3 model, to prove the rebuild against


def _imports_hint(key: str) -> str:
    table = key.rsplit(".", 1)[0]
    return (f"name the module that registers it in [{table}] imports = [\"my_layers\" or "
            "\"path/to/layers.py\"] (--import with --model)")


def load_keras_file(path: Path, key: str) -> LoadedModel:
    """A tf_keras model from ``.h5`` / SavedModel / ``.keras``; a Keras 3 file rebuilt."""
    from qatbench.qat.keras3 import (
        is_keras3_file,
        load_keras3,
        rebuild,
        unregistered_classes,
    )

    if is_keras3_file(path):
        unknown = unregistered_classes(path)
        if unknown:
            raise SourceError(key, f"{path} uses class(es) nothing imported has registered: "
                                   f"{', '.join(unknown)}; {_imports_hint(key)}")
        try:
            original = load_keras3(path)
        except Exception as error:
            raise SourceError(key, f"{path} is a Keras 3 file that Keras 3 cannot load: "
                                   f"{type(error).__name__}: {error}") from None
        return LoadedModel(rebuild(original), f"from {path.name} (Keras 3, rebuilt as "
                           "tf_keras)", keras3=original)
    import tf_keras

    try:
        model = tf_keras.models.load_model(str(path), compile=False)
    except Exception as error:
        text = str(error)
        if "Unknown layer" in text or "Unknown object" in text or "custom_objects" in text:
            raise SourceError(key, f"{path} uses a custom class tf_keras does not know "
                                   f"({text.splitlines()[0][:200]}); "
                                   f"{_imports_hint(key)}") from None
        raise SourceError(key, f"{path} is not a Keras model tf_keras can load "
                               f"({type(error).__name__}: {error}); give a tf_keras .h5, a "
                               "SavedModel directory, or a .keras file") from None
    return LoadedModel(model, f"from {path.name}")


def load_model(source: ModelSource, name: str) -> LoadedModel:
    import_user_modules(source, name)
    if source.keras is not None:
        return load_keras_file(Path(source.keras), f"models.{name}.keras")
    key = f"models.{name}.build"
    function = load_callable(str(source.build), key)
    model = _call(function, key)
    import tf_keras

    if not isinstance(model, tf_keras.Model):
        kind = f"{type(model).__module__}.{type(model).__qualname__}"
        hint = " (a Keras 3 model: build it with `import tf_keras as keras`, or save it " \
               "and give keras = \"PATH.keras\" to have it rebuilt)" if kind.startswith(
                   "keras") else ""
        if any(c.__module__.startswith("torch.nn") for c in type(model).__mro__):
            hint = " (a PyTorch module: give torch = \"module:function\" instead of build, " \
                   "or --model ... --framework torch)"
        raise SourceError(key, f"returned a {kind}, not a tf_keras model{hint}")
    weights = "trained here" if not source.trained else f"from {source.build}"
    return LoadedModel(model, weights)


def input_names(model: Any) -> list[str]:
    return [t.name.split(":")[0] for t in model.inputs]


def output_names(model: Any) -> list[str]:
    return list(model.output_names)


def _shape(tensor: Any) -> tuple[int | None, ...]:
    return tuple(tensor.shape[1:])


def load_data(source: ModelSource, name: str, model: Any, seed: int
              ) -> Dataset | ImageDirData | None:
    """The user's data, in the model's input layout (an image folder's with how its
    images were sized); None when the table gives none."""
    try:
        if source.data is not None and source.data_is_callable:
            key = f"models.{name}.data"
            function = load_callable(source.data, key)
            try:
                return load_function_data(function, source.data, source.eval_fraction, seed)
            except DataError:
                raise
            except Exception as error:
                raise SourceError(key, f"{source.data} raised {type(error).__name__}: "
                                       f"{error}{_user_frame(error)}") from None
        if source.data is not None:
            return load_npz(Path(source.data), source.eval_fraction, seed)
        if source.image_dir is not None:
            shape = _shape(model.inputs[0])
            if len(model.inputs) != 1 or len(shape) != 3 or None in shape:
                raise SourceError(f"models.{name}.image_dir",
                                  f"needs a model with one HxWxC image input; this one takes "
                                  f"{[_shape(t) for t in model.inputs]}")
            preprocess = _preprocess(source, name)
            return load_image_dir(Path(source.image_dir), shape, preprocess,
                                  source.eval_fraction, seed, source.resize)
    except DataError as error:
        key = "image_dir" if source.image_dir is not None else "data"
        raise SourceError(f"models.{name}.{key}", str(error)) from None
    return None


def _preprocess(source: ModelSource, name: str) -> Callable[[np.ndarray], np.ndarray]:
    from qatbench.models.image_folder import preprocess

    if source.preprocess == "unit":
        return unit
    if source.preprocess in ("tf", "caffe", "raw"):
        return lambda images: preprocess(images, source.preprocess)
    return load_callable(source.preprocess, f"models.{name}.preprocess")


@dataclass(frozen=True)
class OutputTask:
    name: str
    task: str  # CLASSIFICATION or REGRESSION
    width: int  # values per sample
    softmax: bool = False  # ends in a softmax (probabilities, not logits)


def _ends_in_softmax(model: Any, output_name: str) -> bool:
    layer = model.get_layer(output_name)
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", "") == "softmax" or type(layer).__name__ == "Softmax"


def output_tasks(model: Any, source: ModelSource, data: Dataset | None) -> list[OutputTask]:
    """Each output's task: as set, else a class vector where its labels are integer class
    indices (or, without labels, where it ends in a softmax); anything else regression."""
    tasks = []
    names = output_names(model)
    for name, tensor in zip(names, model.outputs, strict=True):
        shape = _shape(tensor)
        width = int(np.prod([d for d in shape if d is not None])) if shape else 1
        softmax = _ends_in_softmax(model, name)
        labels = _labels_for(data.y_train if data else None, name, names)
        set_task = source.task.get(name) if isinstance(source.task, dict) else source.task
        if set_task:
            task = set_task
        elif labels is not None:
            task = CLASSIFICATION if len(shape) == 1 and width > 1 and labels.ndim == 1 and \
                (np.issubdtype(labels.dtype, np.integer) or np.all(labels == np.round(labels))) \
                else REGRESSION
        else:
            task = CLASSIFICATION if softmax and len(shape) == 1 and width > 1 else \
                REGRESSION if data is None and not softmax and len(names) > 1 else \
                CLASSIFICATION if len(shape) == 1 and width > 1 else REGRESSION
        tasks.append(OutputTask(name, task, width, softmax))
    return tasks


def _labels_for(y: Arrays | None, output: str, names: list[str]) -> np.ndarray | None:
    if y is None:
        return None
    if isinstance(y, dict):
        return np.asarray(y[output]) if output in y else None
    return np.asarray(y) if len(names) == 1 else None


FAR_OUTSIDE = 1.0  # data further than this many input_range widths outside it warns


def _rescales(model: Any, tensor: Any) -> bool:
    """Whether the first layer fed by ``tensor`` scales its input itself (Rescaling,
    Normalization, a Lambda the user wrote), so 0..255 data is what it expects."""
    for layer in model.layers:
        if any(fed is tensor for node in layer.inbound_nodes for fed in node.keras_inputs):
            return type(layer).__name__ in ("Rescaling", "Normalization", "Lambda",
                                            "TFOpLambda")
    return False


def data_range_warnings(model: Any, data: Dataset, source: ModelSource) -> list[str]:
    """The training inputs against what the model's float inputs look like they expect:
    integer-typed or 0..255 data for an input whose first layer does not rescale (a
    model trained on [0, 1] then runs several points lower, silently), and data far
    outside an ``input_range`` the config sets. One warning per input, each starting
    with ``DATA_RANGE``."""
    warnings = []
    arrays = data.x_train if isinstance(data.x_train, dict) else \
        {input_names(model)[0]: data.x_train}
    for name, tensor in zip(input_names(model), model.inputs, strict=True):
        values = np.asarray(arrays.get(name, np.zeros(0)))
        if tensor.dtype.is_integer or values.size == 0:
            continue  # token ids: an Embedding's rows, not a scale
        low, high = float(values.min()), float(values.max())
        integral = np.issubdtype(values.dtype, np.integer) or bool(
            np.all(values == np.round(values)))
        if integral and high > 1 and low >= 0 and high <= 255 and not _rescales(model,
                                                                                tensor):
            warnings.append(
                f"{DATA_RANGE}: input {name} gets {values.dtype} data in {low:g}..{high:g} "
                "(0..255 pixels?) but the model's first layer does not rescale -- if it "
                "was trained on [0, 1] or [-1, 1], scale the data (x / 255) or add a "
                "Rescaling layer")
            continue
        if "input_range" in source.model_fields_set:
            start, end = source.input_range
            margin = FAR_OUTSIDE * (end - start)
            if low < start - margin or high > end + margin:
                warnings.append(
                    f"{DATA_RANGE}: input {name} data spans {low:g}..{high:g}, far outside "
                    f"input_range [{start:g}, {end:g}] -- scale the data or correct "
                    "input_range")
    return warnings


def check_data(model: Any, data: Dataset, tasks: list[OutputTask], name: str) -> None:
    """Shapes, label ranges and finiteness of the user's data against the model."""
    key = f"models.{name}.data"
    inputs, outputs = input_names(model), output_names(model)
    for split, x in (("x_train", data.x_train), ("x_eval", data.x_eval)):
        if isinstance(x, dict):
            missing = [n for n in inputs if n not in x]
            if missing:
                raise SourceError(key, f"{split} has no array for input(s) "
                                       f"{', '.join(missing)} (it has {', '.join(x)})")
            arrays = {n: x[n] for n in inputs}
        elif len(inputs) != 1:
            raise SourceError(key, f"the model takes {len(inputs)} inputs "
                                   f"({', '.join(inputs)}): give {split}/NAME arrays")
        else:
            arrays = {inputs[0]: x}
        for input_name, tensor in zip(inputs, model.inputs, strict=True):
            expected, got = _shape(tensor), tuple(np.asarray(arrays[input_name]).shape[1:])
            if len(expected) != len(got) or any(e is not None and e != g
                                                for e, g in zip(expected, got, strict=False)):
                raise SourceError(key, f"{split} input {input_name} has shape {got} per "
                                       f"sample; the model expects {expected}")
        bad = non_finite(x)
        if bad:
            raise SourceError(key, f"{split} holds NaN or infinity"
                                   + (f" (in {', '.join(bad)})" if bad != [""] else ""))
    if count(data.x_train) == 0 or count(data.x_eval) == 0:
        raise SourceError(key, "needs at least one training and one eval sample")
    for task in tasks:
        for split, y in (("y_train", data.y_train), ("y_eval", data.y_eval)):
            labels = _labels_for(y, task.name, outputs)
            if labels is None:
                if isinstance(y, dict):
                    continue  # an output without labels: fidelity to float only
                raise SourceError(key, f"the model has {len(outputs)} outputs "
                                       f"({', '.join(outputs)}): give {split}/NAME arrays")
            if not np.all(np.isfinite(labels.astype(np.float64))):
                raise SourceError(key, f"{split} for output {task.name} holds NaN or infinity")
            if task.task == CLASSIFICATION:
                fractional = labels[labels != np.round(labels)] \
                    if np.issubdtype(labels.dtype, np.floating) else labels[:0]
                if len(fractional):
                    raise SourceError(key, f"{split} for class output {task.name} holds "
                                           f"fractional values (e.g. {fractional[0]:g}), "
                                           "not class indices; give integer classes, or "
                                           "set task = \"regression\" with labels of the "
                                           f"output's shape ({task.width} per sample)")
                if labels.ndim != 1:
                    raise SourceError(key, f"{split} for class output {task.name} must be "
                                           f"integer class indices, one per sample (got shape "
                                           f"{labels.shape}); for other targets set task = "
                                           "\"regression\"")
                low, high = labels.min(), labels.max()
                if low < 0 or high >= task.width:
                    raise SourceError(key, f"{split} labels run from {int(low)} to "
                                           f"{int(high)}, but output {task.name} has "
                                           f"{task.width} classes (0..{task.width - 1})")
            elif labels.size != len(labels) * task.width:
                per_sample = labels.size // max(len(labels), 1)
                raise SourceError(key, f"{split} for output {task.name} holds {per_sample} "
                                       f"value(s) per sample, but the output has "
                                       f"{task.width}: labels {labels.min():g} … "
                                       f"{labels.max():g} are neither class indices "
                                       f"(integers 0..{task.width - 1}) nor regression "
                                       "targets of the output's shape")
        if task.task == CLASSIFICATION:
            train_labels = _labels_for(data.y_train, task.name, outputs)
            if train_labels is not None and len(np.unique(train_labels)) == 1:
                raise SourceError(key, f"y_train for class output {task.name} holds one "
                                       f"class only ({train_labels[0]:g}): a model trained "
                                       "or judged on it scores a vacuous 100% top-1 by "
                                       "always answering that class; give samples of at "
                                       "least two classes")
    if isinstance(data.y_train, dict):
        unknown = [n for n in data.y_train if n not in outputs]
        if unknown:
            raise SourceError(key, f"y_train names output(s) {', '.join(unknown)} the model "
                                   f"does not have (its outputs: {', '.join(outputs)})")


@dataclass
class UserModel:
    """Everything the pipeline needs of a user's model, loaded once."""

    name: str
    source: ModelSource
    loaded: LoadedModel
    data: Dataset | None
    tasks: list[OutputTask]
    notes: list[str] = field(default_factory=list)

    def spec(self) -> ModelSpec:
        model = self.loaded.model
        shapes = [_shape(t) for t in model.inputs]
        input_shape = tuple(int(d or 1) for d in shapes[0])
        classes = next((t.width for t in self.tasks if t.task == CLASSIFICATION), 0)
        data = self.data
        return ModelSpec(
            self.name, self.source.description or f"user model ({self.source.kind})",
            input_shape, classes, lambda: BuiltModel(model, self.loaded.weights),
            (lambda: data) if data is not None else None, self.source.input_range,
            pretrained=self.source.trained, user_notes=tuple(self.notes),
            input_shapes={n: tuple(int(d or 1) for d in s)
                          for n, s in zip(input_names(model), shapes, strict=True)},
            output_tasks={t.name: t.task for t in self.tasks}, losses=self.source.loss,
            index_inputs=index_inputs(model) or None)


def prove_keras3(loaded: LoadedModel, calibration: Arrays) -> str:
    from qatbench.models.arrays import take
    from qatbench.qat.keras3 import prove_rebuild

    proof = prove_rebuild(loaded.keras3, loaded.model, take(calibration, PROOF_SAMPLES))
    return proof.describe()


def index_inputs(model: Any) -> dict[str, int]:
    """Integer inputs that feed an ``Embedding`` directly, by name: the layer's
    ``input_dim`` (the smallest where one feeds several), the ids that are valid."""
    rows: dict[str, int] = {}
    for name, tensor in zip(input_names(model), model.inputs, strict=True):
        if not tensor.dtype.is_integer:
            continue
        fed = [layer.input_dim for layer in model.layers
               if type(layer).__name__ == "Embedding"
               and any(fed_in is tensor for node in layer.inbound_nodes
                       for fed_in in node.keras_inputs)]
        if fed:
            rows[name] = int(min(fed))
    return rows


def synthetic_for(model: Any, source: ModelSource, samples: int, seed: int) -> Arrays:
    from qatbench.models.datasets import synthetic_inputs

    names, shapes = input_names(model), [_shape(t) for t in model.inputs]
    rows = index_inputs(model)
    arrays = {n: synthetic_inputs(tuple(int(d or 1) for d in s), samples, seed + i,
                                  *source.input_range, index_rows=rows.get(n))
              for i, (n, s) in enumerate(zip(names, shapes, strict=True))}
    return arrays if len(arrays) > 1 else arrays[names[0]]


def prepare_user_model(name: str, source: ModelSource, seed: int = 0) -> UserModel:
    """Load, rebuild and prove, load data, infer tasks, check: the whole source check."""
    try:
        loaded = load_model(source, name)
        found = load_data(source, name, loaded.model, seed)
        notes = [found.note] if isinstance(found, ImageDirData) else []
        data = found.dataset if isinstance(found, ImageDirData) else found
        tasks = output_tasks(loaded.model, source, data)
        if data is not None:
            check_data(loaded.model, data, tasks, name)
            notes += data_range_warnings(loaded.model, data, source)
        if loaded.keras3 is not None:
            probe = data.x_train if data is not None else synthetic_for(
                loaded.model, source, PROOF_SAMPLES, seed)
            notes.append(prove_keras3(loaded, probe))
        if not source.trained and data is None:
            raise SourceError(f"models.{name}.trained",
                              "false needs labelled data (data or image_dir)")
        return UserModel(name, source, loaded, data, tasks, notes)
    except QatModelError as error:
        key = f"models.{name}.{source.kind}"
        raise SourceError(key, str(error)) from None
