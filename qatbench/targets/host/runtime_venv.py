"""Make a virtualenv that a target's ``python = ...`` can name: another runtime, side by side.

A lab asks "did upgrading the runtime make this model slower?" by running two targets that
differ only in the interpreter of their timing child (``[targets.cpu-xnnpack-nightly]
kind = "cpu-xnnpack"`` + ``python = ".../bin/python"``). The venv holds the runtime under
test (``ai-edge-litert-nightly``, ``tflite-runtime==2.14.0`` ...), numpy and pydantic from
the package registries, and qatbench's own timing side installed ``--no-deps`` and
editable from this checkout -- so no TensorFlow, pandas or scipy, exactly what a device
image has.

``python -m qatbench.targets.host.runtime_venv SPEC... [DIR]`` (or ``nox -s runtime-venv --
SPEC... [DIR]``) prints the venv's interpreter, the value for ``python = ...``. A venv
already built for the same specs is reused (a marker file records them), so a test
session or a second call costs nothing. Only the standard library is imported here: the
nox session runs this before anything is installed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

# the checkout qatbench is installed from (``pip install -e``): the folder holding the
# ``qatbench`` package, however deep this module sits in it
PROJECT_ROOT = next(folder.parent for folder in Path(__file__).resolve().parents
                    if folder.name == "qatbench")
MARKER = "qatbench-runtime-venv.json"
# what the timing child imports besides the runtime (see ARCHITECTURE.md, targets row)
TIMING_SIDE = ("pydantic>=2.6",)


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "qatbench" / "runtime-venvs"


def _name(spec: str) -> str:
    return re.split(r"[\s<>=!~\[;@]", spec.strip(), maxsplit=1)[0].lower().replace("_", "-")


def requirements(specs: Sequence[str]) -> list[str]:
    """The runtime specs plus what the timing side needs.

    ``tflite-runtime`` wheels are built against numpy 1.x and fail to import under numpy 2,
    yet do not declare that bound, so it is added unless a numpy spec is given.
    """
    names = {_name(spec) for spec in specs}
    extra = list(TIMING_SIDE)
    if "numpy" not in names:
        extra.append("numpy<2" if "tflite-runtime" in names else "numpy")
    return [*specs, *extra]


def slug(specs: Sequence[str], base_python: str) -> str:
    """A directory name for these specs (readable, plus a hash so that any spec is safe)."""
    readable = re.sub(r"[^A-Za-z0-9.]+", "-", "-".join(specs)).strip("-")[:48]
    digest = hashlib.sha256(json.dumps([list(specs), base_python]).encode()).hexdigest()[:8]
    return f"{readable}-{digest}"


def venv_python(directory: Path) -> Path:
    return directory / "bin" / "python"


def _marker(specs: Sequence[str], base_python: str, project: Path) -> dict[str, object]:
    return {"specs": list(specs), "base_python": base_python, "project": str(project)}


def is_built(directory: Path, specs: Sequence[str], base_python: str,
             project: Path = PROJECT_ROOT) -> bool:
    """A finished venv for exactly these specs (the marker is written last)."""
    try:
        recorded = json.loads((directory / MARKER).read_text())
    except (OSError, ValueError):
        return False
    return recorded == _marker(specs, base_python, project) and \
        venv_python(directory).exists()


def build(specs: Sequence[str], directory: Path, *, base_python: str = sys.executable,
          project: Path = PROJECT_ROOT, log=print) -> Path:
    """Create (or reuse) the venv at ``directory``; returns its interpreter.

    Raises ``subprocess.CalledProcessError`` when pip cannot install a spec (the package
    has no wheel for this Python, for one): pip's own output says which.
    """
    if not specs:
        raise ValueError("name at least one runtime spec, e.g. ai-edge-litert-nightly or "
                         "tflite-runtime==2.14.0")
    directory = directory.absolute()
    if is_built(directory, specs, base_python, project):
        return venv_python(directory)
    if directory.exists():
        shutil.rmtree(directory)  # a half-built or different venv: never reuse it
    started = time.monotonic()
    subprocess.run([base_python, "-m", "venv", str(directory)], check=True)
    pip = [str(venv_python(directory)), "-m", "pip", "--disable-pip-version-check"]
    subprocess.run([*pip, "install", "--quiet", *requirements(specs)], check=True)
    # qatbench's timing side only: its declared dependencies (pandas, scipy, ...) are the
    # orchestrator's, never the timing child's
    subprocess.run([*pip, "install", "--quiet", "--no-deps", "-e", str(project)], check=True)
    (directory / MARKER).write_text(json.dumps(_marker(specs, base_python, project)))
    log(f"runtime venv built in {time.monotonic() - started:.0f} s: {directory}")
    return venv_python(directory)


def _split_args(values: Sequence[str]) -> tuple[list[str], Path | None]:
    """``SPEC... [DIR]``: a last argument that looks like a path is the directory."""
    specs = list(values)
    if len(specs) > 1 and (os.sep in specs[-1] or specs[-1].startswith((".", "~"))):
        return specs[:-1], Path(specs[-1]).expanduser()
    return specs, None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m qatbench.targets.host.runtime_venv",
        description="Make a venv with another TFLite runtime for a target's `python = ...`; "
                    "prints its interpreter.")
    parser.add_argument("args", nargs="+", metavar="SPEC... [DIR]",
                        help="pip requirement specs (ai-edge-litert-nightly, "
                             "'tflite-runtime==2.14.0' 'numpy<2'), then optionally the venv "
                             f"directory (default: {cache_root()}/<specs>)")
    parser.add_argument("--python", default=sys.executable,
                        help="the interpreter the venv is based on (default: this one)")
    options = parser.parse_args(argv)
    specs, directory = _split_args(options.args)
    directory = directory or cache_root() / slug(specs, options.python)
    try:
        python = build(specs, directory, base_python=options.python,
                       log=lambda text: print(text, file=sys.stderr))
    except subprocess.CalledProcessError as error:
        print(f"runtime-venv: {' '.join(map(str, error.cmd))} failed (exit "
              f"{error.returncode}); see pip's output above", file=sys.stderr)
        return 1
    except ValueError as error:
        print(f"runtime-venv: {error}", file=sys.stderr)
        return 2
    print(python)
    return 0


if __name__ == "__main__":
    sys.exit(main())
