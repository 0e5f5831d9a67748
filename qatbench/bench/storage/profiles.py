"""``profile.parquet``: per-op profiles of a run, one line per op of a profiled job.

A profile belongs to a results row by the row key (model, variant, target, device,
threads, fingerprint) and says where it came from (``source``: ``host-cut`` for the
host's one-op models, ``benchmark_model`` for a phone's op tables). Each profile is
written whole, replacing an earlier one of the same key and source, through the one
atomic writer, so a crash leaves the previous file or the new one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from qatbench.atomic import atomic_write_parquet
from qatbench.bench.storage.layout import PROFILE_FILE
from qatbench.bench.storage.store import DamagedStoreFile, read_store_parquet
from qatbench.bench.storage.upgrade import upgrade_profile_files

PROFILE_KEY = ["model", "variant", "target", "device", "threads", "fingerprint", "source"]
PROFILE_COLUMNS: dict[str, str] = {
    "run_id": "string", "model": "string", "variant": "string", "target": "string",
    "device": "string", "threads": "Int64", "fingerprint": "string", "source": "string",
    "op_index": "Int64", "op_type": "string", "name": "string", "delegated": "boolean",
    "p50_ms": "Float64", "n_samples": "Int64", "share": "Float64",
    "whole_p50_ms": "Float64", "coverage": "Float64", "delegate": "string", "note": "string",
    "model_file": "string",  # the file profiled, as a results row's ``model_file``
}


def conform_profile(frame: pd.DataFrame) -> pd.DataFrame:
    """The profile columns in order, each in its type (missing ones empty)."""
    out = pd.DataFrame(index=frame.index)
    for column, dtype in PROFILE_COLUMNS.items():
        values = frame[column] if column in frame else pd.Series(pd.NA, index=frame.index)
        out[column] = values.astype(dtype)
    return out.reset_index(drop=True)


def profile_frame(key: Mapping[str, Any], ops: Iterable[Mapping[str, Any]],
                  whole_p50_ms: float | None, delegate: str = "") -> pd.DataFrame:
    """One profile's lines: its key on every line, each op's share of the ops' sum, and
    the coverage (sum of the ops / the whole model's p50) on every line."""
    frame = pd.DataFrame(list(ops))
    if frame.empty:
        return conform_profile(frame)
    times = pd.to_numeric(frame["p50_ms"], errors="coerce")
    total = float(times.sum(min_count=1)) if times.notna().any() else None
    frame["share"] = times / total if total else pd.NA
    frame["whole_p50_ms"] = whole_p50_ms
    frame["coverage"] = total / whole_p50_ms if total and whole_p50_ms else pd.NA
    frame["delegate"] = delegate
    for column, value in key.items():
        frame[column] = value
    return conform_profile(frame)


PROFILE_ADVICE = ("it holds the run's per-op profiles: restore it from a copy of the run "
                  "directory, or move it away (the report then has no per-op section; "
                  "`qatbench profile` measures them again)")


def read_profiles(run_dir: Path) -> pd.DataFrame:
    """The run's per-op profiles (empty when none was profiled); a damaged file is
    ``DamagedStoreFile`` naming it -- a user's file, not a bug."""
    path = Path(run_dir) / PROFILE_FILE
    if not path.exists():
        return conform_profile(pd.DataFrame())
    frame = read_store_parquet(path, PROFILE_ADVICE)
    missing = [c for c in ("op_index", "op_type", "p50_ms") if c not in frame.columns]
    if missing:  # another table under the profile's name (a results table, ...)
        what = " (it is a results table)" if "status" in frame.columns else ""
        raise DamagedStoreFile(path, f"no {', '.join(missing)} column{what}", PROFILE_ADVICE,
                               what="is not a per-op profile")
    frame["model_file"] = upgrade_profile_files(frame, Path(run_dir))
    return conform_profile(frame)


def add_profile(run_dir: Path, frame: pd.DataFrame) -> None:
    """Write one profile into the run's ``profile.parquet``, replacing its earlier lines."""
    existing = read_profiles(run_dir)
    frame = conform_profile(frame)
    if not existing.empty and not frame.empty:
        keys = frame[PROFILE_KEY].drop_duplicates()
        merged = existing.merge(keys, on=PROFILE_KEY, how="left", indicator=True)
        existing = existing[(merged["_merge"] == "left_only").to_numpy()]
    combined = pd.concat([f for f in (existing, frame) if not f.empty], ignore_index=True) \
        if not (existing.empty and frame.empty) else frame
    atomic_write_parquet(Path(run_dir) / PROFILE_FILE, conform_profile(combined))


def load_profiles(run_dirs: Iterable[Path]) -> pd.DataFrame:
    """Every profile of these runs in one table (empty when none was profiled)."""
    frames = [f for f in (read_profiles(d) for d in run_dirs) if not f.empty]
    return conform_profile(pd.concat(frames, ignore_index=True)) if frames else \
        conform_profile(pd.DataFrame())
