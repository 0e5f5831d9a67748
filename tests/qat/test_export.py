"""The int8 label is a promise: a file that still computes in float is refused it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from qatbench.qat.errors import NotFullIntegerError
from qatbench.qat.export import Variant, verify_variant


def test_float_file_labelled_int8_is_refused(tmp_path: Path, float_tflite: Path) -> None:
    path = tmp_path / "ptq_int8.tflite"
    shutil.copy(float_tflite, path)
    with pytest.raises(NotFullIntegerError, match="float compute ops left") as error:
        verify_variant(path, Variant.PTQ_INT8)
    assert "CONV_2D" in str(error.value)


def test_built_variants_are_what_their_names_say(digits_build) -> None:
    assert verify_variant(Path(digits_build.variants["float32"].path), Variant.FLOAT32)
    for variant in (Variant.PTQ_INT8, Variant.QAT_INT8):
        info = verify_variant(Path(digits_build.variants[variant.value].path), variant)
        assert info.is_full_integer and info.has_integer_io


def test_int8_files_are_much_smaller(digits_build) -> None:
    float_size = digits_build.variants["float32"].size_bytes
    for variant in ("ptq_int8", "qat_int8"):
        assert float_size / digits_build.variants[variant].size_bytes > 2.5


def test_qat_keeps_accuracy_on_the_digits(digits_build) -> None:
    float_top1 = digits_build.variants["float32"].keras_top1
    assert float_top1 > 0.85
    assert digits_build.variants["qat_int8"].keras_top1 >= float_top1 - 0.03
