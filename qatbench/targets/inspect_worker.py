"""The child's work that opens ``.tflite`` files a user hands to ``qatbench bench``
(kind ``inspect``).

Run by the child entry (``targets/child.py``). A file from anywhere
is untrusted input: parsing it builds a LiteRT interpreter, and a malformed flatbuffer
can crash the process that does it. Here only this child dies; the CLI reports the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, NoReturn

from pydantic.dataclasses import dataclass as pydantic_dataclass

from qatbench.targets.child import ChildRequest, Served
from qatbench.targets.tflite_file import InvalidModelFile, inspect_tflite


@dataclass(frozen=True)
class InspectedFile:
    """One file as the child read it: its kind (``float32``, ``int8``, ``mixed``) and
    size, or why it is not a model file to time (``error``)."""

    path: str
    kind: str = ""
    size_bytes: int = 0
    error: str = ""


@pydantic_dataclass(frozen=True)
class InspectRequest(ChildRequest[list[InspectedFile]]):
    files: list[str]
    result_path: str

    kind: ClassVar[str] = "inspect"  # the child entry's kind (``targets/child.py``)
    result_type: ClassVar[Any] = list[InspectedFile]
    result_indent: ClassVar[int | None] = 2

    def without_result(self, how: str) -> NoReturn:
        """A child that crashed or hung reading the file: the file is not one to time."""
        raise InvalidModelFile(f"{', '.join(self.files)}: reading it as a .tflite model {how}")


def inspect_files(files: list[str]) -> list[InspectedFile]:
    """Each file's kind and size, or why it cannot be read."""
    found = []
    for name in files:
        try:
            info = inspect_tflite(Path(name))
        except InvalidModelFile as error:
            found.append(InspectedFile(name, error=str(error)))
            continue
        found.append(InspectedFile(name, info.kind, info.size_bytes))
    return found


def serve(request: InspectRequest) -> Served:
    """The ``inspect`` kind for the child entry. A file it cannot read is an entry of
    the result; a crash has no result (the CLI reports the exit and the log)."""
    return Served(lambda: inspect_files(request.files))
