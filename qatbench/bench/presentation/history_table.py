"""``qatbench history --steps``'s table: one line per series' step, its change as a
percentage, the medians around it and the commits (and dates) it lies between."""

from __future__ import annotations

import pandas as pd


def steps_frame(steps: pd.DataFrame) -> pd.DataFrame:
    shown = steps.copy()
    shown["change"] = shown["change"].map(lambda v: f"{v:+.1%}")
    shown["before → after ms"] = [f"{b:.4g} → {a:.4g}" for b, a in
                                  zip(shown["before_ms"], shown["after_ms"], strict=True)]
    shown["between"] = [f"{cb} ({db}) → {ca} ({da})" for cb, db, ca, da in zip(
        shown["commit_before"], shown["date_before"], shown["commit_after"],
        shown["date_after"], strict=True)]
    return shown[["model", "variant", "target", "device", "threads", "change",
                  "before → after ms", "between", "first_run_after"]]
