"""The child that opens ``.tflite`` files a user hands to ``qatbench bench``.

Run as ``python -m qatbench.targets.inspect_worker REQUEST.json``. A file from anywhere
is untrusted input: parsing it builds a LiteRT interpreter, and a malformed flatbuffer
can crash the process that does it. Here only this child dies; the CLI reports the file.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from qatbench.atomic import atomic_write_json
from qatbench.targets.tflite_file import InvalidModelFile, inspect_tflite


@dataclass(frozen=True)
class InspectRequest:
    files: list[str]
    result_path: str

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, path: Path) -> InspectRequest:
        return cls(**json.loads(path.read_text()))


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


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    request = InspectRequest.load(Path(args[0]))
    atomic_write_json(Path(request.result_path), inspect_files(request.files))
    return 0


if __name__ == "__main__":
    sys.exit(main())
