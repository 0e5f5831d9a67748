"""The one entry of every child process: ``python -m qatbench.targets.child REQUEST.json``.

Everything that can crash, hang or load TensorFlow runs in a child that the bench side's
launcher (``bench/orchestration/launcher.py: run_child``) starts. What each child does
differs -- time a job, profile a model, open untrusted ``.tflite`` files, build a model,
check the user's model sources -- but what it needs around that work does not, so it is
done here, once:

- SIGTERM (the launcher's timeout, before its SIGKILL) becomes ``JobInterrupted``, so
  ``finally`` blocks run on the way out (a phone's benchmark is killed, pushed files
  removed); the child then exits 143 without a result and the parent writes the row;
- an exception becomes that kind's own result (a ``failed`` row, a profile's error, a
  failed build manifest), with the traceback in the child's log;
- the result is written atomically (``atomic.atomic_write_text``), so the parent reads a
  whole result or none.

The request file names its ``kind``; the kind is looked up in ``KINDS``, a table of
*string* references like the target registry's: this module imports no kind's code, so
the timing side never imports ``qat`` (or TensorFlow) by starting a child, and a child
imports only the kind it runs. The parent-death signal is set by the launcher before
the child's program starts (``preexec_fn``), so it covers this module's imports too.
"""

from __future__ import annotations

import importlib
import json
import signal
import sys
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, ClassVar, Protocol

from qatbench.atomic import atomic_write_text
from qatbench.targets.base import JobInterrupted

# kind -> "module:serve"; serve(request fields) -> Served
KINDS: dict[str, str] = {
    "job": "qatbench.targets.worker:serve",
    "profile": "qatbench.targets.profile_worker:serve",
    "inspect": "qatbench.targets.inspect_worker:serve",
    "build": "qatbench.qat.build_worker:serve",
    "source_check": "qatbench.qat.source_check:serve",
}
MODULE = "qatbench.targets.child"  # what the launcher runs with ``python -m``
INTERRUPTED_EXIT = 128 + signal.SIGTERM


class ChildRequest(Protocol):
    """A typed request the launcher can hand to a child: its ``kind`` and its fields."""

    kind: ClassVar[str]

    def fields(self) -> dict[str, Any]:
        """The request's fields as JSON values; ``cls(**fields)`` rebuilds it."""
        ...


def no_result(error: Exception) -> str | None:
    """A kind whose crash has no result of its own: the parent reports the exit status
    and the log's tail."""
    return None


@dataclass(frozen=True)
class Served:
    """One request's work as the entry runs it: where the result goes, the work (which
    returns the result's text) and what a crash in it becomes (``None``: no result)."""

    result_path: Path
    run: Callable[[], str]
    crashed: Callable[[Exception], str | None] = no_result


def save_request(path: Path, request: ChildRequest) -> None:
    """The request file: ``{"kind": ..., "request": {fields}}`` (written atomically: a
    full disk is an ``UnwritableOutput`` naming it, never a bare ``OSError``)."""
    atomic_write_text(path, json.dumps({"kind": request.kind, "request": request.fields()},
                                       indent=2))


def read_request(path: Path) -> tuple[str, dict[str, Any]]:
    """A request file's kind and fields."""
    data = json.loads(path.read_text())
    return str(data["kind"]), dict(data["request"])


def load_fields(path: Path, kind: str) -> dict[str, Any]:
    """The fields of a request file of ``kind`` (a request type's ``load``)."""
    found, fields = read_request(path)
    if found != kind:
        raise ValueError(f"{path} is a {found!r} request, not {kind!r}")
    return fields


def crash_text(error: BaseException) -> str:
    """An exception as a result's error: its type, message and the last frames."""
    detail = "".join(traceback.format_exception(error)[-3:]).strip()
    return f"{type(error).__name__}: {error}\n{detail}"


def serve_function(kind: str) -> Callable[[Mapping[str, Any]], Served]:
    """The serve function ``KINDS`` names for ``kind`` (imported only now)."""
    if kind not in KINDS:
        raise ValueError(f"unknown child kind {kind!r}; known: {', '.join(KINDS)}")
    module, _, name = KINDS[kind].partition(":")
    return getattr(importlib.import_module(module), name)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise JobInterrupted(f"stopped by {signal.Signals(signum).name} (the child's timeout)")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(f"usage: python -m {MODULE} REQUEST.json", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _interrupt)
    kind, fields = read_request(Path(args[0]))
    try:
        served = serve_function(kind)(fields)
        try:
            text = served.run()
        except Exception as error:
            traceback.print_exc()
            text = served.crashed(error)
    except JobInterrupted as stop:  # clean-up ran on the way out; the parent writes the row
        print(f"qatbench {kind} child: {stop}", file=sys.stderr, flush=True)
        return INTERRUPTED_EXIT
    if text is None:
        return 1
    atomic_write_text(served.result_path, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
