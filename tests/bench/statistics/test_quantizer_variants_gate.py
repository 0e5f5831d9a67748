"""Every quantized variant a run can build -- tfmot's ptq/qat int8 and the LiteRT
Quantizer's qat_selective, mixed_int8, dynamic_int8, int8_weights, int4_weights, fp16 --
goes through the gate's accuracy and fidelity checks as the int8 files do: a variant the
checks skipped would ship a broken model past ``compare``. The variants are read from
the config's own list, so a new one is covered the day it is added."""

from __future__ import annotations

import typing

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


# what CURRENT changed, against one BASE holding every variant unchanged
CHANGES: dict[str, dict[str, float]] = {
    "lost-top1": {"accuracy_top1": 0.75, "agreement_top1": 0.77},  # 20 points of 500
    "outputs-strayed": {"output_snr_db": 12.0},  # 30 dB -> 12 dB, top-1 unchanged
    "unchanged": {},
}


@pytest.fixture(scope="module")
def gates(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], str]:
    """(change, variant) -> the gate column of that variant's line, each change one
    CURRENT run of every variant compared with the one BASE."""
    root = tmp_path_factory.mktemp("quantizer_variants")
    variants = ["float32", *QUANTIZED]
    base = load_runs([write_run(root, "base", [_row(v) for v in variants])])
    found = {}
    for change, columns in CHANGES.items():
        current = write_run(root, change, [_row(v, **columns) for v in variants])
        comparison = compare_runs(base, load_runs([current]),
                                  GateSettings(accuracy_drop_points=1.0))
        for line in comparison.to_dict("records"):
            found[(change, line["variant"])] = str(line["gate"])
    return found


def test_every_variant_but_float32_is_a_quantized_one() -> None:
    assert len(QUANTIZED) == 8 and "int4_weights" in QUANTIZED and "fp16" in QUANTIZED


@pytest.mark.parametrize("variant", QUANTIZED)
def test_a_quantized_variant_that_lost_top1_fails_the_accuracy_check(
        gates: dict, variant: str) -> None:
    """95% -> 75% of 500 inputs: 20 points, far beyond what 500 inputs leave to chance."""
    gate = gates[("lost-top1", variant)]
    assert "top-1 dropped 20.0 points" in gate, gate
    assert "top-1 agreement dropped 20.0 points" in gate, gate


@pytest.mark.parametrize("variant", QUANTIZED)
def test_a_quantized_variant_whose_outputs_strayed_fails_the_fidelity_check(
        gates: dict, variant: str) -> None:
    gate = gates[("outputs-strayed", variant)]
    assert gate == "output SNR vs float fell 18.0 dB (30.0 -> 12.0 dB; worst output)", gate


@pytest.mark.parametrize("variant", QUANTIZED)
def test_an_unchanged_quantized_variant_passes(gates: dict, variant: str) -> None:
    assert gates[("unchanged", variant)] == ""


def test_the_float_reference_is_not_held_to_the_quantized_checks(gates: dict) -> None:
    """float32 is what the others are measured against: its own figures are not gated."""
    assert gates[("outputs-strayed", "float32")] == ""
    assert gates[("lost-top1", "float32")] == ""
