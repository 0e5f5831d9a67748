"""A Keras 3 model, rebuilt as the equivalent tf_keras model, and proved equal on the spot.

tfmot 0.8.1 quantizes tf_keras models only (tensorflow/model-optimization #1119); every
model saved with today's ``keras`` is a Keras 3 model. Most of them are made of layers
that tf_keras has too, with the same maths and the same weights in the same order. The
rebuild walks the Keras 3 model's functional graph (its saved config: layers in
topological order, each node naming the tensors it consumes), makes each layer's tf_keras
counterpart from the same config, calls it on the rebuilt tensors, and copies the
weights layer by layer. Config keys that tf_keras does not know are dropped only where
they hold a default (``None``, ``False``, 0, empty); one that changes the maths is a
refusal naming it.

A rebuild is never trusted on its structure alone: ``prove_rebuild`` runs both models on
the same inputs and the build refuses (``RebuildMismatch``) when any output differs by
more than ``REBUILD_TOLERANCE`` of that output's scale -- or, for a net so sensitive that
float32 rounding alone moves its outputs further (a deep random-weight EfficientNetV2:
logits ~1e3 that move by ~1 when each input value moves by one ulp), by more than
``SENSITIVITY_FACTOR`` times that model's own move. Two correct implementations round
differently inside every layer; only a difference beyond what rounding does to this model
is evidence of different maths (a wrong activation or weight moves a chaotic net's outputs
by their whole scale, thousands of times further).
"""

from __future__ import annotations

import inspect
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qatbench.qat.errors import QatModelError
from qatbench.qat.keras3_ops import (
    ACTIVATION_OPS,
    OPS,
    SAME_ACTIVATION,
    application_layer_classes,
    keras_op_class,
    make_op_layer,
)

# outputs may differ by float32 rounding only: max |Δ| <= 1e-4 x (1 + max |output|)
REBUILD_TOLERANCE = 1e-4
# ... or by this many times the Keras 3 model's own output move when every float input
# value moves by one float32 ulp (rounding enters at every layer of the rebuild, the probe
# only at the input; measured 1.7x on a random-weight EfficientNetV2B0, 1e3x for a wrong
# activation)
SENSITIVITY_FACTOR = 4.0
_ADVICE = ("rebuild the model with tf_keras layers (`import tf_keras as keras`) and give "
           "`build = \"module:function\"`, or save it from tf_keras (.h5)")
IMPORTS_KEY = "imports"  # the [models.NAME] key naming modules that register custom layers


class RebuildError(QatModelError):
    """The Keras 3 model has layers or options tf_keras cannot reproduce; every one listed."""


class RebuildMismatch(QatModelError):
    """The rebuilt model's outputs differ from the Keras 3 model's beyond the tolerance."""


def saved_keras_version(path: Path) -> str | None:
    """The Keras version that saved ``path`` (``.keras`` zip or ``.h5``), if recorded."""
    if path.is_dir():
        return None  # a SavedModel: tf_keras (Keras 3 exports inference-only artifacts)
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            if "metadata.json" in archive.namelist():
                return str(json.loads(archive.read("metadata.json")).get("keras_version", ""))
        return None
    try:
        import h5py

        with h5py.File(path, "r") as handle:
            version = handle.attrs.get("keras_version")
            return version.decode() if isinstance(version, bytes) else version
    except OSError:
        return None


def is_keras3_file(path: Path) -> bool:
    version = saved_keras_version(path)
    return bool(version) and str(version).split(".")[0] == "3"


def unregistered_classes(path: Path) -> list[str]:
    """The classes a Keras 3 ``.keras`` file's config names from outside Keras that Keras
    3 cannot resolve (nothing imported registered them): each ``registered_name``."""
    import keras

    if not zipfile.is_zipfile(path):
        return []
    with zipfile.ZipFile(path) as archive:
        if "config.json" not in archive.namelist():
            return []
        config = json.loads(archive.read("config.json"))
    found: list[str] = []

    def visit(value: Any) -> None:
        if isinstance(value, dict):
            module = str(value.get("module") or "")
            if "class_name" in value and "config" in value and module and \
                    not module.startswith("keras"):
                name = value.get("registered_name") or value["class_name"]
                if keras.saving.get_registered_object(name) is None and name not in found:
                    found.append(name)
            for item in value.values():
                visit(item)
        elif isinstance(value, list):
            for item in value:
                visit(item)

    visit(config)
    return found


