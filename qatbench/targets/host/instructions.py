"""Instructions retired per inference: a second, low-noise signal on host CPUs.

Latency moves with the host's frequency, caches and neighbours; the number of user-space
instructions an inference retires barely does. It explains an A/B verdict (a model that
does more work retires more instructions) but never decides it: a change in memory
behaviour costs time without costing instructions.

Counted with Linux ``perf stat -e instructions:u`` attached to this process (``-p``)
around a separate counted phase of ``N`` invocations, after the timed samples, so
counting never perturbs them. ``perf`` is Debian's ``linux-perf``; ``QATBENCH_PERF``
names the perf executable to use when it is not the one on ``PATH``. Where perf is
missing, or the CPU's counter is not available (a VM without a PMU,
``perf_event_paranoid``), that is stated in the row -- never an error, never a number.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass

ATTACH_S = 0.15  # perf stat -p needs a moment to attach before the counted phase
EVENT = "instructions:u"


@dataclass(frozen=True)
class InstructionCount:
    per_inference: float | None
    note: str  # how it was counted, or why not


def perf_executable() -> str | None:
    return shutil.which(os.environ.get("QATBENCH_PERF", "perf"))


def count_per_inference(invoke: Callable[[], object], runs: int) -> InstructionCount:
    """User-space instructions of one ``invoke()``, averaged over ``runs`` counted calls."""
    perf = perf_executable()
    if perf is None:
        return InstructionCount(None, "instructions not counted: perf is not installed "
                                      "(Debian: apt-get install linux-perf)")
    process = subprocess.Popen([perf, "stat", "-e", EVENT, "-x,", "-p", str(os.getpid())],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(ATTACH_S)
        for _ in range(runs):
            invoke()
    finally:
        process.send_signal(signal.SIGINT)
        try:
            _, errors = process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            _, errors = process.communicate()
    return _parse(errors, runs)


def _parse(text: str, runs: int) -> InstructionCount:
    for line in text.splitlines():
        fields = line.split(",")
        if len(fields) >= 3 and fields[2].startswith("instructions"):
            value = fields[0].strip()
            if value.startswith("<"):  # <not supported> / <not counted>
                return InstructionCount(None, f"instructions not counted: perf says "
                                              f"{value} (a VM without a hardware counter, or "
                                              "kernel.perf_event_paranoid)")
            try:
                return InstructionCount(float(value) / runs,
                                        f"perf stat -e {EVENT} over {runs} inferences")
            except ValueError:
                break
    last = text.strip().splitlines()[-1] if text.strip() else "no output"
    return InstructionCount(None, f"instructions not counted: perf printed {last!r}")
