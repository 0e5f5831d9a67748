"""The ``qatbench`` command (also ``python -m qatbench``).

Exit codes: 0 all well; 1 a job failed or a regression was found (results are still
written); 2 bad usage, a bad config or a bad input file, a damaged run directory file or
an output that cannot be written (each named); 70 an internal error (a bug: one line
here, the traceback in a file whose path is printed); 130 interrupted.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from qatbench.atomic import UnwritableOutput, ensure_writable_dir
from qatbench.bench.orchestration.config import (
    ALL_VARIANTS,
    VARIANTS,
    ConfigError,
    RunConfig,
    build_config,
    load_config,
)
from qatbench.bench.orchestration.session import (
    EXIT_FAILED,
    EXIT_USAGE,
    check_user_models,
    execute,
    new_context,
    open_store,
)
from qatbench.bench.storage.store import RunDirError, RunStore, read_config
from qatbench.errors import UserError
from qatbench.models.sources import is_callable_reference

EXIT_INTERNAL = 70  # sysexits' EX_SOFTWARE: never 1, which `compare` uses for a regression
EXIT_CODES = ("Exit codes: 0 all well; 1 a job failed or a regression was found; 2 bad "
              "usage, config or input, a damaged run file or an unwritable output; 70 an "
              "internal error (traceback saved to a file it names); 130 interrupted.")

VARIANTS_HELP = (
    f"Comma-separated, of {', '.join(ALL_VARIANTS)} (default {','.join(VARIANTS)}). "
    "dynamic_int8, int8_weights, int4_weights and fp16 are the float32 file quantized by "
    "Google's LiteRT Quantizer; qat_selective trains [training] qat_layers only; "
    "mixed_int8 keeps keep_float_ops float.")

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  epilog=EXIT_CODES,
                  help="Quantization-aware training benchmarks on the hardware you deploy to.")
# In a CI log (no terminal) rich would wrap tables at 80 columns; a log is wide.
console = Console() if sys.stdout.isatty() else Console(width=200)
errors = Console(stderr=True, soft_wrap=True)  # paths in errors stay copyable


def fail_usage(message: str) -> typer.Exit:
    errors.print(f"[red]error:[/] {escape(message)}", highlight=False)
    return typer.Exit(EXIT_USAGE)


def _split(value: str | None) -> list[str] | None:
    if value is None:
        return None
    items = [item.strip() for item in value.split(",") if item.strip()]
    if not items:
        raise fail_usage("an empty list was given")
    return items


def _threads(value: str | None) -> list[int] | None:
    items = _split(value)
    if items is None:
        return None
    try:
        return [int(item) for item in items]
    except ValueError:
        raise fail_usage(f"--threads takes integers like 1,2 (got {value!r})") from None


def _shard(value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    try:
        index, count = (int(part) for part in value.split("/"))
    except ValueError:
        raise fail_usage(f"--shard takes I/N, e.g. 2/4 (got {value!r})") from None
    if not 1 <= index <= count:
        raise fail_usage(f"--shard {value}: I must be between 1 and N")
    return index, count


def _with_device(settings: RunConfig, device: str | None) -> RunConfig:
    """``--device`` goes to every target of the run that talks to a device (a property of
    the target, not of its name)."""
    if not device:
        return settings
    from qatbench.targets.registry import TargetOptionsError, target_takes_device

    for target in settings.run.targets:
        if target_takes_device(target, settings.target_options(target)):
            try:
                settings = settings.with_target_options(target, device=device)
            except TargetOptionsError as error:
                raise ConfigError(f"--device: {error}") from None
    return settings


def _measure_overrides(warmup_runs: int | None, min_runs: int | None, min_secs: float | None,
                       max_secs: float | None) -> dict[str, Any]:
    values = {"warmup_runs": warmup_runs, "min_runs": min_runs, "min_s": min_secs,
              "max_s": max_secs}
    return {k: v for k, v in values.items() if v is not None}


# Option types shared by `run` and `bench`.
WarmupRuns = Annotated[int | None, typer.Option(help="Warm-up runs (default 1).")]
MinRuns = Annotated[int | None, typer.Option(help="Minimum timed runs (default 50).")]
MinSecs = Annotated[float | None, typer.Option(help="Minimum timed seconds (default 1).")]
MaxSecs = Annotated[float | None, typer.Option(help="Cap per phase in s (default 150).")]
Timeout = Annotated[float | None, typer.Option(help="Seconds per job before it is killed.")]
BenchmarkJson = Annotated[Path | None, typer.Option(help="Also write pytest-benchmark JSON.")]
Repeats = Annotated[int | None, typer.Option(
    min=1, max=100, help="Run each measurement in K fresh child processes, interleaved "
    "across the matrix (what the regression gate decides on; default 1).")]
Device = Annotated[str | None, typer.Option(
    help="Device for the hardware targets: a phone's adb serial, or usb:0 / pci:0 for the "
         "Edge TPU.")]
Rebuild = Annotated[bool, typer.Option(
    help="Build every model even when the build cache has it (and store the new build).")]
CacheDir = Annotated[Path | None, typer.Option(
    help="Build cache folder (default $QATBENCH_CACHE_DIR, else ~/.cache/qatbench/builds).")]
NoCache = Annotated[bool, typer.Option(
    help="Build here without the build cache (neither read nor written).")]
ConfigFile = Annotated[Path | None, typer.Option(
    help="Run config TOML, or a shipped one by name: cpu, edgetpu, nnapi (default cpu).")]


@app.command()
def run(
    config: ConfigFile = None,
    models: Annotated[str | None, typer.Option(help="Comma-separated zoo models.")] = None,
    variants: Annotated[str | None, typer.Option(help=VARIANTS_HELP)] = None,
    targets: Annotated[str | None, typer.Option(help="Comma-separated targets.")] = None,
    threads: Annotated[str | None, typer.Option(help="Thread counts, e.g. 1,2.")] = None,
    out: Annotated[Path | None, typer.Option(help="Results root (default results/).")] = None,
    quick: Annotated[bool, typer.Option(help="Fewer epochs, shorter timing (~2 min).")] = False,
    timeout: Timeout = None,
    resume: Annotated[Path | None, typer.Option(help="Finish an interrupted run dir.")] = None,
    shard: Annotated[str | None, typer.Option(help="Run slice I of N of the matrix: I/N.")] = None,
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
        "--framework", help="`torch`: --model module:function returns a PyTorch nn.Module "
                            "(PT2E QAT and litert-torch; the torch extra).")] = None,
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
    if imports and model is None:
        raise fail_usage("--import goes with --model (in a config, give imports = [...] "
                         "under [models.NAME])")
    if data is not None and model is None:
        raise fail_usage("--data goes with --model PATH_OR_MODULE:FUNCTION (in a config, "
                         "give data under [models.NAME])")
    if framework not in (None, "torch", "keras"):
        raise fail_usage(f"--framework {framework}: choose torch or keras")
    if framework is not None and model is None:
        raise fail_usage("--framework goes with --model module:function")
    if artifacts is not None and (resume is not None or model is not None or rebuild):
        raise fail_usage("--artifacts times prebuilt models: it does not go with --resume, "
                         "--model or --rebuild")
    run_overrides: dict[str, Any] = {
        "models": _split(models), "variants": _split(variants), "targets": _split(targets),
        "threads": _threads(threads), "out": str(out) if out else None, "timeout_s": timeout,
        "imagenet_dir": str(imagenet_dir) if imagenet_dir else None, "repeats": repeats,
        "shard": _shard(shard)}
    overrides: dict[str, Any] = {
        "run": {k: v for k, v in run_overrides.items() if v is not None},
        "measure": _measure_overrides(warmup_runs, min_runs, min_secs, max_secs)}
    if untrained and (model is None or not is_callable_reference(model)):
        raise fail_usage("--untrained goes with --model module:function (a builder that "
                         "returns an untrained model, trained on --data first)")
    quantized_file = model is not None and model.endswith(".tflite") and \
        _quantized_file(Path(model), data)
    if model is not None and not quantized_file:
        from qatbench.models.sources import ad_hoc_source

        try:
            name, source = ad_hoc_source(model, data, Path.cwd(), framework,
                                         trained=not untrained, imports=imports)
        except ValueError as error:
            raise fail_usage(f"--model {model}: {error}") from None
        overrides["models"] = {name: source.model_dump(exclude_defaults=True)}
        listed = overrides["run"].get("models") or []  # --models Y --model X: both run
        overrides["run"]["models"] = [*listed, name] if name not in listed else listed
    if retry_failed and resume is None:
        raise fail_usage("--retry-failed goes with --resume RUN_DIR")
    from qatbench.bench.orchestration.build_cache import BuildCache

    # before a run directory exists: a misspelt QATBENCH_CACHE_MAX_BYTES is exit 2 here
    cache = None if no_cache or artifacts is not None else BuildCache(cache_dir)
    from qatbench.targets.tflite_file import InvalidModelFile

    file_jobs: tuple[list[Any], dict[str, Any]] | None = None  # set for a `bench` run
    try:
        if resume is not None:
            store = RunStore.open_existing(resume)
            settings = build_config(read_config(resume))
            if shard is not None and _shard(shard) != settings.run.shard:
                store.close()
                raise fail_usage(f"--shard {shard}: the run was started with --shard "
                                 f"{_shard_text(settings.run.shard)}; --resume keeps it")
            from qatbench.bench.orchestration.external import resumed_file_jobs

            try:  # a run `bench` made times its files again, never the zoo
                file_jobs = resumed_file_jobs(resume, settings)
            except (RunDirError, InvalidModelFile):
                store.close()
                raise
            full_disk = store.jobs_failed_for_space()  # not the jobs' fault: run again
            if full_disk:
                store.forget(full_disk)
                errors.print(f"[yellow]note:[/] {len(full_disk)} job(s) that failed on a "
                             "full disk are run again", highlight=False)
            if retry_failed:
                store.forget({job for job, row in
                              ((j, store.row(j)) for j in store.finished_jobs())
                              if row and row.get("status") in ("failed", "unavailable")})
        else:
            if artifacts is not None and models is None:
                overrides["run"]["models"] = _artifact_models(artifacts)
            settings = _with_device(load_config(config, quick=quick, overrides=overrides,
                                                check_files=artifacts is None), device)
            if quantized_file:  # timed as `qatbench bench` times it: labelled by its kind
                from qatbench.bench.orchestration.external import (
                    plan_file_jobs,
                    record_bench_files,
                )

                file_jobs = plan_file_jobs([Path(str(model))], settings)
            elif artifacts is None:
                _refuse_bad_user_models(settings)
            store = open_store(settings, None)
            if quantized_file:
                record_bench_files(store, [Path(str(model))])  # --resume times it again
    except (ConfigError, RunDirError, InvalidModelFile) as error:
        raise fail_usage(str(error)) from None
    from qatbench.bench.orchestration.runner import plan_config_jobs, zoo_provider

    jobs = plan_config_jobs(settings) if file_jobs is None else file_jobs[0]
    context = new_context(settings, store)
    provider: Any = zoo_provider
    if file_jobs is not None:
        from qatbench.bench.orchestration.external import external_provider

        provider = external_provider(file_jobs[1])
    elif artifacts is not None:
        provider = _prebuilt_provider(artifacts, jobs, store)
    elif cache is not None:
        context.cache, context.rebuild = cache, rebuild
    code = execute(context, jobs, provider, console, benchmark_json,
                   fail_on_goals=fail_on_goals)
    raise typer.Exit(code)


def _quantized_file(path: Path, data: str | None) -> bool:
    """Whether ``--model PATH.tflite`` is not a float32 file (full-integer or mixed):
    its rows are then labelled by what it is, as ``qatbench bench`` labels a file. With
    ``--data`` it is refused: rows with accuracy compare a file with its float32 file."""
    import tempfile

    from qatbench.bench.orchestration.external import inspect_in_child
    from qatbench.targets.tflite_file import InvalidModelFile

    try:
        with tempfile.TemporaryDirectory(prefix="qatbench-inspect-") as scratch:
            kind, _ = inspect_in_child(path, Path(scratch))
    except InvalidModelFile as error:
        raise fail_usage(str(error)) from None
    if kind == "float32":
        return False
    if data is not None:
        raise fail_usage(
            f"--model {path} is a {'full-integer (int8)' if kind == 'int8' else kind} file, "
            "not float32: with --data its rows would need the float32 file it came from "
            "(fidelity, speedup). Give both in a config: [models.NAME] tflite = { float32 "
            "= \"FLOAT.tflite\", ptq_int8 = \"" + path.name + "\" } with data = ...; or "
            f"time it alone with `qatbench run --model {path}` (labelled {kind})")
    return True


def _artifact_models(artifacts: Path) -> list[str]:
    """The models an artifacts directory holds (an archive: the run plans what its index
    names after unpacking; here, its index read without unpacking the files)."""
    from qatbench.bench.orchestration.artifacts_dir import index_models

    return index_models(artifacts)  # ArtifactError (a UserError): exit 2 naming it


def _prebuilt_provider(artifacts: Path, jobs: list[Any], store: RunStore) -> Any:
    from qatbench.bench.orchestration.artifacts_dir import (
        ArtifactError,
        artifacts_provider,
        load_artifacts,
        unpack,
    )

    try:
        root = unpack(artifacts, store.run_dir / "artifacts-unpacked")
        builds = load_artifacts(root, jobs, store.run_dir / "artifacts")
    except ArtifactError as error:
        store.close()
        import shutil

        shutil.rmtree(store.run_dir, ignore_errors=True)  # nothing was measured
        raise fail_usage(str(error)) from None
    return artifacts_provider(builds)


@app.command()
def ab(
    base: Annotated[Path, typer.Argument(help="A run dir, an artifacts dir or a .tflite.")],
    current: Annotated[Path, typer.Argument(help="The same kind of thing, to compare.")],
    target: Annotated[str, typer.Option(help="The target both are timed on.")] = (
        "cpu-xnnpack"),
    threads: Annotated[int, typer.Option(min=1, help="Threads for both.")] = 1,
    pairs: Annotated[int, typer.Option(min=3, help="Pairs to start with.")] = 4,
    max_pairs: Annotated[int, typer.Option(min=3, help="Doubling stops here.")] = 64,
    threshold: Annotated[str, typer.Option(
        help="Smallest change that matters, e.g. 2% (SAME: the interval is inside it).")
    ] = "2%",
    budget: Annotated[float, typer.Option(help="Seconds per series at most.")] = 180.0,
    min_secs: MinSecs = None,
    min_runs: MinRuns = None,
    seed: Annotated[int, typer.Option(help="Seed of the ABBA order.")] = 0,
    fail_on_unknown: Annotated[bool, typer.Option(
        help="Exit 1 also when a series is still UNKNOWN at the cap.")] = False,
    out: Annotated[Path | None, typer.Option(
        help="Folder for ab.parquet and ab.md (default results/ab-<time>).")] = None,
    device: Device = None,
) -> None:
    """Interleaved A/B on this host: each series' BASE and CURRENT files timed alternately
    in fresh processes (randomised ABBA pairs), verdict from the paired ratios; pairs
    double while the verdict is UNKNOWN. Exit 1 if a series is SLOWER."""
    import datetime

    import pandas as pd

    from qatbench.atomic import atomic_write_parquet, atomic_write_text
    from qatbench.bench.orchestration.ab import (
        AbInputError,
        AbSettings,
        ab_spec,
        child_timer,
        outcome_frame,
        pair_series,
        run_series,
    )
    from qatbench.bench.presentation.gate_report import ab_markdown, ab_table
    from qatbench.bench.statistics.checks import gate_exit_code

    if max_pairs < pairs:
        raise fail_usage(f"--max-pairs {max_pairs} is below --pairs {pairs}")
    _check_target(target)
    settings = AbSettings(target, threads, pairs, max_pairs, _fraction(threshold), budget,
                          seed, ab_spec(min_runs or None, min_secs))
    folder = out or Path("results") / f"ab-{datetime.datetime.now():%Y%m%dT%H%M%S}"
    created = not folder.exists()
    ensure_writable_dir(folder)
    try:
        series = pair_series(base, current, folder / "unpacked")
    except AbInputError:
        if created:  # it holds nothing but an unpacked archive: refused input leaves none
            import shutil

            shutil.rmtree(folder, ignore_errors=True)
        raise
    from qatbench.targets.registry import target_takes_device

    options: dict[str, Any] = {"device": device} if device and target_takes_device(
        target, None) else {}
    # a target that declares instruction counting (the host CPU) counts per inference
    from qatbench.targets.base import Capability
    from qatbench.targets.registry import with_requested

    options = with_requested(target, options, Capability.COUNT_INSTRUCTIONS
                             ).model_dump(exclude_defaults=True)
    timer = child_timer(settings, options)
    outcomes, lines = [], []

    def measured(line: dict[str, Any], status: Any) -> None:
        """Every pair is on disk as soon as it is measured (an interrupt keeps it)."""
        lines.append(line)
        atomic_write_parquet(folder / "ab.parquet", pd.DataFrame(lines))
        status.update(f"A/B {escape(line['series'])}: pair {line['pair'] + 1}")

    try:
        for one in series:
            with console.status(f"A/B {escape(one.name)}") as status:
                outcome = run_series(
                    one, settings, timer, folder / "work" / one.name.replace("/", "-"),
                    lambda line, s=status: measured(line, s))
            outcomes.append(outcome)
    except KeyboardInterrupt:
        errors.print(f"interrupted: the {len(lines)} pair(s) measured so far are kept in "
                     f"{escape(str(folder / 'ab.parquet'))}; no verdict was written",
                     highlight=False)
        raise typer.Exit(130) from None
    frame = outcome_frame(outcomes, settings, fail_on_unknown)
    atomic_write_parquet(folder / "ab_verdicts.parquet", frame)
    atomic_write_text(folder / "ab.md", ab_markdown(frame, settings, str(base),
                                                     str(current)))
    console.print(ab_table(frame))
    console.print(f"ab: {folder / 'ab.md'}")
    raise typer.Exit(gate_exit_code(frame))


@app.command("bisect")
def bisect_command(
    good: Annotated[str, typer.Option(help="A revision that is fast (git rev).")],
    bad: Annotated[str, typer.Option(help="A later revision that is slower.")],
    config: Annotated[str, typer.Option(
        help="The run config, relative to the repository root at each revision.")] = (
        "qatbench.toml"),
    repo: Annotated[Path, typer.Option(help="The git repository.")] = Path("."),
    target: Annotated[str, typer.Option(help="Where to time.")] = "cpu-xnnpack",
    threshold: Annotated[str, typer.Option(help="Smallest change that matters.")] = "2%",
    max_pairs: Annotated[int, typer.Option(min=3, help="A/B pairs cap per probe.")] = 64,
    budget: Annotated[float, typer.Option(help="Seconds per series per probe.")] = 180.0,
    min_secs: MinSecs = None,
    out: Annotated[Path | None, typer.Option(help="Working folder.")] = None,
) -> None:
    """The first commit between GOOD and BAD whose models are SLOWER than GOOD's: each
    probe built in a git worktree (through the build cache) and timed against GOOD
    interleaved (`qatbench ab`). Exit 0 with the culprit, 1 if none could be named."""
    import datetime

    from qatbench.bench.orchestration.ab import AbSettings, ab_spec, child_timer
    from qatbench.bench.orchestration.bisect import bisect, qatbench_builder

    _check_target(target)
    settings = AbSettings(target, 1, 4, max_pairs, _fraction(threshold), budget, 0,
                          ab_spec(None, min_secs))
    work = out or Path("results") / f"bisect-{datetime.datetime.now():%Y%m%dT%H%M%S}"
    with console.status("bisecting") as status:  # a BisectError is a UserError: exit 2
        result = bisect(repo.resolve(), good, bad, qatbench_builder(config), settings,
                        child_timer(settings), work.resolve(),
                        lambda text: status.update(escape(text)))
    for probe in result.probes:
        change = "" if probe.change is None else f"{probe.change:+.1%}"
        console.print(f"  {probe.commit[:9]}  {probe.verdict:>10}  {change:>8}  "
                      f"{probe.pairs:>3} pairs  {escape(probe.subject)}")
    if result.culprit is None:
        console.print(f"[yellow]no culprit named[/]: {escape(result.stopped)}")
        raise typer.Exit(1)
    culprit = result.culprit
    console.print(f"first SLOWER commit: [bold]{culprit.commit}[/] {escape(culprit.subject)}"
                  f" ({culprit.change:+.1%} against {good})")


@app.command()
def build(
    out: Annotated[Path, typer.Option(help="The artifacts directory to write.")] = Path(
        "artifacts"),
    config: ConfigFile = None,
    models: Annotated[str | None, typer.Option(help="Comma-separated models.")] = None,
    variants: Annotated[str | None, typer.Option(help=VARIANTS_HELP)] = None,
    quick: Annotated[bool, typer.Option(help="Fewer epochs (as `run --quick`).")] = False,
    archive: Annotated[bool, typer.Option(help="Also write OUT.tar.gz.")] = False,
    rebuild: Rebuild = False,
    cache_dir: CacheDir = None,
    no_cache: NoCache = False,
) -> None:
    """Build every model's variants once (through the build cache) into an artifacts
    directory that `qatbench run --artifacts DIR` times on any host, TensorFlow or not."""
    from qatbench.bench.orchestration.artifacts_dir import write_artifacts
    from qatbench.bench.orchestration.build_cache import BuildCache

    overrides = {"run": {k: v for k, v in {"models": _split(models),
                                           "variants": _split(variants)}.items()
                         if v is not None}}
    try:
        settings = load_config(config, quick=quick, overrides=overrides)
    except ConfigError as error:
        raise fail_usage(str(error)) from None
    _refuse_bad_user_models(settings)
    cache = None if no_cache else BuildCache(cache_dir)
    try:
        with console.status("building") as status:
            builds = write_artifacts(settings, out, cache, rebuild,
                                     lambda text: status.update(escape(text)), archive)
    except KeyboardInterrupt:
        errors.print(f"interrupted: {escape(str(out))} is incomplete (no "
                     "artifacts.json); the models built so far are in the build cache"
                     if cache is not None else f"interrupted: {escape(str(out))} is "
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


cache_app = typer.Typer(help="The build cache: list its entries, prune it.",
                        no_args_is_help=True)
app.add_typer(cache_app, name="cache")


@cache_app.command("list")
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


@cache_app.command("prune")
def cache_prune(
    cache_dir: CacheDir = None,
    max_size: Annotated[str | None, typer.Option(
        help="Keep at most this much (e.g. 500MB, 2GB); default: empty the cache.")] = None,
) -> None:
    """Remove least recently used builds until the cache fits MAX_SIZE (default: all).
    Exit 2 naming the path if a build could not be removed (e.g. a read-only cache)."""
    from qatbench.bench.orchestration.build_cache import BuildCache, parse_size

    try:
        limit = 0 if max_size is None else parse_size(max_size)
    except ValueError as error:
        raise fail_usage(f"--max-size: {error}") from None
    pruned = BuildCache(cache_dir).prune(limit)
    console.print(f"removed {len(pruned.removed)} build(s)"
                  + (f": {', '.join(pruned.removed)}" if pruned.removed else ""))
    if pruned.failed:
        raise fail_usage(f"could not remove {len(pruned.failed)} build(s): " + "; ".join(
            f"{key} ({why})" for key, why in pruned.failed.items()))


def _check_target(target: str) -> None:
    """A target name (and its default options) checked before anything is built or
    timed: ``UnknownTarget`` is a ``UserError`` naming the known targets (exit 2)."""
    from qatbench.targets.registry import validate_target_options

    validate_target_options(target, {})


def _refuse_bad_user_models(settings: RunConfig) -> None:
    """Exit 2 listing every problem of the run's own models, before anything trains (and
    before a run directory exists)."""
    if not any(name in settings.models for name in settings.run.models):
        return
    import shutil
    import tempfile

    scratch = Path(tempfile.mkdtemp(prefix="qatbench-check-"))
    problems: list[str] = []
    try:
        with console.status("checking your model(s) and data"):
            problems = check_user_models(settings, scratch)
    finally:  # a problem naming the check's log keeps it (the message points at it)
        if not any(str(scratch) in problem for problem in problems):
            shutil.rmtree(scratch, ignore_errors=True)
    if problems:
        raise fail_usage("your model(s) cannot be built -- nothing was trained:\n  "
                         + "\n  ".join(problems))


def _shard_text(shard: tuple[int, int] | None) -> str:
    return "(none)" if shard is None else f"{shard[0]}/{shard[1]}"


@app.command()
def bench(
    files: Annotated[list[Path], typer.Argument(help="One or more .tflite files.")],
    targets: Annotated[str, typer.Option(help="Comma-separated targets.")] = "cpu-xnnpack",
    threads: Annotated[str, typer.Option(help="Thread counts, e.g. 1,2.")] = "1",
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
    from qatbench.bench.orchestration.external import (
        external_provider,
        plan_file_jobs,
        record_bench_files,
    )
    from qatbench.targets.tflite_file import InvalidModelFile

    overrides = {"run": {"targets": _split(targets), "threads": _threads(threads),
                         "out": str(out),
                         **({"timeout_s": timeout} if timeout is not None else {}),
                         **({"repeats": repeats} if repeats else {})},
                 "measure": _measure_overrides(warmup_runs, min_runs, min_secs, max_secs)}
    try:
        settings = _with_device(load_config(config, overrides=overrides), device)
        jobs, builds = plan_file_jobs(files, settings)
        store = open_store(settings, None)
        record_bench_files(store, files)  # `run --resume` times these files again
    except (ConfigError, InvalidModelFile, RunDirError) as error:
        raise fail_usage(str(error)) from None
    code = execute(new_context(settings, store), jobs, external_provider(builds), console,
                   benchmark_json)
    raise typer.Exit(code)


@app.command()
def profile(
    model: Annotated[Path, typer.Argument(help="The .tflite file to profile op by op.")],
    against: Annotated[Path | None, typer.Option(
        help="A second .tflite (e.g. the float32 of an int8 MODEL), profiled beside it.")
                       ] = None,
    targets: Annotated[str, typer.Option(help="Comma-separated targets.")] = "cpu-xnnpack",
    threads: Annotated[str, typer.Option(help="Thread counts, e.g. 1,2.")] = "1",
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
    from qatbench.targets.tflite_file import InvalidModelFile

    overrides = {"run": {"targets": _split(targets), "threads": _threads(threads),
                         "out": str(out),
                         **({"timeout_s": timeout} if timeout is not None else {}),
                         **({"profile_op_s": op_secs} if op_secs else {})},
                 "measure": _measure_overrides(warmup_runs, min_runs, min_secs, max_secs)}
    files = [model] + ([against] if against is not None else [])
    try:
        settings = _with_device(load_config(config, overrides=overrides), device)
        root = Path(settings.run.out)
        ensure_writable_dir(root)
        before = set(root.iterdir())
    except (ConfigError, InvalidModelFile) as error:
        raise fail_usage(str(error)) from None
    try:
        run = profile_files(files, settings)
    except InvalidModelFile as error:
        for made in set(root.iterdir()) - before:  # the run dir of a refused input: empty
            with contextlib.suppress(OSError):  # rmdir never removes anything written
                made.rmdir()
        raise fail_usage(str(error)) from None
    if not run.profiles.empty:
        console.print(rich_table(coverage_frame(run.profiles), "per-op profiles"))
    for failure in run.failures:
        errors.print(f"[red]not profiled:[/] {escape(failure)}", highlight=False)
    written = run.run_dir / "profile.parquet"
    console.print((f"profile: {written}" if written.exists()
                   else f"no profile was written (run directory: {run.run_dir})")
                  + (f"  report: {run.report}" if run.report else ""))
    raise typer.Exit(EXIT_FAILED if run.failures else 0)


@app.command()
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
                                      console, fail_usage))


@app.command()
def explore(
    run_dir: Annotated[Path, typer.Argument(
        help="A run directory (results/<run_id>) of qatbench run, bench or profile.")],
    row: Annotated[str | None, typer.Option(
        help="The row to draw: its key ('MODEL/VARIANT on TARGET [DEVICE] xN', the "
             "[DEVICE] optional), MODEL or MODEL/VARIANT (default: every row).")] = None,
    out: Annotated[Path | None, typer.Option(
        help="Where the node-data JSON goes (default: RUN/explorer).")] = None,
    open_: Annotated[bool, typer.Option(
        "--open", help="Start Model Explorer on the model with its overlays.")] = False,
) -> None:
    """Model Explorer overlays of a run: per-op time (float32, int8 and their ratio),
    per-layer quantization error and delegate placement, as node-data JSON files."""
    from qatbench.bench.orchestration import explore_command
    from qatbench.bench.orchestration.explore_command import open_in_explorer

    # ExplorerMissing, ExploreError, UnwritableOutput: UserErrors, exit 2 from main
    exploration = explore_command.explore(run_dir, row, out)
    for written in exploration.written:
        console.print(f"{escape(written.overlay.title)}: {escape(str(written.path))}",
                      highlight=False)
    for note in exploration.notes:
        console.print(f"note: {escape(note)}", highlight=False)
    console.print(f"{len(exploration.written)} overlay files in {exploration.out_dir}",
                  highlight=False)
    if open_:
        open_in_explorer(exploration)


@app.command("targets")
def list_targets(
    config: Annotated[Path | None, typer.Option(help="Config TOML with target options.")] = None,
) -> None:
    """Every target: available, or the exact reason it is not and how to fix it."""
    from rich.table import Table

    from qatbench.targets.registry import create_target, target_names

    try:
        settings = load_config(config) if config else RunConfig()
    except ConfigError as error:
        raise fail_usage(str(error)) from None
    table = Table("target", "status", "details")
    for name in target_names():
        try:
            target = create_target(name, settings.target_options(name))
            availability = target.probe()
        except Exception as error:
            table.add_row(name, "[red]error[/]", escape(f"{type(error).__name__}: {error}"))
            continue
        if availability.available:
            details = ", ".join(f"{k}={v}" for k, v in availability.details.items())
            table.add_row(name, "[green]available[/]", escape(f"{target.description}; {details}"))
        else:
            table.add_row(name, "[yellow]unavailable[/]", escape(availability.message()))
    console.print(table)


@app.command("models")
def list_models() -> None:
    """The model zoo and installed plug-in zoos: names, inputs and each one's data.

    Your own model goes in a [models.NAME] table of a run config, or `run --model`."""
    from rich.table import Table

    from qatbench.models.zoo import ZOO, known_models

    try:
        specs = known_models()
    except Exception as error:  # a broken plug-in: name it, list the built-in zoo
        console.print(f"[yellow]a plug-in zoo (entry points qatbench.models) failed to load: "
                      f"{escape(f'{type(error).__name__}: {error}')}[/]")
        specs = dict(ZOO)
    table = Table("model", "input", "classes", "data", "from", "description")
    for spec in specs.values():
        data = "shipped in a package" if spec.trainable_here else "none (latency only)"
        origin = "zoo" if spec.name in ZOO else "plug-in"
        table.add_row(spec.name, "x".join(map(str, spec.input_shape)), str(spec.num_classes),
                      data, origin, spec.description)
    console.print(table)


Runs = Annotated[list[Path] | None, typer.Argument(help="Run dirs (or results files).")]
Latest = Annotated[Path | None, typer.Option(
    help="Use the newest run under this results root.")]


def _run_paths(runs: list[Path] | None, latest: Path | None) -> list[Path]:
    from qatbench.bench.storage.runs import RunsNotFound, latest_run, newer_runs_skipped

    paths = list(runs or [])
    if latest is not None:
        try:
            paths.append(latest_run(latest))
        except RunsNotFound as error:
            raise fail_usage(str(error)) from None
        for skipped in newer_runs_skipped(latest, paths[-1]):  # never silently
            errors.print(f"[yellow]warning:[/] --latest skipped the newer run "
                         f"{escape(str(skipped))}: it has no results.parquet yet (still on "
                         "its first job, or stopped before one finished); using "
                         f"{escape(str(paths[-1]))}", highlight=False)
    if not paths:
        raise fail_usage("give at least one run directory (or --latest RESULTS_ROOT)")
    return paths


def _output_file(path: Path, option: str = "--out") -> Path:
    """A file an output option names, checked before it is written: not a directory, its
    folder created if missing (as every output folder is) and writable; exit 2 if not."""
    try:
        if path.is_dir():
            raise UnwritableOutput(path, IsADirectoryError(errno.EISDIR, "Is a directory"))
        ensure_writable_dir(path.parent)
    except UnwritableOutput as error:
        raise fail_usage(f"{option} {path}: {error}") from None
    return path


@app.command()
def report(
    runs: Runs = None,
    latest: Latest = None,
    out: Annotated[Path | None, typer.Option(
        help="Where to write (default: the run dir, or merged-report/ for several).")] = None,
) -> None:
    """report.md, self-contained report.html and plots; several runs (shards) merge."""
    from qatbench.bench.presentation.report import write_report
    from qatbench.bench.presentation.summary import summary_frame
    from qatbench.bench.presentation.tables import rich_table
    from qatbench.bench.storage.runs import RunsNotFound, load_runs

    paths = _run_paths(runs, latest)
    try:
        loaded = load_runs(paths)
    except RunsNotFound as error:
        raise fail_usage(str(error)) from None
    target_dir = out or (loaded.run_dirs[0] if len(loaded.run_dirs) == 1
                         else loaded.run_dirs[0].parent / "merged-report")
    ensure_writable_dir(target_dir)  # a file in the way, a read-only run: exit 2 naming it
    path = write_report(loaded.results, loaded.run_dirs, target_dir)
    if not loaded.results.empty:
        from qatbench.bench.presentation.what_to_ship import decide_results, headline_frame

        console.print(rich_table(summary_frame(loaded.results), "float → int8"))
        console.print(rich_table(headline_frame(decide_results(loaded.results,
                                                               loaded.run_dirs)),
                                 "what to ship"))
    console.print(f"{len(loaded.results)} rows from {len(loaded.run_dirs)} run(s); "
                  f"report: {path} and {path.with_suffix('.html')}")


def _fraction(value: str, option: str = "--threshold") -> float:
    """A relative change: ``5%`` (a percentage, with the sign) or ``0.05`` (a fraction < 1).

    A bare ``5`` is refused rather than guessed: it could mean 5% or 500%.
    """
    text = value.strip()
    percent = text.endswith("%")
    try:
        number = float(text[:-1] if percent else text)
    except ValueError:
        raise fail_usage(f"{option} takes a percentage like 5% or a fraction like 0.05 "
                         f"(got {value!r})") from None
    if not math.isfinite(number) or number < 0:
        raise fail_usage(f"{option} must be a non-negative finite change like 5% or 0.05 "
                         f"(got {value!r})")
    if not percent and number >= 1:
        raise fail_usage(f"{option} {value}: write {text}% for a percentage, or a fraction "
                         f"below 1 such as {number / 100:g}")
    return number / 100 if percent else number


@app.command()
def compare(
    base: Annotated[Path, typer.Argument(help="Baseline run dir or results file.")],
    current: Annotated[Path | None, typer.Argument(help="Current run dir or results file.")
                       ] = None,
    latest: Latest = None,
    threshold: Annotated[str, typer.Option(
        help="Smallest latency change (and int8 size growth) that matters: 5% or 0.05.")
                         ] = "5%",
    metric: Annotated[str, typer.Option(help="p50 or p90.")] = "p50",
    alpha: Annotated[float, typer.Option(
        help="1 - level of the repeat-level interval (K >= 2 on both sides), in (0, 1).")
                     ] = 0.05,
    accuracy_drop: Annotated[float, typer.Option(
        help="Top-1 drop in points that fails the gate.")] = 1.0,
    allow_missing: Annotated[bool, typer.Option(
        help="Rows (or whole targets) absent from CURRENT do not fail the gate.")] = False,
    allow_broken: Annotated[bool, typer.Option(
        help="Rows ok in BASE and failed/unavailable in CURRENT do not fail the gate.")
                            ] = False,
    allow_host_change: Annotated[bool, typer.Option(
        help="Gate rows whose host/runtime fingerprints differ (noted in compare.md).")
                                 ] = False,
    fail_on_unknown: Annotated[bool, typer.Option(
        help="A timed row the gate cannot decide (noise) fails the gate.")] = False,
    noise_floor: Annotated[Path | None, typer.Option(
        help="This host's measured noise floor (JSON from benchmarks/gate_error_rates.py); "
             "default: $QATBENCH_NOISE_FLOOR, else noise-floor.json in the results root. "
             "With one run a side, SLOWER needs it or 5 earlier runs of the series on this "
             "host under the results root; else the row is unknown.")
                           ] = None,
    out: Annotated[Path | None, typer.Option(
        help="compare.md location (default: in CURRENT's run dir).")] = None,
) -> None:
    """Regression gate: exit 1 if anything is missing, broken, slower, bigger or less
    accurate than BASE; exit 2 if the rows were measured on different hosts (or an input
    is damaged, or compare.md cannot be written); 70 on an internal error, never 1."""
    from qatbench.bench.presentation.gate_report import comparison_markdown, render_comparison
    from qatbench.bench.presentation.step_summary import (
        append_to_step_summary,
        comparison_marker,
    )
    from qatbench.bench.presentation.tables import rich_table
    from qatbench.bench.statistics.compare import (
        GateSettings,
        HostChanged,
        NothingMatched,
        compare_runs,
        gate_exit_code,
    )
    from qatbench.bench.statistics.noise import NoiseFloorError, find_noise_floor
    from qatbench.bench.statistics.series_noise import history_noise
    from qatbench.bench.storage.runs import RunsNotFound, load_runs
    from qatbench.bench.storage.store import atomic_write_text

    if metric not in {"p50", "p90"}:
        raise fail_usage(f"--metric: {metric!r} is not one of p50, p90")
    if not 0 < alpha < 1:
        raise fail_usage(f"--alpha must be between 0 and 1, exclusive (got {alpha:g})")
    if not math.isfinite(accuracy_drop) or accuracy_drop < 0:
        raise fail_usage(f"--accuracy-drop must be a non-negative number of points "
                         f"(got {accuracy_drop:g})")
    fraction = _fraction(threshold)
    current_path = _run_paths([current] if current else None, latest)[0]
    run_dir = current_path if current_path.is_dir() else current_path.parent
    try:
        base_dir = base if base.is_dir() else base.parent
        floor = find_noise_floor(noise_floor, run_dir.parent)
        if floor.source == "built-in default":  # `nox -s regress` runs CURRENT in a tmp dir
            floor = find_noise_floor(None, base_dir.parent)
        current_runs = load_runs([current_path])
        history = history_noise(  # this host's cross-run noise: what a K = 1 SLOWER needs
            [run_dir.parent, base_dir.parent],
            {run_dir.name, *current_runs.results["run_id"].astype(str)}, metric)
        settings = GateSettings(threshold=fraction, metric=metric, alpha=alpha,
                                accuracy_drop_points=accuracy_drop,
                                allow_missing=allow_missing, allow_broken=allow_broken,
                                allow_host_change=allow_host_change,
                                fail_on_unknown=fail_on_unknown, noise=floor,
                                history=history)
        comparison = compare_runs(load_runs([base]), current_runs, settings)
    except (RunsNotFound, NothingMatched, HostChanged, NoiseFloorError) as error:
        raise fail_usage(str(error)) from None
    markdown = comparison_markdown(comparison, settings, str(base), str(current_path))
    destination = _output_file(out or run_dir / "compare.md")
    atomic_write_text(destination, markdown)
    append_to_step_summary(markdown, comparison_marker(str(base), str(current_path)),
                           destination.parent)
    console.print(rich_table(render_comparison(comparison, settings),
                             f"{settings.metric}: BASE → CURRENT"))
    for note in comparison.attrs.get("notes", []):
        console.print(f"[yellow]warning:[/] {escape(note)}")
    code = gate_exit_code(comparison)
    console.print(("[red]REGRESSION[/]" if code else "[green]no regression[/]")
                  + f" — {destination}")
    raise typer.Exit(code)


plot_app = typer.Typer(help="Plots across runs.", no_args_is_help=True)
app.add_typer(plot_app, name="plot")


MinStep = Annotated[str, typer.Option(
    help="Smallest step between run levels that counts: 2.5% or 0.025.")]
StepRuns = Annotated[int, typer.Option(
    help="Runs a new level must hold to be a step (one outlier run is not).")]


def _history(root: Path, model: str | None, target: str | None, min_step: str,
             min_runs: int) -> tuple[Any, Any]:
    """(history, steps) under a results root, or exit 2 saying why there are none."""
    from qatbench.bench.statistics.history import find_history_steps, load_history
    from qatbench.bench.storage.runs import RunsNotFound

    step = _fraction(min_step, "--min-step")
    if min_runs < 1:
        raise fail_usage(f"--min-runs must be at least 1 (got {min_runs})")
    if not root.is_dir():
        raise fail_usage(f"{root}: no such results root (a directory of run directories)")
    try:
        history = load_history(root, model=model, target=target)
    except RunsNotFound as error:
        raise fail_usage(str(error)) from None
    if history.empty:
        raise fail_usage(f"{root}: no measured rows"
                         + (f" for model {model!r}" if model else "")
                         + (f" on target {target!r}" if target else ""))
    return history, find_history_steps(history, min_step=step, min_runs=min_runs)


@app.command("history")
def history_command(
    root: Annotated[Path, typer.Argument(help="Results root holding many runs.")],
    model: Annotated[str | None, typer.Option(help="Only this model.")] = None,
    target: Annotated[str | None, typer.Option(help="Only this target.")] = None,
    min_step: MinStep = "2.5%",
    min_runs: StepRuns = 2,
    since: Annotated[str | None, typer.Option(
        help="Only change points first seen after this run id (what is new).")] = None,
    steps_only: Annotated[bool, typer.Option(
        "--steps", help="One line per series' step instead of one alert per change "
                        "point.")] = False,
) -> None:
    """Which run made it slower: one alert per change point (the steps of every series
    at the same commit range grouped), with the commits and dates around it; a step that
    later went away is marked, not alerted twice (change points by ruptures' PELT)."""
    from qatbench.bench.presentation.tables import rich_table
    from qatbench.bench.statistics.alerts import group_alerts

    history, steps = _history(root, model, target, min_step, min_runs)
    series = history.groupby(["model", "variant", "target", "device", "threads"]).ngroups
    runs = list(dict.fromkeys(history["run_id"]))
    if since is not None and since not in runs:
        raise fail_usage(f"--since {since}: no such run under {root} (runs: "
                         f"{', '.join(runs[-5:])}{', ...' if len(runs) > 5 else ''})")
    if steps.empty:
        console.print(f"{len(runs)} runs, {series} series: no steps")
        return
    if steps_only:
        shown = steps.copy()
        shown["change"] = shown["change"].map(lambda v: f"{v:+.1%}")
        shown["before → after ms"] = [f"{b:.4g} → {a:.4g}" for b, a in
                                      zip(shown["before_ms"], shown["after_ms"], strict=True)]
        shown["between"] = [f"{cb} ({db}) → {ca} ({da})" for cb, db, ca, da in zip(
            shown["commit_before"], shown["date_before"], shown["commit_after"],
            shown["date_after"], strict=True)]
        console.print(rich_table(shown[["model", "variant", "target", "device", "threads",
                                        "change", "before → after ms", "between",
                                        "first_run_after"]], "steps"))
        console.print(f"{len(runs)} runs, {series} series, {len(steps)} step(s)")
        return
    alerts = group_alerts(steps, runs, _fraction(min_step, "--min-step"), since)
    if alerts.empty:
        console.print(f"{len(runs)} runs, {series} series: no change point after {since}")
        return
    console.print(rich_table(alerts, "change points"))
    open_alerts = int((alerts["state"] == "open").sum())
    console.print(f"{len(runs)} runs, {series} series, {len(steps)} step(s) in "
                  f"{len(alerts)} change point(s), {open_alerts} open")


@plot_app.command("history")
def plot_history_command(
    root: Annotated[Path, typer.Argument(help="Results root holding many runs.")],
    model: Annotated[str | None, typer.Option(help="Only this model.")] = None,
    target: Annotated[str | None, typer.Option(help="Only this target.")] = None,
    out: Annotated[Path | None, typer.Option(help="PNG path.")] = None,
    min_step: MinStep = "2.5%",
    min_runs: StepRuns = 2,
) -> None:
    """Latency across runs, one panel per model, each series relative to its first run,
    the repeat spread as a band and the detected steps drawn."""
    from qatbench.bench.presentation.history_plot import plot_history

    history, steps = _history(root, model, target, min_step, min_runs)
    destination = out or root / "history.png"
    from matplotlib.figure import Figure

    kinds = Figure().canvas.get_supported_filetypes()
    if destination.suffix.lstrip(".").lower() not in kinds:
        raise fail_usage(f"--out {destination}: give an image file ending in one of "
                         f"{', '.join('.' + kind for kind in sorted(kinds))}")
    path = plot_history(history, _output_file(destination), steps)
    console.print(f"{history['run_id'].nunique()} runs, {len(steps)} step(s) drawn: {path}")


@app.command()
def fingerprint(
    config: ConfigFile = None,
    device: Device = None,
) -> None:
    """A short id of this host's fingerprint for the config's targets (CPU, cores, runtime
    and tool versions, the device): a device lab keys its baselines by it."""
    from qatbench.bench.orchestration.host_id import host_fingerprint

    try:
        settings = _with_device(load_config(config), device)
    except ConfigError as error:
        raise fail_usage(str(error)) from None
    identity, parts = host_fingerprint(settings)
    for name, value in parts.items():
        errors.print(f"{name}: {value}", highlight=False, markup=False)
    print(identity)


def _terminate_as_interrupt(signum: int, frame: Any) -> None:
    """A CI cancel (SIGTERM) stops a run as Ctrl-C does: children are taken down, what
    finished is on disk, and the run can be resumed."""
    raise KeyboardInterrupt


# An OSError with one of these and a path, escaping a command, is about the place (a
# full disk, a read-only folder, a file where a folder goes...), not a bug.
_PLACE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM,
                 errno.EEXIST, errno.ENOTDIR, errno.EISDIR}


