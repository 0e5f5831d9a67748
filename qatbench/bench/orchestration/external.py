"""``qatbench bench FILE.tflite``: jobs for model files made anywhere, by any tool.

Each file is checked before anything runs (a corrupt file is a usage error naming the
file); its variant is what the file really is -- ``float32``, ``int8`` (full-integer)
or ``mixed`` -- read from its operators, not from its name. The files are opened in a
child process, one per file: a file from anywhere is untrusted, and a malformed
flatbuffer that crashes its parser takes down only that child.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qatbench.bench.orchestration.config import RunConfig
from qatbench.bench.orchestration.launcher import call_child
from qatbench.bench.orchestration.runner import Job, ModelProvider, plan_jobs
from qatbench.bench.storage.layout import INSPECT_RESULT_FILE
from qatbench.bench.storage.store import (
    COMMAND_FILE,
    RESULTS_ADVICE,
    RESULTS_FILE,
    RunDirError,
    RunStore,
    read_command,
    read_store_parquet,
)
from qatbench.qat.artifacts import ModelBuild, VariantArtifact
from qatbench.targets.inspect_worker import InspectRequest
from qatbench.targets.tflite_file import InvalidModelFile

INSPECT_TIMEOUT_S = 120.0  # at most: a run's --timeout lowers it


def model_path_problem(path: Path) -> str | None:
    """What ``path`` is when it is not a model file to read (None when it is a regular
    file): "no such file" only when nothing is there. Decided by ``stat`` alone, which
    never opens the path: reading a FIFO would block, and ``/dev/zero`` never ends."""
    try:
        mode = path.stat().st_mode  # follows symlinks
    except FileNotFoundError:
        if path.is_symlink():
            return f"a broken symlink (to {os.readlink(path)}, which does not exist)"
        return "no such file"
    except OSError as error:
        if error.errno == errno.ELOOP:
            return "a symlink loop (the links point at each other, never at a file)"
        return f"cannot be read ({error.strerror or error})"
    if stat.S_ISDIR(mode):
        return "is a directory, not a .tflite file (give the model file inside it)"
    if not stat.S_ISREG(mode):
        kind = ("a FIFO" if stat.S_ISFIFO(mode) else "a character device"
                if stat.S_ISCHR(mode) else "a block device" if stat.S_ISBLK(mode)
                else "a socket" if stat.S_ISSOCK(mode) else "not a file")
        return f"is not a regular file ({kind}); give a .tflite file"
    return None


def check_model_paths(paths: Sequence[Path]) -> None:
    """Every file is there and regular, checked before any is read in a child:
    ``InvalidModelFile`` naming the first that is not."""
    for path in paths:
        problem = model_path_problem(path)
        if problem:
            raise InvalidModelFile(f"{path}: {problem}")


def inspect_in_child(path: Path, work: Path, timeout_s: float = INSPECT_TIMEOUT_S
                     ) -> tuple[str, int]:
    """(kind, size in bytes) of one ``.tflite`` file, read in a child process."""
    check_model_paths([path])
    request = InspectRequest(files=[str(path)], result_path=str(work / INSPECT_RESULT_FILE))
    (found,) = call_child(request, timeout_s=timeout_s)
    if found.error:
        raise InvalidModelFile(found.error)
    return found.kind, found.size_bytes


def plan_file_jobs(files: Sequence[Path], config: RunConfig
                   ) -> tuple[list[Job], dict[str, ModelBuild]]:
    """Jobs for ``files``; raises ``InvalidModelFile`` naming the first bad one."""
    builds: dict[str, ModelBuild] = {}
    jobs: list[Job] = []
    check_model_paths(files)  # a missing second file before the first is read
    with tempfile.TemporaryDirectory(prefix="qatbench-inspect-") as scratch:
        timeout_s = min(INSPECT_TIMEOUT_S, config.run.timeout_s)
        found = [(path, *inspect_in_child(path, Path(scratch) / str(index), timeout_s))
                 for index, path in enumerate(files)]
    for path, variant, size_bytes in found:
        name = path.stem
        while name in builds:  # two files with one stem stay two models
            name += "_"
        builds[name] = ModelBuild(
            model=name, weights=FILES_WEIGHTS, eval_path=None,
            accuracy_note="external file: no evaluation data",
            variants={variant: VariantArtifact(variant, str(path.resolve()), size_bytes)})
        jobs += plan_jobs([name], [variant], config.run.targets, config.run.threads)
    return jobs, builds


FILES_WEIGHTS = "from file"  # the ``weights`` of every row ``bench`` measures


def record_bench_files(store: RunStore, files: Sequence[Path]) -> None:
    """Write ``command.json``: this run times these files (``qatbench bench``), so that
    ``run --resume`` times the files again rather than building the zoo into the run."""
    store.write_command({"command": "bench", "files": [str(path.resolve()) for path in files]})


def resumed_file_jobs(run_dir: Path, config: RunConfig
                      ) -> tuple[list[Job], dict[str, ModelBuild]] | None:
    """The jobs and builds of a ``bench`` run being resumed (its files, checked again as
    when it started); None for a run of ``qatbench run``. ``RunDirError`` for a bench
    run that cannot be resumed: a recorded file gone or changed into something else, or
    a run from before ``command.json`` was written (its files are not known)."""
    record = read_command(run_dir)
    if record is None:
        if FILES_WEIGHTS in _weights_of(run_dir):
            raise RunDirError(
                f"{run_dir} was made by `qatbench bench` before runs recorded their files "
                f"({COMMAND_FILE}), so --resume cannot know which files to time: run "
                "`qatbench bench FILES ...` again")
        return None
    command, files = record["command"], record["files"]
    if command != "bench":
        return None
    try:
        return plan_file_jobs(files, config)
    except InvalidModelFile as error:
        raise RunDirError(f"{run_dir} times files (`qatbench bench`), and one cannot be "
                          f"timed again: {error}") from None


def _weights_of(run_dir: Path) -> set[str]:
    results = run_dir / RESULTS_FILE
    if not results.exists():
        return set()
    frame = read_store_parquet(results, RESULTS_ADVICE)
    return set(frame["weights"].dropna().astype(str)) if "weights" in frame else set()


def external_provider(builds: dict[str, ModelBuild]) -> Any:
    def factory(context: Any, on_status: Any = None) -> ModelProvider:
        return lambda model, variants: builds[model]

    return factory
