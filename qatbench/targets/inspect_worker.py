"""The child's work that opens ``.tflite`` files a user hands to ``qatbench bench``
(kind ``inspect``).

Run by the child entry (``targets/child.py``). A file from anywhere
is untrusted input: parsing it builds a LiteRT interpreter, and a malformed flatbuffer
can crash the process that does it. Here only this child dies; the CLI reports the file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

from qatbench.targets.child import Served, load_fields, save_request
from qatbench.targets.tflite_file import InvalidModelFile, inspect_tflite


@dataclass(frozen=True)
class InspectRequest:
    files: list[str]
    result_path: str

    kind: ClassVar[str] = "inspect"  # the child entry's kind (``targets/child.py``)

    def fields(self) -> dict[str, Any]:
        return asdict(self)

    def save(self, path: Path) -> None:
        save_request(path, self)

    @classmethod
    def load(cls, path: Path) -> InspectRequest:
        return cls(**load_fields(path, cls.kind))


def inspect_files(files: list[str]) -> list[dict]:
    """``{"path", "kind", "size_bytes"}`` per file, or ``{"path", "error"}``."""
    found = []
    for name in files:
        try:
            info = inspect_tflite(Path(name))
        except InvalidModelFile as error:
            found.append({"path": name, "error": str(error)})
            continue
        found.append({"path": name, "kind": info.kind, "size_bytes": info.size_bytes})
    return found


def serve(fields: Mapping[str, Any]) -> Served:
    """The ``inspect`` kind for the child entry. A file it cannot read is an entry of
    the result; a crash has no result (the CLI reports the exit and the log)."""
    request = InspectRequest(**fields)
    return Served(Path(request.result_path),
                  lambda: json.dumps(inspect_files(request.files), indent=2, default=str))
