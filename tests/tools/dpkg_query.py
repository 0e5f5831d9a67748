"""A stand-in for Debian's ``dpkg-query -W -f FORMAT PACKAGE...`` as qatbench calls it.

Packages come from ``SIM_DPKG_PACKAGES="libedgetpu1-std=16.0,..."``; a name may carry
its state as ``dpkg -l`` abbreviates it, ``NAME@STATE=VERSION``:

* ``ii`` (the default) -- installed: ``${Status}`` is ``install ok installed``;
* ``rc`` -- removed but not purged (its conffiles left): ``deinstall ok config-files``,
  and, as the real tool does, ``${Version}`` is still the removed version and the exit
  status 0;
* ``hi`` -- installed and held (``apt-mark hold``): ``hold ok installed``;
* ``iU`` -- unpacked, not configured: ``install ok unpacked``;
* ``un`` -- known to dpkg, not installed: ``unknown ok not-installed``, empty version.

The format's ``${Status}``, ``${Version}``, ``${Package}`` and ``${db:Status-Abbrev}``
are replaced as dpkg does (and its escapes ``\\n``, ``\\t``, ``\\\\``); a package dpkg has
never heard of is the real tool's message on stderr with exit 1.
"""

from __future__ import annotations

import os
import sys

STATES = {  # dpkg -l's two letters -> (${Status}, ${db:Status-Abbrev})
    "ii": ("install ok installed", "ii "),
    "rc": ("deinstall ok config-files", "rc "),
    "hi": ("hold ok installed", "hi "),
    "iU": ("install ok unpacked", "iU "),
    "un": ("unknown ok not-installed", "un "),
}


def packages() -> dict[str, tuple[str, str]]:
    """name -> (state, version) from ``SIM_DPKG_PACKAGES``."""
    known = {}
    for item in os.environ.get("SIM_DPKG_PACKAGES", "").split(","):
        if "=" not in item:
            continue
        name, version = item.split("=", 1)
        name, _, state = name.partition("@")
        state = state or "ii"
        if state not in STATES:
            raise SystemExit(f"dpkg-query stand-in: unknown state {state!r} for {name}")
        known[name] = (state, "" if state == "un" else version)
    return known


def unescape(fmt: str) -> str:
    return (fmt.replace("\\\\", "\0").replace("\\n", "\n").replace("\\t", "\t")
            .replace("\0", "\\"))


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[0] != "-W" or argv[1] != "-f":
        print(f"dpkg-query stand-in: unsupported arguments {argv}", file=sys.stderr)
        return 2
    fmt, wanted = unescape(argv[2]), argv[3:]
    known = packages()
    missing = False
    for package in wanted:
        if package in known:
            state, version = known[package]
            status, abbrev = STATES[state]
            sys.stdout.write(fmt.replace("${Version}", version).replace("${Package}", package)
                             .replace("${Status}", status)
                             .replace("${db:Status-Abbrev}", abbrev))
        else:
            print(f"dpkg-query: no packages found matching {package}", file=sys.stderr)
            missing = True
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
