"""``qatbench ab`` as one typed call: pair BASE's and CURRENT's files, time every series
interleaved (``ab.run_series``), keep every pair on disk as it is measured, and write the
verdicts and ``ab.md``.

What the command line does is only to build an ``AbRequest``; a test (or another tool)
calls ``run_ab`` with the same request and, in place of the timing child, a ``Timer``.
The settings ``ab`` and ``bisect`` time with are built in one place (``ab_settings``).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qatbench.atomic import atomic_write_parquet, atomic_write_text, ensure_writable_dir
from qatbench.bench.orchestration import ab
from qatbench.bench.orchestration.ab import AbInputError, AbSettings, SeriesOutcome

PAIRS_FILE = "ab.parquet"
VERDICTS_FILE = "ab_verdicts.parquet"
REPORT_FILE = "ab.md"


def ab_settings(target: str, threshold: float, *, threads: int = 1, pairs: int = 4,
                max_pairs: int = 64, budget_s: float = 180.0, seed: int = 0,
                min_runs: int | None = None, min_secs: float | None = None) -> AbSettings:
    """What one A/B series is timed with (``ab`` and each ``bisect`` probe): ``ab.AB_SPEC``
    with the command's ``--min-runs`` / ``--min-secs`` (None: the default)."""
    return AbSettings(target, threads, pairs, max_pairs, threshold, budget_s, seed,
                      ab.ab_spec(min_runs or None, min_secs))


@dataclass(frozen=True)
class AbRequest:
    """``qatbench ab BASE CURRENT``: what to pair, how to time it, where to write."""

    base: Path
    current: Path
    settings: AbSettings
    folder: Path  # ab.parquet, ab_verdicts.parquet, ab.md
    device: str | None = None
    fail_on_unknown: bool = False


@dataclass
class AbResult:
    outcomes: list[SeriesOutcome]
    verdicts: Any  # pandas DataFrame: the gate's rows, one per series (``ab.outcome_frame``)
    report: Path  # ab.md
    exit_code: int  # the gate's one rule: 1 if a series fails (SLOWER; UNKNOWN if asked)


class AbInterrupted(Exception):
    """Stopped before every series was decided: the pairs measured so far are on disk
    (``parquet``); no verdict was written."""

    def __init__(self, pairs: int, parquet: Path) -> None:
        super().__init__(f"interrupted after {pairs} pair(s), kept in {parquet}")
        self.pairs, self.parquet = pairs, parquet


def target_options(settings: AbSettings, device: str | None) -> dict[str, Any]:
    """The target's options for every timing child: ``--device`` where the target talks
    to a device, and instruction counting where the target declares it (the host CPU)."""
    from qatbench.targets.base import Capability
    from qatbench.targets.registry import target_takes_device, with_requested

    options: dict[str, Any] = ({"device": device} if device and target_takes_device(
        settings.target, None) else {})
    return with_requested(settings.target, options, Capability.COUNT_INSTRUCTIONS
                          ).model_dump(exclude_defaults=True)


def pair_inputs(request: AbRequest) -> list[ab.Series]:
    """The series both sides have; refused input leaves no folder this call created."""
    created = not request.folder.exists()
    ensure_writable_dir(request.folder)
    try:
        return ab.pair_series(request.base, request.current, request.folder / "unpacked")
    except AbInputError:
        if created:  # it holds nothing but an unpacked archive
            shutil.rmtree(request.folder, ignore_errors=True)
        raise


def run_ab(request: AbRequest, timer: ab.Timer | None = None,
           on_status: Callable[[str], None] | None = None) -> AbResult:
    """Every series timed interleaved until decided (or its cap), each pair written to
    ``ab.parquet`` as soon as it is measured; then the verdicts and ``ab.md``.

    ``timer`` defaults to one fresh timing child per measurement on the request's target.
    Raises ``AbInputError`` (exit 2) for input that cannot be paired or timed, and
    ``AbInterrupted`` on Ctrl-C with the pairs kept.
    """
    import pandas as pd

    from qatbench.bench.presentation.gate_report import ab_markdown
    from qatbench.bench.statistics.checks import gate_exit_code

    if timer is None:  # the target's options first: a misspelt target makes no folder
        timer = ab.child_timer(request.settings, target_options(request.settings,
                                                                 request.device))
    series = pair_inputs(request)
    status = on_status or (lambda text: None)
    parquet = request.folder / PAIRS_FILE
    lines: list[dict[str, Any]] = []

    def measured(line: dict[str, Any]) -> None:
        """Every pair is on disk as soon as it is measured (an interrupt keeps it)."""
        lines.append(line)
        atomic_write_parquet(parquet, pd.DataFrame(lines))
        status(f"A/B {line['series']}: pair {line['pair'] + 1}")

    outcomes = []
    try:
        for one in series:
            status(f"A/B {one.name}")
            outcomes.append(ab.run_series(one, request.settings, timer,
                                          request.folder / "work" / one.name.replace("/", "-"),
                                          measured))
    except KeyboardInterrupt:
        raise AbInterrupted(len(lines), parquet) from None
    verdicts = ab.outcome_frame(outcomes, request.settings, request.fail_on_unknown)
    atomic_write_parquet(request.folder / VERDICTS_FILE, verdicts)
    report = request.folder / REPORT_FILE
    atomic_write_text(report, ab_markdown(verdicts, request.settings, str(request.base),
                                          str(request.current)))
    return AbResult(outcomes, verdicts, report, gate_exit_code(verdicts))
