"""A simulated platform-tools ``adb`` for tests: devices with their own file trees.

State lives in ``$SIM_ADB_HOME``: ``devices.json`` describes the phones
(``{"SERIAL": {"state": "device", "model": "Pixel_7", "props": {...},
"vanish_after": N, "vanish_during_run": true, "push_fail": "..."}}``), ``fs/SERIAL/`` is
each phone's file system, ``shell.log`` records every command a device shell ran (one
JSON argv per line), ``kills.log`` every ``kill`` (``{"serial", "pid", "signal",
"found"}``). A test loses a phone by editing ``devices.json`` (``"state": "gone"`` or
``"offline"``) or with ``vanish_after`` (the phone is gone after N adb commands) or
``vanish_during_run`` (the USB link drops while a pushed binary runs: adb exits 255 with
no message, and ``adb devices`` no longer lists the phone).

The device shell honours POSIX quoting and the operators ``;`` ``&&`` ``||`` ``|``, so a
command that was not quoted properly runs something extra -- and the log shows it.
Pushed executables and ``sh -c`` scripts run on the host with device paths mapped into
the device's tree, in their own session: like a process on a real phone, they outlive
an adb client that is killed, and only ``adb shell kill PID`` stops them. Only pids of
processes started on that simulated phone can be killed.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

HOME = Path(os.environ.get("SIM_ADB_HOME", "."))
DEVICES = HOME / "devices.json"


def load() -> dict:
    return json.loads(DEVICES.read_text()) if DEVICES.exists() else {}


def save(devices: dict) -> None:
    DEVICES.write_text(json.dumps(devices, indent=1))


def fail(message: str, code: int = 1) -> int:
    print(message, file=sys.stderr)
    return code


def host_path(serial: str, device_path: str) -> Path:
    return HOME / "fs" / serial / device_path.lstrip("/")


def map_arg(serial: str, arg: str) -> str:
    if "/data/" in arg:
        head, _, tail = arg.partition("/data/")
        return head + str(host_path(serial, "/data/" + tail))
    return arg


def map_script(serial: str, script: str) -> str:
    """Device paths inside an ``sh -c`` script, mapped into the device's tree."""
    root = str(host_path(serial, "/"))
    return re.sub(r"(?<![\w/])/data/", lambda _: root.rstrip("/") + "/data/", script)


def device_bin() -> Path:
    """Commands of the phone's toybox that the host lacks or has with other rules."""
    path = HOME / "device-bin"
    taskset = path / "taskset"
    if not taskset.exists():
        path.mkdir(parents=True, exist_ok=True)
        # toybox taskset: set the affinity, then exec the command (the pid stays the same)
        taskset.write_text('#!/bin/sh\nshift\nexec "$@"\n')
        taskset.chmod(0o755)
    return path


def start_on_device(serial: str, device: dict, argv: list[str]) -> int:
    """Run ``argv`` as a process of the phone: own session, pid recorded, output to adb.

    ``vanish_during_run``: the USB link drops under the program; its output never
    arrives, adb exits 255 without a word and the phone is no longer listed.
    """
    env = {**os.environ, "SIM_DEVICE_SERIAL": serial,
           "PATH": f"{device_bin()}{os.pathsep}{os.environ.get('PATH', '')}"}
    vanish = bool(device.get("vanish_during_run"))
    process = subprocess.Popen(argv, env=env, start_new_session=True,
                               stdout=subprocess.DEVNULL if vanish else None,
                               stderr=subprocess.DEVNULL if vanish else None)
    with (HOME / "processes.jsonl").open("a") as log:
        log.write(json.dumps({"serial": serial, "pid": process.pid}) + "\n")
    code = process.wait()
    if vanish:
        devices = load()
        devices[serial]["state"] = "gone"
        save(devices)
        sys.stdout.flush()
        os._exit(255)
    return code


def device_pids(serial: str) -> set[int]:
    path = HOME / "processes.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return {entry["pid"] for entry in map(json.loads, lines) if entry["serial"] == serial}


def kill(serial: str, args: list[str]) -> int:
    signum, pids = signal.SIGTERM, []
    for arg in args:
        if arg.startswith("-"):
            name = arg[1:]
            signum = signal.Signals(int(name)) if name.isdigit() else signal.Signals[
                name if name.startswith("SIG") else f"SIG{name}"]
        else:
            pids.append(arg)
    code = 0
    for pid in pids:
        found = pid.isdigit() and int(pid) in device_pids(serial)
        with (HOME / "kills.log").open("a") as log:
            log.write(json.dumps({"serial": serial, "pid": pid, "signal": signum.name,
                                  "found": found}) + "\n")
        if found:
            try:
                os.kill(int(pid), signum)
                continue
            except ProcessLookupError:
                pass
        code = fail(f"/system/bin/sh: kill: {pid}: No such process")
    return code


