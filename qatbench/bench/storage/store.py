"""A run directory on disk: results written atomically after every job, resumable, locked.

``results/<run_id>/`` holds

- ``results.parquet`` and ``results.csv``: one row a job (all its repeats summarised);
- ``repeats.parquet``: one line a repeat of a job (each repeat is its own child process);
- ``samples.parquet/``: every latency sample, one part file per job and repeat (a
  parquet dataset: ``pandas.read_parquet`` reads the directory as one table);
- ``environment.json`` (one entry per host that worked on the run), ``config.json``,
  and the built models under ``artifacts/``;
- ``command.json`` for a run ``qatbench bench`` made: the files it times, so that
  ``run --resume`` times them again instead of building the zoo into the run.

Why this layout: adding a job writes its own sample part and rewrites only the small
tables, so the 500th job costs what the first did. The order of writes is the
commit protocol: a job's samples, then its repeat line, then its results row, each
file replaced atomically (``qatbench.atomic``). The results row is the commit mark: a
crash can leave samples of a job that has no row yet (readers ignore them, a resumed run
replaces them), never a finished row without its samples. An exclusive lock keeps two
processes from writing the same run.

Every name and path of the layout is ``layout.py``'s; every shape a run directory has
had is read as today's by ``upgrade.py`` (``config.json`` and ``command.json`` carry
the ``format_version`` they were written in).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from qatbench.atomic import (
    UnwritableOutput,
    atomic_write_json,
    atomic_write_parquet,
    atomic_write_text,
    ensure_writable_dir,
)
from qatbench.bench.storage.key import RowKey
from qatbench.bench.storage.layout import (
    COMMAND_FILE,
    CONFIG_FILE,
    ENVIRONMENT_FILE,
    LOCK_FILE,
    REPEATS_FILE,
    RESULTS_CSV,
    RESULTS_FILE,
    SAMPLES_FILE,
)
from qatbench.bench.storage.schema import (
    FINISHED_STATUSES,
    REPEAT_COLUMNS,
    RESULT_COLUMNS,
    SAMPLE_COLUMNS,
    conform,
    empty_results,
)
from qatbench.bench.storage.upgrade import (
    stamp,
    unstamped,
    upgrade_repeats,
    upgrade_results,
    upgrade_samples,
)
from qatbench.errors import UserError

JobKey = tuple[str, str, str, int]  # RowKey.job: (model, variant, target, threads)


# What a job that failed because a disk was full says (its error holds the errno's text,
# from the child's log or the writer): not the job's own failure, so ``--resume`` runs it
# again once space is freed instead of keeping the failed row.
DISK_FULL_TEXTS = (os.strerror(errno.ENOSPC), os.strerror(errno.EDQUOT))


def failed_for_space(error: object) -> bool:
    """Whether a failed row's (or a build's) ``error`` is a full disk."""
    return isinstance(error, str) and any(text in error for text in DISK_FULL_TEXTS)


class RunDirError(UserError, RuntimeError):
    """The run directory cannot be used (locked by another run, not a run, ...)."""


class DamagedStoreFile(RunDirError):
    """A file of a run directory cannot be read (truncated, overwritten, not what the store
    wrote there). Raised where the store and the run loader read, before anything is
    written: the message names the file and what to do, and nothing was changed."""

    def __init__(self, path: Path, problem: str, advice: str, *,
                 what: str = "is damaged") -> None:
        self.path = path
        super().__init__(f"{path} {what} ({problem}); {advice}. Nothing was changed")


RESULTS_ADVICE = ("it holds the run's finished rows: restore it from a copy of the run "
                  "directory (results.csv beside it has the same rows), or start a new run")
REPEATS_ADVICE = ("it holds one line per repeat of each job: restore it from a copy of the "
                  "run directory")
SAMPLE_PART_ADVICE = ("restore it from a copy of the run directory, or move it out of "
                      "samples.parquet/ (that job's latency samples are then gone; its "
                      "results row stays)")


def read_store_parquet(path: Path, advice: str) -> pd.DataFrame:
    """``pd.read_parquet`` of a file the store wrote; a damaged one is ``DamagedStoreFile``."""
    try:
        return pd.read_parquet(path)
    except PermissionError:
        raise
    except Exception as error:  # pyarrow: ArrowInvalid, OSError, ... for a damaged file
        problem = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise DamagedStoreFile(path, problem, advice) from None


MISSING_REPEATS_ADVICE = ("rows summarise K >= 2 repeats and the gate decides on their "
                          "lines: restore repeats.parquet from a copy of the run "
                          "directory, or measure the run again (read as K=1, the gate "
                          "would pass on lost data)")


def refuse_lost_repeats(results: pd.DataFrame, path: Path) -> None:
    """``DamagedStoreFile`` when ``repeats.parquet`` (``path``) is missing although a row
    says it summarises two or more repeats: read as one repeat, the gate would decide on
    a K it does not have (a BASE "unknown" turned "faster") while its table says K=2. A
    run from before repeats has no such row (``upgrade``: read as K=1, as it was
    measured)."""
    if path.exists() or "repeats" not in results.columns:
        return
    counts = pd.to_numeric(results["repeats"], errors="coerce")
    if (counts >= 2).any():
        most = int(counts.max())
        raise DamagedStoreFile(path, f"its rows summarise up to {most} repeats each",
                               MISSING_REPEATS_ADVICE, what="is missing")


ENVIRONMENT_KEYS = ("host", "cpu_model", "cpu_count", "machine", "python", "git_commit")
ENVIRONMENT_ADVICE = ("it records the host the run was measured on: restore it from a copy "
                      "of the run directory, or move it away (every row keeps its own host, "
                      "CPU and fingerprint; the report then omits the host section)")


def read_environment(run_dir: Path) -> dict[str, Any] | None:
    """The run's ``environment.json`` (None when it has none); a file that is not the
    JSON object ``capture_environment`` wrote is ``DamagedStoreFile`` naming it."""
    path = run_dir / ENVIRONMENT_FILE
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DamagedStoreFile(path, str(error), ENVIRONMENT_ADVICE) from None
    if not isinstance(data, dict):
        raise DamagedStoreFile(path, "not a JSON object", ENVIRONMENT_ADVICE)
    missing = [key for key in ENVIRONMENT_KEYS if key not in data]
    if missing:
        raise DamagedStoreFile(path, f"no {', '.join(missing)}", ENVIRONMENT_ADVICE)
    wrong = [key for key, fits in ENVIRONMENT_TYPES.items()
             if key in data and not fits(data[key])]
    if wrong:
        raise DamagedStoreFile(path, "of the wrong type: " + ", ".join(
            f"{key}={data[key]!r}"[:60] for key in wrong), ENVIRONMENT_ADVICE)
    return data


def _text(value: Any) -> bool:
    return isinstance(value, str)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# what ``capture_environment`` writes for each key (what a reader may rely on)
ENVIRONMENT_TYPES: dict[str, Any] = {
    "host": _text, "cpu_model": _text, "machine": _text, "python": _text,
    "git_commit": _text, "os": _text, "cpu_flags": _text,
    "cpu_count": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "governor": lambda v: v is None or isinstance(v, str),
    "git_dirty": lambda v: v is None or isinstance(v, bool),
    "load_average": lambda v: v is None or (isinstance(v, list) and len(v) == 3
                                            and all(map(_number, v))),
    "packages": lambda v: isinstance(v, dict) and all(
        isinstance(k, str) and isinstance(x, str) for k, x in v.items()),
}


def read_samples(path: Path) -> pd.DataFrame:
    """Every latency sample under ``samples.parquet``, in today's shape (``upgrade``): its
    part files (one per job and repeat; a writer's hidden temporary files are skipped),
    or the single file of a run from before parts. A part that cannot be read, or a file
    the store did not write there, is named."""
    if path.is_file():
        return upgrade_samples(read_store_parquet(path, SAMPLE_PART_ADVICE))
    parts = []
    for part in sorted(path.iterdir()):
        if part.name.startswith((".", "_")):
            continue
        if part.suffix != ".parquet" or not part.is_file():
            raise DamagedStoreFile(part, "only sample parts belong there",
                                   f"move it out of {path}",
                                   what="is not a sample part qatbench wrote")
        parts.append(read_store_parquet(part, SAMPLE_PART_ADVICE))
    return upgrade_samples(pd.concat(parts, ignore_index=True) if parts
                           else empty_frame(SAMPLE_COLUMNS))


def new_run_id(now: datetime | None = None) -> str:
    """Sortable by time, unique across hosts and processes writing the same root."""
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def empty_frame(columns: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in columns.items()})


def _part_name(job: JobKey, repeat: int) -> str:
    """A file name for one job's repeat that any target name (``pkg.mod:factory``) fits."""
    text = "\x1f".join(map(str, job))
    digest = hashlib.sha256(text.encode()).hexdigest()[:10]
    readable = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in
                       f"{job[0]}-{job[1]}-{job[2]}-t{job[3]}")[:80]
    return f"{readable}-{digest}-r{repeat}.parquet"