def _plain(value: Any) -> Any:
    """A Keras 3 serialized value in the form tf_keras reads (DTypePolicy -> its name)."""
    if isinstance(value, dict) and value.get("class_name") == "DTypePolicy":
        return value["config"]["name"]
    if isinstance(value, dict) and "class_name" in value and "config" in value:
        return {"class_name": value["class_name"], "config": {
            k: _plain(v) for k, v in value["config"].items()}}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _is_default(value: Any) -> bool:
    return value is None or value is False or value == 0 or value in ({}, [], "")


def _accepted(cls: type) -> set[str]:
    """The keyword arguments ``cls`` takes: its own and its bases' named parameters (their
    ``**kwargs`` end at tf_keras' ``Layer``, whose own keywords are listed here)."""
    names = {"name", "trainable", "dtype", "dynamic", "input_dim", "input_shape",
             "batch_input_shape", "batch_size", "weights", "activity_regularizer", "autocast"}
    for klass in cls.__mro__:
        if "__init__" in vars(klass):
            names |= {p.name for p in inspect.signature(klass.__init__).parameters.values()
                      if p.kind not in (inspect.Parameter.VAR_KEYWORD,
                                        inspect.Parameter.VAR_POSITIONAL)}
    return names - {"self"}


@dataclass(frozen=True)
class Problem:
    layer: str
    kind: str
    why: str

    def line(self) -> str:
        return f"{self.layer} ({self.kind}): {self.why}"


_NESTED = {"_initializer": "initializers", "_regularizer": "regularizers",
           "_constraint": "constraints"}


def _nested_object(key: str, value: Any, layer: str, kind: str, problems: list[Problem]
                   ) -> Any:
    """An initializer / regularizer / constraint config with only the keys tf_keras' class
    takes. An initializer's extra keys are dropped (the weights are copied, so it never
    runs); a regularizer's or constraint's are kept only where default."""
    import tf_keras

    suffix = next((s for s in _NESTED if key.endswith(s)), None)
    if suffix is None or not isinstance(value, dict) or "class_name" not in value:
        return value
    cls = getattr(getattr(tf_keras, _NESTED[suffix]), value["class_name"], None)
    if cls is None:
        if suffix != "_initializer":
            problems.append(Problem(layer, kind, f"{key} {value['class_name']} has no "
                                                 "tf_keras counterpart"))
        return None
    accepted = {p for p in inspect.signature(cls.__init__).parameters if p != "self"}
    config = {}
    for name, item in value["config"].items():
        if name in accepted:
            config[name] = item
        elif suffix != "_initializer" and not _is_default(item):
            problems.append(Problem(layer, kind, f"{key} option {name}={item!r} has no "
                                                 "tf_keras counterpart"))
    return {"class_name": value["class_name"], "config": config}


def _layer_config(entry: dict[str, Any], cls: type, problems: list[Problem]) -> dict[str, Any]:
    name, kind = entry["config"].get("name", "?"), entry["class_name"]
    config = {k: _nested_object(k, _plain(v), name, kind, problems)
              for k, v in entry["config"].items()}
    accepted = _accepted(cls)
    kept = {}
    for key, value in config.items():
        if key in accepted:
            kept[key] = value
        elif not _is_default(value):
            problems.append(Problem(config.get("name", "?"), entry["class_name"],
                                    f"option {key}={value!r} has no tf_keras counterpart"))
    return kept


def _tensor_refs(value: Any, tensors: dict[tuple[str, int, int], Any]) -> Any:
    """Replace Keras 3 ``__keras_tensor__`` references by the rebuilt tf_keras tensors."""
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        layer, node, index = value["config"]["keras_history"]
        return tensors[(layer, node, index)]
    if isinstance(value, list | tuple):
        return [_tensor_refs(v, tensors) for v in value]
    if isinstance(value, dict):
        return {k: _tensor_refs(v, tensors) for k, v in value.items()}
    return value


def _input_layer(entry: dict[str, Any], name: str) -> Any:
    import tf_keras

    config = entry["config"]
    shape = config.get("batch_shape") or config.get("batch_input_shape")
    return tf_keras.Input(batch_shape=tuple(shape), dtype=_plain(config.get("dtype")),
                          name=name, sparse=bool(config.get("sparse")))


