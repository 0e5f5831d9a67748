"""The report's tables read as a user reads them: every column holds what its header
says, the latency detail fits a page, setups are never mixed, CIs say what they are."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from qatbench.bench.presentation.report import (
    Section,
    build_sections,
    by_target_frame,
    classic_table,
    latency_frame,
    render_html,
    write_report,
)
from qatbench.bench.presentation.summary import setup_differences, summary_frame
from tests.bench.presentation.synthetic import HOST_PARTS, cpu_matrix, fingerprinted, results, row


class _Tables(HTMLParser):
    """Every <table> of a page as rows of cell texts (header row first)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in {"td", "th"}:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in {"td", "th"} and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def html_table(frame: pd.DataFrame) -> list[list[str]]:
    parser = _Tables()
    parser.feed(render_html([Section("t", table=frame)], results([])))
    assert len(parser.tables) == 1
    return parser.tables[0]


def test_p50_on_each_target_has_a_column_per_target_holding_its_p50() -> None:
    table = results(cpu_matrix())
    header, *body = html_table(by_target_frame(table))
    assert header == ["model", "variant", "threads", "cpu-xnnpack", "cpu-ref"]
    assert all(len(cells) == len(header) and all(cells) for cells in body), body
    mnist_ref = table.query("model == 'mnist_cnn' and variant == 'qat_int8' "
                            "and target == 'cpu-ref'")["latency_ms_p50"].iloc[0]
    line = next(cells for cells in body if cells[:2] == ["mnist_cnn", "qat_int8"])
    assert line[header.index("cpu-ref")] == format(float(mnist_ref), ".4g")


def test_latency_detail_combines_columns_and_leaves_out_empty_ones() -> None:
    table = results(cpu_matrix())
    detail = latency_frame(table)
    assert list(detail.columns) == ["model", "variant", "target", "thr", "p50 ms [95% CI]",
                                    "min–max", "p90 / p99", "cv", "n", "init / 1st ms",
                                    "peak MB", "delegate"]
    first = table.iloc[0]
    assert detail.iloc[0]["p50 ms [95% CI]"] == (
        f"{first['latency_ms_p50']:.4g} "
        f"[{first['latency_ms_p50_ci_low']:.4g}–{first['latency_ms_p50_ci_high']:.4g}]")
    assert detail.iloc[0]["min–max"] == \
        f"{first['latency_ms_min']:.4g}–{first['latency_ms_max']:.4g}"


def test_repeats_noise_and_failures_get_their_columns_only_when_present() -> None:
    rows = cpu_matrix()
    rows[0] = {**rows[0], "repeats": 5, "noisy": True}
    rows[1] = {**rows[1], "status": "failed", "latency_ms_p50": None, "error": "boom"}
    detail = latency_frame(results(rows))
    assert {"K", "noisy"} <= set(detail.columns)
    assert detail["K"].tolist()[:3] == ["5", "", "1"]  # a failed row has no K
    assert detail["noisy"].tolist()[:2] == ["NOISY", ""]
    assert detail["p50 ms [95% CI]"].tolist()[1] == "failed"  # its status, where p50 would be


@pytest.mark.parametrize(("repeats", "says", "does_not_say"), [
    ([1], ["bootstrap", "cannot see shifts between runs", "--repeats"], ["K > 1"]),
    ([3], ["K > 1", "t-interval on the K per-process medians"], ["bootstrap"]),
    ([1, 3], ["Rows with K = 1", "bootstrap", "Rows with K > 1"], []),
    ([None], ["bootstrap"], ["K > 1"]),  # an old run without the column had one process
])
def test_latency_notes_say_which_ci_each_row_carries(repeats: list, says: list[str],
                                                      does_not_say: list[str]) -> None:
    rows = [row("m", "float32", "cpu-xnnpack", 1.0, seed, repeats=k)
            for seed, k in enumerate(repeats)]
    sections = build_sections(results(rows), [], [])
    notes = next(s for s in sections if s.title == "Latency detail").text
    for text in says:
        assert text in notes
    for text in does_not_say:
        assert text not in notes


def test_two_setups_on_one_target_are_named_and_kept_apart() -> None:
    other = {**HOST_PARTS, "cpu_model": "EPYC 7R13", "runtime": "ai-edge-litert 1.3.0"}
    rows = cpu_matrix(**fingerprinted()) + [
        {**r, **fingerprinted(other), "run_id": "20260102T000000Z-bbbbbb",
         "started_at": "20260102T000000Z"}
        for r in cpu_matrix(seed=50) if r["target"] == "cpu-xnnpack"]
    table = results(rows)

    notes = setup_differences(table)
    assert len(notes) == 1 and "`cpu-xnnpack` was measured on 2 setups" in notes[0]
    assert "cpu_model: Xeon 8375C" in notes[0] and "EPYC 7R13" in notes[0]
    assert "runtime:" in notes[0] and "machine" not in notes[0]  # only the parts that differ

    summary = summary_frame(table)
    xnnpack = summary[(summary["target"] == "cpu-xnnpack") & (summary["model"] == "mnist_cnn")]
    assert sorted(xnnpack["setup"]) == sorted(
        str(fp)[:8] for fp in table.loc[table["target"] == "cpu-xnnpack", "fingerprint"].unique())
    assert (summary.loc[summary["target"] == "cpu-ref", "setup"] == "").all()

    classic = classic_table(table, "cpu-xnnpack")
    assert len(classic) == 4 and classic["setup"].nunique() == 2
    side_by_side = by_target_frame(table)
    assert len([c for c in side_by_side.columns if str(c).startswith("cpu-xnnpack @")]) == 2
    detail = latency_frame(table)
    assert (detail["setup"] != "").sum() == 12  # the cpu-xnnpack rows of both setups

    titles = [s.title for s in build_sections(table, [], [])]
    assert titles[0] == "Measured on different setups"


def test_old_runs_without_fingerprints_or_repeats_render_as_before(tmp_path: Path) -> None:
    rows = [{k: v for k, v in r.items() if k != "repeats"} for r in cpu_matrix()]
    table = results(rows)
    assert table["fingerprint"].isna().all() and table["repeats"].isna().all()
    assert setup_differences(table) == []
    assert "setup" not in summary_frame(table).columns
    assert "K" not in latency_frame(table).columns
    markdown = write_report(table, [], tmp_path).read_text()
    assert "different setups" not in markdown and "## Latency detail" in markdown


def test_plots_of_two_setups_label_their_bars_apart(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import matplotlib.pyplot as plt

    from qatbench.bench.presentation import plots

    figures: dict[str, plt.Figure] = {}
    monkeypatch.setattr(plots, "_save", lambda fig, path: figures.setdefault(path.name, fig))
    other = {**HOST_PARTS, "cpu_model": "EPYC 7R13"}
    rows = [row("m", "float32", "cpu-xnnpack", 1.0, 1, **fingerprinted()),
            row("m", "float32", "cpu-xnnpack", 2.0, 2, **fingerprinted(other))]
    plots.write_run_plots(results(rows), tmp_path)
    labels = [t.get_text() for t in figures["latency.png"].axes[0].get_xticklabels()]
    assert len(labels) == 2 and all(label.startswith("cpu-xnnpack x1 @") for label in labels)
    assert len(figures["accuracy_vs_latency.png"].axes) == 2
