"""The commands that show without timing: ``report``, ``explore``, ``targets``,
``models`` and ``fingerprint``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from qatbench.bench.cli.output import console, errors
from qatbench.bench.cli.params import ConfigFile, Device, Latest, Runs, run_paths
from qatbench.bench.orchestration.overrides import settings


def report(
    runs: Runs = None,
    latest: Latest = None,
    out: Annotated[Path | None, typer.Option(
        help="Where to write (default: the run dir, or merged-report/ for several).")] = None,
) -> None:
    """report.md, self-contained report.html and plots; several runs (shards) merge."""
    from qatbench.atomic import ensure_writable_dir
    from qatbench.bench.presentation.report import write_report
    from qatbench.bench.presentation.summary import summary_frame
    from qatbench.bench.presentation.tables import rich_table
    from qatbench.bench.storage import runs as stored

    loaded = stored.load_runs(run_paths(runs, latest))  # RunsNotFound: exit 2
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
        explore_command.open_in_explorer(exploration)


def targets(
    config: Annotated[Path | None, typer.Option(help="Config TOML with target options.")] = None,
) -> None:
    """Every target: available, or the exact reason it is not and how to fix it."""
    from rich.table import Table

    from qatbench.bench.orchestration.config import RunConfig
    from qatbench.targets.registry import create_target, target_names

    run_config = settings(config) if config else RunConfig()  # ConfigError: exit 2
    table = Table("target", "status", "details")
    for name in target_names():
        try:
            target = create_target(name, run_config.target_options(name))
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


def models() -> None:
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


def fingerprint(
    config: ConfigFile = None,
    device: Device = None,
) -> None:
    """A short id of this host's fingerprint for the config's targets (CPU, cores, runtime
    and tool versions, the device): a device lab keys its baselines by it."""
    from qatbench.bench.orchestration.host_id import host_fingerprint

    identity, parts = host_fingerprint(settings(config, device=device))
    for name, value in parts.items():
        errors.print(f"{name}: {value}", highlight=False, markup=False)
    print(identity)
