"""A user's data set: an ``.npz``, a ``module:function``, or a folder of class subfolders.

Every form ends as one ``Dataset`` (train and eval splits, inputs in the model's scale).
Where only ``x``/``y`` are given, the split is seeded and stratified on the labels when
they are class labels (every class at least twice), else a seeded shuffle.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qatbench.models.arrays import Arrays, count, take
from qatbench.models.datasets import Dataset

# the start of a warning that the data's range does not fit the model's input (the rows'
# note carries it; the run prints it on stderr)
DATA_RANGE = "data range"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp"}


class DataError(ValueError):
    """The user's data cannot be used; the message names the key and the fix."""


def _grouped(arrays: dict[str, np.ndarray], prefix: str) -> Arrays | None:
    """``prefix`` itself, or the dict of ``prefix/NAME`` arrays, or None."""
    if prefix in arrays:
        return np.asarray(arrays[prefix])
    named = {key.split("/", 1)[1]: np.asarray(value) for key, value in arrays.items()
             if key.startswith(prefix + "/")}
    return named or None


def _split(x: Arrays, y: Arrays, eval_fraction: float, seed: int
           ) -> tuple[Arrays, Arrays, Arrays, Arrays]:
    total = count(x)
    eval_size = max(1, round(total * eval_fraction))
    if total - eval_size < 1:
        raise DataError(f"{total} samples cannot be split into train and eval")
    labels = y if isinstance(y, np.ndarray) else None
    rng = np.random.default_rng(seed)
    order = rng.permutation(total)
    if labels is not None and labels.ndim == 1 and np.issubdtype(labels.dtype, np.integer):
        classes, counts = np.unique(labels, return_counts=True)
        if counts.min() >= 2 and eval_size >= len(classes) and total - eval_size >= len(classes):
            from sklearn.model_selection import train_test_split

            train_index, eval_index = train_test_split(
                np.arange(total), test_size=eval_size, stratify=labels, random_state=seed,
                shuffle=True)
            return take(x, train_index), take(y, train_index), take(x, eval_index), \
                take(y, eval_index)
    eval_index, train_index = order[:eval_size], order[eval_size:]
    return take(x, train_index), take(y, train_index), take(x, eval_index), take(y, eval_index)


def _from_mapping(arrays: dict[str, Any], where: str, eval_fraction: float, seed: int
                  ) -> tuple[Arrays, Arrays, Arrays, Arrays]:
    parts = {key: _grouped(arrays, key) for key in ("x_train", "y_train", "x_eval", "y_eval",
                                                     "x", "y")}
    if all(parts[key] is not None for key in ("x_train", "y_train", "x_eval", "y_eval")):
        return parts["x_train"], parts["y_train"], parts["x_eval"], parts["y_eval"]
    if parts["x"] is not None and parts["y"] is not None:
        return _split(parts["x"], parts["y"], eval_fraction, seed)
    found = ", ".join(sorted(arrays)) or "nothing"
    raise DataError(f"{where}: needs x_train, y_train, x_eval, y_eval (or x and y, which "
                    f"qatbench splits); found {found}. A multi-input model names its arrays "
                    "x_train/INPUT_NAME, a multi-output model y_train/OUTPUT_NAME")


def load_npz(path: Path, eval_fraction: float = 0.2, seed: int = 0) -> Dataset:
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError) as error:
        raise DataError(f"{path}: not a readable .npz ({error})") from None
    x_train, y_train, x_eval, y_eval = _from_mapping(arrays, str(path), eval_fraction, seed)
    return _dataset(f"{path.name}", x_train, y_train, x_eval, y_eval)


def _materialise(dataset: Any) -> dict[str, Any]:
    """A ``tf.data.Dataset`` of ``(x, y)`` as numpy arrays: batched (a leading dimension
    of unknown size, as ``.batch()`` gives) or element by element."""
    import tensorflow as tf

    first = tf.nest.flatten(dataset.element_spec)[0]
    if first.shape.rank and first.shape[0] is None:
        dataset = dataset.unbatch()
    xs: list[Any] = []
    ys: list[Any] = []
    for x, y in dataset.as_numpy_iterator():
        xs.append(x)
        ys.append(y)
    if not xs:
        raise DataError("the tf.data.Dataset is empty")

    def stack(items: list[Any]) -> Arrays:
        if isinstance(items[0], dict):
            return {name: np.stack([item[name] for item in items]) for name in items[0]}
        return np.stack(items)

    return {"x": stack(xs), "y": stack(ys)}


