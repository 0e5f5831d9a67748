"""Per-output fidelity: every output of a user's model against its float model.

Top-1 and agreement speak of one class vector. A detector's boxes, a regressor's values,
an embedding or a second head have no class to agree on; what the report can say of
them, on the same inputs, is how close each int8 output stays to float: SNR in dB,
cosine similarity (pooled over inputs) and the largest absolute error.
"""

from __future__ import annotations

import json

import pandas as pd

COLUMNS = ["model", "variant", "target", "threads", "output", "task", "SNR dB", "cosine",
           "max |error|"]


def per_output_frame(results: pd.DataFrame) -> pd.DataFrame:
    """One line per output of every row that measured its outputs one by one."""
    lines = []
    for _, row in results.iterrows():
        try:
            outputs = json.loads(row.get("extra") or "{}").get("outputs")
        except (TypeError, ValueError):
            continue
        for output in outputs or []:
            lines.append({"model": row["model"], "variant": row["variant"],
                          "target": row["target"], "threads": row["threads"],
                          "output": output["name"], "task": output["task"],
                          "SNR dB": _db(output["snr_db"]),
                          "cosine": f"{float(output['cosine']):.5f}",
                          "max |error|": f"{float(output['max_abs_error']):.3g}"})
    return pd.DataFrame(lines, columns=COLUMNS)


def _db(value: float) -> str:
    value = float(value)
    return "identical" if value == float("inf") else f"{value:.1f}"
