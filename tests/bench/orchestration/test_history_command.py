"""``history`` and ``plot history`` as typed calls: the same steps and alerts the
statistics give, and every refusal a UserError before anything is drawn."""

from __future__ import annotations

from pathlib import Path

import pytest

from qatbench.bench.orchestration.history_command import (
    HistoryError,
    HistoryRequest,
    plot_history_file,
    read_history,
)
from qatbench.errors import UserError
from tests.bench.statistics.test_alerts import FLAT, history_root


@pytest.fixture
def root(tmp_path: Path) -> Path:
    # mobilenet_v2 steps up 10% at run 4, resnet50 at run 8; mnist never moves
    return history_root(tmp_path, {"mnist_cnn": FLAT,
                                   "mobilenet_v2": [1.0] * 3 + [1.10] * 7,
                                   "resnet50": [1.0] * 7 + [1.10] * 3})


def test_the_history_holds_every_run_series_step_and_alert(root: Path) -> None:
    found = read_history(HistoryRequest(root))
    assert len(found.runs) == 10 and found.runs == sorted(found.runs)
    assert found.series == 3
    assert sorted(found.steps["model"]) == ["mobilenet_v2", "resnet50"]
    assert list(found.alerts["first_run_after"]) == ["20260104T000000Z-r",
                                                     "20260108T000000Z-r"]
    assert (found.alerts["state"] == "open").all()


def test_since_keeps_the_change_points_after_it_and_steps_only_skips_alerts(
        root: Path) -> None:
    newer = read_history(HistoryRequest(root, since="20260105T000000Z-r"))
    assert list(newer.alerts["first_run_after"]) == ["20260108T000000Z-r"]
    assert len(newer.steps) == 2  # the steps are every step; --since filters alerts
    assert read_history(HistoryRequest(root), alerts=False).alerts is None


@pytest.mark.parametrize(("request_", "message"), [
    (dict(since="nope"), "--since nope: no such run"),
    (dict(model="nasnet_mobile"), "no measured rows for model 'nasnet_mobile'"),
    (dict(target="nnapi"), "no measured rows on target 'nnapi'"),
])
def test_nothing_to_show_is_a_user_error_naming_why(root: Path, request_: dict,
                                                    message: str) -> None:
    with pytest.raises(HistoryError, match=message) as raised:
        read_history(HistoryRequest(root, **request_))
    assert isinstance(raised.value, UserError)


def test_the_plot_is_written_and_a_file_type_matplotlib_cannot_write_is_refused_first(
        root: Path, tmp_path: Path) -> None:
    path, found = plot_history_file(HistoryRequest(root),
                                    tmp_path / "h.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and len(found.steps) == 2
    with pytest.raises(HistoryError, match=r"--out .*h\.docx: give an image file"):
        plot_history_file(HistoryRequest(tmp_path / "no-runs-here"), tmp_path / "h.docx")
