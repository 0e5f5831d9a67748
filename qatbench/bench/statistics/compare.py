"""The regression gate: every series of BASE and CURRENT gets one verdict, and a list of
checks decides whether the gate fails.

Series are matched on ``RowKey.series`` (model, variant, target, device, threads). A row
that never reached its device (unavailable, skipped: no device name) is matched to the
row of BASE with the same model, variant, target and threads. Verdicts:

- ``missing``: in BASE, not in CURRENT — or every CURRENT job of its target was
  ``unavailable`` (a lost phone or TPU loses every key of it);
- ``broken``: BASE produced a result, CURRENT less (ok → failed/unavailable/compiled/
  skipped; compiled → failed/unavailable/skipped);
- ``new``: only in CURRENT;
- ``slower``/``faster``/``same``/``unknown``: both timed, decided by ``latency.decide``
  on the repeat units (``units``) against the latency check's threshold and the noise
  floor (``noise``); the check re-decides the same units at its own threshold, so the
  verdict shown and the gate agree.

Rows measured on different hosts (fingerprints differ) are refused (``HostChanged``)
unless ``allow_host_change``; rows without a fingerprint (old runs) are matched with a
warning.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from qatbench.bench.statistics import fingerprints
from qatbench.bench.statistics.checks import (
    AccuracyCheck,
    BrokenCheck,
    Check,
    LatencyCheck,
    MissingCheck,
    OutputFidelityCheck,
    Pair,
    SizeCheck,
    first_line,
    gate_exit_code,
    gate_frame,
    is_quantized,
)
from qatbench.bench.statistics.latency import RepeatEvidence
from qatbench.bench.statistics.noise import NoiseFloor, for_host
from qatbench.bench.statistics.series_noise import HistoryKey, SeriesNoise
from qatbench.bench.statistics.stats import repeat_figure
from qatbench.bench.statistics.units import UnitIndex
from qatbench.bench.statistics.verdict import Verdict
from qatbench.bench.storage.key import SERIES_COLUMNS, RowKey
from qatbench.bench.storage.predictions import Predictions, load_predictions
from qatbench.errors import UserError

Row = Mapping[str, Any]
Series = tuple[str, str, str, str, int]

# How much a status delivers: falling to a lower rank from ok or compiled is `broken`.
_RANK = {"ok": 2, "compiled": 1}

__all__ = ["GateSettings", "HostChanged", "NothingMatched", "Verdict", "compare_runs",
           "default_checks", "gate_exit_code"]

HostChanged = fingerprints.HostChanged


@dataclass(frozen=True)
class GateSettings:
    threshold: float = 0.05  # practical relative change (0.05 = 5%); also size growth
    metric: str = "p50"  # p50 or p90
    # 1 - level of the repeat-level interval. Not stricter: a verdict also needs the
    # change beyond max(threshold, noise floor), which guards against run-level shifts;
    # alpha guards only against process-to-process spread (and at 0.01, K = 3 would
    # need t = 4.6 — repeats would rarely decide anything).
    alpha: float = 0.05
    accuracy_drop_points: float = 1.0  # top-1 percentage points
    allow_missing: bool = False
    allow_broken: bool = False
    allow_host_change: bool = False
    fail_on_unknown: bool = False
    noise: NoiseFloor = field(default_factory=NoiseFloor)
    # this host's cross-run noise per (series, fingerprint), from the results root's
    # earlier runs (``series_noise.history_noise``): what a K = 1 SLOWER or FASTER rests on
    history: Mapping[HistoryKey, SeriesNoise] = field(default_factory=dict)


class NothingMatched(UserError, ValueError):
    """No series of CURRENT has a partner in BASE; the message names the keys on each side."""


def default_checks(settings: GateSettings) -> list[Check]:
    """The gate: these checks, in this order, decide the exit code and the table."""
    return [MissingCheck(settings.allow_missing), BrokenCheck(settings.allow_broken),
            LatencyCheck(settings.threshold, settings.metric, settings.fail_on_unknown),
            SizeCheck(settings.threshold), AccuracyCheck(settings.accuracy_drop_points),
            OutputFidelityCheck()]


def _status(row: Row | None) -> str:
    value = None if row is None else row.get("status")
    return "" if value is None or pd.isna(value) else str(value)


def _rows(results: pd.DataFrame) -> dict[Series, Row]:
    """One row per series; where a run holds a series twice (two fingerprints in merged
    shards), the later-started row stands for it."""
    ordered = results.sort_values("started_at", kind="stable", na_position="first")
    return {RowKey.of(row).series: row for row in ordered.to_dict("records")}


def _pair_up(base: dict[Series, Row], current: dict[Series, Row]
             ) -> list[tuple[Series, Row | None, Row | None]]:
    """BASE and CURRENT rows side by side; a deviceless row joins its job's named row."""
    current_left = dict(current)
    pairs: list[tuple[Series, Row | None, Row | None]] = []
    for series, row in base.items():
        partner = current_left.pop(series, None)
        if partner is None:
            model, variant, target, device, threads = series
            if device:
                partner = current_left.pop((model, variant, target, "", threads), None)
            else:
                named = [s for s in current_left if s[:3] == series[:3] and s[4] == threads]
                partner = current_left.pop(named[0]) if len(named) == 1 else None
        pairs.append((series, row, partner))
    pairs.extend((series, None, row) for series, row in current_left.items())
    return pairs


