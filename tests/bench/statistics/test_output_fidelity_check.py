"""The gate for outputs that are not a class vector: worst-output SNR against float."""

from __future__ import annotations

from qatbench.bench.statistics.checks import OutputFidelityCheck, Pair, Verdict


def pair(base_snr: float | None, current_snr: float | None, variant: str = "qat_int8",
         cosine: float | None = 0.99) -> Pair:
    def row(snr: float | None) -> dict:
        return {"output_snr_db": snr, "output_cosine": cosine}

    return Pair(("m", variant, "cpu-xnnpack", "", 1), row(base_snr), row(current_snr),
                Verdict.SAME)


def test_a_drop_beyond_the_threshold_fails_with_the_figures() -> None:
    message = OutputFidelityCheck(3.0).fails(pair(30.0, 20.0))
    assert message is not None and "10.0 dB" in message and "30.0 -> 20.0" in message


def test_a_small_drop_a_rise_float_rows_and_zoo_classifiers_pass() -> None:
    check = OutputFidelityCheck(3.0)
    assert check.fails(pair(30.0, 28.0)) is None
    assert check.fails(pair(30.0, 35.0)) is None
    assert check.fails(pair(30.0, 10.0, variant="float32")) is None
    assert check.fails(pair(30.0, 10.0, cosine=None)) is None  # AccuracyCheck's job
    assert check.fails(pair(None, 10.0)) is None
