"""The commands that build and time: ``run``, ``bench``, ``profile``, ``build``, ``cache
list`` / ``cache prune`` and ``tune``. Each turns its flags into one call of
``orchestration`` and its result into an exit code."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from qatbench.bench.cli.output import console, errors
from qatbench.bench.cli.params import (
    HOST_CPU,
    ONE_THREAD,
    BadFlags,
    BenchmarkJson,
    CacheDir,
    ConfigFile,
    Device,
    MaxSecs,
    MinRuns,
    MinSecs,
    ModelNames,
    Names,
    NoCache,
    Rebuild,
    Repeats,
    Shard,
    TargetList,
    ThreadCounts,
    Threads,
    Timeout,
    Variants,
    WarmupRuns,
    parse_names,
    parse_shard,
    parse_size,
    parse_threads,
)
from qatbench.bench.orchestration.overrides import ConfigOverrides, settings
from qatbench.bench.orchestration.session import EXIT_FAILED
from qatbench.bench.storage.layout import PROFILE_FILE

FRAMEWORKS = ("torch", "keras")


def parse_framework(value: str) -> str:
    if value not in FRAMEWORKS:
        raise typer.BadParameter(f"{value!r}: choose torch or keras")
    return value


def run(
    config: ConfigFile = None,
    models: ModelNames = None,
    variants: Variants = None,
    targets: Annotated[Names | None, typer.Option(
        parser=parse_names, metavar="A,B", help="Comma-separated targets.")] = None,
    threads: Annotated[ThreadCounts | None, typer.Option(
        parser=parse_threads, metavar="N,N", help="Thread counts, e.g. 1,2.")] = None,
    out: Annotated[Path | None, typer.Option(help="Results root (default results/).")] = None,
    quick: Annotated[bool, typer.Option(help="Fewer epochs, shorter timing (~2 min).")] = False,
    timeout: Timeout = None,
    resume: Annotated[Path | None, typer.Option(help="Finish an interrupted run dir.")] = None,
    shard: Annotated[Shard | None, typer.Option(
        parser=parse_shard, metavar="I/N", help="Run slice I of N of the matrix: I/N.")] = None,
    retry_failed: Annotated[bool, typer.Option(
        help="With --resume: run failed and unavailable jobs again.")] = False,
    repeats: Repeats = None,
    benchmark_json: BenchmarkJson = None,
    device: Device = None,
    imagenet_dir: Annotated[Path | None, typer.Option(
        help="ImageNet-style folder (class subfolders) for top-1 of ImageNet models.")] = None,
    warmup_runs: WarmupRuns = None,
    min_runs: MinRuns = None,
    min_secs: MinSecs = None,
    max_secs: MaxSecs = None,
    model: Annotated[str | None, typer.Option(
        "--model", help="Your own model: a Keras file (.h5, .keras, Keras 3 too), a "
                        "SavedModel dir, a .tflite, or module:function / file.py:function "
                        "returning a tf_keras model (a PyTorch nn.Module with --framework "
                        "torch).")] = None,
    data: Annotated[str | None, typer.Option(
        "--data", help="Data for --model: an .npz (x_train/y_train/x_eval/y_eval, or x/y), "
                       "module:function, or a folder of class subfolders of images.")] = None,
    framework: Annotated[str | None, typer.Option(
        "--framework", parser=parse_framework, metavar="torch|keras",
        help="`torch`: --model module:function returns a PyTorch nn.Module (PT2E QAT and "
             "litert-torch; the torch extra).")] = None,
    untrained: Annotated[bool, typer.Option(
        "--untrained", help="--model module:function returns an untrained model: train it "
                            "on --data first (as trained = false in a config).")] = False,
    artifacts: Annotated[Path | None, typer.Option(
        help="Time prebuilt models: a directory or .tar.gz `qatbench build` wrote (no "
             "TensorFlow needed).")] = None,
    rebuild: Rebuild = False,
    cache_dir: CacheDir = None,
    no_cache: NoCache = False,
    fail_on_goals: Annotated[bool, typer.Option(
        help="Exit 1 when, on some model × target × threads, no variant is known to meet "
             "the config's [goals] (the default goals without any).")] = False,
    imports: Annotated[list[str] | None, typer.Option(
        "--import", help="For --model: a module or .py file to import before loading it "
                         "(one that registers custom layers); repeat for several.")] = None,
) -> None:
    """Build the models (float32, ptq_int8, qat_int8) and time them on every target."""
    from qatbench.bench.orchestration.run_command import RunRequest, UserModel, run_matrix

    if model is None:
        for flag, given in (("--import", imports), ("--data", data),
                            ("--framework", framework), ("--untrained", untrained)):
            if given:
                raise BadFlags(f"{flag} goes with --model PATH_OR_MODULE:FUNCTION (in a "
                               "config, give it under [models.NAME])")
    overrides = ConfigOverrides(
        models=models, variants=variants, targets=targets, threads=threads, out=out,
        timeout_s=timeout, imagenet_dir=imagenet_dir, repeats=repeats, shard=shard,
        warmup_runs=warmup_runs, min_runs=min_runs, min_secs=min_secs, max_secs=max_secs)
    user_model = None if model is None else UserModel(model, data, framework, untrained,
                                                      tuple(imports or ()))
    raise typer.Exit(run_matrix(RunRequest(
        config, overrides, quick, device, resume, retry_failed, user_model, artifacts,
        rebuild, cache_dir, no_cache, fail_on_goals, benchmark_json), console, errors))


def bench(
    files: Annotated[list[Path], typer.Argument(help="One or more .tflite files.")],
    targets: TargetList = HOST_CPU,
    threads: Threads = ONE_THREAD,
    out: Annotated[Path, typer.Option(help="Results root.")] = Path("results"),
    config: ConfigFile = None,
    timeout: Timeout = None,
    repeats: Repeats = None,
    benchmark_json: BenchmarkJson = None,
    device: Device = None,
    warmup_runs: WarmupRuns = None,
    min_runs: MinRuns = None,
    min_secs: MinSecs = None,
    max_secs: MaxSecs = None,
) -> None:
    """Time existing .tflite files (any tool's, float or quantized) on the given targets."""
    from qatbench.bench.orchestration.run_command import bench_files

    overrides = ConfigOverrides(targets=targets, threads=threads, out=out, timeout_s=timeout,
                                repeats=repeats, warmup_runs=warmup_runs, min_runs=min_runs,
                                min_secs=min_secs, max_secs=max_secs)
    raise typer.Exit(bench_files(files, config, overrides, device, console, benchmark_json))


def profile(
    model: Annotated[Path, typer.Argument(help="The .tflite file to profile op by op.")],
    against: Annotated[Path | None, typer.Option(
        help="A second .tflite (e.g. the float32 of an int8 MODEL), profiled beside it.")
                       ] = None,
    targets: TargetList = HOST_CPU,
    threads: Threads = ONE_THREAD,
    out: Annotated[Path, typer.Option(help="Results root.")] = Path("results"),
    config: ConfigFile = None,
    timeout: Timeout = None,
    device: Device = None,
    op_secs: Annotated[float | None, typer.Option(
        min=0.0, help="Cap on each op's warm-up and timed seconds (default: as the whole "
                      "model).")] = None,
    warmup_runs: WarmupRuns = None,
    min_runs: MinRuns = None,
    min_secs: MinSecs = None,
    max_secs: MaxSecs = None,
) -> None:
    """Where the time goes: each op's p50 (one-op models on the host CPU, benchmark_model's
    op tables on a phone), the coverage of the sum, float and int8 side by side."""
    from qatbench.bench.orchestration.profile_command import profile_files
    from qatbench.bench.presentation.profile_report import coverage_frame
    from qatbench.bench.presentation.tables import rich_table

    overrides = ConfigOverrides(targets=targets, threads=threads, out=out, timeout_s=timeout,
                                profile_op_s=op_secs or None, warmup_runs=warmup_runs,
                                min_runs=min_runs, min_secs=min_secs, max_secs=max_secs)
    files = [model] + ([against] if against is not None else [])
    run = profile_files(files, settings(config, overrides, device=device))
    if not run.profiles.empty:
        console.print(rich_table(coverage_frame(run.profiles), "per-op profiles"))
    for failure in run.failures:
        errors.print(f"[red]not profiled:[/] {escape(failure)}", highlight=False)
    written = run.run_dir / PROFILE_FILE
    console.print((f"profile: {written}" if written.exists()
                   else f"no profile was written (run directory: {run.run_dir})")
                  + (f"  report: {run.report}" if run.report else ""))
    raise typer.Exit(EXIT_FAILED if run.failures else 0)


def build(
    out: Annotated[Path, typer.Option(help="The artifacts directory to write.")] = Path(
        "artifacts"),
    config: ConfigFile = None,
    models: Annotated[Names | None, typer.Option(
        parser=parse_names, metavar="A,B", help="Comma-separated models.")] = None,
    variants: Variants = None,
    quick: Annotated[bool, typer.Option(help="Fewer epochs (as `run --quick`).")] = False,
    archive: Annotated[bool, typer.Option(help="Also write OUT.tar.gz.")] = False,
    rebuild: Rebuild = False,
    cache_dir: CacheDir = None,
    no_cache: NoCache = False,
) -> None:
    """Build every model's variants once (through the build cache) into an artifacts
    directory that `qatbench run --artifacts DIR` times on any host, TensorFlow or not."""
    from qatbench.bench.orchestration.run_command import ArtifactsRequest, build_artifacts

    request = ArtifactsRequest(out, config, ConfigOverrides(models=models, variants=variants),
                               quick, archive, rebuild, cache_dir, no_cache)
    try:
        builds = build_artifacts(request, console)
    except KeyboardInterrupt:
        errors.print(f"interrupted: {escape(str(out))} is incomplete (no "
                     "artifacts.json); the models built so far are in the build cache"
                     if not no_cache else f"interrupted: {escape(str(out))} is "
                     "incomplete (no artifacts.json)", highlight=False)
        raise typer.Exit(130) from None
    failed = 0
    for name, built in builds.items():
        for variant, artifact in built.variants.items():
            state = "ok" if artifact.ok else "skipped" if artifact.skipped else "failed"
            failed += state == "failed"
            console.print(f"  {state:>8} {name}/{variant}  {escape(built.cache or '')} "
                          f"{built.build_key}" + (f"  {escape(artifact.error)}"
                                                  if state == "failed" else ""))
    console.print(f"artifacts: {out}" + (f" and {out}.tar.gz" if archive else ""))
    raise typer.Exit(EXIT_FAILED if failed else 0)


def cache_list(cache_dir: CacheDir = None) -> None:
    """Every cached build, most recently used first (a corrupt entry marked as such)."""
    import datetime

    from rich.table import Table

    from qatbench.bench.orchestration.build_cache import BuildCache

    cache = BuildCache(cache_dir)
    table = Table("key", "model", "variants", "size", "last used")
    entries = cache.entries()
    for entry in entries:
        used = datetime.datetime.fromtimestamp(entry["last_used"]).isoformat(
            sep=" ", timespec="seconds")
        table.add_row(entry["key"], "[red]corrupt[/]" if entry["corrupt"] else
                      escape(str(entry["model"])), ",".join(entry["variants"] or []),
                      f"{entry['bytes'] / 1e6:.1f} MB", used)
    console.print(table)
    for entry in entries:
        if entry["corrupt"]:
            errors.print(f"[yellow]warning:[/] corrupt entry {escape(entry['key'])}: "
                         f"{escape(entry['corrupt'])} (a run rebuilds it; `qatbench cache "
                         "prune` removes it)", highlight=False)
    total = sum(e["bytes"] for e in entries)
    console.print(f"{len(entries)} build(s), {total / 1e6:.1f} MB in {cache.root} (cap "
                  f"{cache.limit / 1e9:.1f} GB)")


def cache_prune(
    cache_dir: CacheDir = None,
    max_size: Annotated[int | None, typer.Option(
        parser=parse_size, metavar="SIZE",
        help="Keep at most this much (e.g. 500MB, 2GB); default: empty the cache.")] = None,
) -> None:
    """Remove least recently used builds until the cache fits MAX_SIZE (default: all).
    Exit 2 naming the path if a build could not be removed (e.g. a read-only cache)."""
    from qatbench.bench.orchestration.build_cache import BuildCache

    pruned = BuildCache(cache_dir).prune(max_size or 0)
    console.print(f"removed {len(pruned.removed)} build(s)"
                  + (f": {', '.join(pruned.removed)}" if pruned.removed else ""))
    if pruned.failed:
        raise BadFlags(f"could not remove {len(pruned.failed)} build(s): " + "; ".join(
            f"{key} ({why})" for key, why in pruned.failed.items()))


def tune(
    model: Annotated[str, typer.Argument(metavar="MODEL", help="The model of the run to tune.")],
    target: Annotated[str, typer.Option(help="The target to search and confirm on.")],
    run: Annotated[Path | None, typer.Option(
        help="The run directory (default: the latest run under results/).")] = None,
    threads: Annotated[int | None, typer.Option(
        help="Thread count (default: the run's first).")] = None,
    goal: Annotated[list[str] | None, typer.Option(
        help="A goal over the run's [goals], KEY=VALUE (repeatable), e.g. max_top1_drop=1 "
             "or max_latency_ms=5.")] = None,
    budget: Annotated[float | None, typer.Option(
        min=0.0, help="Minutes to search before stopping (default: no limit).")] = None,
    out: Annotated[Path | None, typer.Option(
        help="Tune directory (default: RUN/tune/MODEL-TARGET-tN); running again continues "
             "it.")] = None,
) -> None:
    """Mixed precision searched and confirmed on the target: ops kept float one at a time
    (most int8 error per ms saved first) until a candidate meets the goals."""
    from qatbench.bench.orchestration.tune_command import run_tune_command

    raise typer.Exit(run_tune_command(model, target, run, threads, goal or [], budget, out,
                                      console))
