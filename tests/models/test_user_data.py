"""A user's data in each form it comes in, ending as the same train/eval split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qatbench.models.user_data import (
    DataError,
    load_function_data,
    load_image_dir,
    load_npz,
    unit,
)


def labelled(count: int = 100, classes: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.uniform(0, 1, (count, 6, 6, 1)).astype(np.float32), np.arange(count) % classes


def test_x_and_y_are_split_stratified_and_seeded(tmp_path: Path) -> None:
    x, y = labelled()
    np.savez(tmp_path / "d.npz", x=x, y=y)
    first = load_npz(tmp_path / "d.npz", eval_fraction=0.2, seed=3)
    again = load_npz(tmp_path / "d.npz", eval_fraction=0.2, seed=3)
    assert len(first.x_eval) == 20 and len(first.x_train) == 80
    np.testing.assert_array_equal(first.y_eval, again.y_eval)  # seeded
    assert np.bincount(first.y_eval).tolist() == [5, 5, 5, 5]  # stratified
    assert first.num_classes == 4
    # no input is in both halves
    train_rows = {row.tobytes() for row in first.x_train}
    assert not any(row.tobytes() in train_rows for row in first.x_eval)


def test_given_splits_are_kept_and_named_arrays_make_dicts(tmp_path: Path) -> None:
    x, y = labelled(30)
    np.savez(tmp_path / "d.npz", **{"x_train/image": x[:20], "x_train/meta": y[:20, None] * 1.0,
                                    "x_eval/image": x[20:], "x_eval/meta": y[20:, None] * 1.0,
                                    "y_train/cls": y[:20], "y_train/score": x[:20, 0, 0, 0],
                                    "y_eval/cls": y[20:], "y_eval/score": x[20:, 0, 0, 0]})
    data = load_npz(tmp_path / "d.npz")
    assert set(data.x_train) == {"image", "meta"} and set(data.y_eval) == {"cls", "score"}
    np.testing.assert_array_equal(data.x_eval["image"], x[20:])


def test_missing_arrays_name_what_was_found(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", images=np.zeros((4, 2)))
    with pytest.raises(DataError, match=r"needs x_train.*found images"):
        load_npz(tmp_path / "d.npz")


def test_a_function_may_return_a_tuple_a_dict_or_a_tf_dataset() -> None:
    x, y = labelled(50)
    as_tuple = load_function_data(lambda: (x, y), "m:f", eval_fraction=0.2)
    as_dict = load_function_data(lambda: {"x": x, "y": y}, "m:f", eval_fraction=0.2)
    np.testing.assert_array_equal(as_tuple.y_eval, as_dict.y_eval)
    tf = pytest.importorskip("tensorflow")
    batched = load_function_data(
        lambda: tf.data.Dataset.from_tensor_slices((x, y)).batch(8), "m:f", eval_fraction=0.2)
    np.testing.assert_array_equal(batched.y_eval, as_tuple.y_eval)
    np.testing.assert_allclose(batched.x_train, as_tuple.x_train)
    with pytest.raises(DataError, match="returned list"):
        load_function_data(lambda: [x, y], "m:f")


def test_an_image_folder_is_labelled_by_sorted_class_folders(tmp_path: Path) -> None:
    from PIL import Image

    for label, (name, value) in enumerate((("cat", 40), ("dog", 200))):
        folder = tmp_path / name
        folder.mkdir()
        for index in range(5):
            pixels = np.full((12, 10, 3), value + index, np.uint8)
            Image.fromarray(pixels).save(folder / f"{index}.png")
        del label
    loaded = load_image_dir(tmp_path, (8, 8, 3), unit, eval_fraction=0.4, seed=0)
    data, classes = loaded.dataset, loaded.classes
    assert classes == ["cat", "dog"]
    assert data.x_train.shape[1:] == (8, 8, 3)
    everything = np.concatenate([data.x_eval, data.x_train])
    labels = np.concatenate([data.y_eval, data.y_train])
    # each image keeps its own folder's label and its scaled pixel value
    assert np.all(everything[labels == 0] < 50 / 255) and np.all(everything[labels == 1] > 0.7)


def test_images_already_at_the_models_size_are_used_as_they_are(tmp_path: Path) -> None:
    """No 256/224 enlargement, no crop: every pixel of an 8x8 image reaches the model."""
    from PIL import Image

    rng = np.random.default_rng(0)
    originals = {}
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        for index in range(4):
            pixels = rng.integers(0, 256, (8, 8, 3)).astype(np.uint8)
            Image.fromarray(pixels).save(tmp_path / name / f"{index}.png")
            originals[(name, index)] = pixels
    loaded = load_image_dir(tmp_path, (8, 8, 3), unit, eval_fraction=0.25, seed=0)
    seen = np.concatenate([loaded.dataset.x_train, loaded.dataset.x_eval])
    expected = np.stack(list(originals.values())).astype(np.float32) / 255.0
    # the same set of images, pixel for pixel (the split only reorders them)
    assert sorted(map(bytes, seen.reshape(8, -1))) == sorted(map(bytes,
                                                                 expected.reshape(8, -1)))
    assert loaded.note == "images used as they are (all 8 already 8x8)"


@pytest.mark.parametrize("mode", ["crop", "pad", "stretch"])
def test_a_wider_image_is_resized_by_the_named_choice(mode: str) -> None:
    """A 4x8 image (two 4x4 halves, dark left and bright right) into a 4x4 input: crop
    keeps the centre (half of each), pad keeps all of it between black bands, stretch
    squeezes it (the left columns dark, the right bright)."""
    from PIL import Image

    from qatbench.models.image_folder import fit_image

    pixels = np.zeros((4, 8, 3), np.uint8)
    pixels[:, :4] = 60
    pixels[:, 4:] = 200
    fitted = fit_image(Image.fromarray(pixels), (4, 4), mode)[..., 0].astype(int)
    assert fitted.shape == (4, 4)
    if mode == "crop":  # columns 2..5 of the original
        assert fitted[:, 0].tolist() == [60] * 4 and fitted[:, 3].tolist() == [200] * 4
    elif mode == "pad":  # 2x4 image (rows 1..2), black rows above and below
        assert fitted[0].tolist() == [0] * 4 and fitted[3].tolist() == [0] * 4
        assert fitted[1, 0] < 130 < fitted[1, 3]
    else:  # every row the squeezed original
        assert (fitted[:, 0] < 130).all() and (fitted[:, 3] > 130).all()
        assert (fitted > 0).all()


def test_a_resized_folder_says_how_in_its_note(tmp_path: Path) -> None:
    from PIL import Image

    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        for index in range(3):
            Image.fromarray(np.zeros((10, 20, 3), np.uint8)).save(
                tmp_path / name / f"{index}.png")
    loaded = load_image_dir(tmp_path, (8, 8, 3), unit, resize="pad")
    assert loaded.note == ('6 of 6 images resized: resize = "pad" (long side scaled to '
                           '8 px, padded black to 8x8)')
