"""A run directory on disk: results written atomically after every job, resumable, locked.

``results/<run_id>/`` holds ``results.parquet`` and ``results.csv`` (one row a job),
``samples.parquet`` (every latency sample), ``environment.json``, ``config.json`` and
the built models under ``artifacts/``. Each file is replaced whole (write to a
temporary file, then rename), so a crash or Ctrl-C leaves the last complete state; an
exclusive lock keeps two processes from writing the same run.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from qatbench.bench.schema import (
    FINISHED_STATUSES,
    KEY_COLUMNS,
    RESULT_COLUMNS,
    SAMPLE_COLUMNS,
    conform,
    empty_results,
)

RESULTS_FILE = "results.parquet"
SAMPLES_FILE = "samples.parquet"


class RunDirError(RuntimeError):
    """The run directory cannot be used (locked by another run, not a run, ...)."""


def new_run_id(now: datetime | None = None) -> str:
    """Sortable by time, unique across hosts and processes writing the same root."""
    now = now or datetime.now(timezone.utc)
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with temporary.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    temporary.replace(path)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def _atomic_parquet(frame: pd.DataFrame, path: Path) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    frame.to_parquet(temporary, index=False)
    temporary.replace(path)


def key_of(row: dict[str, Any] | pd.Series) -> tuple:
    return tuple(str(row[column]) for column in KEY_COLUMNS)


class RunStore:
    """The results of one run, kept in memory and mirrored to disk after every job."""

    def __init__(self, run_dir: Path, run_id: str) -> None:
        self.run_dir = run_dir
        self.run_id = run_id
        self.results = empty_results()
        self.samples = pd.DataFrame({c: pd.Series(dtype=t) for c, t in SAMPLE_COLUMNS.items()})
        self._lock_handle: Any = None

    # -- opening -------------------------------------------------------------------------
    @classmethod
    def create(cls, root: Path, run_id: str | None = None) -> RunStore:
        root.mkdir(parents=True, exist_ok=True)
        run_id = run_id or new_run_id()
        run_dir = root / run_id
        run_dir.mkdir()  # exclusive: two runs never share a directory
        store = cls(run_dir, run_id)
        store.lock()
        return store

    @classmethod
    def open_existing(cls, run_dir: Path) -> RunStore:
        if not (run_dir / "config.json").exists():
            raise RunDirError(f"{run_dir}: not a qatbench run directory (no config.json)")
        store = cls(run_dir, run_dir.name)
        store.lock()
        if (run_dir / RESULTS_FILE).exists():
            store.results = conform(pd.read_parquet(run_dir / RESULTS_FILE), RESULT_COLUMNS)
            store.run_id = str(store.results["run_id"].iloc[0]) if len(store.results) else \
                run_dir.name
        if (run_dir / SAMPLES_FILE).exists():
            store.samples = pd.read_parquet(run_dir / SAMPLES_FILE)
        return store

    def lock(self) -> None:
        handle = (self.run_dir / ".lock").open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise RunDirError(f"{self.run_dir} is being written by another qatbench process; "
                              "wait for it to finish or use another run directory") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._lock_handle = handle

    def close(self) -> None:
        if self._lock_handle is not None:
            fcntl.flock(self._lock_handle, fcntl.LOCK_UN)
            self._lock_handle.close()
            self._lock_handle = None

    # -- reading ---------------------------------------------------------------------------
    def finished_jobs(self) -> set[tuple[str, str, str, str]]:
        """(model, variant, target, threads) of every finished job: ``Job.key``'s shape.

        The device is left out: a job learns it only by running.
        """
        done = self.results[self.results["status"].isin(FINISHED_STATUSES)]
        return {(str(r["model"]), str(r["variant"]), str(r["target"]), str(r["threads"]))
                for _, r in done.iterrows()}

    # -- writing ---------------------------------------------------------------------------
    def write_json(self, name: str, data: Any) -> None:
        atomic_write_text(self.run_dir / name, json.dumps(data, indent=2, default=str))

    def add(self, row: dict[str, Any], samples_ms: tuple[float, ...] = ()) -> None:
        """Record one finished job and mirror everything to disk at once."""
        key = key_of(row)
        keep = [key_of(r) != key for _, r in self.results.iterrows()]
        new = conform(pd.DataFrame([row]), RESULT_COLUMNS)
        self.results = pd.concat([self.results[keep], new], ignore_index=True) \
            if len(self.results) else new
        if len(self.samples):  # a repeated job replaces its samples, never doubles them
            self.samples = self.samples[
                [key_of(r) != key for _, r in self.samples[KEY_COLUMNS].iterrows()]]
        if samples_ms:
            frame = pd.DataFrame({
                **{column: row[column] for column in ["run_id", *KEY_COLUMNS]},
                "sample_index": range(len(samples_ms)), "latency_ms": samples_ms,
            })
            frame = conform(frame, SAMPLE_COLUMNS)
            self.samples = pd.concat([self.samples, frame], ignore_index=True) \
                if len(self.samples) else frame
        self.flush()

    def flush(self) -> None:
        from qatbench.bench.relative import add_relative_columns

        self.results = add_relative_columns(self.results)
        _atomic_parquet(self.results, self.run_dir / RESULTS_FILE)
        atomic_write_text(self.run_dir / "results.csv", self.results.to_csv(index=False))
        _atomic_parquet(self.samples, self.run_dir / SAMPLES_FILE)
