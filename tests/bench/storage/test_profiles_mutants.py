"""The per-op profile store's promises that `nox -s mutation` found no test holding (its
other tests drive whole commands, outside the selection): each op's share and the
coverage computed as stated, the key on every line, the profiles of several runs read
as one table, and a file that is not a profile named with what it is and what to do.
Expectations are computed by hand here."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from qatbench.bench.storage.layout import PROFILE_FILE
from qatbench.bench.storage.profiles import (
    PROFILE_COLUMNS,
    add_profile,
    load_profiles,
    profile_frame,
    read_profiles,
)
from qatbench.bench.storage.store import DamagedStoreFile
from tests.bench.storage.damaged import refusal

KEY = {"run_id": "r", "model": "m", "variant": "ptq_int8", "target": "cpu-xnnpack",
       "device": "host", "threads": 1, "fingerprint": "f", "source": "host-cut"}
OPS = [{"op_index": 0, "op_type": "CONV_2D", "p50_ms": 3.0},
       {"op_index": 1, "op_type": "FULLY_CONNECTED", "p50_ms": 1.0}]


def test_each_op_has_its_share_of_the_ops_sum_and_the_coverage_of_the_whole() -> None:
    frame = profile_frame(KEY, OPS, whole_p50_ms=8.0, delegate="xnnpack")
    assert list(frame.columns) == list(PROFILE_COLUMNS)
    assert frame["share"].tolist() == [0.75, 0.25]  # 3/4, 1/4
    assert frame["coverage"].tolist() == [0.5, 0.5]  # (3+1)/8
    assert frame["whole_p50_ms"].tolist() == [8.0, 8.0]
    assert frame["delegate"].tolist() == ["xnnpack", "xnnpack"]
    for column, value in KEY.items():
        assert frame[column].tolist() == [value, value], column


def test_one_op_is_the_whole_share_and_no_delegate_is_empty() -> None:
    frame = profile_frame(KEY, OPS[:1], whole_p50_ms=None)
    assert frame["share"].tolist() == [1.0]
    assert frame["coverage"].isna().all()  # no whole-model time: no coverage
    assert frame["delegate"].tolist() == [""]


def test_an_op_without_a_time_has_no_share_and_the_others_keep_theirs() -> None:
    ops = [*OPS, {"op_index": 2, "op_type": "RESHAPE", "p50_ms": None}]
    frame = profile_frame(KEY, ops, whole_p50_ms=4.0)
    assert frame["share"].tolist()[:2] == [0.75, 0.25]
    assert pd.isna(frame["share"].iloc[2])
    assert frame["coverage"].tolist() == [1.0, 1.0, 1.0]


def test_no_ops_is_an_empty_profile_with_every_column() -> None:
    frame = profile_frame(KEY, [], whole_p50_ms=1.0)
    assert frame.empty
    assert list(frame.columns) == list(PROFILE_COLUMNS)


def test_the_profiles_of_several_runs_are_read_as_one_table(tmp_path: Path) -> None:
    one, two, none = (tmp_path / name for name in ("one", "two", "none"))
    for run_dir in (one, two, none):
        run_dir.mkdir()
    add_profile(one, profile_frame(KEY, OPS, whole_p50_ms=8.0))
    add_profile(two, profile_frame({**KEY, "run_id": "s"}, OPS[:1], whole_p50_ms=3.0))
    loaded = load_profiles([one, none, two])
    assert list(loaded.columns) == list(PROFILE_COLUMNS)
    assert loaded["run_id"].tolist() == ["r", "r", "s"]
    assert loaded["op_type"].tolist() == ["CONV_2D", "FULLY_CONNECTED", "CONV_2D"]
    assert load_profiles([none]).empty


def test_a_damaged_profile_is_named_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / PROFILE_FILE
    path.write_bytes(b"not parquet")
    with pytest.raises(DamagedStoreFile) as raised:
        read_profiles(tmp_path)
    assert raised.value.path == path
    assert "`qatbench profile` measures them again" in str(raised.value)


@pytest.mark.parametrize(("table", "problem"), [
    ({"status": ["ok"], "model": ["m"]},
     "no op_index, op_type, p50_ms column (it is a results table)"),
    ({"op_index": [0], "p50_ms": [1.0]}, "no op_type column)"),
])
def test_another_table_under_the_profiles_name_is_named_for_what_it_is(
        tmp_path: Path, table: dict, problem: str) -> None:
    path = tmp_path / PROFILE_FILE
    pd.DataFrame(table).to_parquet(path)
    message = refusal(read_profiles, tmp_path, path)
    assert message.startswith(f"{path} is not a per-op profile ({problem}")
    assert "it holds the run's per-op profiles: restore it" in message


def _ops(model: str, source: str, *times: float) -> pd.DataFrame:
    return profile_frame({**KEY, "model": model, "source": source},
                         [{"op_index": i, "op_type": "ADD", "p50_ms": t}
                          for i, t in enumerate(times)], whole_p50_ms=None)


def test_a_profile_replaces_its_earlier_lines_and_keeps_every_other(tmp_path: Path) -> None:
    """Same key and source: the new lines replace the old; another model or another
    source (a phone's ``benchmark_model`` table beside the host cut) stays."""
    add_profile(tmp_path, pd.DataFrame())  # nothing yet, nothing added: an empty file
    assert read_profiles(tmp_path).empty
    add_profile(tmp_path, _ops("m", "host-cut", 1.0, 2.0))
    add_profile(tmp_path, _ops("n", "host-cut", 5.0))
    add_profile(tmp_path, _ops("m", "benchmark_model", 7.0))
    add_profile(tmp_path, _ops("m", "host-cut", 3.0))  # measured again
    add_profile(tmp_path, pd.DataFrame())  # an empty profile removes nothing
    lines = read_profiles(tmp_path)
    assert list(lines.columns) == list(PROFILE_COLUMNS)
    assert sorted(zip(lines["model"], lines["source"], lines["p50_ms"], strict=True)) == [
        ("m", "benchmark_model", 7.0), ("m", "host-cut", 3.0), ("n", "host-cut", 5.0)]
