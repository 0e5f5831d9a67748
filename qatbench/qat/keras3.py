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
more than ``REBUILD_TOLERANCE`` of that output's scale.
"""

from __future__ import annotations

import inspect
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qatbench.qat.errors import QatModelError

# outputs may differ by float32 rounding only: max |Δ| <= 1e-4 x (1 + max |output|)
REBUILD_TOLERANCE = 1e-4
_ADVICE = ("rebuild the model with tf_keras layers (`import tf_keras as keras`) and give "
           "`build = \"module:function\"`, or save it from tf_keras (.h5)")


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


def _input_layer(entry: dict[str, Any]) -> Any:
    import tf_keras

    config = entry["config"]
    shape = config.get("batch_shape") or config.get("batch_input_shape")
    return tf_keras.Input(batch_shape=tuple(shape), dtype=_plain(config.get("dtype")),
                          name=config["name"], sparse=bool(config.get("sparse")))


def _functional_layers(config: dict[str, Any]) -> list[dict[str, Any]]:
    """A Sequential's layers as functional entries (each consuming the previous output)."""
    layers = config["layers"]
    entries, previous = [], None
    for entry in layers:
        name = entry["config"]["name"]
        nodes = [] if previous is None else [{"args": [{
            "class_name": "__keras_tensor__",
            "config": {"keras_history": [previous, 0, 0]}}], "kwargs": {}}]
        entries.append({**entry, "name": name, "inbound_nodes": nodes})
        previous = name
    return entries


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
    problems: list[Problem] = []
    tensors: dict[tuple[str, int, int], Any] = {}
    layer_pairs: list[tuple[Any, Any]] = []
    keras3_layers = {layer.name: layer for layer in model.layers}
    for entry in entries:
        name, kind = entry["config"]["name"], entry["class_name"]
        if kind == "InputLayer":
            tensors[(name, 0, 0)] = _input_layer(entry)
            continue
        cls = getattr(tf_keras.layers, kind, None)
        module = str(entry.get("module") or "")
        if cls is None or (module and not module.startswith("keras")):
            why = "a model nested as a layer: flatten it" if kind in (
                "Functional", "Sequential", "Model") else "no tf_keras layer of this name"
            problems.append(Problem(name, kind, why))
            continue
        layer = cls(**_layer_config(entry, cls, problems))
        for node_index, node in enumerate(entry.get("inbound_nodes", [])):
            try:
                args = _tensor_refs(node.get("args", []), tensors)
                kwargs = _tensor_refs(node.get("kwargs", {}), tensors)
            except KeyError as missing:
                problems.append(Problem(name, kind, f"consumes {missing}, which was not rebuilt"))
                break
            outputs = layer(*args, **kwargs)
            flat = outputs if isinstance(outputs, list | tuple) else [outputs]
            for index, tensor in enumerate(flat):
                tensors[(name, node_index, index)] = tensor
        layer_pairs.append((keras3_layers[name], layer))
    if problems:
        raise RebuildError(
            f"the Keras 3 model {model.name!r} cannot be rebuilt as tf_keras for QAT:\n  "
            + "\n  ".join(problem.line() for problem in problems) + f"\nTo fix: {_ADVICE}")

    def refs(spec: Any) -> list[Any]:
        if isinstance(spec, dict):  # a model of dict inputs/outputs: as the list form
            return [tensors[tuple(item)] for item in spec.values()]
        if spec and isinstance(spec[0], str):  # one [layer, node, index]
            return [tensors[tuple(spec)]]
        return [tensors[tuple(item)] for item in spec]

    if sequential:
        inputs = [tensors[(entries[0]["config"]["name"], 0, 0)]]
        last = entries[-1]["config"]["name"]
        outputs = [tensors[(last, 0, 0)]]
    else:
        inputs, outputs = refs(config["input_layers"]), refs(config["output_layers"])
    rebuilt = tf_keras.Model(inputs if len(inputs) > 1 else inputs[0],
                             outputs if len(outputs) > 1 else outputs[0], name=model.name)
    for source, target in layer_pairs:
        weights = source.get_weights()
        if weights:
            target.set_weights(weights)
    return rebuilt


@dataclass(frozen=True)
class RebuildProof:
    """How far the rebuilt model's outputs are from the Keras 3 model's, per output."""

    max_abs_diff: dict[str, float]
    scale: dict[str, float]
    samples: int

    @property
    def worst_ratio(self) -> float:
        return max(self.max_abs_diff[k] / (1.0 + self.scale[k]) for k in self.max_abs_diff)

    @property
    def holds(self) -> bool:
        return self.worst_ratio <= REBUILD_TOLERANCE

    def describe(self) -> str:
        worst = max(self.max_abs_diff.values())
        return (f"rebuilt from Keras 3 as tf_keras; max |output difference| {worst:.2g} on "
                f"{self.samples} calibration inputs (tolerance {REBUILD_TOLERANCE:g} x "
                "(1 + max |output|))")


def _outputs(model: Any, x: Any, names: list[str]) -> dict[str, np.ndarray]:
    predicted = model.predict(x, batch_size=32, verbose=0)
    if not isinstance(predicted, list | tuple):
        predicted = [predicted]
    return {name: np.asarray(value, dtype=np.float64)
            for name, value in zip(names, predicted, strict=True)}


def prove_rebuild(keras3_model: Any, rebuilt: Any, x: Any) -> RebuildProof:
    """Run both models on ``x``; ``RebuildMismatch`` (with the figure) if they differ."""
    names = [t.name.split("/")[0] for t in rebuilt.outputs]
    original = _outputs(keras3_model, x, names)
    copy = _outputs(rebuilt, x, names)
    diff = {name: float(np.max(np.abs(original[name] - copy[name]))) for name in names}
    scale = {name: float(np.max(np.abs(original[name]))) for name in names}
    proof = RebuildProof(diff, scale, len(next(iter(original.values()))))
    if not proof.holds:
        worst = max(names, key=lambda n: diff[n] / (1 + scale[n]))
        raise RebuildMismatch(
            f"the tf_keras rebuild of Keras 3 model {keras3_model.name!r} does not compute "
            f"the same outputs: output {worst} differs by up to {diff[worst]:.3g} (max "
            f"|output| {scale[worst]:.3g}; tolerance {REBUILD_TOLERANCE:g} x (1 + max "
            f"|output|)) on {proof.samples} inputs. To fix: {_ADVICE}")
    return proof


def load_keras3(path: Path) -> Any:
    """The Keras 3 model itself (``keras.saving.load_model``, not compiled)."""
    import keras

    return keras.saving.load_model(str(path), compile=False, safe_mode=True)
