"""Every quantized variant a run can build -- tfmot's ptq/qat int8 and the LiteRT
Quantizer's qat_selective, mixed_int8, dynamic_int8, int8_weights, int4_weights, fp16 --
goes through the gate's accuracy and fidelity checks as the int8 files do: a variant the
checks skipped would ship a broken model past ``compare``. The variants are read from
the config's own list, so a new one is covered the day it is added."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest

from qatbench.bench.orchestration.config import VariantName
from qatbench.bench.statistics.compare import GateSettings, compare_runs
from qatbench.bench.storage.runs import load_runs
from tests.bench.runs_helpers import lognormal, write_run

QUANTIZED = [v for v in typing.get_args(VariantName) if v != "float32"]


def _row(variant: str, **columns: float) -> dict:
    """One timed row of ``variant`` with 500 evaluated inputs; ``columns`` override."""
    return {"model": "net", "variant": variant, "target": "cpu-xnnpack",
            "size_bytes": 100_000, "accuracy_top1": 0.95, "agreement_top1": 0.97,
            "eval_samples": 500, "output_snr_db": 30.0, "output_cosine": 0.999,
            "samples": lognormal(0.02, 0.01, 200, 3), **columns}


def _gate(tmp_path: Path, variant: str, **current: float) -> str:
    base = write_run(tmp_path / "results", "base", [_row(variant)])
    after = write_run(tmp_path / "results", "current", [_row(variant, **current)])
    comparison = compare_runs(load_runs([base]), load_runs([after]),
                              GateSettings(accuracy_drop_points=1.0))
    (line,) = comparison.to_dict("records")
    return str(line["gate"])


def test_every_variant_but_float32_is_a_quantized_one() -> None:
    assert len(QUANTIZED) == 8 and "int4_weights" in QUANTIZED and "fp16" in QUANTIZED


@pytest.mark.parametrize("variant", QUANTIZED)
def test_a_quantized_variant_that_lost_top1_fails_the_accuracy_check(
        tmp_path: Path, variant: str) -> None:
    """95% -> 75% of 500 inputs: 20 points, far beyond what 500 inputs leave to chance."""
    gate = _gate(tmp_path, variant, accuracy_top1=0.75, agreement_top1=0.77)
    assert "top-1 dropped 20.0 points" in gate, gate
    assert "top-1 agreement dropped 20.0 points" in gate, gate


@pytest.mark.parametrize("variant", QUANTIZED)
def test_a_quantized_variant_whose_outputs_strayed_fails_the_fidelity_check(
        tmp_path: Path, variant: str) -> None:
    """SNR against float 30 dB -> 12 dB (beyond the 3 dB allowance); top-1 unchanged."""
    gate = _gate(tmp_path, variant, output_snr_db=12.0)
    assert gate == "output SNR vs float fell 18.0 dB (30.0 -> 12.0 dB; worst output)", gate


@pytest.mark.parametrize("variant", QUANTIZED)
def test_an_unchanged_quantized_variant_passes(tmp_path: Path, variant: str) -> None:
    assert _gate(tmp_path, variant) == ""


def test_the_float_reference_is_not_held_to_the_quantized_checks(tmp_path: Path) -> None:
    """float32 is what the others are measured against: its own SNR is not gated."""
    assert _gate(tmp_path, "float32", output_snr_db=12.0) == ""