def _save_traceback(error: BaseException) -> Path | None:
    """The traceback of an unforeseen error in a file of its own; None if none can be
    written (then it goes to stderr)."""
    import datetime
    import tempfile
    import traceback

    text = (f"qatbench {' '.join(sys.argv[1:])}\n"
            f"{datetime.datetime.now(datetime.UTC).isoformat()}  python {sys.version}\n\n"
            + "".join(traceback.format_exception(error)))
    try:
        handle, name = tempfile.mkstemp(prefix="qatbench-crash-", suffix=".txt")
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
    except OSError:
        sys.stderr.write(text)
        return None
    return Path(name)


def _report_error(error: BaseException) -> int:
    """One line for an error that escaped a command, and its exit code: 2 for a user's
    mistake (a ``UserError``: bad input, a damaged run file, an unwritable place -- the
    message names it) or an OSError about a named place, 70 for anything else."""
    if isinstance(error, UserError):  # the one place a user's mistake becomes exit 2
        errors.print(f"[red]error:[/] {escape(error.user_message())}", highlight=False)
        return EXIT_USAGE
    if isinstance(error, OSError) and error.errno in _PLACE_ERRNOS and error.filename:
        errors.print(f"[red]error:[/] cannot use {escape(str(error.filename))}: "
                     f"{escape(error.strerror or str(error))}", highlight=False)
        return EXIT_USAGE
    saved = _save_traceback(error)
    first = (str(error).strip().splitlines() or [""])[0]
    where = f"the traceback is in {saved}" if saved else "the traceback is above"
    errors.print(f"[red]internal error[/] ({escape(type(error).__name__)}"
                 f"{': ' + escape(first) if first else ''}); {escape(where)} -- please "
                 "report it. Everything measured so far is on disk.", highlight=False)
    return EXIT_INTERNAL


def main() -> None:
    signal.signal(signal.SIGTERM, _terminate_as_interrupt)
    try:
        app()
    except KeyboardInterrupt:
        errors.print("interrupted")
        sys.exit(130)
    except Exception as error:  # the one place every escaped error is named
        sys.exit(_report_error(error))
