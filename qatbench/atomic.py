"""The one atomic writer: write a temporary file, fsync it, rename it over the target,
fsync the directory. A reader (or a crash) sees the old file or the new one, never half.

At the package's root because every part writes files another process reads: the build
child's manifest and models (``qat``), the timing child's result (``targets``), the run
directory (``bench.storage``). It imports nothing of qatbench and nothing heavy.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem lets a directory be opened
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def _replacing(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield temporary
        with temporary.open("rb+") as handle:
            os.fsync(handle.fileno())
        temporary.replace(path)
        _fsync_dir(path.parent)
    finally:
        temporary.unlink(missing_ok=True)


def atomic_write(path: Path, write: Callable[[Path], Any]) -> None:
    """Call ``write(temporary_path)``, then move the result into place atomically."""
    with _replacing(path) as temporary:
        write(temporary)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda temporary: temporary.write_bytes(data))


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, default=str))


def atomic_write_parquet(path: Path, frame: pd.DataFrame) -> None:
    atomic_write(path, lambda temporary: frame.to_parquet(temporary, index=False))
