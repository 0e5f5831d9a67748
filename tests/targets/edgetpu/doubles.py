"""A stand-in for an attached Edge TPU: an interpreter factory that runs the compiled model
(the simulated compiler leaves it CPU-runnable) on LiteRT, recording how it was asked."""

from __future__ import annotations

import json
import os
from typing import Any

from qatbench.targets.runtime import resolve_runtime


def cpu_backed_tpu(*, model_path: str, device: str, threads: int) -> Any:
    record = os.environ.get("EDGETPU_DOUBLE_RECORD")
    if record:
        with open(record, "a") as handle:
            handle.write(json.dumps({"model": model_path, "device": device}) + "\n")
    return resolve_runtime().interpreter(model_path, threads=threads)
