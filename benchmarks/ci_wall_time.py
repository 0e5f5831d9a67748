"""How long does CI's test command take here? Prints the figures; asserts nothing.

Times ``nox -s tests`` one claimed Python at a time (each session a separate process, as
CI runs them one after another), then the sum: the part of ``.ci/run`` that grows with
the suite (its apt and pip steps cost seconds on a warm machine). ``--fresh`` recreates
each session's virtualenv first from an empty uv cache, as on CI's fresh machine
(downloading and installing are then part of the figure). ``--serial`` also runs the
primary Python's whole suite without pytest-xdist (``-- -q``), so the speedup of running
on every core is measured on the same day. Under each session's line: its failed tests
and the slowest tests pytest lists (``--durations``), where CI's time went.

    python benchmarks/ci_wall_time.py [--fresh] [--serial] [--python 3.12 ...]
    python benchmarks/ci_wall_time.py --fresh --install-only [--backend uv|virtualenv]

Every claimed Python must be findable (``--fresh`` builds its venv): under pyenv, export
``PYENV_VERSION`` as ``.ci/run`` does.

Budget (issue 14): the whole of it at or below ~12 minutes on a fresh 2-core machine.
Absolute times on shared VMs drift by 2x between days: the load average is printed.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nox.project

REPO = Path(__file__).resolve().parent.parent
BUDGET_S = 12 * 60


def cpu_model() -> str:
    """As ``qatbench.bench.storage.environment.cpu_model``, which this script (run by the
    Python that has nox, not the project's venv) cannot import."""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def timed_session(name: str, *posargs: str, fresh: bool = False, install_only: bool = False,
                  backend: str | None = None) -> tuple[float, int, str]:
    """Wall seconds, exit code and pytest's summary line of one nox session."""
    command = [sys.executable, "-m", "nox", "-s", name, "--error-on-missing-interpreters"]
    env = {**os.environ, "CI": "true"}
    if fresh:
        # as on a new host: no venv to delete (not timed), nothing downloaded before
        shutil.rmtree(REPO / ".nox" / name.replace(".", "-"), ignore_errors=True)
        command.append("--no-reuse-existing-virtualenvs")
        env["UV_CACHE_DIR"] = tempfile.mkdtemp(prefix="qatbench-uv-cache-")
    if install_only:
        command.append("--install-only")
    if backend:
        command += ["--force-venv-backend", backend]
    if posargs:
        command += ["--", *posargs]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    if fresh:
        shutil.rmtree(env["UV_CACHE_DIR"], ignore_errors=True)
    lines = result.stdout.splitlines()
    summary = next((line.strip("= ") for line in reversed(lines)
                    if " passed" in line or " failed" in line), "no pytest summary")
    return elapsed, result.returncode, "\n".join([summary, *_details(lines)])


def _details(lines: list[str]) -> list[str]:
    """What CI's log would show beside the summary: each failed test, and the slowest
    tests pytest lists (``--durations``), so the figure says where the time went."""
    failed = [line for line in lines if line.startswith(("FAILED ", "ERROR "))]
    slowest: list[str] = []
    for index, line in enumerate(lines):
        if "slowest" in line and "durations" in line:
            for row in lines[index + 1:]:
                if not row.strip() or row.startswith("="):
                    break
                slowest.append(row)
            break
    return [f"    {line}" for line in (*failed, *slowest)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fresh", action="store_true",
                        help="recreate each session's virtualenv first (as on a fresh CI host)")
    parser.add_argument("--python", action="append", default=None,
                        help="time only this claimed Python (repeatable)")
    parser.add_argument("--install-only", action="store_true",
                        help="time only building the venvs (with --fresh: the install step)")
    parser.add_argument("--backend", choices=["uv", "virtualenv"],
                        help="force nox's venv backend (default: noxfile's uv|virtualenv)")
    parser.add_argument("--serial", action="store_true",
                        help="also time the primary Python's suite without pytest-xdist")
    args = parser.parse_args()
    pythons = nox.project.python_versions(nox.project.load_toml(REPO / "pyproject.toml"))
    pythons = [python for python in pythons if not args.python or python in args.python]
    print(f"{datetime.date.today()}  {cpu_model()}  {os.cpu_count()} cores  "
          f"load {os.getloadavg()[0]:.1f}  Pythons {', '.join(pythons)}"
          f"{'  (fresh virtualenvs: install included)' if args.fresh else ''}"
          f"{'  install only' if args.install_only else ''}"
          f"{f'  backend {args.backend}' if args.backend else ''}")
    total, failed, primary = 0.0, False, 0.0
    for python in pythons:
        elapsed, code, summary = timed_session(f"tests-{python}", fresh=args.fresh,
                                               install_only=args.install_only,
                                               backend=args.backend)
        total += elapsed
        primary = primary or elapsed
        failed |= code != 0
        print(f"  tests-{python:<5} {elapsed:6.0f} s  exit {code}  {summary}", flush=True)
    print(f"  all Pythons  {total:6.0f} s = {total / 60:.1f} min = {total / BUDGET_S:.0%} of the "
          f"{BUDGET_S / 60:.0f}-min budget ({'within' if total <= BUDGET_S else 'OVER'})")
    if args.serial:
        serial, code, summary = timed_session(f"tests-{pythons[0]}", "-q")
        print(f"  tests-{pythons[0]} in one process {serial:6.0f} s  exit {code}  {summary}")
        print(f"  one process / xdist workers = {serial / primary:.2f}x")
    print(f"  load average after: {os.getloadavg()[0]:.1f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
