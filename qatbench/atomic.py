"""The one atomic writer: write a temporary file, fsync it, rename it over the target,
fsync the directory. A reader (or a crash) sees the old file or the new one, never half.

At the package's root because every part writes files another process reads: the build
child's manifest and models (``qat``), the timing child's result (``targets``), the run
directory (``bench.storage``). It imports nothing of qatbench but the ``UserError`` marker
(``errors.py``), and nothing heavy.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qatbench.errors import UserError

if TYPE_CHECKING:
    import pandas as pd


class UnwritableOutput(UserError, OSError):
    """A file cannot be written where it was asked for: the disk is full, the place is
    read-only, a directory stands in its way or its folder is missing. An ``OSError`` (so
    a caller that handles one still does); the message names the path and what to do.
    Whatever the file held before is unchanged."""

    def __init__(self, path: Path | str, error: OSError) -> None:
        super().__init__(error.errno, _what_to_do(Path(path), error), str(path))
        self.path = Path(path)

    def __str__(self) -> str:
        return f"cannot write {self.path}: {self.strerror}"


def _what_to_do(path: Path, error: OSError) -> str:
    code = error.errno
    reason = error.strerror or str(error) or type(error).__name__
    if code in (errno.ENOSPC, errno.EDQUOT):
        return f"{reason} -- free space on its disk (or write elsewhere) and run it again"
    if code in (errno.EACCES, errno.EPERM, errno.EROFS):
        folder = path if path.is_dir() else path.parent
        return f"{reason} -- make {folder} writable, or write elsewhere"
    if code == errno.EEXIST and path.exists() and not path.is_dir():
        return "it is a file, not a directory -- give a directory"
    if code == errno.EISDIR:
        return "it is a directory -- give a file path"
    if code == errno.ENOENT and not path.parent.exists():
        return f"its folder {path.parent} does not exist -- create it, or write elsewhere"
    if code == errno.ENOTDIR:
        return f"{reason}: a part of the path is a file -- write elsewhere"
    return reason


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
    except UnwritableOutput:
        raise
    except OSError as error:  # a full disk, a read-only place, a directory in the way...
        raise UnwritableOutput(path, error) from error
    finally:
        with contextlib.suppress(OSError):  # cleaning up must not hide why it failed
            temporary.unlink(missing_ok=True)


def ensure_writable_dir(directory: Path) -> Path:
    """Create ``directory`` (and its parents) if missing and prove a file can be written
    into it, before any work whose results would go there; ``UnwritableOutput`` naming it
    if not (a file in the way, a read-only place)."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UnwritableOutput(directory, error) from error
    probe = directory / f".qatbench-write-probe.{os.getpid()}"
    try:
        atomic_write_bytes(probe, b"")
    except UnwritableOutput as error:
        cause = error.__cause__ if isinstance(error.__cause__, OSError) else error
        raise UnwritableOutput(directory, cause) from error
    finally:
        with contextlib.suppress(OSError):
            probe.unlink(missing_ok=True)
    return directory


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
