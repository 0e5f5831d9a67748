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
    from qatbench.bench.orchestration.report_command import write_run_report
    from qatbench.bench.presentation.tables import rich_table

    written = write_run_report(run_paths(runs, latest), out)  # RunsNotFound: exit 2
    if written.summary is not None:
        console.print(rich_table(written.summary, "float → int8"))
        console.print(rich_table(written.what_to_ship, "what to ship"))
    console.print(f"{written.rows} rows from {written.runs} run(s); "
                  f"report: {written.path} and {written.path.with_suffix('.html')}")


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
    from qatbench.bench.orchestration.listings import target_statuses

    table = Table("target", "status", "details")
    colour = {"available": "green", "unavailable": "yellow", "error": "red"}
    for status in target_statuses(settings(config) if config else RunConfig()):
        table.add_row(status.name, f"[{colour[status.state]}]{status.state}[/]",
                      escape(status.details))
    console.print(table)


def models() -> None:
    """The model zoo and installed plug-in zoos: names, inputs and each one's data.

    Your own model goes in a [models.NAME] table of a run config, or `run --model`."""
    from rich.table import Table

    from qatbench.bench.orchestration.listings import model_listing

    listing = model_listing()
    if listing.plugin_error:
        console.print(f"[yellow]{escape(listing.plugin_error)}[/]")
    table = Table("model", "input", "classes", "data", "from", "description")
    for spec in listing.specs.values():
        data = "shipped in a package" if spec.trainable_here else "none (latency only)"
        table.add_row(spec.name, "x".join(map(str, spec.input_shape)), str(spec.num_classes),
                      data, listing.origins[spec.name], spec.description)
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
