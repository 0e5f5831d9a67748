"""What every command's flags share: their types, and the parsers that turn a flag's text
into a typed value while typer parses the command line.

A bad value is a ``typer.BadParameter`` raised here, so click names the flag and exits 2
before the command's body runs -- nothing is loaded, built or timed. Flags that do not
go together, and places that cannot be used, are a ``BadFlags`` (a ``UserError``) raised
by the command; ``app.main`` maps every ``UserError`` to exit 2 in one place.
"""

from __future__ import annotations

import errno
import math
from pathlib import Path
from typing import Annotated, NamedTuple

import typer
from rich.markup import escape

from qatbench.atomic import UnwritableOutput, ensure_writable_dir
from qatbench.bench.cli.output import errors
from qatbench.bench.orchestration.config import ALL_VARIANTS, VARIANTS
from qatbench.errors import UserError


class BadFlags(UserError, ValueError):
    """Flags that do not go together, or a flag's place that cannot be used: the
    message names the flag and what to give instead (exit 2, from ``app.main``)."""


# -- typed values a parser returns (tuple subclasses: typer passes them whole) ------------

class Names(tuple[str, ...]):
    """A comma-separated list of names (models, variants, targets), never empty."""

    def __str__(self) -> str:  # as it is written on the command line (help's default)
        return ",".join(self)


class ThreadCounts(tuple[int, ...]):
    """``--threads 1,2``."""

    def __str__(self) -> str:
        return ",".join(map(str, self))


