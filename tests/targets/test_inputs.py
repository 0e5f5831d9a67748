"""Inputs for timing and evaluation: token ids stay inside the table they index."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qatbench.targets.inputs import (
    index_bounds_of_file,
    is_index_input,
    quantize_for_input,
    random_input,
)
from tests.targets.token_model import VOCAB


@pytest.mark.parametrize("variant", ["float32", "ptq_int8"])
def test_timing_inputs_of_token_ids_stay_inside_the_vocabulary_and_run(
        token_files: dict[str, Path], variant: str) -> None:
    from qatbench.targets.runtime import resolve_runtime

    path = token_files[variant]
    bounds = index_bounds_of_file(path)
    assert list(bounds.values()) == [VOCAB]
    interpreter = resolve_runtime().interpreter(str(path), threads=1,
                                                use_default_delegates=False)
    interpreter.allocate_tensors()
    (detail,) = interpreter.get_input_details()
    assert is_index_input(detail)  # int32, no scale: the int8 file keeps its ids
    rng = np.random.default_rng(0)
    draws = [random_input(detail, rng, bounds) for _ in range(200)]
    assert {d.dtype for d in draws} == {np.dtype(np.int32)}
    assert set(np.concatenate(draws).ravel().tolist()) == set(range(VOCAB))  # the whole table
    drawn = draws[0]
    interpreter.set_tensor(detail["index"], drawn)
    interpreter.invoke()  # no "gather index out of bounds"


def test_an_index_input_with_an_unknown_table_gets_zeros_the_one_index_every_table_has(
        ) -> None:
    detail = {"name": "ids", "index": 0, "dtype": np.int32, "shape": [1, 5],
              "quantization": (0.0, 0)}
    assert random_input(detail, np.random.default_rng(0)).tolist() == [[0] * 5]


def test_a_quantized_int8_input_still_takes_its_whole_range() -> None:
    detail = {"name": "image", "index": 0, "dtype": np.int8, "shape": [1, 4000],
              "quantization": (0.02, -3)}
    drawn = random_input(detail, np.random.default_rng(0))
    assert drawn.min() == -128 and drawn.max() == 127


def test_evaluation_passes_ids_as_they_are_and_refuses_fractional_ones() -> None:
    detail = {"name": "ids", "index": 0, "dtype": np.int32, "shape": [1, 3],
              "quantization": (0.0, 0)}
    # ids stored as floats (an eval set's float copy) come back as the same integers
    assert quantize_for_input(np.array([[3.0, 0.0, 36.0]]), detail).tolist() == [[3, 0, 36]]
    assert quantize_for_input(np.array([[3, 7, 9]], np.int64), detail).dtype == np.int32
    with pytest.raises(ValueError, match="integer ids"):
        quantize_for_input(np.array([[0.5, 1.0, 2.0]]), detail)


@pytest.mark.parametrize("with_data", [False, True])
def test_a_tflite_table_with_token_inputs_gets_an_eval_set_of_ids(
        token_files: dict[str, Path], tmp_path: Path, with_data: bool) -> None:
    """Files made elsewhere with an int32 input: synthetic eval ids stay inside the
    vocabulary (no data), or the data's ids are used as they are; the float32 file's
    reference outputs are computed on them."""
    from qatbench.models.sources import ModelSource
    from qatbench.qat.budget import TrainingBudget
    from qatbench.qat.foreign import collect_files
    from qatbench.targets.base import EvalSet

    data = None
    if with_data:
        rng = np.random.default_rng(1)
        np.savez(tmp_path / "ids.npz", x=rng.integers(0, VOCAB, (30, 12)).astype(np.int32),
                 y=np.arange(30) % 3)
        data = str(tmp_path / "ids.npz")
    source = ModelSource(tflite={k: str(v) for k, v in token_files.items()}, data=data)
    build = collect_files("tokens", source, ["float32", "ptq_int8"], tmp_path / "out",
                          TrainingBudget(max_eval_samples=20))
    assert all(artifact.ok for artifact in build.variants.values())
    assert build.eval_path is not None
    eval_set = EvalSet.load(Path(build.eval_path))
    assert np.issubdtype(np.asarray(eval_set.x).dtype, np.integer)
    assert eval_set.x.min() >= 0 and eval_set.x.max() < VOCAB
    assert eval_set.reference is not None and eval_set.reference.shape == (
        eval_set.samples, 3)
    assert eval_set.has_labels is with_data
