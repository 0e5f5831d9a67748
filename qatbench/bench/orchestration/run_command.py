"""``qatbench run``, ``bench`` and ``build`` as typed calls: a ``RunRequest`` (what the
flags said), checked whole before anything is built or timed, then planned and executed;
``bench_files`` for existing files; ``build_artifacts`` for ``build``.

The order is the contract: every flag combination, the user's model source, the build
cache's cap and the config are checked (``UserError``, exit 2) before a run directory
exists; a resumed run reads its own config and times what it timed before.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rich.console import Console

from qatbench.bench.orchestration.config import RunConfig, build_config
from qatbench.bench.orchestration.overrides import ConfigOverrides, settings
from qatbench.bench.orchestration.session import (
    check_user_models,
    execute,
    new_context,
    open_store,
)
from qatbench.bench.storage.layout import ARTIFACTS_DIR
from qatbench.bench.storage.store import RunStore, read_config
from qatbench.errors import UserError
from qatbench.models.sources import is_callable_reference


class RunRequestError(UserError, ValueError):
    """Flags of ``run`` that do not go together; the message names them."""


@dataclass(frozen=True)
class UserModel:
    """``run --model X [--data D] [--framework torch] [--untrained] [--import M]``."""

    model: str
    data: str | None = None
    framework: str | None = None
    untrained: bool = False
    imports: Sequence[str] = ()


@dataclass(frozen=True)
class RunRequest:
    """``qatbench run``: a config and the flags over it, or a run to resume."""

    config: Path | None = None
    overrides: ConfigOverrides = field(default_factory=ConfigOverrides)
    quick: bool = False
    device: str | None = None
    resume: Path | None = None
    retry_failed: bool = False
    user_model: UserModel | None = None
    artifacts: Path | None = None  # prebuilt models (`qatbench build`) to time
    rebuild: bool = False
    cache_dir: Path | None = None
    no_cache: bool = False
    fail_on_goals: bool = False
    benchmark_json: Path | None = None


def check_flags(request: RunRequest) -> None:
    """Flags that do not go together, refused before anything is read."""
    model = request.user_model
    if request.artifacts is not None and (request.resume is not None or model is not None
                                          or request.rebuild):
        raise RunRequestError("--artifacts times prebuilt models: it does not go with "
                              "--resume, --model or --rebuild")
    if model is not None and model.untrained and not is_callable_reference(model.model):
        raise RunRequestError("--untrained goes with --model module:function (a builder "
                              "that returns an untrained model, trained on --data first)")
    if request.retry_failed and request.resume is None:
        raise RunRequestError("--retry-failed goes with --resume RUN_DIR")


def quantized_file(path: Path, data: str | None) -> bool:
    """Whether ``--model PATH.tflite`` is not a float32 file (full-integer or mixed):
    its rows are then labelled by what it is, as ``qatbench bench`` labels a file. With
    ``--data`` it is refused: rows with accuracy compare a file with its float32 file."""
    from qatbench.bench.orchestration.external import inspect_in_child

    with tempfile.TemporaryDirectory(prefix="qatbench-inspect-") as scratch:
        kind, _ = inspect_in_child(path, Path(scratch))  # InvalidModelFile: exit 2
    if kind == "float32":
        return False
    if data is not None:
        raise RunRequestError(
            f"--model {path} is a {'full-integer (int8)' if kind == 'int8' else kind} file, "
            "not float32: with --data its rows would need the float32 file it came from "
            "(fidelity, speedup). Give both in a config: [models.NAME] tflite = { float32 "
            "= \"FLOAT.tflite\", ptq_int8 = \"" + path.name + "\" } with data = ...; or "
            f"time it alone with `qatbench run --model {path}` (labelled {kind})")
    return True


def user_model_tables(model: UserModel, overrides: ConfigOverrides
                      ) -> tuple[dict[str, Any], ConfigOverrides]:
    """``--model``'s ``[models.NAME]`` table, and the overrides that run it beside any
    ``--models`` (``--models Y --model X``: both run)."""
    from qatbench.models.sources import ad_hoc_source

    try:
        name, source = ad_hoc_source(model.model, model.data, Path.cwd(), model.framework,
                                     trained=not model.untrained,
                                     imports=list(model.imports) or None)
    except ValueError as error:
        raise RunRequestError(f"--model {model.model}: {error}") from None
    listed = list(overrides.models or [])
    models = [*listed, name] if name not in listed else listed
    return ({name: source.model_dump(exclude_defaults=True)},
            replace(overrides, models=models))


def refuse_bad_user_models(config: RunConfig, console: Console) -> None:
    """Exit 2 listing every problem of the run's own models, before anything trains (and
    before a run directory exists)."""
    if not any(name in config.models for name in config.run.models):
        return
    scratch = Path(tempfile.mkdtemp(prefix="qatbench-check-"))
    problems: list[str] = []
    try:
        with console.status("checking your model(s) and data"):
            problems = check_user_models(config, scratch)
    finally:  # a problem naming the check's log keeps it (the message points at it)
        if not any(str(scratch) in problem for problem in problems):
            shutil.rmtree(scratch, ignore_errors=True)
    if problems:
        raise RunRequestError("your model(s) cannot be built -- nothing was trained:\n  "
                              + "\n  ".join(problems))


@dataclass
class Planned:
    """A run ready to execute: its config, its open store, its jobs and what builds them."""

    config: RunConfig
    store: RunStore
    jobs: list[Any]
    provider: Any
    cache: Any = None  # the BuildCache a zoo run builds through (None: built in place)


def resume_run(request: RunRequest, console: Console) -> tuple[RunConfig, RunStore,
                                                                Any]:
    """The run directory ``--resume`` names, opened with its own config; a run ``bench``
    made times its files again, never the zoo."""
    from qatbench.bench.orchestration.external import resumed_file_jobs

    assert request.resume is not None
    store = RunStore.open_existing(request.resume)
    try:
        config = build_config(read_config(request.resume))
        shard = request.overrides.shard
        if shard is not None and tuple(shard) != (tuple(config.run.shard)
                                                   if config.run.shard else None):
            raise RunRequestError(
                f"--shard {shard[0]}/{shard[1]}: the run was started with --shard "
                f"{shard_text(config.run.shard)}; --resume keeps it")
        file_jobs = resumed_file_jobs(request.resume, config)
    except BaseException:
        store.close()
        raise
    full_disk = store.jobs_failed_for_space()  # not the jobs' fault: run again
    if full_disk:
        store.forget(full_disk)
        console.print(f"[yellow]note:[/] {len(full_disk)} job(s) that failed on a full "
                      "disk are run again", highlight=False)
    if request.retry_failed:
        store.forget({job for job, row in ((j, store.row(j)) for j in store.finished_jobs())
                      if row and row.get("status") in ("failed", "unavailable")})
    return config, store, file_jobs


def shard_text(shard: Sequence[int] | None) -> str:
    return "(none)" if shard is None else f"{shard[0]}/{shard[1]}"


def plan_run(request: RunRequest, console: Console, notes: Console | None = None
             ) -> Planned:
    """Everything checked, the store opened, the jobs planned -- nothing built or timed
    yet. ``console`` shows the user-model check; ``notes`` (stderr) what resuming does."""
    from qatbench.bench.orchestration.build_cache import BuildCache
    from qatbench.bench.orchestration.external import (
        external_provider,
        plan_file_jobs,
        record_bench_files,
    )
    from qatbench.bench.orchestration.runner import plan_config_jobs, zoo_provider

    check_flags(request)
    model = request.user_model
    tflite = (Path(model.model) if model is not None and model.model.endswith(".tflite")
              and quantized_file(Path(model.model), model.data) else None)
    overrides, tables = request.overrides, None
    if model is not None and tflite is None:
        tables, overrides = user_model_tables(model, overrides)
    # before a run directory exists: a misspelt QATBENCH_CACHE_MAX_BYTES is exit 2 here
    cache = (None if request.no_cache or request.artifacts is not None
             else BuildCache(request.cache_dir))
    file_jobs = None
    if request.resume is not None:
        config, store, file_jobs = resume_run(request, notes or console)
    else:
        if request.artifacts is not None and overrides.models is None:
            from qatbench.bench.orchestration.artifacts_dir import index_models

            overrides = replace(overrides, models=index_models(request.artifacts))
        config = settings(request.config, overrides, device=request.device,
                          quick=request.quick, check_files=request.artifacts is None,
                          models=tables)
        if tflite is not None:  # timed as `qatbench bench` times it: labelled by its kind
            file_jobs = plan_file_jobs([tflite], config)
        elif request.artifacts is None:
            refuse_bad_user_models(config, console)
        store = open_store(config, None)
        if tflite is not None:
            record_bench_files(store, [tflite])  # --resume times it again
    if file_jobs is not None:
        return Planned(config, store, file_jobs[0], external_provider(file_jobs[1]))
    jobs = plan_config_jobs(config)
    if request.artifacts is not None:
        return Planned(config, store, jobs, prebuilt_provider(request.artifacts, jobs,
                                                              store))
    return Planned(config, store, jobs, zoo_provider, cache)


def prebuilt_provider(artifacts: Path, jobs: list[Any], store: RunStore) -> Any:
    """The jobs' builds from an artifacts directory; a damaged one leaves no run."""
    from qatbench.bench.orchestration.artifacts_dir import (
        ArtifactError,
        artifacts_provider,
        load_artifacts,
        unpack,
    )

    try:
        root = unpack(artifacts, store.run_dir / "artifacts-unpacked")
        builds = load_artifacts(root, jobs, store.run_dir / ARTIFACTS_DIR)
    except ArtifactError:
        store.close()
        shutil.rmtree(store.run_dir, ignore_errors=True)  # nothing was measured
        raise
    return artifacts_provider(builds)