def _functional_layers(config: dict[str, Any], first_input: str | None = None
                       ) -> list[dict[str, Any]]:
    """A Sequential's layers as functional entries (each consuming the previous output;
    the first consumes ``first_input`` when the Sequential has no InputLayer of its own)."""
    entries, previous = [], first_input
    for entry in config["layers"]:
        name = entry["config"]["name"]
        nodes = [] if previous is None else [{"args": [{
            "class_name": "__keras_tensor__",
            "config": {"keras_history": [previous, 0, 0]}}], "kwargs": {}}]
        entries.append({**entry, "name": name, "inbound_nodes": nodes})
        previous = name
    return entries


def _is_op(entry: dict[str, Any]) -> bool:
    """A Keras 3 op node (``x + 3.0``, ``ops.mean``): an Operation, not a layer."""
    module = str(entry.get("module") or "")
    return module.startswith(("keras.src.ops", "keras.ops"))


def _is_nested_model(entry: dict[str, Any]) -> bool:
    return entry["class_name"] in ("Functional", "Sequential", "Model") and \
        str(entry.get("module") or "").startswith("keras")


def _spec_pairs(spec: Any) -> list[tuple[str, tuple[str, int, int]]]:
    """``input_layers`` / ``output_layers`` as (key, [layer, node, index]) pairs: one
    reference, a list of them, or a dict of them (Keras 3 dict inputs/outputs)."""
    if isinstance(spec, dict):
        return [(key, tuple(ref)) for key, ref in spec.items()]
    if spec and isinstance(spec[0], str):
        return [(spec[0], tuple(spec))]
    return [(ref[0], tuple(ref)) for ref in spec]


