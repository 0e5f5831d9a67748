"""``qatbench ARGS`` run in the test's own process, as the console script runs it.

In-process runs let a test monkeypatch the product (a full disk, a read-only store) and
still see the real exit code and messages. ``cli.main`` installs a SIGTERM handler (a CI
cancel becomes an interrupt); ``keep_sigterm`` gives the test process its own back, so
one test's handler never outlives it.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator

import pytest

from qatbench.bench import cli


@pytest.fixture
def keep_sigterm() -> Iterator[None]:
    before = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, before)


def run_qatbench(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture,
                 *args: str) -> tuple[int, str]:
    """(exit code, stdout + stderr) of ``qatbench ARGS``."""
    monkeypatch.setattr(sys, "argv", ["qatbench", *args])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    captured = capsys.readouterr()
    code = exited.value.code
    return (0 if code is None else int(code)), captured.out + captured.err
