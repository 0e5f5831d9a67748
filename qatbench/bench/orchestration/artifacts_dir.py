"""``qatbench build``'s artifacts directory, and ``qatbench run --artifacts`` reading it.

A lab builds once (on a hosted runner, with the ``qat`` extra) and times everywhere (on
device hosts that install qatbench without TensorFlow). The directory holds one folder
per model -- every variant's ``.tflite``, the eval set, the per-layer tables, the build
manifest -- laid out like a build-cache entry (``entry.json``: the build key, the
SHA-256 of every file, where it was built), and ``artifacts.json`` naming the models.
It may travel as a ``.tar.gz``.

Reading it checks every file against its digest and every planned model and variant
against what was built: a missing or changed artifact is an ``ArtifactError`` naming it
(exit 2), never a half-timed run. TensorFlow-free.
"""

from __future__ import annotations

import json
import tarfile
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from qatbench.atomic import atomic_write_json
from qatbench.bench.orchestration.build_cache import (
    ENTRY_FILE,
    DamagedBuild,
    entry_files,
    file_digest,
    package_versions,
)
from qatbench.bench.orchestration.config import RunConfig
from qatbench.bench.orchestration.runner import (
    Job,
    ModelProvider,
    ProgressHook,
    obtain_build,
    restore_build,
)
from qatbench.errors import UserError
from qatbench.qat.artifacts import MANIFEST, ModelBuild

INDEX = "artifacts.json"


class ArtifactError(UserError, ValueError):
    """An artifacts directory that does not hold what the run needs; names what and why."""


def _seal(folder: Path, build: ModelBuild) -> None:
    """Write ``entry.json`` for a model folder: its key, every file's digest, its origin."""
    files = {str(p.relative_to(folder)): file_digest(p) for p in sorted(folder.rglob("*"))
             if p.is_file() and p.name != ENTRY_FILE and "build" not in p.relative_to(
                 folder).parts[:1]}
    atomic_write_json(folder / ENTRY_FILE, {"key": build.build_key, "files": files,
                                            "built_in": str(folder),
                                            "op_determinism": build.op_determinism})


def write_artifacts(config: RunConfig, out: Path, cache: Any, rebuild: bool = False,
                    on_status: ProgressHook | None = None, archive: bool = False
                    ) -> dict[str, ModelBuild]:
    """Build (through the cache) every model of ``config`` into ``out``; seal and index it.
    Returns the builds; ``archive`` also writes ``out.tar.gz``."""
    out.mkdir(parents=True, exist_ok=True)
    builds: dict[str, ModelBuild] = {}
    for model in config.run.models:
        folder = out / model
        build = obtain_build(config, model, config.variants_for(model), folder, cache,
                             rebuild, on_status)
        builds[model] = build
        _seal(folder, build)
    index = {"created": time.time(), "packages": package_versions(),
             "models": {name: {"build_key": b.build_key,
                               "variants": {v: a.ok for v, a in b.variants.items()}}
                        for name, b in builds.items()}}
    atomic_write_json(out / INDEX, index)
    if archive:
        with tarfile.open(out.with_name(out.name + ".tar.gz"), "w:gz") as bundle:
            bundle.add(out, arcname=out.name)
    return builds


def unpack(path: Path, scratch: Path, *, option: str = "--artifacts") -> Path:
    """``path`` itself when it is a directory; an archive extracted into ``scratch``. Errors
    name ``path`` after ``option``, the command-line option that gave it (none for ``ab``'s
    positional BASE and CURRENT)."""
    named = f"{option} {path}".strip()
    if path.is_dir():
        return path
    if not path.is_file():
        raise ArtifactError(f"{named}: no such directory or archive")
    try:
        with tarfile.open(path) as bundle:
            bundle.extractall(scratch, filter="data")
    except (tarfile.TarError, OSError) as error:
        raise ArtifactError(f"{named}: not a readable .tar.gz ({error})") from None
    found = [p for p in scratch.iterdir() if (p / INDEX).is_file()]
    if len(found) != 1:
        raise ArtifactError(f"{named}: the archive holds no artifacts directory "
                            f"(no {INDEX}); make it with `qatbench build --archive`")
    return found[0]


