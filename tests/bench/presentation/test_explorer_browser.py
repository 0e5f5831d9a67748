"""``qatbench explore --open`` as a person sees it: Model Explorer's own local server
(its bundled web app, started by the product's ``open_in_explorer``) showing a profiled
``.tflite`` with the overlays ``qatbench explore`` wrote, in headless Chromium, offline.

The overlay files say which colours their nodes get (a gradient's top stop for the
slowest op, the placement thresholds); the screenshot must show those colours, so a file
Model Explorer cannot load, attached to the wrong model, or not drawn, fails here. The
browser resolves no host but 127.0.0.1: the page renders without fonts or CDNs.
Skipped only where Chromium is absent and this is not CI (.ci/run installs it).
"""

from __future__ import annotations

import base64
import fcntl
import io
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from qatbench.bench.orchestration.explore_command import explore
from qatbench.bench.presentation.explorer import PLACEMENT, TIME

pytest.importorskip("model_explorer")

pytestmark = pytest.mark.slow  # a TensorFlow child, Model Explorer's server and a browser

VIEWPORT = (1280, 800)
START_S = 90  # the server child imports TensorFlow (qatbench explore) before it listens
DRAW_S = 60  # converting the file and drawing the graph and its node data
MIN_PIXELS = 100  # a coloured cell of the node-data table is ~1000 pixels

# The child: `qatbench explore RUN --out OUT --open`, with Model Explorer's own
# visualize_from_config told the host and port and not to open a browser, and its
# version check (PyPI, GitHub) answered locally so nothing is downloaded.
SERVE = """
import sys
from functools import partial
from pathlib import Path
from types import SimpleNamespace

import model_explorer
from model_explorer import server

from qatbench.bench.orchestration.explore_command import explore, open_in_explorer

server._check_new_version = lambda *args, **kwargs: dict.fromkeys(
    ("version", "runningVersion", "releaseUrl", "desktopAppUrl"), "")
run_dir, out, port = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
show = partial(model_explorer.visualize_from_config, host="127.0.0.1", port=port,
               no_open_in_browser=True)
open_in_explorer(explore(run_dir, out=out), explorer=SimpleNamespace(
    config=model_explorer.config, visualize_from_config=show))
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _stop(process: subprocess.Popen) -> None:
    """End the process and everything it started (its own session, begun here), also
    when it has exited before its children (a browser's renderers)."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
    except ProcessLookupError:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@contextmanager
def _model_explorer(run_dir: Path, out: Path, log: Path) -> Iterator[str]:
    """Model Explorer's server on the run's overlays; yields the address it prints (the
    one that opens the models with their node data)."""
    port = _free_port()
    with log.open("w") as sink:
        server = subprocess.Popen(
            [sys.executable, "-u", "-c", SERVE, str(run_dir), str(out), str(port)],
            stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        prefix = f"http://127.0.0.1:{port}/?data="
        deadline = time.monotonic() + START_S
        while time.monotonic() < deadline and server.poll() is None:
            found = [line for line in log.read_text().splitlines() if line.startswith(prefix)]
            if found:
                yield found[0]
                return
            time.sleep(0.5)
        state = f"exited ({server.returncode})" if server.poll() is not None \
            else f"printed no address in {START_S} s"
        pytest.fail(f"Model Explorer {state}:\n{log.read_text()[-3000:]}")
    finally:
        _stop(server)


class _Browser:
    """Headless Chromium driven over its DevTools pipe (fd 3 in, fd 4 out, messages
    ending in NUL): no websocket client needed, and a screenshot can wait for the page's
    own scripts, which ``--virtual-time-budget`` cannot (Model Explorer keeps an event
    stream open, so virtual time never runs out)."""

    def __init__(self, commands: Any, replies: Any) -> None:
        self.commands, self.replies = commands, replies
        self.buffer, self.last_id, self.session = b"", 0, ""

    def call(self, method: str, timeout: float = 30, **params: Any) -> dict[str, Any]:
        self.last_id += 1
        message = {"id": self.last_id, "method": method, "params": params,
                   **({"sessionId": self.session} if self.session else {})}
        self.commands.write(json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" not in self.buffer:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([self.replies], [], [], left)[0]:
                    raise TimeoutError(f"chromium did not answer {method} in {timeout} s")
                chunk = os.read(self.replies.fileno(), 1 << 20)
                if not chunk:
                    raise RuntimeError(f"chromium closed its pipe during {method}")
                self.buffer += chunk
            line, self.buffer = self.buffer.split(b"\0", 1)
            reply = json.loads(line)
            if reply.get("id") == self.last_id:
                assert "error" not in reply, (method, reply["error"])
                return reply["result"]

    def open(self, url: str) -> None:
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target,
                                 flatten=True)["sessionId"]
        self.call("Emulation.setDeviceMetricsOverride", width=VIEWPORT[0],
                  height=VIEWPORT[1], deviceScaleFactor=1, mobile=False)
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + 30
        while self.call("Runtime.evaluate", expression="document.readyState",
                        returnByValue=True)["result"].get("value") != "complete":
            assert time.monotonic() < deadline, f"{url} did not load in 30 s"
            time.sleep(0.2)

    def screenshot(self) -> bytes:
        return base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])


