"""ImageNet-style evaluation folders: class indices, preprocessing, clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from qatbench.models.image_folder import (
    ImageFolderError,
    class_indices,
    load_image_folder,
    preprocess,
)


def make_folder(root: Path, classes: dict[str, list[tuple[int, int, int]]],
                size: tuple[int, int] = (40, 30)) -> Path:
    for name, colours in classes.items():
        (root / name).mkdir(parents=True)
        for i, colour in enumerate(colours):
            Image.new("RGB", size, colour).save(root / name / f"img{i}.png")
    (root / "README.txt").write_text("not a class")
    return root


def test_named_classes_take_their_sorted_position(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "val", {"n02": [(0, 0, 0)], "n01": [(255, 255, 255)] * 2})
    assert class_indices(root) == {"n01": 0, "n02": 1}
    x, y = load_image_folder(root, (16, 16, 3), "tf")
    assert x.shape == (3, 16, 16, 3) and x.dtype == np.float32
    assert y.tolist() == [0, 0, 1]
    assert np.allclose(x[0], 1.0) and np.allclose(x[2], -1.0)  # white, black in [-1, 1]


def test_numbered_folders_are_class_indices(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "val", {"7": [(10, 20, 30)], "981": [(1, 2, 3)]})
    _, y = load_image_folder(root, (8, 8, 3), "raw")
    assert sorted(y.tolist()) == [7, 981]


def test_caffe_preprocessing_is_bgr_minus_the_mean() -> None:
    pixel = np.array([[[[200, 100, 50]]]], dtype=np.uint8)  # R, G, B
    out = preprocess(pixel, "caffe")[0, 0, 0]
    assert np.allclose(out, [50 - 103.939, 100 - 116.779, 200 - 123.68])


def test_limit_and_non_square_images_are_centre_cropped(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "val", {"a": [(9, 9, 9)] * 5}, size=(100, 20))
    x, _ = load_image_folder(root, (12, 12, 3), "raw", limit=2)
    assert x.shape == (2, 12, 12, 3)
    assert np.allclose(x, 9)


@pytest.mark.parametrize(("layout", "message"), [
    ("missing", "no such directory"), ("flat", "no class subfolders"),
    ("empty_classes", "hold no images")])
def test_bad_folders_say_what_is_expected(tmp_path: Path, layout: str, message: str) -> None:
    root = tmp_path / "val"
    if layout == "flat":
        root.mkdir()
        Image.new("RGB", (4, 4)).save(root / "x.png")
    elif layout == "empty_classes":
        (root / "cat").mkdir(parents=True)
    with pytest.raises(ImageFolderError, match=message):
        load_image_folder(root, (8, 8, 3), "tf")