def read_config(run_dir: Path) -> dict[str, Any]:
    """The run's saved configuration, without its ``format_version`` stamp; a clear error
    when it is missing or corrupt, or written by a newer qatbench (``NewerRunFormat``)."""
    path = run_dir / CONFIG_FILE
    if not path.is_file():
        raise RunDirError(f"{run_dir}: not a qatbench run directory (no {CONFIG_FILE})")
    try:
        data = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DamagedStoreFile(path, str(error), "the run cannot be resumed -- start a new "
                               "run, or restore config.json from a copy",
                               what="is corrupt") from None
    if not isinstance(data, dict):
        raise DamagedStoreFile(path, "not a JSON object", "start a new run", what="is corrupt")
    return unstamped(data, path)


COMMAND_ADVICE = ("it says which command made the run; restore it from a copy of the run "
                  "directory")


def read_command(run_dir: Path) -> dict[str, Any] | None:
    """The run's ``command.json`` without its stamp (None: the run has none, made by
    ``qatbench run``); ``DamagedStoreFile`` when it is not the record a writer left, and
    ``NewerRunFormat`` when a newer qatbench wrote it. Its ``files`` are ``Path``s."""
    path = Path(run_dir) / COMMAND_FILE
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text())
        record["command"], record["files"] = (str(record["command"]), [
            Path(name) for name in record.get("files", [])])
    except (UnicodeDecodeError, ValueError, TypeError, KeyError) as error:
        raise DamagedStoreFile(path, f"{type(error).__name__}: {error}",
                               COMMAND_ADVICE) from None
    return unstamped(record, path)


