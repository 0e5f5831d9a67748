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
    # 400 and 100 bytes: three digits in kB, not "0 KB→0 KB"
    assert summary.iloc[0]["size QAT (kB)"] == "0.400→0.100 4.00x"
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


def test_sizes_share_one_unit_with_three_significant_digits(tmp_path: Path) -> None:
    """A 14 MB model beside a 12 kB one: both in MB, neither printed as 0.01 → 0.01."""
    run = write_run(tmp_path, "r", [
        {"model": "big", "variant": "float32", "target": "cpu-ref", "size_bytes": 13_596_000},
        {"model": "big", "variant": "ptq_int8", "target": "cpu-ref", "size_bytes": 3_838_000},
        {"model": "tiny", "variant": "float32", "target": "cpu-ref", "size_bytes": 12_300},
        {"model": "tiny", "variant": "ptq_int8", "target": "cpu-ref", "size_bytes": 4_560},
    ])
    summary = summary_frame(load_runs([run]).results).set_index("model")
    assert summary.loc["big", "size PTQ (MB)"] == "13.6→3.84 3.54x"
    assert summary.loc["tiny", "size PTQ (MB)"] == "0.0123→0.00456 2.70x"


def test_quantizer_variants_get_their_own_columns_where_the_run_built_them(
        tmp_path: Path) -> None:
    run = write_run(tmp_path, "r", [
        {"model": "m", "variant": v, "target": "cpu-ref", "size_bytes": size,
         "latency_ms_p50": p50, "accuracy_top1": top1}
        for v, size, p50, top1 in (("float32", 4000, 2.0, 0.9), ("ptq_int8", 1000, 1.0, 0.89),
                                   ("dynamic_int8", 1100, 1.6, 0.88),
                                   ("fp16", 2000, 2.1, 0.9))])
    summary = summary_frame(load_runs([run]).results)
    assert list(summary.columns) == [
        "model", "target", "thr", "size PTQ (kB)", "p50 ms PTQ", "size QAT (kB)",
        "p50 ms QAT", "size dyn8 (kB)", "p50 ms dyn8", "size fp16 (kB)", "p50 ms fp16",
        "top-1 f/PTQ/QAT/dyn8/fp16", "agree PTQ/QAT/dyn8/fp16", "status"]
    line = summary.iloc[0]
    assert line["size dyn8 (kB)"] == "4.00→1.10 3.64x"
    assert line["p50 ms fp16"] == "2→2.1 0.95x"
    assert line["top-1 f/PTQ/QAT/dyn8/fp16"] == "90.0% / 89.0% / – / 88.0% / 90.0%"


def test_a_failure_reason_is_whole_with_its_layer_list_and_advice(tmp_path: Path) -> None:
    reason = ("UnsupportedLayersError: model 'tokens' has 2 layer(s) that tfmot's default "
              "8-bit scheme cannot quantize:\n  embedding (Embedding)\n  conv1d (Conv1D)\n"
              "To fix: quantize only the layers tfmot supports with qat_selective " + "x" * 400)
    run = write_run(tmp_path, "r", [
        {"model": "m", "variant": "qat_int8", "target": "cpu-ref", "status": "failed",
         "error": reason}])
    (shown,) = problems_frame(load_runs([run]).results)["reason"]
    assert shown == reason


def test_the_console_keeps_a_reasons_lines_and_wraps_them_whole() -> None:
    """The terminal table shows every line of a failure (its layer list as a list), on
    an 80-column console, with no line cut or ellipsised."""
    import io

    import pandas as pd
    from rich.console import Console

    from qatbench.bench.presentation.tables import rich_table

    reason = ("UnsupportedLayersError: 2 layer(s) tfmot cannot quantize:\n  - embedding "
              "(Embedding)\n  - conv1d (Conv1D)\nGive each a QuantizeConfig | or keep it "
              "float with selective QAT.")
    out = io.StringIO()
    Console(file=out, width=80).print(rich_table(pd.DataFrame({"reason": [reason]})))
    shown = " ".join(line.strip(" │┃") for line in out.getvalue().splitlines())
    words = " ".join(shown.split())
    assert " ".join(reason.split()) in words
    assert "- embedding (Embedding)" in out.getvalue()  # its own line, not run on
