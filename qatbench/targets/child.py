"""The one entry of every child process: ``python -m qatbench.targets.child REQUEST.json``.

Everything that can crash, hang or load TensorFlow runs in a child that the bench side's
launcher (``bench/orchestration/launcher.py: call_child``) starts. What each child does
differs -- time a job, profile a model, open untrusted ``.tflite`` files, build a model,
check the user's model sources -- but what it needs around that work does not, so it is
done here, once:

- the request file is validated by its kind's request model before any work starts: a
  malformed file exits 2 with pydantic's words on what is wrong, never a traceback;
- SIGTERM (the launcher's timeout, before its SIGKILL) becomes ``JobInterrupted``, so
  ``finally`` blocks run on the way out (a phone's benchmark is killed, pushed files
  removed); the child then exits 143 without a result and the parent writes the row;
- an exception becomes that kind's own result (a ``failed`` row, a profile's error, a
  failed build manifest), with the traceback in the child's log;
- the result is written atomically (``atomic.atomic_write_text``), so the parent reads a
  whole result or none.

The request file names its ``kind``; the kind is looked up in ``KINDS``, a table of
*string* references like the target registry's -- the kind's request model and its
work: this module imports no kind's code, so the timing side never imports ``qat`` (or
TensorFlow) by starting a child, and a child imports only the kind it runs. The
child asks for SIGTERM when its parent dies (``end_with_parent``) as its first step, and
checks the parent it was started by (``QATBENCH_PARENT_PID``) is still its parent, so a
parent that died while this module was importing is caught too.

Requests and results are typed records (pydantic dataclasses, or plain dataclasses
pydantic reads) written and read here by one codec (``record_text``/``read_record``),
so no type hand-writes its own JSON.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import signal
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import FrameType
from typing import Any, ClassVar, Generic, NamedTuple, TypeVar

from pydantic import TypeAdapter, ValidationError

from qatbench.atomic import atomic_write_text
from qatbench.targets.base import JobInterrupted


class Kind(NamedTuple):
    """A child kind: its request model and its work (``serve(request) -> Served``), both
    as ``"module:name"``."""

    request: str
    serve: str


KINDS: dict[str, Kind] = {
    "job": Kind("qatbench.targets.worker:JobRequest", "qatbench.targets.worker:serve"),
    "profile": Kind("qatbench.targets.profile_worker:ProfileRequest",
                    "qatbench.targets.profile_worker:serve"),
    "inspect": Kind("qatbench.targets.inspect_worker:InspectRequest",
                    "qatbench.targets.inspect_worker:serve"),
    "build": Kind("qatbench.qat.artifacts:BuildRequest", "qatbench.qat.build_worker:serve"),
    "source_check": Kind("qatbench.qat.source_check:SourceCheckRequest",
                         "qatbench.qat.source_check:serve"),
}
MODULE = "qatbench.targets.child"  # what the launcher runs with ``python -m``
PARENT_PID_VARIABLE = "QATBENCH_PARENT_PID"  # the launcher's pid, set in the child's env
PR_SET_PDEATHSIG = 1  # linux/prctl.h
INTERRUPTED_EXIT = 128 + signal.SIGTERM
BAD_REQUEST_EXIT = 2

T = TypeVar("T")
R = TypeVar("R")  # a kind's result


@cache
def _adapter(kind: Any) -> TypeAdapter[Any]:
    return TypeAdapter(kind)


def record_text(record: Any, kind: Any = None, *, indent: int | None = None) -> str:
    """A typed record (``kind``: its type, by default ``type(record)``) as JSON text,
    dumped by pydantic; what ``json`` cannot write (a path) becomes its text."""
    dumped = _adapter(type(record) if kind is None else kind).dump_python(record, warnings=False)
    return json.dumps(dumped, indent=indent, default=str)


def read_record(kind: Any, text: str) -> Any:
    """JSON text as the typed record ``kind`` (a type pydantic validates); raises
    ``ValueError`` (pydantic's ``ValidationError``, or the JSON decoder's) when it is not."""
    return record_from(kind, json.loads(text))


def record_from(kind: Any, data: Any) -> Any:
    """JSON values (``json.loads``'s) as the typed record ``kind``."""
    return _adapter(kind).validate_python(data)


class ChildRequest(Generic[R]):
    """What every request to a child is besides its fields (which its own pydantic
    dataclass declares): its ``kind``, the record the child writes (``result_type``, an
    ``R``, at ``result_file()``), the folder the request file and log go in
    (``child_dir()``) and what the parent makes of a child that left no result
    (``without_result``)."""

    kind: ClassVar[str]
    result_type: ClassVar[Any]
    result_indent: ClassVar[int | None] = None
    # a build's manifest is its own record of the out dir (kept, and read even after a
    # timeout: what was built before the hang stands)
    clears_old_result: ClassVar[bool] = True
    reads_result_after_timeout: ClassVar[bool] = False

    def result_file(self) -> Path:
        return Path(getattr(self, "result_path"))  # noqa: B009 -- a field of the subclass

    def child_dir(self) -> Path:
        return self.result_file().parent

    def without_result(self, how: str) -> R:
        """The result of a child that wrote none (``how``: how it ended, its log's tail),
        or an exception naming what failed."""
        raise NotImplementedError


def no_result(error: Exception) -> Any:
    """A kind whose crash has no result of its own: the parent reports the exit status
    and the log's tail."""
    return None


@dataclass(frozen=True)
class Served:
    """One request's work as the entry runs it: the work (which returns the result
    record) and what a crash in it becomes (``None``: no result)."""

    run: Callable[[], Any]
    crashed: Callable[[Exception], Any] = no_result


def save_request(path: Path, request: ChildRequest) -> None:
    """The request file: ``{"kind": ..., "request": {fields}}`` (written atomically: a
    full disk is an ``UnwritableOutput`` naming it, never a bare ``OSError``)."""
    fields = _adapter(type(request)).dump_python(request, mode="json")
    atomic_write_text(path, json.dumps({"kind": request.kind, "request": fields}, indent=2))


def read_request(path: Path) -> tuple[str, dict[str, Any]]:
    """A request file's kind and fields."""
    data = json.loads(path.read_text())
    return str(data["kind"]), dict(data["request"])


def load_request(path: Path, request_type: type[T]) -> T:
    """The request file at ``path`` as ``request_type`` (validated by it); a file of
    another kind is a ``ValueError``."""
    found, fields = read_request(path)
    kind = getattr(request_type, "kind")  # noqa: B009 -- a ClassVar of the request type
    if found != kind:
        raise ValueError(f"{path} is a {found!r} request, not {kind!r}")
    return record_from(request_type, fields)


def _imported(reference: str) -> Any:
    module, _, name = reference.partition(":")
    return getattr(importlib.import_module(module), name)


def request_type(kind: str) -> type[ChildRequest]:
    """The request model ``KINDS`` names for ``kind`` (imported only now)."""
    if kind not in KINDS:
        raise ValueError(f"unknown child kind {kind!r}; known: {', '.join(KINDS)}")
    return _imported(KINDS[kind].request)


def serve_function(kind: str) -> Callable[[Any], Served]:
    """The serve function ``KINDS`` names for ``kind`` (imported only now)."""
    if kind not in KINDS:
        raise ValueError(f"unknown child kind {kind!r}; known: {', '.join(KINDS)}")
    return _imported(KINDS[kind].serve)


def crash_text(error: BaseException) -> str:
    """An exception as a result's error: its type, message and the last frames."""
    detail = "".join(traceback.format_exception(error)[-3:]).strip()
    return f"{type(error).__name__}: {error}\n{detail}"


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise JobInterrupted(f"stopped by {signal.Signals(signum).name} (the child's timeout)")


def typed_request(path: Path) -> ChildRequest:
    """The request file at ``path`` validated by its kind's model; ``ValueError`` with
    what is wrong (unreadable JSON, no kind, an unknown kind, a field that does not fit)."""
    try:
        kind, fields = read_request(path)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{path} is not a child request file ({{\"kind\": ..., "
                         f"\"request\": {{...}}}}): {type(error).__name__}: {error}") from None
    model = request_type(kind)
    try:
        return record_from(model, fields)
    except ValidationError as error:
        raise ValueError(f"{path} is not a valid {kind!r} request ({model.__name__}): "
                         f"{error}") from None


def end_with_parent() -> bool:
    """SIGTERM to this child when its parent dies, even by SIGKILL (Linux
    ``prctl(PR_SET_PDEATHSIG)``); False when the parent that started it is already gone.

    The child lives in its own process group, so a kill of the run's group does not reach
    it; without this an orphaned timing child keeps going and shares its job's folder with
    the resumed run. SIGTERM, not SIGKILL: the worker's ``finally`` blocks clean up (a
    phone's benchmark process). Set here, not in the launcher's ``preexec_fn``: Python
    code between fork and exec can deadlock in a parent with threads."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    expected = os.environ.get(PARENT_PID_VARIABLE, "")
    return not expected.isdigit() or os.getppid() == int(expected)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(f"usage: python -m {MODULE} REQUEST.json", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _interrupt)
    who = "qatbench child"
    try:
        try:
            request = typed_request(Path(args[0]))  # imports the kind's code
        except ValueError as error:
            print(f"{who}: {error}", file=sys.stderr, flush=True)
            return BAD_REQUEST_EXIT
        who = f"qatbench {request.kind} child"
        served = serve_function(request.kind)(request)
        try:
            result = served.run()
        except Exception as error:
            traceback.print_exc()
            result = served.crashed(error)
    except JobInterrupted as stop:  # clean-up ran on the way out; the parent writes the row
        print(f"{who}: {stop}", file=sys.stderr, flush=True)
        return INTERRUPTED_EXIT
    if result is None:
        return 1
    atomic_write_text(request.result_file(), record_text(result, request.result_type,
                                                                indent=request.result_indent))
    return 0


def entry() -> int:
    """The process entry: the parent-death signal first (in this process only -- ``main``
    also runs inside tests), then ``main``."""
    if not end_with_parent():
        print(f"qatbench child: the run that started it (pid {os.environ[PARENT_PID_VARIABLE]}) "
              "has already ended; nothing done", file=sys.stderr, flush=True)
        return INTERRUPTED_EXIT
    return main()


if __name__ == "__main__":
    sys.exit(entry())