class _Rebuild:
    """One rebuild: the problems met (all of them, not the first), the layers made and the
    Keras 3 layer each takes its weights from, and the names already taken."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.pairs: list[tuple[Any, Any]] = []
        self.names: set[str] = set()
        self.shared: dict[str, Any] = {}  # Keras 3 name -> its rebuilt layer (shared calls)
        self.failed: set[str] = set()  # entries not rebuilt (their consumers are not listed)

    def problem(self, layer: str, kind: str, why: str) -> None:
        self.problems.append(Problem(layer, kind, why))

    def unique(self, name: str, scope: str = "") -> str:
        """tf_keras needs unique layer names; a nested model's layer may repeat one."""
        candidate = name if name not in self.names else f"{scope}_{name}" if scope else name
        index = 1
        while candidate in self.names:
            candidate, index = f"{name}_{index}", index + 1
        self.names.add(candidate)
        return candidate

    def run(self, entries: list[dict[str, Any]], tensors: dict[tuple[str, int, int], Any],
            keras3_layers: dict[str, Any], renames: dict[str, str], scope: str = "") -> None:
        """Rebuild ``entries`` in order, adding each output to ``tensors``."""
        for entry in entries:
            name, kind = entry["config"].get("name", entry.get("name", "?")), entry["class_name"]
            if kind == "InputLayer":
                if (name, 0, 0) not in tensors:  # a nested model's input is given
                    tensors[(name, 0, 0)] = _input_layer(
                        entry, self.unique(renames.get(name, name), scope))
                continue
            for node_index, node in enumerate(entry.get("inbound_nodes", [])):
                try:
                    args = _tensor_refs(node.get("args", []), tensors)
                    kwargs = _tensor_refs(node.get("kwargs", {}), tensors)
                except KeyError as missing:
                    if missing.args[0][0] not in self.failed:  # not already listed
                        self.problem(name, kind, f"consumes {missing}, which was not rebuilt")
                    self.failed.add(name)
                    break
                outputs = self.node(entry, name, kind, node_index, args, kwargs,
                                    keras3_layers, renames, scope)
                if outputs is None:
                    self.failed.add(name)
                    break
                flat = outputs if isinstance(outputs, list | tuple) else [outputs]
                for index, tensor in enumerate(flat):
                    tensors[(name, node_index, index)] = tensor

    def node(self, entry: dict[str, Any], name: str, kind: str, node_index: int, args: Any,
             kwargs: Any, keras3_layers: dict[str, Any], renames: dict[str, str],
             scope: str) -> Any:
        """The rebuilt output(s) of one call of one entry, or None (a problem recorded)."""
        final = renames.get(name, name) if node_index == 0 else f"{name}_{node_index}"
        try:
            if _is_op(entry):
                return self.op(entry, self.unique(final, scope), kind, args, kwargs)
            if _is_nested_model(entry):
                return self.nested(entry, name, args, keras3_layers)
            layer = self.layer(entry, final, kind, scope) if node_index == 0 else \
                self.shared.get(name)
            if layer is None:
                return None
            if node_index == 0:
                self.shared[name] = layer
                if name in keras3_layers:
                    self.pairs.append((keras3_layers[name], layer.main))
            return layer(*args, **kwargs)
        except Exception as error:  # a layer tf_keras builds but cannot call as saved
            self.problem(name, kind, f"{type(error).__name__}: {str(error).splitlines()[0]}")
            return None

    def op(self, entry: dict[str, Any], name: str, kind: str, args: Any, kwargs: Any) -> Any:
        if kind not in OPS:
            self.problem(name, kind, "a Keras 3 op with no TensorFlow equivalent here; "
                                     "write it as a layer tf_keras has")
            return None
        options = {k: v for k, v in entry["config"].items() if k != "name"}
        layer, inputs = make_op_layer(kind, name, args, kwargs, options)
        return layer(inputs[0] if len(inputs) == 1 else inputs)

    def nested(self, entry: dict[str, Any], name: str, args: Any,
               keras3_layers: dict[str, Any]) -> Any:
        """A model used as a layer, inlined: its layers join the rebuilt model."""
        if name in self.shared:
            self.problem(name, entry["class_name"], "a nested model called twice: call "
                                                    "its layers, not the model, twice")
            return None
        self.shared[name] = None
        config, inner = entry["config"], keras3_layers.get(name)
        inner_layers = {layer.name: layer for layer in getattr(inner, "layers", [])}
        tensors: dict[tuple[str, int, int], Any] = {}
        flat = args[0] if len(args) == 1 and isinstance(args[0], list | tuple | dict) else args
        flat = list(flat.values()) if isinstance(flat, dict) else list(flat)
        if entry["class_name"] == "Sequential":
            layers = config["layers"]
            has_input = bool(layers) and layers[0]["class_name"] == "InputLayer"
            start = layers[0]["config"]["name"] if has_input else f"{name}__input"
            entries = _functional_layers(config, None if has_input else start)
            tensors[(start, 0, 0)] = flat[0]
            self.run(entries, tensors, inner_layers, {}, scope=name)
            return tensors.get((entries[-1]["config"]["name"], 0, 0))
        for (_, ref), tensor in zip(_spec_pairs(config["input_layers"]), flat, strict=False):
            tensors[ref] = tensor
        self.run(config["layers"], tensors, inner_layers, {}, scope=name)
        outputs = [tensors.get(ref) for _, ref in _spec_pairs(config["output_layers"])]
        return outputs if len(outputs) > 1 else outputs[0]

    def layer(self, entry: dict[str, Any], final: str, kind: str, scope: str
              ) -> _Made | None:
        """The tf_keras layer for one Keras 3 layer entry (with its activation split off
        where tf_keras has no equal activation), or None with the problem recorded."""
        import tf_keras

        module = str(entry.get("module") or "")
        cls = _tf_keras_class(entry)
        if cls is None:
            self.problem(entry["config"]["name"], kind, _no_class_why(entry, module))
            return None
        layer_problems: list[Problem] = []
        config = _layer_config(entry, cls, layer_problems)
        activation, post, why = _activation(config.get("activation"))
        if why is not None:
            layer_problems.append(Problem(config.get("name", "?"), kind, why))
        self.problems.extend(layer_problems)
        if layer_problems:
            return None
        if post is not None and cls is tf_keras.layers.Activation:
            op_layer = keras_op_class()(post, name=self.unique(final, scope))
            return _Made(op_layer, None)
        if post is not None:
            config["activation"] = "linear"
            main = cls(**{**config, "name": self.unique(f"{final}_preactivation", scope)})
            return _Made(main, keras_op_class()(post, name=self.unique(final, scope)))
        if activation is not None:
            config["activation"] = activation
        return _Made(cls(**{**config, "name": self.unique(final, scope)}), None)


@dataclass
class _Made:
    """A rebuilt layer and, where its activation was split off, the op that applies it."""

    main: Any
    after: Any

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        out = self.main(*args, **kwargs)
        return self.after(out) if self.after is not None else out


def _activation(value: Any) -> tuple[str | None, str | None, str | None]:
    """A layer's activation as (tf_keras activation name, op applying it after the layer,
    why neither works): one of the three is set, or none when the layer has none."""
    if value is None:
        return None, None, None
    if isinstance(value, str):
        if value in SAME_ACTIVATION:
            return SAME_ACTIVATION[value], None, None
        if value in ACTIVATION_OPS:
            return None, ACTIVATION_OPS[value], None
        return None, None, (f"activation {value!r} has no tf_keras equivalent (known: "
                            f"{', '.join(sorted({*SAME_ACTIVATION, *ACTIVATION_OPS}))})")
    label = value.get("config", value.get("class_name", value)) if isinstance(value, dict) \
        else value
    return None, None, (f"activation {label!r} is not a Keras activation: use a built-in "
                        "one or a layer")


