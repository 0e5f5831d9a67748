"""Put a simulated tool on disk as an executable named like the real one."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

TOOLS = Path(__file__).resolve().parent


def install_tool(bin_dir: Path, name: str, script: str) -> Path:
    """``bin_dir/name``: runs ``tests/tools/<script>`` with this test run's Python."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    path = bin_dir / name
    path.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{TOOLS / script}" "$@"\n')
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path
