"""The promises of the README and the device-lab workflow hold: the sessions they name exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def nox_sessions() -> set[str]:
    text = (ROOT / "noxfile.py").read_text()
    named = set(re.findall(r'@nox\.session\(name="([^"]+)"', text))
    plain = set(re.findall(r"@nox\.session\((?!name=)[^)]*\)\ndef (\w+)", text))
    return named | plain


def test_readme_quickstart_commands_are_real_sessions() -> None:
    readme = (ROOT / "README.md").read_text()
    assert 'pip install "nox[uv]" && nox -s bench-cpu' in readme
    assert 'pip install "nox[uv]" && nox -s tests' in readme
    for session in re.findall(r"nox -s ([\w-]+)(?![\w<-])", readme):  # not bench-<target>
        assert session in nox_sessions(), session


def test_device_lab_workflow_runs_existing_sessions_per_target() -> None:
    workflow = (ROOT / ".github" / "workflows" / "device-lab.yml").read_text()
    for session in re.findall(r"session: ([\w-]+)", workflow):
        assert session in nox_sessions(), session
    for session in re.findall(r"nox -s ([\w-]+)", workflow):
        assert session in nox_sessions(), session
    assert "GITHUB_STEP_SUMMARY" in workflow or "job summary" in workflow
    assert "runs-on: [self-hosted" in workflow


def test_ci_runs_the_readme_test_command() -> None:
    script = (ROOT / ".ci" / "run").read_text()
    assert "nox -s tests" in script
    assert 'pip install --quiet "nox[uv]"' in script  # the README's install, uv included


def test_claimed_pythons_are_what_the_code_needs_and_what_nox_tests() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    claimed = [c.rsplit(" ", 1)[-1] for c in project["classifiers"]
               if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)]
    assert claimed and claimed[0] == "3.11"  # tomllib, enum.StrEnum
    assert project["requires-python"] == f">={claimed[0]}"
    noxfile = (ROOT / "noxfile.py").read_text()
    assert "nox.project.python_versions(PYPROJECT)" in noxfile
    assert "@nox.session(python=PYTHONS)\ndef tests" in noxfile


def test_ci_installs_the_debian_tools_the_suite_drives() -> None:
    script = (ROOT / ".ci" / "run").read_text()
    assert "apt-get install -y" in script and "apt-get update" in script
    assert "for package in adb chromium" in script
    assert "--error-on-missing-interpreters" in script


def test_every_test_file_kept_off_the_other_pythons_exists() -> None:
    """``noxfile.HEAVY_ELSEWHERE`` names test files by path; a moved file would silently
    run on every Python again (and cost CI minutes) while the list looks right."""
    import ast

    tree = ast.parse((ROOT / "noxfile.py").read_text())
    (listed,) = [node.value for node in ast.walk(tree) if isinstance(node, ast.Assign)
                 and any(getattr(t, "id", "") == "HEAVY_ELSEWHERE" for t in node.targets)]
    paths = ast.literal_eval(listed)
    assert paths, "HEAVY_ELSEWHERE is empty"
    assert [p for p in paths if not (ROOT / p).is_file()] == []