def _tf_keras_class(entry: dict[str, Any]) -> type | None:
    """The tf_keras class rebuilding ``entry``: the same-named Keras layer, a layer of
    ``keras.applications``' own (ConvNeXt's LayerScale, Inception-ResNet's
    CustomScaleLayer), or a class the user's ``imports`` registered with tf_keras under the
    entry's registered name."""
    import tf_keras

    module, kind = str(entry.get("module") or ""), entry["class_name"]
    if module.startswith("keras.src.applications") and kind in application_layer_classes():
        return application_layer_classes()[kind]
    if module.startswith("keras") and not _is_nested_model(entry):
        return getattr(tf_keras.layers, kind, None)
    registered = entry.get("registered_name") or kind
    return tf_keras.saving.get_registered_object(registered)


def _no_class_why(entry: dict[str, Any], module: str) -> str:
    if module.startswith("keras"):
        return "no tf_keras layer of this name"
    registered = entry.get("registered_name") or entry["class_name"]
    return (f"a custom layer ({registered} from {module or 'an unknown module'}) with no "
            f"tf_keras class registered as {registered!r}: register one with "
            "`@tf_keras.saving.register_keras_serializable` in a module named in "
            f"[models.NAME] {IMPORTS_KEY} (or --import MODULE_OR_FILE)")


def rebuild(model: Any) -> Any:
    """The tf_keras equivalent of a Keras 3 Functional or Sequential ``model``.

    Raises ``RebuildError`` listing every layer without a tf_keras counterpart and every
    option that would change its maths, at once.
    """
    import tf_keras

    config = model.get_config()
    sequential = type(model).__name__ == "Sequential"
    entries = _functional_layers(config) if sequential else config["layers"]
    if sequential and entries and entries[0]["class_name"] != "InputLayer":
        raise RebuildError(f"Sequential model {model.name!r} has no Input: give it "
                           "keras.Input(shape) as its first layer and save it again")
    if sequential:
        first, last = entries[0]["config"]["name"], entries[-1]["config"]["name"]
        input_pairs, output_pairs = [(first, (first, 0, 0))], [(last, (last, 0, 0))]
    else:
        input_pairs = _spec_pairs(config["input_layers"])
        output_pairs = _spec_pairs(config["output_layers"])
    work = _Rebuild()
    taken = {entry["config"].get("name") for entry in entries}
    # dict inputs/outputs: the rebuilt layers are named by their keys (the names the
    # user's data uses), where no other layer has that name
    renames = {ref[0]: key for key, ref in (*input_pairs, *output_pairs)
               if isinstance(key, str) and key != ref[0] and key not in taken
               and ref[1:] == (0, 0)}
    tensors: dict[tuple[str, int, int], Any] = {}
    keras3_layers = {layer.name: layer for layer in model.layers}
    work.run(entries, tensors, keras3_layers, renames)
    if work.problems:
        raise RebuildError(
            f"the Keras 3 model {model.name!r} cannot be rebuilt as tf_keras for QAT "
            f"({len(work.problems)} problem(s)):\n  "
            + "\n  ".join(problem.line() for problem in work.problems)
            + f"\nTo fix: {_ADVICE}")
    inputs = [tensors[ref] for _, ref in input_pairs]
    outputs = [tensors[ref] for _, ref in output_pairs]
    rebuilt = tf_keras.Model(inputs if len(inputs) > 1 else inputs[0],
                             outputs if len(outputs) > 1 else outputs[0], name=model.name)
    for source, target in work.pairs:
        weights = source.get_weights()
        if weights:
            target.set_weights(weights)
    return rebuilt


