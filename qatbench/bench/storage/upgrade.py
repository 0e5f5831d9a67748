"""The one upgrade step: a run directory of any earlier shape, read as today's.

Every reader of a run (the run loader behind ``report`` and ``compare``, the store a
``--resume`` opens, ``explore``, the per-op profiles) passes what it read through here,
so nothing above storage knows that older runs exist. Nothing is rewritten on disk: an
old run is upgraded in memory each time it is read (a ``--resume`` writes today's shape,
as it writes the run anyway).

The shapes a run directory has had (``FORMAT_VERSION`` is today's):

1. **Before repeats** (the first store): results rows have no ``repeats``,
   ``fingerprint`` or ``model_file`` column, there is no ``repeats.parquet``, and
   ``samples.parquet`` is one file whose samples name no repeat. Read as one repeat a
   row (one child process measured each), one repeat line a row, every sample repeat 0;
   fingerprints stay empty (the host was not recorded, and is not guessed).
2. **Before format versions**: repeats, fingerprints and per-job sample parts, but
   nothing stamped and no ``model_file`` column. A row's file is found where that
   code left it, the only place job slugs are decoded: the build's manifest
   (``artifacts/<model>/manifest.json``) for ``qatbench run``, the job's request
   (``jobs/<model>-<variant>-<target>-t<threads>/r<k>/request.json``, either the child
   entry's ``{"kind", "request"}`` or, before that entry, the request's fields alone)
   for ``qatbench bench``, ``jobs/<variant>-<target>-t<threads>/request.json`` for
   ``qatbench profile``.
3. **Today**: ``format_version`` stamped in ``config.json``, ``command.json`` and each
   build's manifest; every row names the file it measured (``model_file``).

A run stamped with a version newer than this qatbench knows is refused
(``NewerRunFormat``, exit 2): read as an older one, its figures could be misread.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from qatbench.bench.storage.key import KEY_COLUMNS, RowKey
from qatbench.bench.storage.layout import (
    CHILD_REQUEST_FILE,
    COMMAND_FILE,
    CONFIG_FILE,
    artifacts_dir,
    job_dir,
    recorded_model_file,
)
from qatbench.bench.storage.schema import (
    REPEAT_COLUMNS,
    RESULT_COLUMNS,
    SAMPLE_COLUMNS,
    conform,
)
from qatbench.errors import UserError

FORMAT_VERSION = 3  # today's shape (see the module doc); qat/artifacts.py stamps the same
FORMAT_KEY = "format_version"
BEFORE_REPEATS, BEFORE_FORMAT_VERSIONS = 1, 2  # the earlier shapes, by number
MANIFEST = "manifest.json"  # a build's manifest (qat/artifacts.py), read for old runs only


class NewerRunFormat(UserError, ValueError):
    """A run directory written by a newer qatbench (or a stamp that is no version)."""


def stamp(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with today's ``format_version``: what every writer of ``config.json`` and
    ``command.json`` writes."""
    return {**data, FORMAT_KEY: FORMAT_VERSION}


def unstamped(data: dict[str, Any], path: Path) -> dict[str, Any]:
    """``data`` (a run's ``config.json`` or ``command.json``) without its stamp, after
    checking it: ``NewerRunFormat`` naming ``path`` for a version this qatbench does not
    know."""
    data = dict(data)
    version = data.pop(FORMAT_KEY, None)
    if version is None:
        return data
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise NewerRunFormat(f"{path}: format_version {version!r} is not a run format "
                             "qatbench wrote (a whole number); restore the file from a copy "
                             "of the run directory")
    if version > FORMAT_VERSION:
        raise NewerRunFormat(
            f"{path}: the run directory has format version {version}, newer than this "
            f"qatbench reads (up to {FORMAT_VERSION}); upgrade qatbench to the version "
            "that wrote it, or a newer one, to read it")
    return data


def stamped_version(run_dir: Path) -> int | None:
    """The run's stamped format version (None: a run from before stamps); checks it."""
    found = None
    for name in (CONFIG_FILE, COMMAND_FILE):
        path = Path(run_dir) / name
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):  # absent, or damaged: its reader names it
            continue
        if isinstance(data, dict) and FORMAT_KEY in data:
            unstamped(data, path)
            found = max(found or 0, int(data[FORMAT_KEY]))
    return found


def shape_of(raw_results: pd.DataFrame, run_dir: Path | None) -> int:
    """Which shape a run is: its stamp, else what its results table holds."""
    stamped = stamped_version(run_dir) if run_dir is not None else None
    if stamped is not None:
        return stamped
    if "repeats" not in raw_results.columns:
        return BEFORE_REPEATS
    if "model_file" not in raw_results.columns:
        return BEFORE_FORMAT_VERSIONS
    return FORMAT_VERSION  # written by today's code, e.g. a bare results table


# -- the tables ------------------------------------------------------------------------------