def _lost_targets(current: pd.DataFrame) -> dict[str, str]:
    """{target: first error} for targets every CURRENT job of which was unavailable."""
    lost = {}
    for target, rows in current.groupby(current["target"].astype(str), sort=False):
        if len(rows) and (rows["status"].astype(str) == "unavailable").all():
            lost[str(target)] = first_line(rows["error"].dropna().iloc[0]
                                           if rows["error"].notna().any() else "")
    return lost


def _geometric_mean(values: np.ndarray) -> float | None:
    return float(np.exp(np.log(values).mean())) if values.size else None


def _evidence(base: Row, current: Row, base_units: UnitIndex, current_units: UnitIndex,
              settings: GateSettings) -> RepeatEvidence:
    """One series' repeat units with the floor and host noise they are judged against."""
    before, after = base_units.of(base), current_units.of(current)
    scale = _geometric_mean(before.values)
    k = min(before.k, after.k)
    floor = settings.noise.floor(scale, k)
    host_noise = ""  # what this host's cross-run noise comes from ("": not known)
    if k < 2:
        own = settings.history.get((RowKey.of(current).series,
                                    str(current.get("fingerprint") or "")))
        if own is not None:
            floor = max(floor, own.floor) if settings.noise.measured else own.floor
            host_noise = own.describe()
        elif settings.noise.measured:
            host_noise = f"noise floor measured on this host ({settings.noise.source})"
    source = before.source if before.source == after.source else \
        f"{before.source} / {after.source}"
    context = f"units: {source}" + (f"; {host_noise}" if host_noise else "")
    return RepeatEvidence(before.values, after.values, floor, settings.alpha,
                          bool(host_noise) or k >= 2, context)


def _classify(series: Series, base: Row | None, current: Row | None, lost: dict[str, str],
              base_units: UnitIndex, current_units: UnitIndex,
              settings: GateSettings, latency: LatencyCheck) -> Pair:
    target = series[2]
    if base is None:
        return Pair(series, None, current, Verdict.NEW, reason="not in BASE")
    if current is None:
        reason = (f"target {target} unavailable in CURRENT: {lost[target]}"
                  if target in lost else "not in CURRENT")
        return Pair(series, base, None, Verdict.MISSING, reason=reason)
    if target in lost and _RANK.get(_status(base), 0) > 0:
        return Pair(series, base, current, Verdict.MISSING,
                    reason=f"target {target} unavailable in CURRENT: {lost[target]}")
    before, after = _status(base), _status(current)
    if _RANK.get(after, 0) < _RANK.get(before, 0):
        error = first_line(current.get("error")) if current is not None else ""
        return Pair(series, base, current, Verdict.BROKEN,
                    reason=f"{before} → {after}" + (f": {error}" if error else ""))
    if before != "ok" or after != "ok":
        return Pair(series, base, current, Verdict.UNKNOWN,
                    reason=f"not timed on both sides ({before} → {after})")
    evidence = _evidence(base, current, base_units, current_units, settings)
    decision = evidence.decide(latency.threshold)
    reason = "; ".join(part for part in (decision.reason, decision.basis) if part)
    notes = ()
    if not fingerprints.has_fingerprint(base) or not fingerprints.has_fingerprint(current):
        notes = ("no fingerprint on a side (an old run): matched without checking the host",)
    return Pair(series, base, current, decision.verdict, decision, reason, notes,
                evidence=evidence)


def _check_hosts(pairs: list[tuple[Series, Row | None, Row | None]],
                 settings: GateSettings) -> dict[Series, str]:
    """{series: what differs} for timed pairs on different hosts; refused unless allowed."""
    changed: dict[Series, str] = {}
    for series, base, current in pairs:
        if base is None or current is None or _status(base) != "ok" or _status(current) != "ok":
            continue
        difference = fingerprints.differences(base, current)
        if difference:
            changed[series] = fingerprints.describe(difference)
    if changed and not settings.allow_host_change:
        distinct = sorted(set(changed.values()))
        examples = [RowKey(*s).label() for s in list(changed)[:3]]
        raise HostChanged(
            f"{len(changed)} matched row(s) were measured on a different host or runtime "
            f"({', '.join(examples)}{', ...' if len(changed) > 3 else ''}): "
            + " | ".join(distinct)
            + ". Compare with a baseline from the same kind of host, or pass "
              "--allow-host-change to gate anyway.")
    return changed


