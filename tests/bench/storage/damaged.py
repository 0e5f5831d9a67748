"""How a test reads a store file's refusal: the reader must raise ``DamagedStoreFile``
naming that very file; the test then checks what the message says."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from qatbench.bench.storage.store import DamagedStoreFile


def refusal(read: Callable[[Path], Any], run_dir: Path, path: Path) -> str:
    """The message ``read(run_dir)`` refuses ``path`` with."""
    with pytest.raises(DamagedStoreFile) as raised:
        read(run_dir)
    assert raised.value.path == path
    return str(raised.value)
