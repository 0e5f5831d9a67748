"""An ImageNet-style evaluation folder: one subfolder of images per class.

Class indices: if every subfolder is named by an integer, that integer is the class
index; otherwise the subfolders' sorted order is, which is Keras's ImageNet order when
all 1000 WordNet-id folders (``n01440764`` ...) are present. Images are resized so the
short side is 256/224 of the model input, centre-cropped, and scaled the way the
model's ``preprocess_input`` does (``tf``: [-1, 1]; ``caffe``: BGR minus the ImageNet
mean; ``raw``: 0..255 for models that rescale inside).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".jpe"}
_CAFFE_MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)


class ImageFolderError(ValueError):
    """The folder is missing, empty or laid out wrongly; the message says how it should be."""


def class_indices(root: Path) -> dict[str, int]:
    if not root.is_dir():
        raise ImageFolderError(f"{root}: no such directory (expected one subfolder per class)")
    names = sorted(p.name for p in root.iterdir() if p.is_dir())
    if not names:
        raise ImageFolderError(f"{root}: no class subfolders (expected e.g. {root}/n01440764/"
                               "*.JPEG, or numbered folders 0/, 1/, ...)")
    if all(name.isdigit() for name in names):
        return {name: int(name) for name in names}
    return {name: index for index, name in enumerate(names)}


def preprocess(images: np.ndarray, mode: str) -> np.ndarray:
    x = images.astype(np.float32)
    if mode == "tf":
        return x / 127.5 - 1.0
    if mode == "caffe":
        return x[..., ::-1] - _CAFFE_MEAN_BGR
    if mode == "raw":
        return x
    raise ValueError(f"unknown preprocessing {mode!r}")


def _load(path: Path, size: tuple[int, int]) -> np.ndarray:
    from PIL import Image  # Pillow comes with matplotlib

    height, width = size
    with Image.open(path) as image:
        image = image.convert("RGB")
        scale = (256 / 224) * max(height / image.height, width / image.width)
        resized = image.resize((max(width, round(image.width * scale)),
                                max(height, round(image.height * scale))), Image.BILINEAR)
        left = (resized.width - width) // 2
        top = (resized.height - height) // 2
        return np.asarray(resized.crop((left, top, left + width, top + height)))


def load_image_folder(root: Path, input_shape: tuple[int, ...], mode: str,
                      limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(preprocessed images NHWC float32, integer labels), in a stable order."""
    indices = class_indices(root)
    files = [(path, label) for name, label in indices.items()
             for path in sorted((root / name).iterdir())
             if path.suffix.lower() in IMAGE_SUFFIXES]
    if not files:
        raise ImageFolderError(f"{root}: the class subfolders hold no images "
                               f"({', '.join(sorted(IMAGE_SUFFIXES))})")
    if limit:
        files = files[:limit]
    images = np.stack([_load(path, tuple(input_shape[:2])) for path, _ in files])
    labels = np.array([label for _, label in files], dtype=np.int64)
    return preprocess(images, mode), labels
