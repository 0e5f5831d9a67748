"""Reading finished runs back: one or many run directories (shards, several device hosts)
merged into one results table and one samples table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from qatbench.bench.storage.layout import (
    CONFIG_FILE,
    REPEATS_FILE,
    RESULTS_FILE,
    SAMPLES_FILE,
)
from qatbench.bench.storage.relative import add_relative_columns
from qatbench.bench.storage.schema import (
    KEY_COLUMNS,
    REPEAT_COLUMNS,
    SAMPLE_COLUMNS,
    conform,
)
from qatbench.bench.storage.store import (
    REPEATS_ADVICE,
    RESULTS_ADVICE,
    empty_frame,
    read_samples,
    read_store_parquet,
    refuse_lost_repeats,
)
from qatbench.bench.storage.upgrade import upgrade_repeats, upgrade_results
from qatbench.errors import UserError


class RunsNotFound(UserError, ValueError):
    """A path given as a run is not one: the message names it and what was expected."""


@dataclass
class LoadedRuns:
    results: pd.DataFrame
    samples: pd.DataFrame
    run_dirs: list[Path]
    # one line per (row, repeat)
    repeats: pd.DataFrame = field(default_factory=lambda: empty_frame(REPEAT_COLUMNS))


def run_dirs_under(root: Path) -> list[Path]:
    """Run directories below ``root`` in the order they were started (run ids sort by time)."""
    return sorted((p.parent for p in root.glob(f"*/{RESULTS_FILE}")), key=lambda p: p.name)


def latest_run(root: Path) -> Path:
    runs = run_dirs_under(root)
    if not runs:
        unfinished = runs_without_results(root)
        raise RunsNotFound(f"{root}: no run directories (*/{RESULTS_FILE}) found" + (
            f"; {len(unfinished)} run(s) there have no results yet (newest: "
            f"{unfinished[-1]})" if unfinished else ""))
    return runs[-1]


def runs_without_results(root: Path) -> list[Path]:
    """Run directories under ``root`` (they hold the ``config.json`` every run writes
    first) with no ``results.parquet``: a run still on its first job, or stopped before
    one finished. ``--latest`` passes over them, and says so."""
    return sorted((p.parent for p in root.glob(f"*/{CONFIG_FILE}")
                   if not (p.parent / RESULTS_FILE).exists()), key=lambda p: p.name)


def newer_runs_skipped(root: Path, chosen: Path) -> list[Path]:
    """The runs without results that started after ``chosen`` (run ids sort by time):
    what ``--latest`` did not pick although they are newer."""
    return [run for run in runs_without_results(root) if run.name > chosen.name]


def _resolve(path: Path) -> tuple[Path, Path | None]:
    """(results file, samples file or None) for a run dir or a results file."""
    if path.is_dir():
        results = path / RESULTS_FILE
        if not results.exists():
            raise RunsNotFound(f"{path}: not a qatbench run directory (no {RESULTS_FILE})")
    elif path.is_file() and path.suffix in {".parquet", ".csv"}:
        results = path
    else:
        raise RunsNotFound(f"{path}: no such run directory or results file "
                           "(give a results/<run_id> dir, results.parquet or results.csv)")
    samples = results.parent / SAMPLES_FILE
    has_samples = samples.is_file() or (samples.is_dir() and any(samples.glob("*.parquet")))
    return results, samples if has_samples else None


def _read(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return read_store_parquet(path, RESULTS_ADVICE)
    try:
        return pd.read_csv(path)
    except Exception as error:
        raise RunsNotFound(f"{path}: cannot be read as a results table: {error}") from None


def _results_table(table: pd.DataFrame, path: Path) -> pd.DataFrame:
    """``table`` if it is a results table; another qatbench table (a per-op profile) or
    any other file is refused rather than read as rows of nothing."""
    missing = [c for c in ("model", "variant", "target", "status") if c not in table.columns]
    if missing:
        what = (" -- it is a per-op profile (profile.parquet)" if "op_type" in table.columns
                else "")
        raise RunsNotFound(f"{path}: not a qatbench results table (no {', '.join(missing)} "
                           f"column){what}; give a run directory or its {RESULTS_FILE}")
    return table


def _repeats_of(results: pd.DataFrame, results_file: Path) -> pd.DataFrame:
    """The run's repeat lines (``upgrade_repeats``: in today's shape)."""
    path = results_file.parent / REPEATS_FILE
    refuse_lost_repeats(results, path)
    lines = read_store_parquet(path, REPEATS_ADVICE) if path.exists() else None
    return upgrade_repeats(results, lines)


def _winners_only(frame: pd.DataFrame, winners: pd.DataFrame) -> pd.DataFrame:
    """The lines of ``frame`` that belong to a row in ``winners`` (same run and key)."""
    if frame.empty:
        return frame
    columns = ["run_id", *KEY_COLUMNS]
    keyed = frame[columns].astype(str)
    keep = keyed.merge(winners.assign(_keep=True), how="left", on=columns)["_keep"]
    return frame[keep.fillna(False).to_numpy(bool)].reset_index(drop=True)


def load_runs(paths: list[Path]) -> LoadedRuns:
    """Merge runs; where two runs hold the same row key, the later-started one wins."""
    if not paths:
        raise RunsNotFound("no run directories given")
    results, samples, repeats, run_dirs = [], [], [], []
    for path in paths:
        results_file, samples_file = _resolve(path)
        table = upgrade_results(_results_table(_read(results_file), results_file),
                                results_file.parent)
        results.append(table)
        repeats.append(_repeats_of(table, results_file))
        if samples_file is not None:
            samples.append(read_samples(samples_file))
        run_dirs.append(results_file.parent)
    merged = pd.concat(results, ignore_index=True)
    merged = merged.sort_values("started_at", kind="stable", na_position="first")
    merged = merged.drop_duplicates(KEY_COLUMNS, keep="last").reset_index(drop=True)
    merged = add_relative_columns(merged)
    winners = merged[["run_id", *KEY_COLUMNS]].astype(str)
    all_samples = (pd.concat(samples, ignore_index=True) if samples
                   else conform(empty_frame(SAMPLE_COLUMNS), SAMPLE_COLUMNS))
    all_repeats = conform(pd.concat(repeats, ignore_index=True), REPEAT_COLUMNS)
    return LoadedRuns(merged, _winners_only(all_samples, winners), run_dirs,
                      _winners_only(all_repeats, winners))


def samples_of(samples: pd.DataFrame, row: pd.Series) -> pd.Series:
    """The latency samples (ms) of one results row."""
    mask = samples["run_id"].astype(str) == str(row["run_id"])
    for column in KEY_COLUMNS:
        mask &= samples[column].astype(str) == str(row[column])
    return samples.loc[mask, "latency_ms"].astype(float)
