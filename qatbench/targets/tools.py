"""Finding and running the external tools the hardware targets drive (``adb``,
``edgetpu_compiler``, ``benchmark_model``) exactly as a device-lab host has them.

A tool is taken from its environment variable (``QATBENCH_ADB``, ...), else from the
run config, else from ``PATH``; the lab's existing set-up works unchanged.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ToolLocation:
    path: Path | None
    searched: str  # what was looked at, for the message when nothing was found

    @property
    def found(self) -> bool:
        return self.path is not None


def find_tool(name: str, env_var: str, configured: str | None = None) -> ToolLocation:
    """The executable for ``name``: ``$env_var``, then ``configured``, then ``PATH``."""
    for source, value in ((f"${env_var}", os.environ.get(env_var)),
                          ("the run config", configured)):
        if value:
            resolved = shutil.which(value) or (value if Path(value).is_file() else None)
            if resolved and os.access(resolved, os.X_OK):
                return ToolLocation(Path(resolved), source)
            return ToolLocation(None, f"{source} = {value!r} (not an executable file)")
    resolved = shutil.which(name)
    return ToolLocation(Path(resolved) if resolved else None, f"{name!r} on PATH")


@dataclass(frozen=True)
class ToolRun:
    args: tuple[str, ...]
    returncode: int | None  # None: killed at the timeout
    stdout: str
    stderr: str

    @property
    def timed_out(self) -> bool:
        return self.returncode is None

    def tail(self, lines: int = 12) -> str:
        text = "\n".join(part for part in (self.stdout.strip(), self.stderr.strip()) if part)
        return "\n".join(text.splitlines()[-lines:])


def run_tool(args: Sequence[str], timeout_s: float, cwd: Path | None = None) -> ToolRun:
    """Run a tool with a timeout; its output is kept whatever happens."""
    try:
        done = subprocess.run([str(a) for a in args], capture_output=True, text=True,
                              errors="replace", timeout=timeout_s, cwd=cwd,
                              stdin=subprocess.DEVNULL)
        return ToolRun(tuple(map(str, args)), done.returncode, done.stdout, done.stderr)
    except subprocess.TimeoutExpired as expired:
        def text(value: object) -> str:
            if isinstance(value, bytes):
                return value.decode(errors="replace")
            return value if isinstance(value, str) else ""

        return ToolRun(tuple(map(str, args)), None, text(expired.stdout), text(expired.stderr))