def split_commands(line: str) -> list[list[str]]:
    lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    commands, current = [], []
    for token in lexer:
        if token in {";", "&&", "||", "|", "&"}:
            if current:
                commands.append(current)
            current = []
        else:
            current.append(token)
    if current:
        commands.append(current)
    return commands


def run_device_command(serial: str, device: dict, argv: list[str]) -> int:
    with (HOME / "shell.log").open("a") as log:
        log.write(json.dumps(argv) + "\n")
    name, args = argv[0], argv[1:]
    if name == "getprop":
        print(device.get("props", {}).get(args[0], "") if args else "")
        return 0
    if name == "mkdir":
        for arg in args:
            if not arg.startswith("-"):
                host_path(serial, arg).mkdir(parents=True, exist_ok=True)
        return 0
    if name == "chmod":
        mode, *paths = args
        for path in paths:
            target = host_path(serial, path)
            if not target.exists():
                return fail(f"chmod: {path}: No such file or directory")
            target.chmod(int(mode, 8) if mode.isdigit() else 0o755)
        return 0
    if name == "rm":
        for arg in args:
            if arg.startswith("-"):
                continue
            target = host_path(serial, arg)
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
        return 0
    if name == "cat":
        for arg in args:
            target = host_path(serial, arg)
            if not target.is_file():
                return fail(f"cat: {arg}: No such file or directory")
            sys.stdout.write(target.read_text())
        return 0
    if name == "kill":
        return kill(serial, args)
    if name == "sh" and args[:1] == ["-c"] and len(args) >= 2:
        script, positional = args[1], args[2:]
        return start_on_device(serial, device, [
            "/bin/sh", "-c", map_script(serial, script),
            *(map_arg(serial, a) for a in positional)])
    if name == "taskset":
        if len(args) < 2:
            return fail("taskset: usage: taskset MASK COMMAND...")
        return run_device_command(serial, device, args[1:])
    if name.startswith("/data/"):
        binary = host_path(serial, name)
        if not binary.exists():
            return fail(f"/system/bin/sh: {name}: inaccessible or not found", 127)
        if not os.access(binary, os.X_OK):
            return fail(f"/system/bin/sh: {name}: can't execute: Permission denied", 126)
        return start_on_device(serial, device,
                               [str(binary), *(map_arg(serial, a) for a in args)])
    return fail(f"/system/bin/sh: {name}: inaccessible or not found", 127)



def main(argv: list[str]) -> int:
    devices = load()
    if argv[:1] == ["devices"]:
        print("List of devices attached")
        for serial, device in devices.items():
            if device.get("state") == "gone":
                continue
            extra = (f" usb:1-{len(serial)} product:{device.get('model', 'phone').lower()} "
                     f"model:{device.get('model', 'phone')} device:x transport_id:1"
                     if device["state"] == "device" else f" usb:1-{len(serial)} transport_id:1")
            print(f"{serial:<22} {device['state']}{extra}")
        print()
        return 0
    serial = None
    if argv[:1] == ["-s"]:
        serial, argv = argv[1], argv[2:]
    present = {s: d for s, d in devices.items() if d.get("state") != "gone"}
    if serial is None:
        if not present:
            return fail("adb: no devices/emulators found")
        if len(present) > 1:
            return fail("adb: more than one device/emulator")
        serial = next(iter(present))
    device = present.get(serial)
    if device is None:
        return fail(f"adb: device '{serial}' not found")
    if device["state"] == "offline":
        return fail("adb: device offline")
    if device["state"] == "unauthorized":
        return fail("adb: device unauthorized.\nThis adb server's $ADB_VENDOR_KEYS is not set\n"
                    "Try 'adb kill-server' if that seems wrong.\n"
                    "Otherwise check for a confirmation dialog on your device.")
    device["commands"] = device.get("commands", 0) + 1
    if device.get("vanish_after") is not None and device["commands"] > device["vanish_after"]:
        device["state"] = "gone"
        save(devices)
        return fail(f"adb: device '{serial}' not found")
    save(devices)
    if argv[:1] == ["push"]:
        local, remote = argv[1], argv[2]
        if device.get("push_fail"):
            return fail(f"adb: error: failed to copy '{local}' to '{remote}': remote "
                        f"{device['push_fail']}")
        target = host_path(serial, remote)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(local, target)
        size = target.stat().st_size
        print(f"{local}: 1 file pushed, 0 skipped. 35.2 MB/s ({size} bytes in 0.001s)")
        return 0
    if argv[:1] == ["shell"]:
        code = 0
        for command in split_commands(" ".join(argv[1:])):  # adb joins its args with spaces
            code = run_device_command(serial, device, command)
        return code
    return fail(f"adb: unknown command {argv[:1]}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
