"""The commands that judge: ``compare`` (the regression gate), ``ab`` (interleaved A/B),
``bisect`` (which commit), ``history`` and ``plot history`` (which run). Each turns its
flags into one typed call and its verdict into an exit code."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from qatbench.bench.cli.output import console, errors
from qatbench.bench.cli.params import (
    BadFlags,
    Device,
    Latest,
    MinRuns,
    MinSecs,
    MinStep,
    OnlyModel,
    OnlyTarget,
    ResultsRoot,
    StepRuns,
    Target,
    output_file,
    parse_fraction,
    run_paths,
)


def compare(
    base: Annotated[Path, typer.Argument(help="Baseline run dir or results file.")],
    current: Annotated[Path | None, typer.Argument(help="Current run dir or results file.")
                       ] = None,
    latest: Latest = None,
    threshold: Annotated[float, typer.Option(
        parser=parse_fraction, metavar="FRACTION", show_default="5%",
        help="Smallest latency change (and int8 size growth) that matters: 5% or 0.05.")
                         ] = 0.05,
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
    from qatbench.bench.orchestration.compare_session import CompareRequest, run_compare
    from qatbench.bench.presentation.gate_report import render_comparison
    from qatbench.bench.presentation.tables import rich_table

    request = CompareRequest.of(  # a bad metric, alpha or drop: a UserError naming it
        base=base, current=run_paths([current] if current else None, latest)[0],
        threshold=threshold, metric=metric, alpha=alpha, accuracy_drop=accuracy_drop,
        allow_missing=allow_missing, allow_broken=allow_broken,
        allow_host_change=allow_host_change, fail_on_unknown=fail_on_unknown,
        noise_floor=noise_floor, out=out)
    result = run_compare(request, output_file(out or request.run_dir / "compare.md"))
    console.print(rich_table(render_comparison(result.comparison, result.settings),
                             f"{result.settings.metric}: BASE → CURRENT"))
    for note in result.comparison.attrs.get("notes", []):
        console.print(f"[yellow]warning:[/] {escape(note)}")
    console.print(("[red]REGRESSION[/]" if result.exit_code else "[green]no regression[/]")
                  + f" — {result.markdown}")
    raise typer.Exit(result.exit_code)


def ab(
    base: Annotated[Path, typer.Argument(help="A run dir, an artifacts dir or a .tflite.")],
    current: Annotated[Path, typer.Argument(help="The same kind of thing, to compare.")],
    target: Target = "cpu-xnnpack",
    threads: Annotated[int, typer.Option(min=1, help="Threads for both.")] = 1,
    pairs: Annotated[int, typer.Option(min=3, help="Pairs to start with.")] = 4,
    max_pairs: Annotated[int, typer.Option(min=3, help="Doubling stops here.")] = 64,
    threshold: Annotated[float, typer.Option(
        parser=parse_fraction, metavar="FRACTION", show_default="2%",
        help="Smallest change that matters, e.g. 2% (SAME: the interval is inside it).")
    ] = 0.02,
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
    from qatbench.bench.orchestration.ab_session import (
        AbInterrupted,
        AbRequest,
        ab_settings,
        run_ab,
    )
    from qatbench.bench.presentation.gate_report import ab_table

    if max_pairs < pairs:
        raise BadFlags(f"--max-pairs {max_pairs} is below --pairs {pairs}")
    settings = ab_settings(target, threshold, threads=threads, pairs=pairs,
                           max_pairs=max_pairs, budget_s=budget, seed=seed,
                           min_runs=min_runs, min_secs=min_secs)
    folder = out or Path("results") / f"ab-{datetime.datetime.now():%Y%m%dT%H%M%S}"
    request = AbRequest(base, current, settings, folder, device, fail_on_unknown)
    try:
        with console.status("A/B") as status:
            result = run_ab(request, on_status=lambda text: status.update(escape(text)))
    except AbInterrupted as stopped:
        errors.print(f"interrupted: the {stopped.pairs} pair(s) measured so far are kept "
                     f"in {escape(str(stopped.parquet))}; no verdict was written",
                     highlight=False)
        raise typer.Exit(130) from None
    console.print(ab_table(result.verdicts))
    console.print(f"ab: {result.report}")
    raise typer.Exit(result.exit_code)


def bisect(
    good: Annotated[str, typer.Option(help="A revision that is fast (git rev).")],
    bad: Annotated[str, typer.Option(help="A later revision that is slower.")],
    config: Annotated[str, typer.Option(
        help="The run config, relative to the repository root at each revision.")] = (
        "qatbench.toml"),
    repo: Annotated[Path, typer.Option(exists=True, file_okay=False,
                                       help="The git repository.")] = Path("."),
    target: Target = "cpu-xnnpack",
    threshold: Annotated[float, typer.Option(
        parser=parse_fraction, metavar="FRACTION", show_default="2%",
        help="Smallest change that matters.")
    ] = 0.02,
    max_pairs: Annotated[int, typer.Option(min=3, help="A/B pairs cap per probe.")] = 64,
    budget: Annotated[float, typer.Option(help="Seconds per series per probe.")] = 180.0,
    min_secs: MinSecs = None,
    out: Annotated[Path | None, typer.Option(help="Working folder.")] = None,
) -> None:
    """The first commit between GOOD and BAD whose models are SLOWER than GOOD's: each
    probe built in a git worktree (through the build cache) and timed against GOOD
    interleaved (`qatbench ab`). Exit 0 with the culprit, 1 if none could be named."""
    from qatbench.bench.orchestration import bisect as bisecting
    from qatbench.bench.orchestration.ab import child_timer
    from qatbench.bench.orchestration.ab_session import ab_settings

    settings = ab_settings(target, threshold, max_pairs=max_pairs, budget_s=budget,
                           min_secs=min_secs)
    work = out or Path("results") / f"bisect-{datetime.datetime.now():%Y%m%dT%H%M%S}"
    with console.status("bisecting") as status:  # a BisectError is a UserError: exit 2
        result = bisecting.bisect(repo.resolve(), good, bad,
                                  bisecting.qatbench_builder(config), settings,
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


def history(
    root: ResultsRoot,
    model: OnlyModel = None,
    target: OnlyTarget = None,
    min_step: MinStep = 0.025,
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
    from qatbench.bench.orchestration.history_command import HistoryRequest, read_history
    from qatbench.bench.presentation.history_table import steps_frame
    from qatbench.bench.presentation.tables import rich_table

    found = read_history(HistoryRequest(root, model, target, min_step, min_runs, since),
                         alerts=not steps_only)
    runs, series, steps = len(found.runs), found.series, found.steps
    if steps.empty:
        console.print(f"{runs} runs, {series} series: no steps")
    elif steps_only:
        console.print(rich_table(steps_frame(steps), "steps"))
        console.print(f"{runs} runs, {series} series, {len(steps)} step(s)")
    elif found.alerts.empty:
        console.print(f"{runs} runs, {series} series: no change point after {since}")
    else:
        console.print(rich_table(found.alerts, "change points"))
        open_alerts = int((found.alerts["state"] == "open").sum())
        console.print(f"{runs} runs, {series} series, {len(steps)} step(s) in "
                      f"{len(found.alerts)} change point(s), {open_alerts} open")


def plot_history(
    root: ResultsRoot,
    model: OnlyModel = None,
    target: OnlyTarget = None,
    out: Annotated[Path | None, typer.Option(help="PNG path.")] = None,
    min_step: MinStep = 0.025,
    min_runs: StepRuns = 2,
) -> None:
    """Latency across runs, one panel per model, each series relative to its first run,
    the repeat spread as a band and the detected steps drawn."""
    from qatbench.bench.orchestration.history_command import (
        HistoryRequest,
        plot_history_file,
    )

    path, found = plot_history_file(HistoryRequest(root, model, target, min_step, min_runs),
                                    output_file(out or root / "history.png"))
    console.print(f"{len(found.runs)} runs, {len(found.steps)} step(s) drawn: {path}")
