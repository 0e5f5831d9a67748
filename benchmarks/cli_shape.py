"""The shape of the ``qatbench`` command's code, before and after a change: lines per
module, functions over 80 lines, and the pairs of copied places ``duplicates`` finds.
Prints the figures; asserts nothing.

    python benchmarks/cli_shape.py [--before REV] [--min-lines 6]

"Before" is ``qatbench/bench/cli.py`` at REV (default ``main``); "after" is this working
tree's ``qatbench/bench/cli/`` package together with the orchestration modules the
commands' bodies moved to (``AFTER_MOVED``). A function's length is its ``def`` line to
its last line (``ast``), docstring and decorators included. ``duplicates`` is the tool
library's command (/work/.library/duplicates); each side is copied to a folder of its
own so the pairs counted are the pairs inside that side. One process; nothing timed.
"""

from __future__ import annotations

import argparse
import ast
import datetime
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BEFORE = "qatbench/bench/cli.py"
AFTER = "qatbench/bench/cli"
AFTER_MOVED = ["qatbench/bench/orchestration/run_command.py",
               "qatbench/bench/orchestration/ab_session.py",
               "qatbench/bench/orchestration/compare_session.py",
               "qatbench/bench/orchestration/overrides.py"]
LONG = 80


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def long_functions(text: str, limit: int = LONG) -> list[tuple[str, int]]:
    """(name, lines) of every function (nested ones too) longer than ``limit`` lines."""
    found = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > limit:
                found.append((node.name, length))
    return sorted(found, key=lambda item: -item[1])


def duplicate_pairs(files: dict[str, str], min_lines: int) -> tuple[int, list[str]]:
    """How many pairs ``duplicates`` lists among ``files`` (name -> text), and its rows."""
    tool = shutil.which("duplicates")
    if tool is None:
        return -1, ["duplicates is not on PATH"]
    with tempfile.TemporaryDirectory(prefix="cli-shape-") as folder:
        for name, text in files.items():
            path = Path(folder) / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        output = subprocess.run([tool, "--repo", folder, "--min-lines", str(min_lines),
                                 "--most", "200", "--seconds", "60"],
                                capture_output=True, text=True, check=False).stdout
    lines = output.splitlines()
    head = lines[0] if lines else ""
    count = 0 if head.startswith("no duplicates") else int(head.split()[0] or 0)
    return count, [line for line in lines[1:] if line.startswith("D")]


def describe(label: str, files: dict[str, str], min_lines: int) -> None:
    print(f"\n== {label}")
    total = 0
    for name, text in files.items():
        lines = len(text.splitlines())
        total += lines
        print(f"  {lines:>5} lines  {name}")
    print(f"  {total:>5} lines  in all")
    long = [(name, fn, n) for name, text in files.items() for fn, n in long_functions(text)]
    print(f"  functions over {LONG} lines: {len(long)}"
          + "".join(f"\n    {fn} ({n} lines, {name})" for name, fn, n in long))
    count, rows = duplicate_pairs(files, min_lines)
    print(f"  duplicates pairs (>= {min_lines} shared lines): {count}"
          + "".join(f"\n    {row}" for row in rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="main", help="git revision of the old cli.py")
    parser.add_argument("--min-lines", type=int, default=6)
    args = parser.parse_args()
    print(f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, "
          f"{cpu_model()}, {os.cpu_count()} cores; 1 process (static counts, nothing timed)")
    before = subprocess.run(["git", "show", f"{args.before}:{BEFORE}"], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout
    describe(f"before: {BEFORE} at {args.before}", {"cli.py": before}, args.min_lines)
    after = {str(path.relative_to(REPO)): path.read_text()
             for path in sorted((REPO / AFTER).glob("*.py"))}
    describe(f"after: {AFTER}/ (the commands)", after, args.min_lines)
    moved = {**after, **{name: (REPO / name).read_text() for name in AFTER_MOVED}}
    describe(f"after: {AFTER}/ and the typed calls it makes ({', '.join(AFTER_MOVED)})",
             moved, args.min_lines)


if __name__ == "__main__":
    main()