def upgrade_results(raw: pd.DataFrame, run_dir: Path | None) -> pd.DataFrame:
    """A run's results rows (as read from disk) in today's shape."""
    shape = shape_of(raw, run_dir)
    results = conform(raw, RESULT_COLUMNS)
    if shape <= BEFORE_REPEATS and len(results):
        results["repeats"] = results["repeats"].fillna(1)  # one child process a row
    if shape < FORMAT_VERSION and run_dir is not None and len(results):
        missing = results["model_file"].isna()
        found = [old_model_file(run_dir, RowKey.of(row)) for row in
                 results.loc[missing].to_dict("records")]
        results.loc[missing, "model_file"] = pd.array(found, dtype="string")
    return results


def upgrade_samples(raw: pd.DataFrame) -> pd.DataFrame:
    """Latency samples in today's shape: a run from before repeats has one repeat, 0."""
    samples = conform(raw, SAMPLE_COLUMNS)
    samples["repeat"] = samples["repeat"].fillna(0)
    return samples


def upgrade_repeats(results: pd.DataFrame, lines: pd.DataFrame | None) -> pd.DataFrame:
    """The run's repeat lines, with one line (repeat 0, the row's own figures) for each
    row that has none: a row from before repeats, measured by one child process."""
    lines = conform(lines if lines is not None else pd.DataFrame(), REPEAT_COLUMNS)
    if results.empty:
        return lines
    columns = ["run_id", *KEY_COLUMNS]
    have = set(map(tuple, lines[columns].astype(str).itertuples(index=False)))
    lacking = [tuple(key) not in have
               for key in results[columns].astype(str).itertuples(index=False)]
    if not any(lacking):
        return lines
    derived = results.loc[lacking, [c for c in REPEAT_COLUMNS if c in results.columns]].copy()
    derived["repeat"] = 0
    return conform(pd.concat([f for f in (lines, conform(derived, REPEAT_COLUMNS))
                              if len(f)], ignore_index=True), REPEAT_COLUMNS)


def upgrade_profile_files(raw: pd.DataFrame, run_dir: Path) -> pd.Series:
    """The ``model_file`` of every per-op profile line, found as ``old_model_file`` for a
    run from before profile lines named their file."""
    if "model_file" in raw.columns:
        return raw["model_file"].astype("string")
    found: dict[tuple[str, str, str, int], str | None] = {}
    files = []
    for row in raw.to_dict("records"):
        key = RowKey.of(row)
        if key.job not in found:
            found[key.job] = old_model_file(run_dir, key)
        files.append(found[key.job])
    return pd.Series(pd.array(files, dtype="string"), index=raw.index)


# -- where an old run kept its files: the only decoding of job slugs ---------------------------

def old_model_file(run_dir: Path, key: RowKey) -> str | None:
    """The ``model_file`` of a row of a run from before rows named their file: its build's
    file (``qatbench run``), else the file a job's request named (``qatbench bench``:
    ``jobs/<model>-<variant>-<target>-t<threads>/r<k>/``; ``qatbench profile``:
    ``jobs/<variant>-<target>-t<threads>/``). The run's own copy wins over the recorded
    path, which may have moved with the run. None when no file is found."""
    built = _built_file(run_dir, key.model, key.variant)
    if built is not None:
        return built
    target = key.target.replace(":", "_")
    for slug in (f"{key.model}-{key.variant}-{target}-t{key.threads}",
                 f"{key.variant}-{target}-t{key.threads}"):
        folder = job_dir(run_dir, slug)
        for request in [folder / CHILD_REQUEST_FILE,
                        *sorted(folder.glob(f"r*/{CHILD_REQUEST_FILE}"))]:
            found = _existing(run_dir, _requested_model(request), folder)
            if found is not None:
                return found
    return None


def _existing(run_dir: Path, recorded: object, folder: Path) -> str | None:
    """``recorded`` (a path an old file wrote) as a ``model_file``: its copy in
    ``folder``, else the path itself, whichever is a file."""
    if not isinstance(recorded, str) or not recorded:
        return None
    for candidate in (folder / Path(recorded).name, Path(recorded)):
        if candidate.is_file():
            return recorded_model_file(run_dir, candidate)
    return None


def _built_file(run_dir: Path, model: str, variant: str) -> str | None:
    folder = artifacts_dir(run_dir, model)
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        path = manifest["variants"][variant]["path"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return _existing(run_dir, path, folder)


def _requested_model(request: Path) -> str | None:
    """The model a job's request file names: the child entry's ``{"kind", "request"}``,
    or a request's fields alone (a run made before the entry)."""
    try:
        data = json.loads(request.read_text())
        model = (data["request"] if "kind" in data else data).get("model")
    except (OSError, ValueError, AttributeError, KeyError, TypeError):
        return None
    return model if isinstance(model, str) else None

