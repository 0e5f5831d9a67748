"""Under ``CI=true`` a skip is a failure unless its reason starts with "allowed on CI:"
(tests/conftest.py), collection-time skips included; an empty parametrisation fails.

Each case runs pytest in a child process on a tiny test file next to a copy of this
repo's conftest.py, with and without ``CI=true``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.conftest import CI_ALLOWED_SKIP, REPO_ROOT

IMPORT_SKIP = ('import pytest\npytest.importorskip("a_module_nobody_has")\n\n\n'
               "def test_x():\n    pass\n")
# a skip: 0, or NO_TESTS_COLLECTED when the whole (one-test) module was skipped
PASSED = (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED)


def run_pytest(tmp_path: Path, source: str, *options: str,
               ci: bool) -> subprocess.CompletedProcess:
    shutil.copy(REPO_ROOT / "tests" / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # not this repo's pyproject
    (tmp_path / "test_tiny.py").write_text(source)
    env = {k: v for k, v in os.environ.items()
           if k not in ("CI", "PYTEST_ADDOPTS", "PYTEST_PLUGINS")}
    if ci:
        env["CI"] = "true"
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA",
                           "--rootdir", str(tmp_path), *options, "test_tiny.py"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
                          check=False)


def test_a_module_level_importorskip_fails_under_ci_and_skips_without(tmp_path: Path) -> None:
    under_ci = run_pytest(tmp_path, IMPORT_SKIP, ci=True)
    output = under_ci.stdout + under_ci.stderr
    assert under_ci.returncode == pytest.ExitCode.INTERRUPTED, output  # a collection error
    assert "CI=true: collecting test_tiny.py skipped" in output
    assert "could not import 'a_module_nobody_has'" in output
    assert "1 skipped" not in output

    locally = run_pytest(tmp_path, IMPORT_SKIP, ci=False)
    assert locally.returncode in PASSED, locally.stdout + locally.stderr
    assert "1 skipped" in locally.stdout


@pytest.mark.parametrize(("skip", "allowed"), [
    ('pytest.skip("no tool here")', False),
    (f'pytest.skip("{CI_ALLOWED_SKIP} every CI host runs as root")', True),
], ids=["plain", "allowed"])
def test_a_skip_in_a_test_or_at_module_level_fails_under_ci_unless_allowed(
        tmp_path: Path, skip: str, allowed: bool) -> None:
    in_test = f"import pytest\n\n\ndef test_x():\n    {skip}\n"
    module_level = (f"import pytest\n{skip[:-1]}, allow_module_level=True)\n\n\n"
                    "def test_x():\n    pass\n")
    for source in (in_test, module_level):
        result = run_pytest(tmp_path, source, ci=True)
        output = result.stdout + result.stderr
        assert (result.returncode in PASSED) is allowed, output
        assert ("1 skipped" in output) is allowed, output
        if not allowed:
            assert "CI=true:" in output and "no tool here" in output
        assert run_pytest(tmp_path, source, ci=False).returncode in PASSED


def test_an_empty_parametrisation_fails_at_collection(tmp_path: Path) -> None:
    options = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["pytest"][
        "ini_options"]
    assert options["empty_parameter_set_mark"] == "fail_at_collect"
    source = ('import pytest\n\n\n@pytest.mark.parametrize("x", [])\n'
              'def test_x(x):\n    pass\n')
    mark = options["empty_parameter_set_mark"]
    result = run_pytest(tmp_path, source, "-o", f"empty_parameter_set_mark={mark}", ci=False)
    assert result.returncode != 0
    assert "Empty parameter set" in result.stdout + result.stderr