def run_matrix(request: RunRequest, console: Console, notes: Console | None = None
               ) -> int:
    """``qatbench run``: plan (every check first), then build and time; the exit code."""
    planned = plan_run(request, console, notes)
    context = new_context(planned.config, planned.store)
    if planned.cache is not None:
        context.cache, context.rebuild = planned.cache, request.rebuild
    return execute(context, planned.jobs, planned.provider, console,
                   request.benchmark_json, fail_on_goals=request.fail_on_goals)


def bench_files(files: Sequence[Path], config: Path | None, overrides: ConfigOverrides,
                device: str | None, console: Console,
                benchmark_json: Path | None = None) -> int:
    """``qatbench bench FILES``: existing .tflite files timed on the config's targets
    (each file checked before the run directory exists); the exit code."""
    from qatbench.bench.orchestration.external import (
        external_provider,
        plan_file_jobs,
        record_bench_files,
    )

    run_config = settings(config, overrides, device=device)
    jobs, builds = plan_file_jobs(list(files), run_config)  # InvalidModelFile: exit 2
    store = open_store(run_config, None)
    record_bench_files(store, list(files))  # `run --resume` times these files again
    return execute(new_context(run_config, store), jobs, external_provider(builds),
                   console, benchmark_json)


@dataclass(frozen=True)
class ArtifactsRequest:
    """``qatbench build``: every model's variants built once into ``out``."""

    out: Path
    config: Path | None = None
    overrides: ConfigOverrides = field(default_factory=ConfigOverrides)
    quick: bool = False
    archive: bool = False  # also OUT.tar.gz
    rebuild: bool = False
    cache_dir: Path | None = None
    no_cache: bool = False


def build_artifacts(request: ArtifactsRequest, console: Console) -> dict[str, Any]:
    """The config and the user's models checked (exit 2 before anything trains), then
    every build written to ``request.out`` through the build cache; model -> build."""
    from rich.markup import escape

    from qatbench.bench.orchestration.artifacts_dir import write_artifacts
    from qatbench.bench.orchestration.build_cache import BuildCache

    config = settings(request.config, request.overrides, quick=request.quick)
    refuse_bad_user_models(config, console)
    cache = None if request.no_cache else BuildCache(request.cache_dir)
    with console.status("building") as status:
        return write_artifacts(config, request.out, cache, request.rebuild,
                               lambda text: status.update(escape(text)), request.archive)