@dataclass(frozen=True)
class RebuildProof:
    """How far the rebuilt model's outputs are from the Keras 3 model's, per output, and
    how far the Keras 3 model's own outputs move under a one-ulp change of its inputs."""

    max_abs_diff: dict[str, float]
    scale: dict[str, float]
    samples: int
    sensitivity: dict[str, float] = field(default_factory=dict)

    def allowed(self, name: str) -> float:
        """The largest difference output ``name`` may show and still be the same maths."""
        return max(REBUILD_TOLERANCE * (1.0 + self.scale[name]),
                   SENSITIVITY_FACTOR * self.sensitivity.get(name, 0.0))

    @property
    def worst(self) -> str:
        return max(self.max_abs_diff, key=lambda n: self.max_abs_diff[n] / self.allowed(n))

    @property
    def worst_ratio(self) -> float:
        """The worst output's difference over its allowance (<= 1 holds)."""
        return self.max_abs_diff[self.worst] / self.allowed(self.worst)

    @property
    def holds(self) -> bool:
        return self.worst_ratio <= 1.0

    @property
    def rounding_bound(self) -> bool:
        """The model's own rounding sensitivity, not 1e-4 of its scale, set the allowance."""
        return any(SENSITIVITY_FACTOR * self.sensitivity.get(n, 0.0)
                   > REBUILD_TOLERANCE * (1.0 + self.scale[n]) for n in self.scale)

    def tolerance_text(self) -> str:
        text = f"tolerance {REBUILD_TOLERANCE:g} x (1 + max |output|)"
        if self.rounding_bound:
            name = self.worst
            text += (f", or {SENSITIVITY_FACTOR:g} x the Keras 3 model's own output change "
                     f"under a one-ulp input change ({self.sensitivity[name]:.2g} for "
                     f"output {name}: float32 rounding alone moves this model that far)")
        return text

    def describe(self) -> str:
        worst = max(self.max_abs_diff.values())
        return (f"rebuilt from Keras 3 as tf_keras; max |output difference| {worst:.2g} on "
                f"{self.samples} calibration inputs ({self.tolerance_text()})")


def _outputs(model: Any, x: Any, names: list[str]) -> dict[str, np.ndarray]:
    predicted = model.predict(x, batch_size=32, verbose=0)
    if isinstance(predicted, dict):  # Keras 3 dict outputs, in the config's key order
        order = [key for key, _ in _spec_pairs(model.get_config()["output_layers"])]
        predicted = [predicted[key] for key in order]
    if not isinstance(predicted, list | tuple):
        predicted = [predicted]
    return {name: np.asarray(value, dtype=np.float64)
            for name, value in zip(names, predicted, strict=True)}


def _one_ulp_moved(x: Any, seed: int = 0) -> Any:
    """``x`` with every float value moved by one float32 ulp, up or down at random; integer
    inputs (token ids) as they are."""
    rng = np.random.default_rng(seed)

    def move(array: Any) -> Any:
        array = np.asarray(array)
        if not np.issubdtype(array.dtype, np.floating):
            return array
        values = array.astype(np.float32)
        toward = np.where(rng.random(values.shape) < 0.5, -np.inf, np.inf).astype(np.float32)
        return np.nextafter(values, toward)

    if isinstance(x, dict):
        return {name: move(value) for name, value in x.items()}
    if isinstance(x, list | tuple):
        return [move(value) for value in x]
    return move(x)


def prove_rebuild(keras3_model: Any, rebuilt: Any, x: Any) -> RebuildProof:
    """Run both models on ``x``; ``RebuildMismatch`` (with the figure) if they differ by
    more than float32 rounding can explain (see the module's docstring)."""
    names = [t.name.split("/")[0] for t in rebuilt.outputs]
    original = _outputs(keras3_model, x, names)
    copy = _outputs(rebuilt, x, names)
    moved = _outputs(keras3_model, _one_ulp_moved(x), names)
    diff = {name: float(np.max(np.abs(original[name] - copy[name]))) for name in names}
    scale = {name: float(np.max(np.abs(original[name]))) for name in names}
    sensitivity = {name: float(np.max(np.abs(original[name] - moved[name])))
                   for name in names}
    proof = RebuildProof(diff, scale, len(next(iter(original.values()))), sensitivity)
    if not proof.holds:
        worst = proof.worst
        raise RebuildMismatch(
            f"the tf_keras rebuild of Keras 3 model {keras3_model.name!r} does not compute "
            f"the same outputs: output {worst} differs by up to {diff[worst]:.3g} (max "
            f"|output| {scale[worst]:.3g}; {proof.tolerance_text()}) on {proof.samples} "
            f"inputs. To fix: {_ADVICE}")
    return proof


def load_keras3(path: Path) -> Any:
    """The Keras 3 model itself (``keras.saving.load_model``, not compiled)."""
    import keras

    return keras.saving.load_model(str(path), compile=False, safe_mode=True)