def _predictions_of(loaded: Any, row: Row | None) -> Predictions | None:
    """The per-input predictions a row's run kept, if any (``storage.predictions``)."""
    if row is None or not is_quantized(str(row.get("variant", ""))):
        return None
    run_dirs = list(getattr(loaded, "run_dirs", []))
    named = [d for d in run_dirs if d.name == str(row.get("run_id"))]
    if named:
        return load_predictions(named[0], RowKey.of(row))
    if len(run_dirs) == 1:  # a results file or a directory named otherwise
        return load_predictions(run_dirs[0], RowKey.of(row))
    return None


def compare_runs(base: Any, current: Any, settings: GateSettings | None = None
                 ) -> pd.DataFrame:
    """One row per series of either side: statistic before/after, change, verdict, and
    the failures of the gate's checks (column ``gate``; empty = passes)."""
    settings = settings or GateSettings()
    base_rows, current_rows = _rows(base.results), _rows(current.results)
    pairs = _pair_up(base_rows, current_rows)
    if not any(b is not None and c is not None for _, b, c in pairs):
        raise NothingMatched(
            f"no rows matched on ({', '.join(SERIES_COLUMNS)}).\n"
            f"  in BASE only:    {sorted(base_rows)[:10]}\n"
            f"  in CURRENT only: {sorted(current_rows)[:10]}")
    host_changes = _check_hosts(pairs, settings)
    cpu_models = {str(v) for v in current.results.get("cpu_model", pd.Series()).dropna()}
    settings = replace(settings, noise=for_host(settings.noise, cpu_models))
    base_units = UnitIndex(base, settings.metric)
    current_units = UnitIndex(current, settings.metric)
    lost = _lost_targets(current.results)
    checks = default_checks(settings)
    latency = next(check for check in checks if isinstance(check, LatencyCheck))
    judged = []
    notes: set[str] = set(settings.noise.notes)
    for series, before, after in pairs:
        pair = _classify(series, before, after, lost, base_units, current_units, settings,
                         latency)
        pair = replace(pair, base_predictions=_predictions_of(base, before),
                       current_predictions=_predictions_of(current, after),
                       columns=_columns(pair, settings))
        if series in host_changes:
            pair = replace(pair, notes=(*pair.notes, f"host changed: {host_changes[series]}"))
        notes.update(pair.notes)
        judged.append(pair)
    frame = gate_frame(judged, checks)
    frame.attrs.update({"notes": sorted(notes), "noise_floor": settings.noise.describe(),
                        "host_changes": sorted(set(host_changes.values()))})
    return frame


def _columns(pair: Pair, settings: GateSettings) -> dict[str, Any]:
    """``compare``'s own columns of a row: both sides' figures, repeats and statuses."""
    column = "latency_ms_p90" if settings.metric == "p90" else "latency_ms_p50"

    def figure(row: Row | None) -> float | None:
        if row is None:
            return None
        if settings.metric == "p50":
            return repeat_figure(row.get(column), row.get("latency_ms_mean"))
        value = row.get(column)
        return None if value is None or pd.isna(value) else float(value)

    def repeats(row: Row | None) -> int | None:
        value = None if row is None else row.get("repeats")
        return None if value is None or pd.isna(value) else int(value)

    return {
        "model_build": model_build(pair.base, pair.current),
        f"base_{settings.metric}_ms": figure(pair.base),
        f"current_{settings.metric}_ms": figure(pair.current),
        "base_repeats": repeats(pair.base), "current_repeats": repeats(pair.current),
        "base_status": _status(pair.base), "current_status": _status(pair.current),
        "error": first_line(pair.current.get("error")) if pair.current is not None else "",
    }


def model_build(base: Row | None, current: Row | None) -> str:
    """Whether a series compares the same model bytes (the same build key: a change is
    the host's or the runtime's) or a changed model (this commit's build), or "" when a
    side has no key (a run before the build cache, or a file timed with ``bench``)."""

    def key(row: Row | None) -> str:
        value = None if row is None else row.get("build_key")
        return "" if value is None or pd.isna(value) else str(value)

    before, after = key(base), key(current)
    if not before or not after:
        return ""
    return "same model" if before == after else "changed model"
