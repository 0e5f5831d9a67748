"""A stand-in for Debian's ``dpkg-query -W -f FORMAT PACKAGE...`` as qatbench calls it.

Installed packages come from ``SIM_DPKG_PACKAGES="libedgetpu1-std=16.0,..."``; the
format's ``${Version}`` is replaced as dpkg does, and a package that is not installed is
the real tool's message on stderr with exit 1.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[0] != "-W" or argv[1] != "-f":
        print(f"dpkg-query stand-in: unsupported arguments {argv}", file=sys.stderr)
        return 2
    fmt, packages = argv[2], argv[3:]
    installed = dict(item.split("=", 1) for item in
                     os.environ.get("SIM_DPKG_PACKAGES", "").split(",") if "=" in item)
    missing = False
    for package in packages:
        if package in installed:
            sys.stdout.write(fmt.replace("${Version}", installed[package])
                             .replace("${Package}", package))
        else:
            print(f"dpkg-query: no packages found matching {package}", file=sys.stderr)
            missing = True
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
