"""A stand-in for Linux ``perf stat -e instructions:u -x, -p PID`` (QATBENCH_PERF).

Like the real one it attaches to a pid, counts until SIGINT, then prints one CSV line on
stderr. What it prints is not written here: it is the real output captured from perf
(``tests/fixtures/perf_stat_instructions_u_not_supported.txt``: Debian's linux-perf
6.1.187, ``timeout -s INT 1.5 perf stat -e instructions:u -x, -p PID`` on a KVM guest
without a PMU, 2026-12-07) -- printed as it is when the host has no counter
(``PERF_SIM_MODE=unsupported``), and otherwise with its counter-value and run-time fields
(CSV fields 1 and 4 of perf-stat(1)'s ``-x`` format: value, unit, event, run time,
percentage, metric value, metric unit) filled in. The count is the target process's user
CPU time (from /proc) times ``PERF_SIM_INSTRUCTIONS_PER_S`` (default 2e9): proportional
to the work done, as instructions are. With ``PERF_SIM_READY=FILE`` it creates FILE once
it counts, so a test can start its work after the attach however slowly a busy host
starts this process.
"""

from __future__ import annotations

import signal

# first, before anything slow: a SIGINT that arrives while Python is still starting
# would otherwise end the process with no output (real perf handles it from the start)
STOPPED: list[bool] = []
signal.signal(signal.SIGINT, lambda *_: STOPPED.append(True))

import os  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

CAPTURED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "fixtures", "perf_stat_instructions_u_not_supported.txt")


def captured_line(event: str) -> list[str]:
    """The real perf's CSV line for ``event``, split into its fields."""
    with open(CAPTURED) as handle:
        (line,) = handle.read().splitlines()
    fields = line.split(",")
    assert fields[2] == "instructions:u", fields  # the event the capture counted
    fields[2] = event
    return fields


def _user_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / os.sysconf("SC_CLK_TCK")  # utime


def main(argv: list[str]) -> int:
    if argv[:1] != ["stat"] or "-p" not in argv:
        print("perf (qatbench simulator): only `perf stat -e EVENT -x, -p PID`",
              file=sys.stderr)
        return 129
    pid = int(argv[argv.index("-p") + 1])
    event = argv[argv.index("-e") + 1]
    start, started = _user_seconds(pid), time.monotonic()
    if os.environ.get("PERF_SIM_READY"):  # counting, and SIGINT stops it cleanly
        open(os.environ["PERF_SIM_READY"], "w").close()
    while not STOPPED:
        time.sleep(0.01)
    runtime = int((time.monotonic() - started) * 1e9)
    fields = captured_line(event)
    if os.environ.get("PERF_SIM_MODE") != "unsupported":
        rate = float(os.environ.get("PERF_SIM_INSTRUCTIONS_PER_S", "2e9"))
        fields[0] = str(int((_user_seconds(pid) - start) * rate))
        fields[3] = str(runtime)
    print(",".join(fields), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
