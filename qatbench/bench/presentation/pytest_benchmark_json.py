"""Write a run in pytest-benchmark's JSON format, so ``pytest-benchmark compare`` and the
dashboards already built on it read qatbench results unchanged.

Stats are in seconds, as pytest-benchmark stores them; one benchmark per row that has
raw samples, named ``model[variant-target-tN]``.
"""

from __future__ import annotations

import json
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from qatbench.bench.storage.environment import Environment
from qatbench.bench.storage.schema import KEY_COLUMNS
from qatbench.bench.storage.store import atomic_write_text

FORMAT_VERSION = "5.1.0"  # the pytest-benchmark JSON layout these files follow


def sample_stats(samples_s: np.ndarray) -> dict[str, Any]:
    """The stats block pytest-benchmark writes (its field names and meanings)."""
    data = np.sort(samples_s)
    q1, median, q3 = (float(v) for v in np.percentile(data, [25, 50, 75]))
    iqr = q3 - q1
    mean = float(data.mean())
    std = float(data.std(ddof=1)) if data.size > 1 else 0.0
    low_fence, high_fence = q1 - 1.5 * iqr, q3 + 1.5 * iqr
    inside = data[(data >= low_fence) & (data <= high_fence)]
    iqr_outliers = int(data.size - inside.size)
    stddev_outliers = int(np.sum((data < mean - std) | (data > mean + std)))
    return {
        "min": float(data.min()), "max": float(data.max()), "mean": mean, "stddev": std,
        "rounds": int(data.size), "median": median, "iqr": iqr, "q1": q1, "q3": q3,
        "iqr_outliers": iqr_outliers, "stddev_outliers": stddev_outliers,
        "outliers": f"{stddev_outliers};{iqr_outliers}",
        "ld15iqr": float(inside.min()) if inside.size else float(data.min()),
        "hd15iqr": float(inside.max()) if inside.size else float(data.max()),
        "ops": 1.0 / mean if mean > 0 else 0.0, "total": float(data.sum()),
        "data": [float(v) for v in samples_s], "iterations": 1,
    }


def _machine_info(env: Environment) -> dict[str, Any]:
    return {
        "node": env.host, "processor": env.cpu_model, "machine": env.machine,
        "python_compiler": platform.python_compiler(),
        "python_implementation": platform.python_implementation(),
        "python_implementation_version": platform.python_version(),
        "python_version": env.python, "python_build": list(platform.python_build()),
        "release": platform.release(), "system": platform.system(),
        "cpu": {"brand_raw": env.cpu_model, "count": env.cpu_count, "arch": env.machine},
        "governor": env.governor, "load_average": env.load_average, "packages": env.packages,
    }


def _optional(value: Any) -> Any:
    return None if pd.isna(value) else value.item() if hasattr(value, "item") else value


def benchmark_document(results: pd.DataFrame, samples: pd.DataFrame, env: Environment
                       ) -> dict[str, Any]:
    benchmarks = []
    grouped = {key: group for key, group in samples.groupby(KEY_COLUMNS, dropna=False)}
    for row in results.to_dict("records"):
        key = tuple(row[c] for c in KEY_COLUMNS)
        group = grouped.get(key)
        if group is None or group.empty:
            continue
        ordered = group.sort_values("sample_index")["latency_ms"].to_numpy() / 1000.0
        name = f"{row['model']}[{row['variant']}-{row['target']}-t{row['threads']}]"
        benchmarks.append({
            "group": f"{row['model']}-{row['target']}", "name": name,
            "fullname": f"qatbench::{name}",
            "params": {"variant": row["variant"], "target": row["target"],
                       "threads": int(row["threads"])},
            "param": f"{row['variant']}-{row['target']}-t{row['threads']}",
            "extra_info": {c: _optional(row[c]) for c in (
                "model", "variant", "target", "device", "threads", "size_bytes",
                "accuracy_top1", "speedup_vs_float", "size_ratio_vs_float", "delegate",
                "run_id")},
            "options": {"disable_gc": False, "timer": "perf_counter_ns", "min_rounds": None,
                        "max_time": None, "min_time": None, "warmup": True},
            "stats": sample_stats(ordered),
        })
    return {
        "machine_info": _machine_info(env),
        "commit_info": {"id": env.git_commit, "dirty": env.git_dirty, "project": "qatbench",
                        "branch": None, "time": None, "author_time": None},
        "benchmarks": benchmarks,
        "datetime": datetime.now(UTC).isoformat(),
        "version": FORMAT_VERSION,
    }


def write_benchmark_json(results: pd.DataFrame, samples: pd.DataFrame, env: Environment,
                         path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(benchmark_document(results, samples, env), indent=2))
    return path