def load_function_data(function: Callable[[], Any], where: str, eval_fraction: float = 0.2,
                       seed: int = 0) -> Dataset:
    """What ``data = "module:function"`` returned: a dict of arrays, a 4-tuple
    ``(x_train, y_train, x_eval, y_eval)``, a 2-tuple ``(x, y)``, or a tf.data.Dataset."""
    value = function()
    if hasattr(value, "as_numpy_iterator"):
        value = _materialise(value)
    elif isinstance(value, tuple) and len(value) == 4:
        value = dict(zip(("x_train", "y_train", "x_eval", "y_eval"), value, strict=True))
    elif isinstance(value, tuple) and len(value) == 2:
        value = {"x": value[0], "y": value[1]}
    if not isinstance(value, dict):
        raise DataError(f"{where} returned {type(value).__name__}; return a dict of arrays "
                        "(x_train, y_train, x_eval, y_eval or x, y), a tuple of them, or a "
                        "tf.data.Dataset of (x, y)")
    flat: dict[str, Any] = {}
    for key, item in value.items():
        if isinstance(item, dict):
            flat.update({f"{key}/{name}": np.asarray(a) for name, a in item.items()})
        else:
            flat[key] = np.asarray(item)
    x_train, y_train, x_eval, y_eval = _from_mapping(flat, where, eval_fraction, seed)
    return _dataset(where, x_train, y_train, x_eval, y_eval)


def class_folders(root: Path) -> list[Path]:
    """Class subfolders in sorted order (Keras' ``image_dataset_from_directory`` order)."""
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


@dataclass(frozen=True)
class ImageDirData:
    """An image folder as a data set: the split, the class names, and how the images
    were brought to the model's size (for the rows' note)."""

    dataset: Dataset
    classes: list[str]
    note: str


def load_image_dir(root: Path, input_shape: tuple[int, ...],
                   preprocess: Callable[[np.ndarray], np.ndarray], eval_fraction: float = 0.2,
                   seed: int = 0, resize: str = "crop") -> ImageDirData:
    """Every image of ``root``'s class subfolders at the model's input size -- as it is
    when it already has that size, else resized by ``resize`` (``crop``, ``pad`` or
    ``stretch``) -- preprocessed; labels are the folders' sorted positions."""
    from qatbench.models.image_folder import describe_resize, image_size, load_image

    folders = class_folders(root)
    if len(folders) < 2:
        raise DataError(f"{root}: needs one subfolder of images per class (found "
                        f"{len(folders)} subfolder(s))")
    files = [(path, label) for label, folder in enumerate(folders)
             for path in sorted(folder.iterdir()) if path.suffix.lower() in IMAGE_SUFFIXES]
    if not files:
        raise DataError(f"{root}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in its "
                        "class subfolders")
    size = (int(input_shape[0]), int(input_shape[1]))
    resized = sum(image_size(path) != size for path, _ in files)
    images = np.stack([load_image(path, size, resize) for path, _ in files])
    if input_shape[-1] == 1:
        images = images.mean(axis=-1, keepdims=True)
    x = np.asarray(preprocess(images.astype(np.float32)), dtype=np.float32)
    y = np.array([label for _, label in files], dtype=np.int64)
    x_train, y_train, x_eval, y_eval = _split(x, y, eval_fraction, seed)
    dataset = _dataset(f"image folder {root.name} ({len(folders)} classes)", x_train,
                       y_train, x_eval, y_eval)
    if resized == 0:
        note = f"images used as they are (all {len(files)} already {size[0]}x{size[1]})"
    else:
        note = (f"{resized} of {len(files)} images resized: resize = \"{resize}\" "
                f"({describe_resize(resize, size)})")
    return ImageDirData(dataset, [folder.name for folder in folders], note)


def _dataset(name: str, x_train: Arrays, y_train: Arrays, x_eval: Arrays, y_eval: Arrays
             ) -> Dataset:
    labels = y_train if isinstance(y_train, np.ndarray) else None
    classes = int(np.max(labels)) + 1 if labels is not None and labels.ndim == 1 \
        and np.issubdtype(labels.dtype, np.integer) and len(labels) else 0
    try:
        return Dataset(name, x_train, y_train, x_eval, y_eval, classes)
    except ValueError as error:
        raise DataError(str(error)) from None


def truth_rows(outputs: Sequence[tuple[str, str, int]], y: Arrays | None, samples: int
               ) -> np.ndarray | None:
    """The true values of every labelled non-class output, as rows laid out like the
    float reference (outputs side by side, each ``width`` wide), NaN where an output has
    no truth; None when no such output has labels. ``outputs``: (name, task, width) in
    the model's order; ``y``: one array (a single output) or a dict keyed by name."""
    if y is None or samples == 0:
        return None
    rows = np.full((samples, sum(width for _, _, width in outputs)), np.nan, np.float32)
    start, found = 0, False
    for name, task, width in outputs:
        labels = y.get(name) if isinstance(y, dict) else y if len(outputs) == 1 else None
        if task != "classification" and labels is not None:
            values = np.asarray(labels, dtype=np.float32).reshape(samples, -1)
            if values.shape[1] == width:
                rows[:, start:start + width] = values
                found = True
        start += width
    return rows if found else None


def unit(images: np.ndarray) -> np.ndarray:
    return images / 255.0
