"""What the gate tests share: a noise floor measured on this host, in a settings object
or in the file ``qatbench compare`` finds in the results root."""

from __future__ import annotations

import json
from pathlib import Path

from qatbench.bench.statistics.noise import NoiseFloor

# the built-in figures, but claimed as measured on this host: one run per side may decide
HERE = NoiseFloor(source="a noise-floor file measured on this host")


def floor_file(root: Path, floor: float = 0.10, p50_ms: float = 3.0) -> Path:
    """A noise-floor file as ``benchmarks/gate_error_rates.py`` writes it on this host
    (no CPU named: it claims this host), in the results root ``compare`` reads."""
    path = root / "noise-floor.json"
    path.write_text(json.dumps({"schema": "qatbench/noise-floor/1",
                                "machine": {"cpu_model": None},
                                "floors": [{"p50_ms": p50_ms, "repeats": 1,
                                            "floor": floor}]}))
    return path
