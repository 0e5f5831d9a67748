"""Android devices through the platform-tools ``adb`` executable, as a device lab has it.

Every device command goes through ``adb -s SERIAL shell`` as one string built with
``shlex.join``: nothing from a model name, a path or a config reaches the device's
shell unquoted. adb's own failures (no device, ``unauthorized``, ``offline``, a device
that vanished) become ``DeviceUnreachable`` with a message that says what to do. Only
adb's own lines (``adb: ...``, ``error: ...``) are read for them: the output of the
command that ran on the device is never mistaken for adb's, whatever words it contains.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from qatbench.targets.tools import ToolRun, run_tool

ADB_ENV = "QATBENCH_ADB"
INSTALL_ADB = ("install Android platform-tools (`sudo apt-get install adb`, or "
               "https://developer.android.com/tools/releases/platform-tools) or set "
               f"{ADB_ENV} to the adb executable")
DEVICE_PROPERTIES = ("ro.product.manufacturer", "ro.product.model", "ro.product.cpu.abi",
                     "ro.build.version.sdk", "ro.soc.model")

_STATE_ADVICE = {
    "unauthorized": "accept the 'Allow USB debugging?' prompt on the phone, then retry",
    "offline": "reconnect the USB cable or run `adb reconnect`; the device is not answering",
    "no permissions": "add a udev rule for the phone (see `adb devices` help) or run the "
                      "adb server with permissions for USB",
    "recovery": "boot the phone into Android",
    "bootloader": "boot the phone into Android",
}


class DeviceError(RuntimeError):
    """adb or a command on the device failed; the message says why and what to do."""


class DeviceUnreachable(DeviceError):
    """The device is not there to talk to (gone, offline, unauthorized, not answering)."""


@dataclass(frozen=True)
class DeviceEntry:
    serial: str
    state: str  # device, unauthorized, offline, ...
    attributes: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        model = self.attributes.get("model", "")
        return f"{self.serial} ({self.state}{', ' + model if model else ''})"


def parse_devices(text: str) -> list[DeviceEntry]:
    """``adb devices -l`` output -> entries (daemon start-up chatter ignored)."""
    entries = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("List of devices", "*", "adb server")):
            continue
        match = re.match(r"^(\S+)\s+(no permissions|\S+)(.*)$", line)
        if not match:
            continue
        attributes = dict(re.findall(r"(\w+):(\S+)", match.group(3)))
        entries.append(DeviceEntry(match.group(1), match.group(2), attributes))
    return entries


# adb's own messages, e.g. "adb: device 'X' not found" (newer), "error: device offline"
# (older). Lower-case and at the start of a line: a benchmark's "ERROR: ..." is not one.
_ADB_LINE = re.compile(r"^(?:adb: (?:error: )?|error: )(?P<message>.*)$")


def _adb_error(run: ToolRun, serial: str | None) -> DeviceUnreachable | None:
    """The adb-level failure of a command, if any (never the command's own words).

    adb writes its own errors to stderr; stdout is the device command's (and with older
    adb its stderr too), so stdout is never read here, and only lines in adb's own form
    count on stderr (a benchmark's ``ERROR: ... not found`` is not adb speaking).
    """
    if run.timed_out:
        return DeviceUnreachable(f"adb did not answer in time ({' '.join(run.args[1:4])} ...); "
                                 "the device may have hung: reconnect it")
    for line in run.stderr.splitlines():
        match = _ADB_LINE.match(line.strip())
        if not match:
            continue
        message = match.group("message").lower()
        if message.startswith("device offline"):
            return DeviceUnreachable(f"device {serial} is offline: {_STATE_ADVICE['offline']}")
        if message.startswith("device unauthorized"):
            return DeviceUnreachable(f"device {serial} is unauthorized: "
                                     f"{_STATE_ADVICE['unauthorized']}")
        if re.match(r"device '[^']*' not found", message) or message.startswith(
                "no devices/emulators found"):
            return DeviceUnreachable(f"device {serial} is gone (adb: {line.strip()}); check "
                                     "the USB connection and `adb devices`")
    return None


class Adb:
    """One adb executable, talking to one device once chosen."""

    def __init__(self, executable: Path, serial: str | None = None, timeout_s: float = 120
                 ) -> None:
        self.executable = executable
        self.serial = serial
        self.timeout_s = timeout_s

    def _run(self, args: Sequence[str], timeout_s: float | None = None) -> ToolRun:
        prefix = [str(self.executable)] + (["-s", self.serial] if self.serial else [])
        return run_tool([*prefix, *args], timeout_s or self.timeout_s)

    def _checked(self, args: Sequence[str], timeout_s: float | None = None,
                 timeout_is_unreachable: bool = True) -> ToolRun:
        run = self._run(args, timeout_s)
        if run.timed_out and not timeout_is_unreachable:
            return run
        error = _adb_error(run, self.serial)
        if error is not None:
            raise error
        return run

    # -- devices ---------------------------------------------------------------------------
    def devices(self) -> list[DeviceEntry]:
        run = run_tool([str(self.executable), "devices", "-l"], self.timeout_s)
        if run.timed_out or run.returncode != 0:
            raise DeviceUnreachable(f"`adb devices -l` failed: {run.tail(4)}; restart the adb "
                                    "server (`adb kill-server`)")
        return parse_devices(run.stdout)

    def choose(self, requested: str | None) -> DeviceEntry:
        """The device to use: the one asked for, else the only one attached."""
        found = self.devices()
        listing = ", ".join(e.describe() for e in found) or "none"
        if requested:
            matches = [e for e in found if e.serial == requested]
            if not matches:
                raise DeviceUnreachable(f"device {requested} is not attached (adb sees: "
                                        f"{listing}); check the USB cable and `adb devices`")
            entry = matches[0]
        else:
            if not found:
                raise DeviceUnreachable("no Android device attached (`adb devices` lists none): "
                                  "connect a phone with USB debugging enabled")
            if len(found) > 1:
                raise DeviceError(f"several devices attached ({listing}): choose one with "
                                  "--device SERIAL or [targets.NAME] device = \"SERIAL\"")
            entry = found[0]
        if entry.state != "device":
            advice = _STATE_ADVICE.get(entry.state, "check `adb devices`")
            raise DeviceUnreachable(f"device {entry.serial} is {entry.state}: {advice}")
        self.serial = entry.serial
        return entry

    def ensure_present(self) -> None:
        """Raise ``DeviceUnreachable`` unless adb still lists the chosen device as usable."""
        entries = {e.serial: e for e in self.devices()}
        entry = entries.get(self.serial or "")
        if entry is None:
            raise DeviceUnreachable(f"device {self.serial} vanished: `adb devices` no longer "
                                    "lists it; reconnect it (USB cable, `adb reconnect`)")
        if entry.state != "device":
            advice = _STATE_ADVICE.get(entry.state, "check `adb devices`")
            raise DeviceUnreachable(f"device {self.serial} is {entry.state}: {advice}")

    # -- commands on the chosen device -----------------------------------------------------
    def shell(self, argv: Sequence[str], timeout_s: float | None = None) -> ToolRun:
        """Run one command on the device; every word quoted for the device's shell."""
        return self._checked(["shell", shlex.join([str(a) for a in argv])], timeout_s)

    def run_command(self, argv: Sequence[str], timeout_s: float) -> ToolRun:
        """Like ``shell`` for a long-running command: reaching ``timeout_s`` is the command's
        own outcome (``ToolRun.timed_out``), not a sign that the device is unreachable."""
        return self._checked(["shell", shlex.join([str(a) for a in argv])], timeout_s,
                             timeout_is_unreachable=False)

    def shell_ok(self, argv: Sequence[str], timeout_s: float | None = None) -> str:
        run = self.shell(argv, timeout_s)
        if run.returncode != 0:
            raise DeviceError(f"`{shlex.join(map(str, argv))}` failed on {self.serial} "
                              f"(exit {run.returncode}): {run.tail(4)}")
        return run.stdout

    def getprop(self, name: str) -> str:
        return self.shell_ok(["getprop", name]).strip()

    def properties(self) -> dict[str, str]:
        values = {name: self.getprop(name) for name in DEVICE_PROPERTIES}
        return {k: v for k, v in values.items() if v}

    def push(self, local: Path, remote: str) -> None:
        run = self._checked(["push", str(local), remote])
        if run.returncode != 0:
            raise DeviceError(f"pushing {local} to {self.serial}:{remote} failed: {run.tail(4)}")
