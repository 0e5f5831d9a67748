"""``qatbench ab BASE CURRENT``: interleaved A/B timing on one host, adaptive repeats.

Two runs made at different times differ by whatever the host did in between (on shared
VMs, ~8% between runs and up to 2x between days); a gate on them cannot see a 3%
change. Here each series' two files are timed alternately in fresh child processes on
the same target and threads, each pair adjacent in time, in a randomised ABBA order
(A then B, or B then A, drawn per pair, so neither side always runs second), and the
verdict comes from the pairs' log ratios (``statistics/paired.py``): a drift that hits
both members of a pair cancels.

Adaptive repeats: a series starts with ``pairs`` pairs and doubles them while the
verdict is UNKNOWN, up to ``max_pairs`` or its time budget, and stops as soon as it is
decided -- as Chrome's Pinpoint does. Every measured pair is kept (``ab.parquet``).

The verdicts are the gate's (``statistics/verdict.py``): each series becomes the same
``Pair`` ``compare`` judges, its pairs the evidence, and one latency check at the A/B
threshold (``gate_checks``) fails it through the same rows and exit rule
(``checks.gate_frame``, ``checks.gate_exit_code``) as ``compare`` and ``bisect``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qatbench.bench.orchestration.launcher import run_in_child
from qatbench.bench.statistics.checks import Check, LatencyCheck, Pair, gate_frame
from qatbench.bench.statistics.paired import PairedEvidence, decide_paired
from qatbench.bench.statistics.stats import repeat_figure
from qatbench.bench.statistics.verdict import Decision
from qatbench.bench.storage.layout import ARTIFACTS_DIR, CHILD_RESULT_FILE
from qatbench.errors import UserError
from qatbench.qat.artifacts import MANIFEST
from qatbench.targets.base import MeasureSpec, Status
from qatbench.targets.worker import JobRequest

# (side, model file, work dir) -> ms, or (ms, instructions per inference or None, note)
Timer = Callable[[str, Path, Path], "float | tuple[float, float | None, str]"]


class AbInputError(UserError, ValueError):
    """BASE or CURRENT cannot be paired; the message names what and why."""


@dataclass(frozen=True)
class Series:
    name: str  # model/variant, or the file's stem
    base: Path
    current: Path


def _files_of(path: Path, scratch: Path | None = None) -> dict[str, Path]:
    """``model/variant`` -> .tflite of a run directory, an artifacts directory (or the
    ``.tar.gz`` `qatbench build --archive` wrote, unpacked into ``scratch``) or a file."""
    if path.is_file() and path.name.endswith((".tar.gz", ".tgz")) and scratch is not None:
        from qatbench.bench.orchestration.artifacts_dir import ArtifactError, unpack

        try:
            path = unpack(path, scratch, option="")  # a positional BASE/CURRENT
        except ArtifactError as error:
            raise AbInputError(str(error)) from None
    if path.is_file():
        if path.suffix != ".tflite":
            raise AbInputError(f"{path}: not a .tflite file, a run directory or an "
                               "artifacts directory")
        return {path.stem: path}
    if not path.is_dir():
        raise AbInputError(f"{path}: no such file or directory")
    roots = [path / ARTIFACTS_DIR, path]
    found: dict[str, Path] = {}
    for root in roots:
        if not root.is_dir():
            continue
        for manifest in sorted(root.glob(f"*/{MANIFEST}")):
            for name, file in _built_files(manifest).items():
                found[name] = file
        if found:
            return found
    raise AbInputError(f"{path}: no built models (a run directory's artifacts/ or a "
                       "`qatbench build` directory)")


def _built_files(manifest: Path) -> dict[str, Path]:
    """``model/variant`` -> .tflite of one build manifest; a manifest that is not what
    the build wrote is an ``AbInputError`` naming it."""
    try:
        data = json.loads(manifest.read_text())
        found = {}
        for variant, artifact in data.get("variants", {}).items():
            file = manifest.parent / f"{variant}.tflite"
            if artifact.get("path") and not artifact.get("error") and file.is_file():
                found[f"{data['model']}/{variant}"] = file
        return found
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise AbInputError(f"{manifest} is damaged ({type(error).__name__}: {error}); "
                           "rebuild it (`qatbench build`) or give the .tflite files") from None


def pair_series(base: Path, current: Path, scratch: Path | None = None) -> list[Series]:
    """The series both sides have (two single files pair with each other)."""
    a = _files_of(base, scratch / "base" if scratch else None)
    b = _files_of(current, scratch / "current" if scratch else None)
    if len(a) == 1 and len(b) == 1 and base.is_file() and current.is_file():
        (name_a, file_a), (name_b, file_b) = next(iter(a.items())), next(iter(b.items()))
        return [Series(name_a if name_a == name_b else f"{name_a} vs {name_b}", file_a,
                       file_b)]
    common = [name for name in a if name in b]
    if not common:
        raise AbInputError(f"BASE has {', '.join(a)} and CURRENT has {', '.join(b)}: no "
                           "series in common")
    return [Series(name, a[name], b[name]) for name in common]


# How each A/B child times a file: shorter than a run's defaults (many children per
# series), the same rules for both sides; ``--min-runs`` / ``--min-secs`` adjust it
AB_SPEC = MeasureSpec(warmup_runs=1, warmup_min_s=0.2, min_runs=20, min_s=0.5, max_s=30.0)


def ab_spec(min_runs: int | None = None, min_s: float | None = None) -> MeasureSpec:
    """``AB_SPEC`` with a command's ``--min-runs`` / ``--min-secs`` (None: the default);
    validated, so a bad value is a ``ValueError`` naming the field."""
    return MeasureSpec.model_validate({
        **AB_SPEC.model_dump(),
        **({"min_runs": min_runs} if min_runs is not None else {}),
        **({"min_s": min_s} if min_s is not None else {})})


@dataclass(frozen=True)
class AbSettings:
    target: str = "cpu-xnnpack"
    threads: int = 1
    pairs: int = 4
    max_pairs: int = 64
    threshold: float = 0.02
    budget_s: float = 180.0  # per series
    seed: int = 0
    spec: MeasureSpec = AB_SPEC  # its threads are ``threads``'


@dataclass
class SeriesOutcome:
    series: Series
    decision: Decision
    pairs: list[dict[str, Any]]
    seconds: float
    stopped: str  # "decided", "max pairs", "time budget", "failed"


def child_timer(settings: AbSettings, options: dict[str, Any] | None = None,
                timeout_s: float = 300.0) -> Timer:
    """One fresh timing child per measurement (the same worker ``qatbench run`` uses)."""

    def time_once(side: str, model: Path, work: Path) -> float:
        request = JobRequest(target=settings.target, model=str(model), work_dir=str(work),
                             result_path=str(work / CHILD_RESULT_FILE),
                             spec=settings.spec.with_threads(settings.threads),
                             target_options=dict(options or {}))
        result = run_in_child(request, timeout_s)
        m = result.measurement
        if m.status is not Status.OK:
            raise AbInputError(f"{model} on {settings.target}: {m.status.value}: {m.error}")
        figure = float(np.median(m.samples_ms)) if m.samples_ms else repeat_figure(
            m.reported.p50_ms if m.reported else None,
            m.reported.mean_ms if m.reported else None)
        if figure is None:
            raise AbInputError(f"{model} on {settings.target}: no latency figure")
        return (figure, m.extra.get("instructions_per_inference"),
                str(m.extra.get("instructions_note", "")))

    return time_once


def run_series(series: Series, settings: AbSettings, timer: Timer, work: Path,
               on_pair: Callable[[dict[str, Any]], None] | None = None) -> SeriesOutcome:
    rng = np.random.default_rng(settings.seed)
    pairs: list[dict[str, Any]] = []
    started = time.monotonic()
    target = settings.pairs
    decision = decide_paired(np.array([]), np.array([]), settings.threshold)
    stopped = "max pairs"
    while True:
        while len(pairs) < target:
            if time.monotonic() - started > settings.budget_s and len(pairs) >= 2:
                stopped = "time budget"
                break
            index = len(pairs)
            order = "AB" if rng.random() < 0.5 else "BA"
            figures: dict[str, float] = {}
            counts: dict[str, float | None] = {}
            note = ""
            for position, side in enumerate(order):
                model = series.base if side == "A" else series.current
                measured = timer(side, model, work / f"p{index}-{position}{side}")
                if isinstance(measured, tuple):
                    figures[side], counts[side], note = measured
                else:
                    figures[side], counts[side] = float(measured), None
            line = {"series": series.name, "pair": index, "order": order,
                    "a_ms": figures["A"], "b_ms": figures["B"],
                    "a_instructions": counts["A"], "b_instructions": counts["B"],
                    "instructions_note": note, "at": time.time()}
            pairs.append(line)
            if on_pair:
                on_pair(line)
        decision = decide_paired(np.array([p["a_ms"] for p in pairs]),
                                 np.array([p["b_ms"] for p in pairs]), settings.threshold)
        if decision.decided:
            stopped = "decided"
            break
        if stopped == "time budget" or target >= settings.max_pairs:
            stopped = stopped if stopped == "time budget" else "max pairs"
            break
        target = min(2 * target, settings.max_pairs)
    return SeriesOutcome(series, decision, pairs, time.monotonic() - started, stopped)


def instructions_of(pairs: list[dict[str, Any]]) -> tuple[float | None, str]:
    """CURRENT / BASE instructions per inference (median over pairs), or why none."""
    ratios = [p["b_instructions"] / p["a_instructions"] for p in pairs
              if p.get("a_instructions") and p.get("b_instructions")]
    if ratios:
        return float(np.median(ratios)), f"median of {len(ratios)} pairs"
    notes = {p.get("instructions_note") for p in pairs if p.get("instructions_note")}
    return None, "; ".join(sorted(notes)) or "instructions not counted"


def gate_checks(settings: AbSettings, fail_on_unknown: bool = False) -> list[Check]:
    """The A/B gate: latency alone, at the A/B threshold (what ``ab`` and each probe of
    ``bisect`` fail on)."""
    return [LatencyCheck(settings.threshold, "p50", fail_on_unknown)]


def series_key(name: str, settings: AbSettings) -> tuple[str, str, str, str, int]:
    """The gate's series key of an A/B series: ``model/variant`` (or a file's stem, with
    no variant) on the A/B target and threads."""
    model, _, variant = name.partition("/")
    return (model, variant, settings.target, "", settings.threads)


def comparison_pairs(outcomes: list[SeriesOutcome], settings: AbSettings) -> list[Pair]:
    """Each series as the gate's ``Pair``: its interleaved pairs the evidence, the verdict
    and decision the series reached, and ``ab``'s own columns (pairs, stop, seconds,
    instructions) for its row."""
    judged = []
    for o in outcomes:
        ratio, note = instructions_of(o.pairs)
        evidence = PairedEvidence(np.array([p["a_ms"] for p in o.pairs], float),
                                  np.array([p["b_ms"] for p in o.pairs], float))
        judged.append(Pair(
            series_key(o.series.name, settings),
            {"status": "ok", "path": str(o.series.base)},
            {"status": "ok", "path": str(o.series.current)},
            o.decision.verdict, o.decision, o.decision.reason, evidence=evidence,
            columns={"series": o.series.name, "pairs": o.decision.pairs,
                     "stopped": o.stopped, "seconds": o.seconds,
                     "instructions_ratio": ratio, "instructions_note": note,
                     "base": str(o.series.base), "current": str(o.series.current)}))
    return judged


def verdict_frame(pairs: list[Pair], settings: AbSettings,
                  fail_on_unknown: bool = False) -> Any:
    """``ab``'s rows (``ab_verdicts.parquet``, ``ab.md``): the gate's rows of its pairs;
    ``checks.gate_exit_code`` of it is the exit code."""
    return gate_frame(pairs, gate_checks(settings, fail_on_unknown))


def outcome_frame(outcomes: list[SeriesOutcome], settings: AbSettings,
                  fail_on_unknown: bool = False) -> Any:
    """The rows of measured series (``verdict_frame`` of their ``comparison_pairs``)."""
    return verdict_frame(comparison_pairs(outcomes, settings), settings, fail_on_unknown)
