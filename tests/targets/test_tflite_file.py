"""A .tflite is validated before anything runs, and its int8-ness is read from its ops."""

from __future__ import annotations

from pathlib import Path

import pytest

from qatbench.targets.tflite_file import InvalidModelFile, inspect_tflite


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "no such file"),
        (b"", "empty"),
        (b"PK\x03\x04 this is a zip, not a model", "not a TFLite model"),
        (b"\x00\x01", "not a TFLite model"),
    ],
)
def test_bad_files_are_named_with_the_problem(tmp_path: Path, content: bytes | None,
                                              expected: str) -> None:
    path = tmp_path / "model.tflite"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InvalidModelFile, match=expected) as error:
        inspect_tflite(path)
    assert str(path) in str(error.value)


def test_truncated_model_is_reported_not_crashed(tmp_path: Path, int8_tflite: Path) -> None:
    data = int8_tflite.read_bytes()
    truncated = tmp_path / "truncated.tflite"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(InvalidModelFile, match="truncated or corrupt"):
        inspect_tflite(truncated)


def test_float_model_is_float(float_tflite: Path) -> None:
    info = inspect_tflite(float_tflite)
    assert info.kind == "float32"
    assert not info.is_full_integer
    assert info.inputs[0].dtype == "float32"
    assert info.inputs[0].shape == (1, 8, 8, 1)


def test_qat_model_is_full_integer_with_int8_io(int8_tflite: Path) -> None:
    info = inspect_tflite(int8_tflite)
    assert info.kind == "int8"
    assert info.is_full_integer and info.has_integer_io
    assert info.inputs[0].scale > 0
    assert "CONV_2D" in info.op_counts
