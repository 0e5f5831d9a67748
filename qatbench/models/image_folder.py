"""An ImageNet-style folder: one subfolder of images per class, split into eval and calibration.

Class indices: a WordNet-id folder (``n01440764`` ...) takes that id's position in the
standard ImageNet-1k class index (``imagenet_wnids.txt``, shipped here: the 1000 ids in
class-index order, which Keras's and torchvision's ImageNet weights share), so a folder
holding any subset of the 1000 classes is labelled right; a numeric folder name is the
class index itself; any other name is an error naming it, never a guessed position.

Sampling is per class and seeded: evaluation takes images round-robin over the classes
(balanced, so a limit of 500 images on the full validation set covers 500 classes, not
the first ten), and the calibration images -- which are also the inputs QAT distils on
-- are drawn from other files of the same folder, never from the evaluation images.

Images already at the model's input size are used as they are; others are resized so
the short side is 256/224 of the model input and centre-cropped, and all are scaled the
way the model's ``preprocess_input`` does (``tf``: [-1, 1]; ``caffe``: BGR
minus the ImageNet mean; ``raw``: 0..255 for models that rescale inside).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".jpe"}
WNIDS_FILE = Path(__file__).with_name("imagenet_wnids.txt")
_CAFFE_MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)

LabelledFile = tuple[Path, int]


class ImageFolderError(ValueError):
    """The folder is missing, empty or laid out wrongly; the message says how it should be."""


@functools.cache
def imagenet_wnids() -> tuple[str, ...]:
    """The 1000 ImageNet-1k WordNet ids; position = class index."""
    ids = tuple(line.strip() for line in WNIDS_FILE.read_text().splitlines() if line.strip())
    if len(ids) != 1000 or len(set(ids)) != 1000:
        raise RuntimeError(f"{WNIDS_FILE} is damaged: {len(ids)} ids, expected 1000 distinct")
    return ids


@functools.cache
def _wnid_index() -> dict[str, int]:
    return {wnid: index for index, wnid in enumerate(imagenet_wnids())}


def class_indices(root: Path) -> dict[str, int]:
    """Subfolder name -> ImageNet-1k class index (WordNet id or the folder's number)."""
    if not root.is_dir():
        raise ImageFolderError(f"{root}: no such directory (expected one subfolder per class)")
    names = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not names:
        raise ImageFolderError(f"{root}: no class subfolders (expected e.g. {root}/n01440764/"
                               "*.JPEG, or numbered folders 0/, 1/, ...)")
    wnids = _wnid_index()
    indices: dict[str, int] = {}
    unknown = []
    for name in names:
        if name.isdigit():
            indices[name] = int(name)
        elif name in wnids:
            indices[name] = wnids[name]
        else:
            unknown.append(name)
    if unknown:
        shown = ", ".join(repr(n) for n in unknown[:10])
        more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
        raise ImageFolderError(
            f"{root}: class folder(s) {shown}{more} are neither ImageNet-1k WordNet ids "
            "(n01440764 ... n15075141) nor class numbers (0 ... 999); rename them, or move "
            "them out of the folder")
    seen: dict[int, str] = {}
    for name, index in indices.items():
        if index in seen:
            raise ImageFolderError(f"{root}: folders {seen[index]!r} and {name!r} are both "
                                   f"class {index}")
        seen[index] = name
    return indices


def _class_files(root: Path) -> dict[int, list[Path]]:
    files = {index: sorted(p for p in (root / name).iterdir()
                           if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
             for name, index in class_indices(root).items()}
    if not any(files.values()):
        raise ImageFolderError(f"{root}: the class subfolders hold no images "
                               f"({', '.join(sorted(IMAGE_SUFFIXES))})")
    return files


def _round_robin(per_class: dict[int, list[Path]], limit: int | None) -> list[LabelledFile]:
    """The first image of every class, then the second of every class, ... up to ``limit``."""
    picked: list[LabelledFile] = []
    depth = max((len(f) for f in per_class.values()), default=0)
    for position in range(depth):
        for label, files in per_class.items():
            if position < len(files):
                if limit is not None and len(picked) >= limit:
                    return picked
                picked.append((files[position], label))
    return picked


@dataclass(frozen=True)
class FolderSplit:
    """Which files evaluate and which calibrate; the two never share a file."""

    eval_files: list[LabelledFile]
    calibration_files: list[LabelledFile]
    classes_in_folder: int
    images_in_folder: int

    @property
    def eval_classes(self) -> int:
        return len({label for _, label in self.eval_files})

    def describe(self, root: Path) -> str:
        calibration = (f"{len(self.calibration_files)} other images of it calibrate and are "
                       "QAT's distillation inputs" if self.calibration_files else
                       "no image left over for calibration (each class has a single image, "
                       "which evaluates)")
        return (f"image folder {root}: {len(self.eval_files)} eval images covering "
                f"{self.eval_classes} of its {self.classes_in_folder} classes "
                f"({self.images_in_folder} images); {calibration}")


def split_image_folder(root: Path, eval_limit: int | None, calibration_limit: int,
                       seed: int = 0) -> FolderSplit:
    """Balanced, seeded, disjoint eval and calibration samples of the folder.

    Each class's files are shuffled (seeded); up to half of a class's files (never its
    only file) are set aside for calibration, so small folders still calibrate on real
    images; evaluation takes the rest round-robin over the classes up to ``eval_limit``.
    Calibration files not needed (beyond ``calibration_limit``) go back to evaluation.
    """
    per_class = _class_files(root)
    rng = np.random.default_rng(seed)
    shuffled = {label: [files[i] for i in rng.permutation(len(files))]
                for label, files in sorted(per_class.items()) if files}
    order = list(shuffled)
    rng.shuffle(order)  # which classes the limits reach first: seeded, not alphabetical
    shuffled = {label: shuffled[label] for label in order}
    reserved = {label: files[len(files) - len(files) // 2:] for label, files in shuffled.items()}
    calibration = _round_robin(reserved, calibration_limit)
    taken = {path for path, _ in calibration}
    remaining = {label: [p for p in files if p not in taken] for label, files in shuffled.items()}
    evaluation = _round_robin(remaining, eval_limit)
    return FolderSplit(evaluation, calibration, len(per_class),
                       sum(len(files) for files in per_class.values()))


def preprocess(images: np.ndarray, mode: str) -> np.ndarray:
    x = images.astype(np.float32)
    if mode == "tf":
        return x / 127.5 - 1.0
    if mode == "caffe":
        return x[..., ::-1] - _CAFFE_MEAN_BGR
    if mode == "raw":
        return x
    raise ValueError(f"unknown preprocessing {mode!r}")


# how an image of another size is brought to the model's: the short side scaled to the
# size and the centre cropped ("crop"), the long side scaled and the rest padded black
# ("pad", the whole image kept), or each side scaled on its own ("stretch", aspect lost);
# "imagenet" is ImageNet's evaluation crop (short side to 256/224 of the size, centre)
RESIZE_MODES = ("crop", "pad", "stretch")
IMAGENET_CROP = "imagenet"


def describe_resize(mode: str, size: tuple[int, int]) -> str:
    height, width = size
    return {"crop": f"short side scaled to {min(size)} px, centre {height}x{width} crop",
            "pad": f"long side scaled to {max(size)} px, padded black to {height}x{width}",
            "stretch": f"stretched to {height}x{width} (aspect ratio not kept)",
            IMAGENET_CROP: f"short side scaled to 256/224 of {min(size)} px, centre "
                           f"{height}x{width} crop (ImageNet's evaluation crop)"}[mode]


def fit_image(image: Any, size: tuple[int, int], mode: str = IMAGENET_CROP) -> np.ndarray:
    """An RGB PIL image as ``size`` pixels, uint8: as it is when it already has that
    size, else resized by ``mode`` (``RESIZE_MODES`` or ``IMAGENET_CROP``)."""
    from PIL import Image

    height, width = size
    if (image.height, image.width) == (height, width):
        return np.asarray(image)
    if mode == "stretch":
        return np.asarray(image.resize((width, height), Image.BILINEAR))
    if mode == "pad":
        scale = min(height / image.height, width / image.width)
        inner = image.resize((max(1, round(image.width * scale)),
                              max(1, round(image.height * scale))), Image.BILINEAR)
        canvas = Image.new("RGB", (width, height))
        canvas.paste(inner, ((width - inner.width) // 2, (height - inner.height) // 2))
        return np.asarray(canvas)
    if mode not in ("crop", IMAGENET_CROP):
        raise ValueError(f"unknown resize {mode!r}: one of {', '.join(RESIZE_MODES)}")
    enlarge = 256 / 224 if mode == IMAGENET_CROP else 1.0
    scale = enlarge * max(height / image.height, width / image.width)
    resized = image.resize((max(width, round(image.width * scale)),
                            max(height, round(image.height * scale))), Image.BILINEAR)
    left = (resized.width - width) // 2
    top = (resized.height - height) // 2
    return np.asarray(resized.crop((left, top, left + width, top + height)))


def load_image(path: Path, size: tuple[int, int], mode: str = IMAGENET_CROP) -> np.ndarray:
    """One image as RGB ``size`` pixels, uint8 (``fit_image``): as it is when it already
    has the model's size, else ImageNet's evaluation crop unless ``mode`` says otherwise."""
    from PIL import Image  # Pillow comes with matplotlib

    with Image.open(path) as image:
        return fit_image(image.convert("RGB"), size, mode)


def image_size(path: Path) -> tuple[int, int]:
    """(height, width) of an image file, read from its header."""
    from PIL import Image

    with Image.open(path) as image:
        return image.height, image.width


def load_files(files: list[LabelledFile], input_shape: tuple[int, ...], mode: str
               ) -> tuple[np.ndarray, np.ndarray]:
    """(preprocessed images NHWC float32, integer labels) of these files, in this order."""
    if not files:
        return (np.zeros((0, *input_shape), np.float32), np.zeros((0,), np.int64))
    images = np.stack([load_image(path, tuple(input_shape[:2])) for path, _ in files])
    labels = np.array([label for _, label in files], dtype=np.int64)
    return preprocess(images, mode), labels


@dataclass(frozen=True)
class ImageFolderData:
    """The loaded split: eval images with labels, calibration images, and what was taken."""

    eval_x: np.ndarray
    eval_y: np.ndarray
    calibration_x: np.ndarray
    split: FolderSplit
    note: str = field(default="")


def load_image_folder_split(root: Path, input_shape: tuple[int, ...], mode: str,
                            eval_limit: int | None, calibration_limit: int, seed: int = 0
                            ) -> ImageFolderData:
    split = split_image_folder(root, eval_limit, calibration_limit, seed)
    eval_x, eval_y = load_files(split.eval_files, input_shape, mode)
    calibration_x, _ = load_files(split.calibration_files, input_shape, mode)
    return ImageFolderData(eval_x, eval_y, calibration_x, split, split.describe(root))


def load_image_folder(root: Path, input_shape: tuple[int, ...], mode: str,
                      limit: int | None = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Every image of the folder (or ``limit`` of them, balanced over the classes, seeded)."""
    per_class = _class_files(root)
    rng = np.random.default_rng(seed)
    shuffled = {label: [files[i] for i in rng.permutation(len(files))]
                for label, files in sorted(per_class.items()) if files}
    return load_files(_round_robin(shuffled, limit), input_shape, mode)