class RunStore:
    """The results of one run, kept in memory and mirrored to disk after every job."""

    def __init__(self, run_dir: Path, run_id: str) -> None:
        self.run_dir = run_dir
        self.run_id = run_id
        self._rows: dict[JobKey, dict[str, Any]] = {}
        self._repeats: dict[tuple[JobKey, int], dict[str, Any]] = {}
        self._samples: dict[tuple[JobKey, int], pd.DataFrame] = {}
        self._results_cache: pd.DataFrame | None = None
        self._lock_handle: Any = None

    # -- opening -------------------------------------------------------------------------
    @classmethod
    def create(cls, root: Path, run_id: str | None = None) -> RunStore:
        if root.exists() and not root.is_dir():
            raise RunDirError(f"--out {root} is a file, not a directory; give a directory "
                              "for the results (default: results/)")
        try:
            root.mkdir(parents=True, exist_ok=True)
            run_id = run_id or new_run_id()
            run_dir = root / run_id
            run_dir.mkdir()  # exclusive: two runs never share a directory
        except PermissionError as error:
            raise RunDirError(f"cannot write results under {root}: {error.strerror}; choose "
                              "a writable directory with --out") from None
        except OSError as error:  # a path through a file, a read-only filesystem, ...
            raise RunDirError(f"cannot create a run directory under {root}: "
                              f"{error.strerror or error}; choose another --out") from None
        store = cls(run_dir, run_id)
        store.lock()
        return store

    @classmethod
    def open_existing(cls, run_dir: Path) -> RunStore:
        read_config(run_dir)  # a clear error for a directory that is not a run
        store = cls(run_dir, run_dir.name)
        store.lock()
        try:
            store._load()  # a damaged file is named before anything is written
            ensure_writable_dir(run_dir)  # a read-only run is refused before anything runs
        except BaseException:
            store.close()
            raise
        return store

    def _load(self) -> None:
        results_path = self.run_dir / RESULTS_FILE
        if not results_path.exists():
            return
        results = upgrade_results(read_store_parquet(results_path, RESULTS_ADVICE),
                                  self.run_dir)
        if len(results):
            self.run_id = str(results["run_id"].iloc[0])
        for row in results.to_dict("records"):
            self._rows[RowKey.of(row).job] = row
        repeats_path = self.run_dir / REPEATS_FILE
        refuse_lost_repeats(results, repeats_path)
        lines = read_store_parquet(repeats_path, REPEATS_ADVICE) \
            if repeats_path.exists() else None
        for line in upgrade_repeats(results, lines).to_dict("records"):
            job, repeat = RowKey.of(line).job, int(line["repeat"])
            if self._committed(job, repeat):  # see _committed
                self._repeats[(job, repeat)] = line
        samples_path = self.run_dir / SAMPLES_FILE
        if samples_path.exists():
            samples = read_samples(samples_path)
            groups = samples.groupby(["model", "variant", "target", "threads", "repeat"],
                                     dropna=False, sort=False)
            for (model, variant, target, threads, repeat), part in groups:
                job = (str(model), str(variant), str(target), int(threads))
                if self._committed(job, int(repeat)):
                    self._samples[(job, int(repeat))] = part.reset_index(drop=True)
            if samples_path.is_file():  # a run from before per-job sample parts
                self._rewrite_samples_as_parts()
        self._results_cache = None

    def _committed(self, job: JobKey, repeat: int) -> bool:
        """Whether a repeat's samples or line belong to a committed row: ``add`` writes
        samples, then the repeat line, then results, so a crash or a full disk between
        them leaves a repeat the results never counted. Kept, it would make ``--resume``
        skip the job (counted as done) while no row says so -- the job silently lost."""
        row = self._rows.get(job)
        if row is None:
            return False
        counted = row.get("repeats")
        return counted is None or pd.isna(counted) or repeat < int(counted)

    def _rewrite_samples_as_parts(self) -> None:
        path = self.run_dir / SAMPLES_FILE
        staging = self.run_dir / f".{SAMPLES_FILE}.parts"
        staging.mkdir(exist_ok=True)
        for (job, repeat), part in self._samples.items():
            atomic_write_parquet(staging / _part_name(job, repeat), part)
        path.unlink()
        staging.rename(path)

    def lock(self) -> None:
        try:
            handle = (self.run_dir / LOCK_FILE).open("a+")
        except OSError as error:  # a full disk, a read-only run directory: named, exit 2
            raise UnwritableOutput(self.run_dir / LOCK_FILE, error) from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise RunDirError(f"{self.run_dir} is being written by another qatbench process; "
                              "wait for it to finish or use another run directory") from None
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(str(os.getpid()))
            handle.flush()
        except OSError as error:  # a full disk shows here first: named, exit 2
            fcntl.flock(handle, fcntl.LOCK_UN)
            with contextlib.suppress(OSError):
                handle.close()
            raise UnwritableOutput(self.run_dir / LOCK_FILE, error) from None
        self._lock_handle = handle

    def jobs_failed_for_space(self) -> set[JobKey]:
        """The jobs whose row failed because a disk was full (``failed_for_space``)."""
        return {job for job, row in self._rows.items()
                if row.get("status") == "failed" and failed_for_space(row.get("error"))}

    def close(self) -> None:
        if self._lock_handle is not None:
            fcntl.flock(self._lock_handle, fcntl.LOCK_UN)
            self._lock_handle.close()
            self._lock_handle = None

    # -- reading ---------------------------------------------------------------------------
    @property
    def results(self) -> pd.DataFrame:
        """Every row, with the float-relative columns derived."""
        if self._results_cache is None:
            from qatbench.bench.storage.relative import add_relative_columns

            frame = (conform(pd.DataFrame(list(self._rows.values())), RESULT_COLUMNS)
                     if self._rows else empty_results())
            self._results_cache = add_relative_columns(frame)
        return self._results_cache

    @property
    def samples(self) -> pd.DataFrame:
        """Every latency sample of every committed job and repeat."""
        parts = [part for (job, _), part in self._samples.items() if job in self._rows]
        return (pd.concat(parts, ignore_index=True) if parts
                else conform(empty_frame(SAMPLE_COLUMNS), SAMPLE_COLUMNS))

    @property
    def repeats(self) -> pd.DataFrame:
        lines = [line for (job, _), line in self._repeats.items() if job in self._rows]
        return conform(pd.DataFrame(lines) if lines else empty_frame(REPEAT_COLUMNS),
                       REPEAT_COLUMNS)

    def finished_jobs(self) -> set[JobKey]:
        """(model, variant, target, threads) of every job with a finished row: ``Job.key``.

        The device is left out: a job learns it only by running.
        """
        return {job for job, row in self._rows.items() if row.get("status") in FINISHED_STATUSES}

    def repeats_done(self, job: JobKey) -> int:
        return sum(1 for (key, _) in self._repeats if key == job)

    def repeat_lines(self, job: JobKey) -> list[dict[str, Any]]:
        return [line for (key, _), line in sorted(self._repeats.items(),
                                                  key=lambda item: item[0][1]) if key == job]

    def repeat_samples(self, job: JobKey) -> dict[int, np.ndarray]:
        return {repeat: part["latency_ms"].to_numpy(float)
                for (key, repeat), part in self._samples.items() if key == job}

    def row(self, job: JobKey) -> dict[str, Any] | None:
        return self._rows.get(job)

    # -- writing ---------------------------------------------------------------------------
    def write_json(self, name: str, data: Any) -> None:
        atomic_write_json(self.run_dir / name, data)

    def write_config(self, config: dict[str, Any]) -> None:
        """``config.json``: the run's configuration, stamped with today's format version."""
        self.write_json(CONFIG_FILE, stamp(config))

    def write_command(self, record: dict[str, Any]) -> None:
        """``command.json``: which command made the run (when not ``run``), stamped."""
        self.write_json(COMMAND_FILE, stamp(record))

    def add(self, row: dict[str, Any], samples_ms: Sequence[float] = (), *, repeat: int = 0,
            repeat_line: dict[str, Any] | None = None) -> None:
        """Record one finished repeat of a job and the job's (re)summarised row.

        ``row`` replaces the job's previous row; ``samples_ms`` and ``repeat_line`` are
        this repeat's. Written in commit order: samples, repeat line, results.
        """
        key = RowKey.of(row)
        job = key.job
        if samples_ms is not None and len(samples_ms):
            part = conform(pd.DataFrame({
                **{column: row.get(column) for column in ["run_id", *key.as_dict()]},
                "repeat": repeat, "sample_index": range(len(samples_ms)),
                "latency_ms": np.asarray(samples_ms, dtype=float),
            }), SAMPLE_COLUMNS)
            self._samples[(job, repeat)] = part
            directory = self.run_dir / SAMPLES_FILE
            directory.mkdir(exist_ok=True)
            atomic_write_parquet(directory / _part_name(job, repeat), part)
        else:
            self._drop_sample_part(job, repeat)
        if repeat_line is not None:
            self._repeats[(job, repeat)] = {**{c: row.get(c) for c in REPEAT_COLUMNS},
                                            **repeat_line, "repeat": repeat}
        self._rows[job] = dict(row)
        self.flush()

    def set_cells(self, column: str, cells: dict[JobKey, Any]) -> None:
        """Set one derived column (the ``decision``) on finished rows, and write."""
        for job, value in cells.items():
            if job in self._rows:
                self._rows[job] = {**self._rows[job], column: value}
        self.flush()

    def _drop_sample_part(self, job: JobKey, repeat: int) -> None:
        if self._samples.pop((job, repeat), None) is not None:
            with contextlib.suppress(FileNotFoundError):
                (self.run_dir / SAMPLES_FILE / _part_name(job, repeat)).unlink()

    def forget(self, jobs: set[JobKey]) -> None:
        """Drop jobs (rows, repeats, samples) so that they run again (``--retry-failed``)."""
        for job in jobs:
            self._rows.pop(job, None)
            for key in [k for k in self._repeats if k[0] == job]:
                del self._repeats[key]
            for key in [k for k in self._samples if k[0] == job]:
                self._drop_sample_part(*key)
        self.flush()

    def flush(self) -> None:
        self._results_cache = None
        atomic_write_parquet(self.run_dir / REPEATS_FILE, self.repeats)
        results = self.results
        atomic_write_parquet(self.run_dir / RESULTS_FILE, results)
        atomic_write_text(self.run_dir / RESULTS_CSV, results.to_csv(index=False))
