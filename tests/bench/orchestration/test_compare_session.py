"""``CompareRequest`` / ``run_compare``, the typed call behind ``qatbench compare``."""

from __future__ import annotations

from pathlib import Path

import pytest

from qatbench.bench.orchestration.compare_session import (
    CompareRequest,
    CompareRequestError,
    run_compare,
)
from tests.bench.runs_helpers import matrix, write_run


@pytest.mark.parametrize(("values", "named"), [
    ({"metric": "p99"}, "--metric: 'p99' is not one of p50, p90"),
    ({"alpha": 1.0}, "--alpha must be between 0 and 1, exclusive (got 1)"),
    ({"alpha": 0.0}, "--alpha"),
    ({"accuracy_drop": -0.5}, "--accuracy-drop must be a non-negative number of points"),
    ({"accuracy_drop": float("inf")}, "--accuracy-drop"),
    ({"threshold": -0.01}, "--threshold must be a non-negative"),
])
def test_a_gate_setting_out_of_range_is_a_user_error_naming_its_flag(
        values: dict, named: str) -> None:
    with pytest.raises(CompareRequestError) as refused:
        CompareRequest.of(base=Path("a"), current=Path("b"), **values)
    assert named in str(refused.value)


def test_every_bad_setting_is_named_at_once() -> None:
    with pytest.raises(CompareRequestError) as refused:
        CompareRequest.of(base=Path("a"), current=Path("b"), metric="mean", alpha=2.0)
    assert "--metric" in str(refused.value) and "--alpha" in str(refused.value)


def test_a_run_against_itself_passes_and_a_grown_model_fails(tmp_path: Path) -> None:
    base = write_run(tmp_path, "base", matrix(1.0, seed=1))
    same = run_compare(CompareRequest.of(base=base, current=base),
                       tmp_path / "same" / "compare.md")
    assert same.exit_code == 0
    assert (tmp_path / "same" / "compare.md").is_file()
    # qat_int8 10% larger: beyond the 5% threshold on size
    grown = write_run(tmp_path, "grown", matrix(1.0, seed=61, size_scale=1.10))
    result = run_compare(CompareRequest.of(base=base, current=grown))
    assert result.exit_code == 1
    assert result.markdown == grown / "compare.md" and result.markdown.is_file()
    gate = result.comparison.set_index("variant").loc["qat_int8", "gate"]
    assert "size grew" in gate
