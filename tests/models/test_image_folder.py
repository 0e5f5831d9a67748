"""ImageNet-style folders: standard class indices, disjoint balanced splits, clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from qatbench.models.image_folder import (
    ImageFolderError,
    class_indices,
    imagenet_wnids,
    load_image_folder,
    load_image_folder_split,
    preprocess,
    split_image_folder,
)

# tench, goldfish and toilet tissue: the first, second and last ImageNet-1k classes, and
# 'oboe' in between (index 683), so a sorted-position mapping would get all but one wrong
WNID_SUBSET = {"n15075141": 999, "n01443537": 1, "n03838899": 683}


def make_folder(root: Path, classes: dict[str, list[tuple[int, int, int]]],
                size: tuple[int, int] = (40, 30), suffix: str = ".png") -> Path:
    for name, colours in classes.items():
        (root / name).mkdir(parents=True)
        for i, colour in enumerate(colours):
            Image.new("RGB", size, colour).save(root / name / f"img{i}{suffix}")
    (root / "README.txt").write_text("not a class")
    return root


def test_the_shipped_list_is_imagenet_1k_in_class_index_order() -> None:
    ids = imagenet_wnids()
    assert len(ids) == 1000 and len(set(ids)) == 1000
    assert ids[0] == "n01440764" and ids[1] == "n01443537" and ids[999] == "n15075141"
    assert list(ids) == sorted(ids)  # Keras's ImageNet index is the sorted WordNet ids


def test_a_wordnet_subset_gets_the_standard_class_indices(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "val", {name: [(i * 60, 0, 0)] * 2
                                          for i, name in enumerate(WNID_SUBSET)},
                       suffix=".JPEG")
    assert class_indices(root) == WNID_SUBSET
    x, y = load_image_folder(root, (16, 16, 3), "tf")
    assert x.shape == (6, 16, 16, 3) and x.dtype == np.float32
    assert sorted(y.tolist()) == [1, 1, 683, 683, 999, 999]
    by_label = {int(label): image for image, label in zip(x, y, strict=True)}
    assert np.allclose(by_label[1][..., 0], 60 / 127.5 - 1, atol=0.05)  # pixels kept their class


def test_numbered_folders_keep_their_number(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "val", {"7": [(10, 20, 30)], "981": [(1, 2, 3)]})
    _, y = load_image_folder(root, (8, 8, 3), "raw")
    assert sorted(y.tolist()) == [7, 981]


def test_an_unknown_folder_is_an_error_naming_it(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "val", {"n01443537": [(0, 0, 0)], "cats": [(1, 1, 1)],
                                          "n99999999": [(2, 2, 2)]})
    with pytest.raises(ImageFolderError, match="'cats', 'n99999999'") as error:
        class_indices(root)
    assert "WordNet" in str(error.value) and "n01443537" not in str(error.value)


def test_calibration_and_eval_share_no_file_and_are_balanced(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "val", {str(c): [(c, i, 0) for i in range(6)]
                                          for c in range(4)})
    split = split_image_folder(root, eval_limit=8, calibration_limit=8, seed=0)
    eval_files = {path for path, _ in split.eval_files}
    calibration_files = {path for path, _ in split.calibration_files}
    assert len(eval_files) == 8 and len(calibration_files) == 8
    assert not eval_files & calibration_files
    assert np.bincount([label for _, label in split.eval_files]).tolist() == [2, 2, 2, 2]
    assert np.bincount([label for _, label in split.calibration_files]).tolist() == [2, 2, 2, 2]
    again = split_image_folder(root, eval_limit=8, calibration_limit=8, seed=0)
    assert again == split  # seeded
    other = split_image_folder(root, eval_limit=8, calibration_limit=8, seed=1)
    assert {p for p, _ in other.eval_files} != eval_files


def test_a_limit_covers_many_classes_not_the_first_few(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "val", {str(c): [(c, 0, 0)] * 5 for c in range(10)},
                       size=(8, 8))
    split = split_image_folder(root, eval_limit=10, calibration_limit=10, seed=0)
    assert split.eval_classes == 10


def test_one_image_per_class_evaluates_and_says_what_it_covered(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "val", {"0": [(0, 0, 0)], "1": [(9, 9, 9)], "2": [(5, 5, 5)]})
    data = load_image_folder_split(root, (8, 8, 3), "raw", eval_limit=500,
                                   calibration_limit=50)
    assert sorted(data.eval_y.tolist()) == [0, 1, 2]
    assert len(data.calibration_x) == 0  # nothing may be both evaluated and calibrated on
    assert "3 eval images covering 3 of its 3 classes" in data.note


def test_caffe_preprocessing_is_bgr_minus_the_mean() -> None:
    pixel = np.array([[[[200, 100, 50]]]], dtype=np.uint8)  # R, G, B
    out = preprocess(pixel, "caffe")[0, 0, 0]
    assert np.allclose(out, [50 - 103.939, 100 - 116.779, 200 - 123.68])


@pytest.mark.parametrize("wide", [True, False])
def test_limit_and_non_square_images_are_centre_cropped(tmp_path: Path, wide: bool) -> None:
    """Three bands along the long side (0 | 200 | 100): only a centred crop is all 200; a
    crop from either end, or a squash of the whole image, shows the other bands."""
    bands = np.zeros((20, 100, 3), dtype=np.uint8)
    bands[:, 30:70], bands[:, 70:] = 200, 100
    pixels = bands if wide else bands.transpose(1, 0, 2)  # 100x20 or 20x100
    (tmp_path / "val" / "0").mkdir(parents=True)
    for i in range(5):
        Image.fromarray(pixels).save(tmp_path / "val" / "0" / f"img{i}.png")
    x, _ = load_image_folder(tmp_path / "val", (12, 12, 3), "raw", limit=2)
    assert x.shape == (2, 12, 12, 3)
    assert np.allclose(x, 200)


@pytest.mark.parametrize(("layout", "message"), [
    ("missing", "no such directory"), ("flat", "no class subfolders"),
    ("empty_classes", "hold no images")])
def test_bad_folders_say_what_is_expected(tmp_path: Path, layout: str, message: str) -> None:
    root = tmp_path / "val"
    if layout == "flat":
        root.mkdir()
        Image.new("RGB", (4, 4)).save(root / "x.png")
    elif layout == "empty_classes":
        (root / "n01440764").mkdir(parents=True)
    with pytest.raises(ImageFolderError, match=message):
        load_image_folder(root, (8, 8, 3), "tf")
