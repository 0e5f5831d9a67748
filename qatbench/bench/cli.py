"""The ``qatbench`` command (also ``python -m qatbench``).

Exit codes: 0 all well; 1 a job failed or a regression was found (results are still
written); 2 bad usage, a bad config or a bad input file.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from qatbench.bench.config import VARIANTS, ConfigError, RunConfig, build_config, load_config
from qatbench.bench.session import EXIT_FAILED, EXIT_USAGE, execute, new_context, open_store
from qatbench.bench.store import RunDirError, RunStore

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
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
    """``--device`` goes to every target of the run that talks to a device."""
    if not device:
        return settings
    options = {name: dict(values) for name, values in settings.targets.items()}
    for target in settings.run.targets:
        if not target.startswith("cpu-"):
            options.setdefault(target, {})["device"] = device
    return settings.model_copy(update={"targets": options})


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
Device = Annotated[str | None, typer.Option(
    help="Device for the hardware targets: a phone's adb serial, or usb:0 / pci:0 for the "
         "Edge TPU.")]
ConfigFile = Annotated[Path | None, typer.Option(
    help="Run config TOML, or a shipped one by name: cpu, edgetpu, nnapi (default cpu).")]


@app.command()
def run(
    config: ConfigFile = None,
    models: Annotated[str | None, typer.Option(help="Comma-separated zoo models.")] = None,
    variants: Annotated[str | None, typer.Option(help=f"Of {', '.join(VARIANTS)}.")] = None,
    targets: Annotated[str | None, typer.Option(help="Comma-separated targets.")] = None,
    threads: Annotated[str | None, typer.Option(help="Thread counts, e.g. 1,2.")] = None,
    out: Annotated[Path | None, typer.Option(help="Results root (default results/).")] = None,
    quick: Annotated[bool, typer.Option(help="Fewer epochs, shorter timing (~2 min).")] = False,
    timeout: Timeout = None,
    resume: Annotated[Path | None, typer.Option(help="Finish an interrupted run dir.")] = None,
    shard: Annotated[str | None, typer.Option(help="Run slice I of N of the matrix: I/N.")] = None,
    benchmark_json: BenchmarkJson = None,
    device: Device = None,
    imagenet_dir: Annotated[Path | None, typer.Option(
        help="ImageNet-style folder (class subfolders) for top-1 of ImageNet models.")] = None,
    warmup_runs: WarmupRuns = None,
    min_runs: MinRuns = None,
    min_secs: MinSecs = None,
    max_secs: MaxSecs = None,
) -> None:
    """Build the models (float32, ptq_int8, qat_int8) and time them on every target."""
    run_overrides: dict[str, Any] = {
        "models": _split(models), "variants": _split(variants), "targets": _split(targets),
        "threads": _threads(threads), "out": str(out) if out else None, "timeout_s": timeout,
        "imagenet_dir": str(imagenet_dir) if imagenet_dir else None}
    overrides = {"run": {k: v for k, v in run_overrides.items() if v is not None},
                 "measure": _measure_overrides(warmup_runs, min_runs, min_secs, max_secs)}
    try:
        if resume is not None:
            store = RunStore.open_existing(resume)
            settings = build_config(json.loads((resume / "config.json").read_text()))
        else:
            settings = _with_device(load_config(config, quick=quick, overrides=overrides),
                                    device)
            store = open_store(settings, None)
    except (ConfigError, RunDirError) as error:
        raise fail_usage(str(error)) from None
    from qatbench.bench.runner import plan_jobs, zoo_provider

    jobs = plan_jobs(settings.run.models, settings.run.variants, settings.run.targets,
                     settings.run.threads, _shard(shard))
    code = execute(new_context(settings, store), jobs, zoo_provider, console, benchmark_json)
    raise typer.Exit(code)


@app.command()
def bench(
    files: Annotated[list[Path], typer.Argument(help="One or more .tflite files.")],
    targets: Annotated[str, typer.Option(help="Comma-separated targets.")] = "cpu-xnnpack",
    threads: Annotated[str, typer.Option(help="Thread counts, e.g. 1,2.")] = "1",
    out: Annotated[Path, typer.Option(help="Results root.")] = Path("results"),
    config: ConfigFile = None,
    timeout: Timeout = None,
    benchmark_json: BenchmarkJson = None,
    device: Device = None,
    warmup_runs: WarmupRuns = None,
    min_runs: MinRuns = None,
    min_secs: MinSecs = None,
    max_secs: MaxSecs = None,
) -> None:
    """Time existing .tflite files (any tool's, float or quantized) on the given targets."""
    from qatbench.bench.external import external_provider, plan_file_jobs
    from qatbench.targets.tflite_file import InvalidModelFile

    overrides = {"run": {"targets": _split(targets), "threads": _threads(threads),
                         "out": str(out), **({"timeout_s": timeout} if timeout else {})},
                 "measure": _measure_overrides(warmup_runs, min_runs, min_secs, max_secs)}
    try:
        settings = _with_device(load_config(config, overrides=overrides), device)
        jobs, builds = plan_file_jobs(files, settings)
        store = open_store(settings, None)
    except (ConfigError, InvalidModelFile, RunDirError) as error:
        raise fail_usage(str(error)) from None
    code = execute(new_context(settings, store), jobs, external_provider(builds), console,
                   benchmark_json)
    raise typer.Exit(code)


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
            target = create_target(name, settings.targets.get(name, {}))
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
    """The model zoo: names, inputs and the data each one trains and evaluates on."""
    from rich.table import Table

    from qatbench.models.zoo import ZOO

    table = Table("model", "input", "classes", "data", "description")
    for spec in ZOO.values():
        data = "shipped in a package" if spec.trainable_here else "none (latency only)"
        table.add_row(spec.name, "x".join(map(str, spec.input_shape)), str(spec.num_classes),
                      data, spec.description)
    console.print(table)


Runs = Annotated[list[Path] | None, typer.Argument(help="Run dirs (or results files).")]
Latest = Annotated[Path | None, typer.Option(
    help="Use the newest run under this results root.")]


def _run_paths(runs: list[Path] | None, latest: Path | None) -> list[Path]:
    from qatbench.bench.runs import RunsNotFound, latest_run

    paths = list(runs or [])
    if latest is not None:
        try:
            paths.append(latest_run(latest))
        except RunsNotFound as error:
            raise fail_usage(str(error)) from None
    if not paths:
        raise fail_usage("give at least one run directory (or --latest RESULTS_ROOT)")
    return paths


@app.command()
def report(
    runs: Runs = None,
    latest: Latest = None,
    out: Annotated[Path | None, typer.Option(
        help="Where to write (default: the run dir, or merged-report/ for several).")] = None,
) -> None:
    """report.md, self-contained report.html and plots; several runs (shards) merge."""
    from qatbench.bench.report import write_report
    from qatbench.bench.runs import RunsNotFound, load_runs
    from qatbench.bench.summary import summary_frame
    from qatbench.bench.tables import rich_table

    paths = _run_paths(runs, latest)
    try:
        loaded = load_runs(paths)
    except RunsNotFound as error:
        raise fail_usage(str(error)) from None
    target_dir = out or (loaded.run_dirs[0] if len(loaded.run_dirs) == 1
                         else loaded.run_dirs[0].parent / "merged-report")
    path = write_report(loaded.results, loaded.run_dirs, target_dir)
    if not loaded.results.empty:
        console.print(rich_table(summary_frame(loaded.results), "float → int8"))
    console.print(f"{len(loaded.results)} rows from {len(loaded.run_dirs)} run(s); "
                  f"report: {path} and {path.with_suffix('.html')}")


def _fraction(value: str) -> float:
    text = value.strip()
    try:
        number = float(text.rstrip("%"))
    except ValueError:
        raise fail_usage(f"--threshold takes a percentage like 5% (got {value!r})") from None
    return number / 100 if text.endswith("%") or number >= 1 else number


@app.command()
def compare(
    base: Annotated[Path, typer.Argument(help="Baseline run dir or results file.")],
    current: Annotated[Path | None, typer.Argument(help="Current run dir or results file.")
                       ] = None,
    latest: Latest = None,
    threshold: Annotated[str, typer.Option(help="Relative change that counts: 5%.")] = "5%",
    metric: Annotated[str, typer.Option(help="p50 or p90.")] = "p50",
    alpha: Annotated[float, typer.Option(help="Significance level of the test.")] = 0.001,
    accuracy_drop: Annotated[float, typer.Option(
        help="Top-1 drop in points that fails the gate.")] = 1.0,
    out: Annotated[Path | None, typer.Option(
        help="compare.md location (default: in CURRENT's run dir).")] = None,
) -> None:
    """Regression gate: exit 1 if anything is slower, bigger or less accurate than BASE."""
    from qatbench.bench.compare import (
        GateSettings,
        NothingMatched,
        compare_runs,
        comparison_markdown,
        regressed,
        render_comparison,
    )
    from qatbench.bench.runs import RunsNotFound, load_runs
    from qatbench.bench.store import atomic_write_text
    from qatbench.bench.tables import rich_table

    if metric not in {"p50", "p90"}:
        raise fail_usage(f"--metric: {metric!r} is not one of p50, p90")
    current_path = _run_paths([current] if current else None, latest)[0]
    settings = GateSettings(threshold=_fraction(threshold), metric=metric, alpha=alpha,
                            accuracy_drop_points=accuracy_drop)
    try:
        comparison = compare_runs(load_runs([base]), load_runs([current_path]), settings)
    except (RunsNotFound, NothingMatched) as error:
        raise fail_usage(str(error)) from None
    markdown = comparison_markdown(comparison, settings, str(base), str(current_path))
    destination = out or (current_path if current_path.is_dir() else current_path.parent) \
        / "compare.md"
    atomic_write_text(destination, markdown)
    summary_file = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary_file:
        with open(summary_file, "a", encoding="utf-8") as handle:
            handle.write(markdown + "\n")
    console.print(rich_table(render_comparison(comparison, settings),
                             f"{settings.metric}: BASE → CURRENT"))
    failed = regressed(comparison)
    console.print(("[red]REGRESSION[/]" if failed else "[green]no regression[/]")
                  + f" — {destination}")
    raise typer.Exit(EXIT_FAILED if failed else 0)


plot_app = typer.Typer(help="Plots across runs.", no_args_is_help=True)
app.add_typer(plot_app, name="plot")


@plot_app.command("history")
def plot_history_command(
    root: Annotated[Path, typer.Argument(help="Results root holding many runs.")],
    model: Annotated[str | None, typer.Option(help="Only this model.")] = None,
    target: Annotated[str | None, typer.Option(help="Only this target.")] = None,
    out: Annotated[Path | None, typer.Option(help="PNG path.")] = None,
    threshold: Annotated[str, typer.Option(help="Gate threshold for marking.")] = "5%",
) -> None:
    """p50 with its CI band across runs; runs the gate judged regressions are marked."""
    from qatbench.bench.history import load_history
    from qatbench.bench.plots import plot_history

    history = load_history(root, model=model, target=target, threshold=_fraction(threshold))
    if history.empty:
        raise fail_usage(f"{root}: no measured rows"
                         + (f" for model {model!r}" if model else "")
                         + (f" on target {target!r}" if target else ""))
    path = plot_history(history, out or root / "history.png")
    flagged = int(history["regression"].sum())
    console.print(f"{history['run_id'].nunique()} runs, {flagged} regression(s) marked: {path}")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        errors.print("interrupted")
        sys.exit(130)
