"""Where the commands print: ``console`` (stdout: tables, results) and ``errors`` (stderr:
errors, warnings, notes), shared so every command's output looks the same."""

from __future__ import annotations

import sys

from rich.console import Console

# In a CI log (no terminal) rich would wrap tables at 80 columns; a log is wide.
console = Console() if sys.stdout.isatty() else Console(width=200)
errors = Console(stderr=True, soft_wrap=True)  # paths in errors stay copyable
