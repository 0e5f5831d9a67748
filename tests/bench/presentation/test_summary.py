"""The summary a user reads first: one line per model and target, reasons for the rest."""

from __future__ import annotations

from pathlib import Path

from qatbench.bench.presentation.summary import problems_frame, summary_frame
from qatbench.bench.storage.runs import load_runs
from tests.bench.runs_helpers import write_run


def test_rows_that_never_reached_the_device_share_its_line(tmp_path: Path) -> None:
    run = write_run(tmp_path, "r", [
        {"model": "m", "variant": "float32", "target": "edgetpu", "device": "",
         "status": "skipped", "size_bytes": 400, "error": "float32 model: ..."},
        {"model": "m", "variant": "qat_int8", "target": "edgetpu", "device": "usb",
         "status": "compiled", "size_bytes": 100, "note": "compiled only: no TPU here"},
    ])
    results = load_runs([run]).results
    summary = summary_frame(results)
    assert len(summary) == 1
    assert summary.iloc[0]["size QAT"] == "0 KB→0 KB 4.00x"
    assert summary.iloc[0]["status"] == "compiled, skipped"
    reasons = dict(zip(problems_frame(results)["status"], problems_frame(results)["reason"],
                       strict=True))
    assert reasons == {"skipped": "float32 model: ...", "compiled": "compiled only: no TPU here"}


def test_ratios_follow_the_rows_whatever_the_index(tmp_path: Path) -> None:
    from qatbench.bench.storage.relative import add_relative_columns
    from tests.bench.runs_helpers import matrix

    results = load_runs([write_run(tmp_path, "r", matrix(1.0, seed=1))]).results
    shuffled = results.iloc[::-1].set_axis([7, 3])  # filtered, reordered frames keep labels
    ratios = add_relative_columns(shuffled).set_index("variant")
    assert ratios.loc["float32", "speedup_vs_float"] == 1.0
    assert ratios.loc["qat_int8", "speedup_vs_float"] > 2
    assert ratios.loc["qat_int8", "speedup_basis"] == "p50"