def load_artifacts(root: Path, jobs: Sequence[Job], run_artifacts: Path
                   ) -> dict[str, ModelBuild]:
    """Every model the jobs need, checked and copied into the run (``run_artifacts``)."""
    index_path = root / INDEX
    if not index_path.is_file():
        raise ArtifactError(f"--artifacts {root}: no {INDEX}; make the directory with "
                            "`qatbench build --out DIR`")
    index = read_index(root)
    builds: dict[str, ModelBuild] = {}
    for model in dict.fromkeys(job.model for job in jobs):
        folder = root / model
        if model not in index or not (folder / MANIFEST).is_file():
            raise ArtifactError(f"--artifacts {root}: no build of model {model!r} (it has "
                                f"{', '.join(index) or 'none'}); build it with `qatbench "
                                "build` and the same config")
        _verify(folder)
        try:
            build = replace(restore_build(folder, run_artifacts / model,
                                          index[model]["build_key"]), cache="prebuilt")
        except DamagedBuild as error:
            raise ArtifactError(f"{error}; rebuild with `qatbench build`") from None
        build.save(run_artifacts / model)
        missing = [job.variant for job in jobs if job.model == model
                   and job.variant not in build.variants]
        if missing:
            raise ArtifactError(f"--artifacts {root}: model {model!r} was built without "
                                f"{', '.join(dict.fromkeys(missing))} (it has "
                                f"{', '.join(build.variants)})")
        builds[model] = build
    return builds


def read_index(root: Path) -> dict[str, dict[str, Any]]:
    """``artifacts.json``'s models (name -> its build key and variants), checked: a file
    that is not what ``write_artifacts`` wrote is an ``ArtifactError`` naming it."""
    path = root / INDEX
    try:
        models = json.loads(path.read_text())["models"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ArtifactError(f"{path} is damaged ({type(error).__name__}: {error}); "
                            "rebuild with `qatbench build`") from None
    if not isinstance(models, dict) or not all(
            isinstance(v, dict) and isinstance(v.get("build_key"), str | None)
            for v in models.values()):
        raise ArtifactError(f"{path} is damaged (\"models\" is not a table of model -> "
                            "build key and variants); rebuild with `qatbench build`")
    return models


def index_models(path: Path) -> list[str]:
    """The models an artifacts directory or ``.tar.gz`` holds, from its index (an archive
    read without unpacking the files)."""
    if path.is_dir():
        return list(read_index(path))
    try:
        with tarfile.open(path) as bundle:
            member = next((m for m in bundle.getmembers()
                           if m.name.endswith("/" + INDEX)), None)
            handle = bundle.extractfile(member) if member is not None else None
            if handle is None:
                raise ArtifactError(f"--artifacts {path}: the archive holds no {INDEX}; "
                                    "make it with `qatbench build --archive`")
            with tempfile.TemporaryDirectory(prefix="qatbench-index-") as scratch:
                (Path(scratch) / INDEX).write_bytes(handle.read())
                return list(read_index(Path(scratch)))
    except (OSError, tarfile.TarError) as error:
        raise ArtifactError(f"--artifacts {path}: not an artifacts directory or archive "
                            f"that `qatbench build` wrote ({type(error).__name__}: {error})"
                            ) from None


def _verify(folder: Path) -> None:
    record = folder / ENTRY_FILE
    try:
        files = entry_files(record)
    except DamagedBuild as error:
        raise ArtifactError(f"{error}; rebuild with `qatbench build`") from None
    for name, digest in files.items():
        path = folder / name
        if not path.is_file():
            raise ArtifactError(f"artifact {path} is missing; copy the whole directory "
                                "`qatbench build` wrote")
        if file_digest(path) != digest:
            raise ArtifactError(f"artifact {path} does not match its digest: it changed "
                                "after `qatbench build` wrote it; rebuild or copy it again")


def artifacts_provider(builds: dict[str, ModelBuild]) -> Any:
    def factory(context: Any, on_status: Any = None) -> ModelProvider:
        return lambda model, variants: builds[model]

    return factory
