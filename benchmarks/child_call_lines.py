"""Lines of code around the child boundary at two git revisions (issue 31, item 3).

Counts, from each revision's files (``git show REV:PATH``, parsed with ``ast``), the
lines of the parent-side wrappers around the one child entry and of the hand-written
(de)serialisation of its request and result types. Not a speed figure: a size one, so
it prints the revisions it read instead of a machine.

    python benchmarks/child_call_lines.py BEFORE_REV [AFTER_REV]   (AFTER_REV: HEAD)
"""

from __future__ import annotations

import ast
import subprocess
import sys

# the parent side: whatever starts a child and turns its end into a result
WRAPPERS = {
    "qatbench/bench/orchestration/launcher.py": ["call_child", "run_in_child", "_failed",
                                                 "build_in_child"],
    "qatbench/bench/orchestration/profiling.py": ["profile_in_child"],
    "qatbench/bench/orchestration/external.py": ["inspect_in_child"],
    "qatbench/bench/orchestration/session.py": ["check_user_models"],
}
# hand-written JSON of the request and result types, and the shared codec
CODEC_METHODS = ("to_json", "from_json", "from_dict", "fields", "save", "load",
                 "without_result")
CODEC_FUNCTIONS = ("typed_fields", "typed_request_fields", "load_fields", "save_request",
                   "load_request", "read_request", "record_text", "read_record",
                   "record_from", "failed_result")
CODEC_FILES = ["qatbench/targets/child.py", "qatbench/targets/worker.py",
               "qatbench/targets/profile_worker.py", "qatbench/targets/inspect_worker.py",
               "qatbench/qat/artifacts.py", "qatbench/qat/source_check.py"]
BOUNDARY_CLASSES = ("JobRequest", "JobResult", "TypedRequest", "TimingRequest",
                    "ProfileRequest", "ProfileResult", "InspectRequest", "BuildRequest",
                    "SourceCheckRequest", "ModelBuild")


def source(rev: str, path: str) -> str:
    return subprocess.run(["git", "show", f"{rev}:{path}"], capture_output=True, text=True,
                          check=True).stdout


def span(node: ast.AST) -> int:
    return node.end_lineno - node.lineno + 1  # type: ignore[attr-defined]


def wrapper_lines(rev: str) -> dict[str, int]:
    found = {}
    for path, names in WRAPPERS.items():
        for node in ast.parse(source(rev, path)).body:
            if isinstance(node, ast.FunctionDef) and node.name in names:
                found[f"{path.rsplit('/', 1)[1]}:{node.name}"] = span(node)
    return found


def codec_lines(rev: str) -> dict[str, int]:
    found = {}
    for path in CODEC_FILES:
        for node in ast.parse(source(rev, path)).body:
            if isinstance(node, ast.FunctionDef) and node.name in CODEC_FUNCTIONS:
                found[f"{path.rsplit('/', 1)[1]}:{node.name}"] = span(node)
            if isinstance(node, ast.ClassDef) and node.name in BOUNDARY_CLASSES:
                for item in node.body:
                    if isinstance(item, ast.FunctionDef) and item.name in CODEC_METHODS:
                        found[f"{node.name}.{item.name}"] = span(item)
    return found


def show(title: str, before: dict[str, int], after: dict[str, int]) -> None:
    print(f"{title}: {sum(before.values())} lines before, {sum(after.values())} after")
    for name in sorted(set(before) | set(after)):
        print(f"  {name:40} {before.get(name, '-'):>4} {after.get(name, '-'):>4}")


def main() -> None:
    before = sys.argv[1]
    after = sys.argv[2] if len(sys.argv) > 2 else "HEAD"
    print(f"revisions: before {before}, after {after}")
    show("parent-side wrappers", wrapper_lines(before), wrapper_lines(after))
    show("(de)serialisation of requests/results", codec_lines(before), codec_lines(after))


if __name__ == "__main__":
    main()
