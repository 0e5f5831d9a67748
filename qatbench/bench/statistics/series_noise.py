"""This host's own cross-run noise for one series, read from the runs a results root holds.

One run per side (K = 1) cannot tell a run-level shift from a real change; only how far
the series moved between earlier runs *on the same host* can (issue 33: a 7 µs model
moved +29.8% between two runs of identical code, beyond the built-in floor measured on
another host). Every run under the root that measured the series on the same
fingerprint contributes its first repeat's figure (a K = 1 level, whatever K that run
had), oldest first. One run's spread ``σ`` is estimated from the successive changes of
those levels (the mean squared successive difference over 2: a slow drift of the host
or an old step of the series adds one change, not a trend), and the floor is the 99%
prediction bound of the gap between two more runs, ``t(0.995, n - 1) · √2 · σ`` --
Student's t, not the normal z, because ``σ`` itself comes from a handful of runs: with
``z`` and a robust MAD of five changes, 7 of 126 A/A pairs on a busy 2-core host were
called slower (``benchmarks/gate_error_rates.py --false-alarms``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats

from qatbench.bench.statistics.units import UnitIndex
from qatbench.bench.storage.key import RowKey
from qatbench.bench.storage.runs import load_runs, run_dirs_under
from qatbench.bench.storage.store import RunDirError

# earlier runs of a series a floor needs: four successive changes for the MAD
MIN_HISTORY_RUNS = 5
MIN_FLOOR = 0.01  # no host is quieter than 1% between runs: a floor never goes below

Series = tuple[str, str, str, str, int]
HistoryKey = tuple[Series, str]  # (series, fingerprint)


@dataclass(frozen=True)
class SeriesNoise:
    floor: float  # relative: the ~99% bound of two K = 1 runs' gap on this host
    runs: int  # how many runs it rests on

    def describe(self) -> str:
        return f"this host's history: {self.runs} runs, floor {self.floor:.1%}"


def floor_from_levels(levels_ms: Iterable[float]) -> SeriesNoise | None:
    """The floor from one series' run levels (ms, oldest first); None with fewer than
    ``MIN_HISTORY_RUNS`` positive levels."""
    levels = np.asarray([v for v in levels_ms if v > 0 and math.isfinite(v)], float)
    if levels.size < MIN_HISTORY_RUNS:
        return None
    changes = np.diff(np.log(levels))
    sigma = math.sqrt(float(np.mean(changes ** 2)) / 2)
    bound = float(stats.t.ppf(0.995, levels.size - 1)) * math.sqrt(2) * sigma
    return SeriesNoise(max(MIN_FLOOR, math.expm1(bound)), int(levels.size))


def history_noise(roots: Iterable[Path], exclude_run_ids: Iterable[str] = (),
                  metric: str = "p50") -> dict[HistoryKey, SeriesNoise]:
    """{(series, fingerprint): noise} for every series with enough ``ok`` runs under the
    roots; the runs in ``exclude_run_ids`` (CURRENT, under judgement) left out."""
    excluded = {str(run_id) for run_id in exclude_run_ids}
    seen: set[Path] = set()
    levels: dict[HistoryKey, list[tuple[str, float]]] = {}
    for root in roots:
        if not root.is_dir():
            continue
        for run_dir in run_dirs_under(root):
            if run_dir.resolve() in seen or run_dir.name in excluded:
                continue
            seen.add(run_dir.resolve())
            try:
                loaded = load_runs([run_dir])
            except (RunDirError, ValueError, OSError):  # a damaged old run is no history
                continue
            units = UnitIndex(loaded, metric)
            results = loaded.results
            for row in results[results["status"].astype(str) == "ok"].to_dict("records"):
                if str(row.get("run_id")) in excluded:
                    continue
                values = units.of(row).values
                fingerprint = row.get("fingerprint")
                if values.size == 0 or not isinstance(fingerprint, str) or not fingerprint:
                    continue
                key = (RowKey.of(row).series, fingerprint)
                levels.setdefault(key, []).append((str(row.get("started_at") or run_dir.name),
                                                   float(values[0])))
    found = {}
    for key, timed in levels.items():
        noise = floor_from_levels(level for _, level in sorted(timed))
        if noise is not None:
            found[key] = noise
    return found
