"""Where everything lives inside a run directory: one module of names and paths, used by
every writer and reader (and the tests), so nobody rebuilds the layout by hand.

``results/<run_id>/`` holds

- ``results.parquet`` / ``results.csv``: one row a job; ``repeats.parquet``: one line a
  repeat; ``samples.parquet/``: one part file of latency samples per job and repeat;
- ``config.json`` (the run's configuration), ``command.json`` (a run ``qatbench bench``
  made: its files), ``environment.json`` (+ ``environment.resume-N.json``);
- ``profile.parquet`` (per-op profiles) and ``profile_notes.json`` (the profiles that
  failed), ``predictions/`` (per-input classes of a row);
- ``artifacts/<model>/`` (the build: ``.tflite`` files and their manifest);
- ``jobs/<job slug>/r<repeat>/`` (a timing child's request, result and tool logs) and
  ``jobs/<job slug>/profile/`` (a per-op profile's child).

Targets never read anything from the shape of a job's path: which run, job and repeat
they serve reaches them as ``Prepared.job`` (``targets/base.py``); and no reader decodes
a job slug: each results row names the file it measured (``model_file``,
``model_file_path``). Only ``upgrade.py`` reads slugs, for runs from before that column.
"""

from __future__ import annotations

from pathlib import Path

RESULTS_FILE = "results.parquet"
RESULTS_CSV = "results.csv"
REPEATS_FILE = "repeats.parquet"
SAMPLES_FILE = "samples.parquet"  # a directory of part files (one file in runs before parts)
CONFIG_FILE = "config.json"
COMMAND_FILE = "command.json"  # which command made the run, when not ``run``
ENVIRONMENT_FILE = "environment.json"
PROFILE_FILE = "profile.parquet"
PROFILE_NOTES_FILE = "profile_notes.json"  # why a job's per-op profile failed
PREDICTIONS_DIR = "predictions"
ARTIFACTS_DIR = "artifacts"
JOBS_DIR = "jobs"
LOCK_FILE = ".lock"
EXPLORER_DIR = "explorer"  # ``qatbench explore``'s overlays, by default
# a child's files in its job folder (``jobs/<slug>[/r<k>]``): what it was asked, what it
# printed, what it found (an inspection's result beside the others)
CHILD_REQUEST_FILE = "request.json"
CHILD_LOG_FILE = "child.log"
CHILD_RESULT_FILE = "result.json"
INSPECT_RESULT_FILE = "inspect.json"


def resumed_environment_file(number: int) -> str:
    """The environment of the ``number``-th host that resumed the run (1-based)."""
    return f"environment.resume-{number}.json"


RESUMED_ENVIRONMENT_GLOB = "environment.resume-*.json"


def artifacts_dir(run_dir: Path, model: str | None = None) -> Path:
    """The run's built models (``artifacts/``), or one model's build folder."""
    folder = Path(run_dir) / ARTIFACTS_DIR
    return folder / model if model is not None else folder


def job_dir(run_dir: Path, slug: str) -> Path:
    """Everything the children of the job named ``slug`` wrote."""
    return Path(run_dir) / JOBS_DIR / slug


def job_work_dir(run_dir: Path, slug: str, repeat: int) -> Path:
    """The work directory of repeat ``repeat`` (0-based) of the job named ``slug``."""
    if repeat < 0:
        raise ValueError(f"repeat must be >= 0, got {repeat}")
    return job_dir(run_dir, slug) / f"r{repeat}"


def profile_work_dir(run_dir: Path, slug: str) -> Path:
    """The work directory of the per-op profile child of the job named ``slug``."""
    return job_dir(run_dir, slug) / "profile"


def recorded_model_file(run_dir: Path, path: str | Path) -> str:
    """What a row records as the file it measured (``model_file``): the path relative
    to the run directory when the file is inside it (the run's own build, which moves
    with the run), else the absolute path (a file ``qatbench bench`` timed in place)."""
    absolute = Path(path).resolve()
    try:
        return absolute.relative_to(Path(run_dir).resolve()).as_posix()
    except ValueError:
        return str(absolute)


def model_file_path(run_dir: Path, recorded: object) -> Path | None:
    """The file a row's ``model_file`` names (None when the row names none); whether it
    is still there is the caller's to check."""
    if not isinstance(recorded, str) or not recorded:
        return None
    path = Path(recorded)
    return path if path.is_absolute() else Path(run_dir) / path