class Shard(NamedTuple):
    """``--shard I/N``: slice I (from 1) of N of the matrix."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


HOST_CPU = Names(["cpu-xnnpack"])  # the default --targets of bench and profile
ONE_THREAD = ThreadCounts([1])


def parse_names(value: str) -> Names:
    if isinstance(value, Names):  # a default, already parsed
        return value
    items = [item.strip() for item in value.split(",") if item.strip()]
    if not items:
        raise typer.BadParameter("an empty list was given")
    return Names(items)


def parse_threads(value: str) -> ThreadCounts:
    if isinstance(value, ThreadCounts):  # a default, already parsed
        return value
    try:
        return ThreadCounts(int(item) for item in parse_names(value))
    except ValueError:
        raise typer.BadParameter(f"takes integers like 1,2 (got {value!r})") from None


def parse_shard(value: str) -> Shard:
    try:
        index, count = (int(part) for part in value.split("/"))
    except ValueError:
        raise typer.BadParameter(f"takes I/N, e.g. 2/4 (got {value!r})") from None
    if not 1 <= index <= count:
        raise typer.BadParameter(f"{value}: I must be between 1 and N")
    return Shard(index, count)


def fraction(value: str) -> float:
    """A relative change: ``5%`` (a percentage, with the sign) or ``0.05`` (a fraction < 1).

    A bare ``5`` is refused rather than guessed: it could mean 5% or 500%. ``ValueError``
    saying what to write if it is not one (click puts the flag's name before it).
    """
    text = value.strip()
    percent = text.endswith("%")
    try:
        number = float(text[:-1] if percent else text)
    except ValueError:
        raise ValueError(f"takes a percentage like 5% or a fraction like 0.05 "
                         f"(got {value!r})") from None
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"must be a non-negative finite change like 5% or 0.05 "
                         f"(got {value!r})")
    if not percent and number >= 1:
        raise ValueError(f"{value}: write {text}% for a percentage, or a fraction below 1 "
                         f"such as {number / 100:g}")
    return number / 100 if percent else number


def parse_fraction(value: str) -> float:
    """``--threshold`` / ``--min-step``: a relative change (``fraction``)."""
    if isinstance(value, float):  # a default, already parsed
        return value
    try:
        return fraction(value)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None


def parse_size(value: str) -> int:
    """``--max-size 500MB``: bytes."""
    from qatbench.bench.orchestration.build_cache import parse_size as size_in_bytes

    try:
        return size_in_bytes(value)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None


def parse_target(value: str) -> str:
    """A target name (or ``module:factory``) and its default options checked while the
    command line is parsed: a misspelt one names the known targets (exit 2)."""
    from qatbench.targets.registry import validate_target_options

    try:
        validate_target_options(value, {})
    except UserError as error:
        raise typer.BadParameter(error.user_message()) from None
    return value


def parse_results_root(value: str) -> Path:
    root = Path(value)
    if not root.is_dir():
        raise typer.BadParameter(f"{root}: no such results root (a directory of run "
                                 "directories)")
    return root


# -- option types shared by several commands ---------------------------------------------

VARIANTS_HELP = (
    f"Comma-separated, of {', '.join(ALL_VARIANTS)} (default {','.join(VARIANTS)}). "
    "dynamic_int8, int8_weights, int4_weights and fp16 are the float32 file quantized by "
    "Google's LiteRT Quantizer; qat_selective trains [training] qat_layers only; "
    "mixed_int8 keeps keep_float_ops float.")

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
ModelNames = Annotated[Names | None, typer.Option(
    "--models", parser=parse_names, metavar="A,B", help="Comma-separated zoo models.")]
Variants = Annotated[Names | None, typer.Option(parser=parse_names, metavar="A,B",
                                                help=VARIANTS_HELP)]
TargetList = Annotated[Names, typer.Option(
    "--targets", parser=parse_names, metavar="A,B", help="Comma-separated targets.")]
Threads = Annotated[ThreadCounts, typer.Option(
    parser=parse_threads, metavar="N,N", help="Thread counts, e.g. 1,2.")]
Target = Annotated[str, typer.Option(parser=parse_target, metavar="TARGET",
                                     help="The target to time on.")]
OnlyModel = Annotated[str | None, typer.Option(help="Only this model.")]
OnlyTarget = Annotated[str | None, typer.Option(help="Only this target.")]
MinStep = Annotated[float, typer.Option(
    parser=parse_fraction, show_default="2.5%", metavar="FRACTION",
    help="Smallest step between run levels that counts: 2.5% or 0.025.")]
StepRuns = Annotated[int, typer.Option(
    min=1, help="Runs a new level must hold to be a step (one outlier run is not).")]
ResultsRoot = Annotated[Path, typer.Argument(
    parser=parse_results_root, help="Results root holding many runs.")]
Runs = Annotated[list[Path] | None, typer.Argument(help="Run dirs (or results files).")]
Latest = Annotated[Path | None, typer.Option(
    help="Use the newest run under this results root.")]


# -- places: checked before anything is written ------------------------------------------

def output_file(path: Path, option: str = "--out") -> Path:
    """A file an output option names, checked before it is written: not a directory, its
    folder created if missing (as every output folder is) and writable; exit 2 if not."""
    try:
        if path.is_dir():
            raise UnwritableOutput(path, IsADirectoryError(errno.EISDIR, "Is a directory"))
        ensure_writable_dir(path.parent)
    except UnwritableOutput as error:
        raise BadFlags(f"{option} {path}: {error}") from None
    return path


def run_paths(runs: list[Path] | None, latest: Path | None) -> list[Path]:
    """The run directories a command reads: those given, and the newest under
    ``--latest`` (naming any newer run it had to skip); exit 2 if there are none."""
    from qatbench.bench.storage.runs import latest_run, newer_runs_skipped

    paths = list(runs or [])
    if latest is not None:
        paths.append(latest_run(latest))  # RunsNotFound: a UserError, exit 2
        for skipped in newer_runs_skipped(latest, paths[-1]):  # never silently
            errors.print(f"[yellow]warning:[/] --latest skipped the newer run "
                         f"{escape(str(skipped))}: it has no results.parquet yet (still on "
                         "its first job, or stopped before one finished); using "
                         f"{escape(str(paths[-1]))}", highlight=False)
    if not paths:
        raise BadFlags("give at least one run directory (or --latest RESULTS_ROOT)")
    return paths