@contextmanager
def _browser(chromium: str, profile: Path) -> Iterator[_Browser]:
    ours_to_chromium, chromium_reads = os.pipe()[::-1]
    chromium_writes, ours_from_chromium = os.pipe()[::-1]
    # Copies above the low numbers, so placing them at 3 and 4 cannot clobber each other.
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (chromium_reads,
                                                                   chromium_writes)]

    def pipe_to_3_and_4() -> None:
        os.dup2(high[0], 3)
        os.dup2(high[1], 4)

    process = subprocess.Popen(
        [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={profile}", "--hide-scrollbars",
         "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
         f"--window-size={VIEWPORT[0]},{VIEWPORT[1]}", "--remote-debugging-pipe",
         "about:blank"],
        pass_fds=(3, 4), preexec_fn=pipe_to_3_and_4, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for fd in (chromium_reads, chromium_writes, *high):
        os.close(fd)
    with os.fdopen(ours_to_chromium, "wb", buffering=0) as commands, \
            os.fdopen(ours_from_chromium, "rb", buffering=0) as replies:
        try:
            yield _Browser(commands, replies)
        finally:
            _stop(process)


def _colours(path: Path) -> tuple[list[str], list[str]]:
    """(gradient stop colours, threshold colours) the overlay file asks Model Explorer
    for, lowest first."""
    (graph,) = json.loads(path.read_text()).values()
    stops = sorted(graph.get("gradient") or [], key=lambda item: item["stop"])
    return [s["bgColor"] for s in stops], [t["bgColor"] for t in graph.get("thresholds") or []]


def _rgb(colour: str) -> tuple[int, int, int]:
    return tuple(int(colour.lstrip("#")[i:i + 2], 16) for i in (0, 2, 4))


def test_model_explorer_draws_the_overlays_offline(tmp_path: Path, chromium: str,
                                                   int8_tflite: Path) -> None:
    from PIL import Image

    from qatbench.bench.orchestration.config import load_config
    from qatbench.bench.orchestration.profile_command import profile_files

    settings = load_config(None, overrides={
        "run": {"targets": ["cpu-xnnpack"], "threads": [1], "out": str(tmp_path / "results"),
                "profile_op_s": 0.01},
        "measure": {"warmup_runs": 1, "min_runs": 5, "min_s": 0.01, "warmup_min_s": 0.0}})
    run_dir = profile_files([int8_tflite], settings).run_dir
    out = tmp_path / "explorer"
    overlays = {w.overlay.kind: w.path for w in explore(run_dir, out=out).written}
    assert set(overlays) == {TIME, PLACEMENT}
    slowest = _rgb(_colours(overlays[TIME])[0][-1])  # the slowest op's colour: top stop
    placed = {_rgb(c) for c in _colours(overlays[PLACEMENT])[1]}
    assert placed and slowest not in placed

    def drawn(image: Image.Image) -> dict[str, int]:
        counts = {rgb: n for n, rgb in image.getcolors(VIEWPORT[0] * VIEWPORT[1])}
        return {"slowest": counts.get(slowest, 0),
                "placement": max(counts.get(rgb, 0) for rgb in placed),
                "colours": len(counts)}

    with _model_explorer(run_dir, out, tmp_path / "server.log") as url, \
            _browser(chromium, tmp_path / "profile") as browser:
        assert int8_tflite.name in url and overlays[TIME].name in url
        browser.open(url)
        deadline = time.monotonic() + DRAW_S
        while True:  # converting and drawing take their time: look until both show
            png = browser.screenshot()
            image = Image.open(io.BytesIO(png)).convert("RGB")
            seen = drawn(image)
            if (seen["slowest"] >= MIN_PIXELS and seen["placement"] >= MIN_PIXELS) \
                    or time.monotonic() > deadline:
                break
            time.sleep(1)
    (tmp_path / "explorer.png").write_bytes(png)
    assert png.startswith(b"\x89PNG") and image.size == VIEWPORT
    assert seen["colours"] > 50, f"the page looks blank: {seen}"
    assert seen["slowest"] >= MIN_PIXELS, f"no op drawn in the time overlay's top colour: {seen}"
    assert seen["placement"] >= MIN_PIXELS, f"no op drawn in a placement colour: {seen}"
