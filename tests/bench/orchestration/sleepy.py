"""A test-only target whose measurement takes as long as it is told and cleans up after
itself in ``finally`` -- as an Android job must kill its benchmark on the phone."""

from __future__ import annotations

import os
import time
from pathlib import Path

from qatbench.targets.base import (
    Availability,
    EvalSet,
    Evaluation,
    Measurement,
    MeasureSpec,
    Prepared,
)


class Sleepy:
    name = "sleepy"
    description = "test-only: sleeps, then reports fixed samples"
    takes_device = False
    accuracy_source = "nowhere (test-only)"

    def probe(self) -> Availability:
        return Availability(True)

    def prepare(self, model: Path, work: Path) -> Prepared:
        return Prepared(model=model, source=model, extra={"work": str(work)})

    def measure(self, prepared: Prepared, spec: MeasureSpec) -> Measurement:
        work = Path(str(prepared.extra["work"]))
        (work / "measuring.pid").write_text(str(os.getpid()))
        try:
            time.sleep(float(os.environ.get("SLEEPY_SECONDS", "3600")))
        finally:
            (work / "cleaned-up").write_text("the remote benchmark was stopped")
        return Measurement(samples_ms=(1.0, 1.1, 0.9, 1.0, 1.05), runtime="sleepy 1.0",
                           delegate="none")

    def evaluate(self, prepared: Prepared, data: EvalSet) -> Evaluation | None:
        return None


def sleepy() -> Sleepy:
    return Sleepy()
