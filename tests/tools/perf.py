"""A stand-in for Linux ``perf stat -e instructions:u -x, -p PID`` (QATBENCH_PERF).

Like the real one it attaches to a pid, counts until SIGINT, then prints one CSV line on
stderr -- ``COUNT,,instructions:u,RUNTIME,100.00,,`` -- or ``<not supported>`` when the
host has no counter (``PERF_SIM_MODE=unsupported``, as in a VM without a PMU). The
count is the target process's user CPU time (from /proc) times
``PERF_SIM_INSTRUCTIONS_PER_S`` (default 2e9): proportional to the work done, as
instructions are. With ``PERF_SIM_READY=FILE`` it creates FILE once it counts, so a test
can start its work after the attach however slowly a busy host starts this process.
"""

from __future__ import annotations

import os
import signal
import sys
import time


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
    stopped = []
    signal.signal(signal.SIGINT, lambda *_: stopped.append(True))
    if os.environ.get("PERF_SIM_READY"):  # counting, and SIGINT now stops it cleanly
        open(os.environ["PERF_SIM_READY"], "w").close()
    while not stopped:
        time.sleep(0.01)
    runtime = int((time.monotonic() - started) * 1e9)
    if os.environ.get("PERF_SIM_MODE") == "unsupported":
        print(f"<not supported>,,{event},0,100.00,,", file=sys.stderr)
        return 0
    rate = float(os.environ.get("PERF_SIM_INSTRUCTIONS_PER_S", "2e9"))
    count = int((_user_seconds(pid) - start) * rate)
    print(f"{count},,{event},{runtime},100.00,,", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
