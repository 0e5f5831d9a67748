"""Reading finished runs back: one or many run directories (shards, several device hosts)
merged into one results table and one samples table.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from qatbench.bench.relative import add_relative_columns
from qatbench.bench.schema import KEY_COLUMNS, RESULT_COLUMNS, SAMPLE_COLUMNS, conform
from qatbench.bench.store import RESULTS_FILE, SAMPLES_FILE


class RunsNotFound(ValueError):
    """A path given as a run is not one: the message names it and what was expected."""


@dataclass
class LoadedRuns:
    results: pd.DataFrame
    samples: pd.DataFrame
    run_dirs: list[Path]


def run_dirs_under(root: Path) -> list[Path]:
    """Run directories below ``root`` in the order they were started (run ids sort by time)."""
    return sorted((p.parent for p in root.glob(f"*/{RESULTS_FILE}")), key=lambda p: p.name)


def latest_run(root: Path) -> Path:
    runs = run_dirs_under(root)
    if not runs:
        raise RunsNotFound(f"{root}: no run directories (*/{RESULTS_FILE}) found")
    return runs[-1]


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
    return results, samples if samples.exists() else None


def _read(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except Exception as error:
        raise RunsNotFound(f"{path}: cannot be read as a results table: {error}") from None


def load_runs(paths: list[Path]) -> LoadedRuns:
    """Merge runs; where two runs hold the same row key, the later-started one wins."""
    if not paths:
        raise RunsNotFound("no run directories given")
    results, samples, run_dirs = [], [], []
    for path in paths:
        results_file, samples_file = _resolve(path)
        results.append(conform(_read(results_file), RESULT_COLUMNS))
        if samples_file is not None:
            samples.append(conform(pd.read_parquet(samples_file), SAMPLE_COLUMNS))
        run_dirs.append(results_file.parent)
    merged = pd.concat(results, ignore_index=True)
    merged = merged.sort_values("started_at", kind="stable", na_position="first")
    merged = merged.drop_duplicates(KEY_COLUMNS, keep="last").reset_index(drop=True)
    merged = add_relative_columns(merged)
    all_samples = (pd.concat(samples, ignore_index=True) if samples
                   else conform(pd.DataFrame(), SAMPLE_COLUMNS))
    # keep only the samples of the rows that won
    winners = merged[["run_id", *KEY_COLUMNS]].astype(str)
    keyed = all_samples.astype({c: str for c in ["run_id", *KEY_COLUMNS]})
    all_samples = all_samples[keyed.merge(winners.assign(_keep=True), how="left",
                                          on=["run_id", *KEY_COLUMNS])["_keep"].fillna(False)
                              .to_numpy(bool)].reset_index(drop=True)
    return LoadedRuns(merged, all_samples, run_dirs)


def samples_of(samples: pd.DataFrame, row: pd.Series) -> pd.Series:
    """The latency samples (ms) of one results row."""
    mask = samples["run_id"].astype(str) == str(row["run_id"])
    for column in KEY_COLUMNS:
        mask &= samples[column].astype(str) == str(row[column])
    return samples.loc[mask, "latency_ms"].astype(float)
