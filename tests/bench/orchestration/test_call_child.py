"""``call_child``'s failure paths, once, with the real ``inspect`` request and a stand-in
child program (``python=``: what the launcher runs in place of the interpreter), so each
way a child can end is made on purpose and fast: a crash with a traceback, a hang, a
result that does not read, and the parent interrupted."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType

import pytest

from qatbench.bench.orchestration.launcher import call_child
from qatbench.targets.inspect_worker import InspectedFile, InspectRequest
from qatbench.targets.tflite_file import InvalidModelFile

# The launcher runs ``PROGRAM -m qatbench.targets.child REQUEST.json``; this stand-in
# does what $FAKE_CHILD says instead of the entry's work.
FAKE_CHILD = f"""#!{sys.executable}
import json, os, sys, time
from pathlib import Path

request = json.loads(Path(sys.argv[3]).read_text())["request"]
result = Path(request["result_path"])
Path(os.environ["FAKE_CHILD_PID"]).write_text(str(os.getpid()))
mode = os.environ["FAKE_CHILD"]
if mode == "crash":
    print("Traceback (most recent call last):")
    print("ZeroDivisionError: division by zero in the parser")
    sys.exit(1)
if mode == "garbage":
    result.write_text('[{{"path": "m.tflite", "size_bytes": "many"}}]')
if mode == "hang":
    time.sleep(120)
if mode == "ok":
    result.write_text(json.dumps([{{"path": "m.tflite", "kind": "int8",
                                    "size_bytes": 1234}}]))
"""


@pytest.fixture
def fake_child(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Path]:
    program = tmp_path / "fake_child"
    program.write_text(FAKE_CHILD)
    program.chmod(0o755)
    pid_file = tmp_path / "child.pid"
    monkeypatch.setenv("FAKE_CHILD_PID", str(pid_file))
    monkeypatch.setenv("QATBENCH_KILL_GRACE_S", "1")
    return str(program), pid_file


def inspect_request(tmp_path: Path) -> InspectRequest:
    work = tmp_path / "work"
    return InspectRequest(files=["m.tflite"], result_path=str(work / "inspect.json"))


def test_the_childs_result_comes_back_typed(tmp_path: Path, fake_child: tuple[str, Path],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_CHILD", "ok")
    request = inspect_request(tmp_path)
    request.result_file().parent.mkdir()
    request.result_file().write_text("stale: from an earlier call")  # cleared first
    found = call_child(request, timeout_s=60, python=fake_child[0])
    assert found == [InspectedFile("m.tflite", "int8", 1234)]


def test_a_crash_says_how_the_child_ended_where_its_log_is_and_its_tail(
        tmp_path: Path, fake_child: tuple[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_CHILD", "crash")
    request = inspect_request(tmp_path)
    log = tmp_path / "work" / "child.log"
    with pytest.raises(InvalidModelFile) as raised:
        call_child(request, timeout_s=60, python=fake_child[0])
    assert str(raised.value) == (
        f"m.tflite: reading it as a .tflite model exited with status 1 and no result; "
        f"log: {log}\nTraceback (most recent call last):\n"
        "ZeroDivisionError: division by zero in the parser")


def test_a_hang_is_stopped_at_the_timeout(tmp_path: Path, fake_child: tuple[str, Path],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_CHILD", "hang")
    with pytest.raises(InvalidModelFile, match=r"^m.tflite: reading it as a .tflite model "
                                               r"timed out after 2s \(the child was stopped\)"
                                               r"; raise --timeout if the model is just "
                                               r"slow; log: "):
        call_child(inspect_request(tmp_path), timeout_s=2, python=fake_child[0])
    assert not Path(f"/proc/{fake_child[1].read_text()}").exists()


def test_a_result_that_does_not_read_is_a_failure_naming_the_file(
        tmp_path: Path, fake_child: tuple[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_CHILD", "garbage")
    request = inspect_request(tmp_path)
    with pytest.raises(InvalidModelFile) as raised:
        call_child(request, timeout_s=60, python=fake_child[0])
    message = str(raised.value)
    assert message.startswith(
        f"m.tflite: reading it as a .tflite model exited with status 0 and a result that "
        f"does not read ({request.result_file()}: ValidationError: ")
    assert f"log: {tmp_path / 'work' / 'child.log'}" in message


def test_an_interrupted_parent_takes_the_child_down_and_goes_on(
        tmp_path: Path, fake_child: tuple[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C while the child runs: the child's group is stopped and the interrupt
    reaches the caller (no result made up)."""
    monkeypatch.setenv("FAKE_CHILD", "hang")

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 1.5)
    started = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            call_child(inspect_request(tmp_path), timeout_s=60, python=fake_child[0])
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert time.monotonic() - started < 30  # not the 60 s timeout
    pid = int(fake_child[1].read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
