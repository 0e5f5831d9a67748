"""The device-lab workflow is safe to run on lab hardware: zizmor's security audit and the
GitHub workflow schema pass offline, and the lab's own rules (no fork on the runners, one
job per device, failures and regressions fail the run) hold."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / ".github" / "workflows" / "device-lab.yml"
SAME_REPO = "github.event.pull_request.head.repo.full_name == github.repository"


def tool(name: str) -> str:
    """``name`` from this interpreter's environment first (the `test` extra), else PATH."""
    here = os.pathsep.join([sysconfig.get_path("scripts"), str(Path(sys.executable).parent)])
    found = shutil.which(name, path=here) or shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: pip install -e '.[test]'")
    return found


def offline_env() -> dict[str, str]:
    """No token, and every proxy a dead port: any network use fails at once."""
    env = {key: value for key, value in os.environ.items()
           if key not in {"GH_TOKEN", "GITHUB_TOKEN", "ZIZMOR_GITHUB_TOKEN"}}
    dead = "http://127.0.0.1:9"
    for key in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                "all_proxy"):
        env[key] = dead
    env["NO_PROXY"] = env["no_proxy"] = ""
    return env


def run(*command: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(part) for part in command], capture_output=True, text=True,
                          env=offline_env(), cwd=ROOT, timeout=120, check=False)


def zizmor(path: Path) -> subprocess.CompletedProcess[str]:
    return run(tool("zizmor"), "--offline", "--no-progress", path)


def check_jsonschema(path: Path) -> subprocess.CompletedProcess[str]:
    return run(tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", path)


def test_zizmor_finds_nothing_offline() -> None:
    result = zizmor(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings" in result.stdout + result.stderr


def test_workflow_matches_githubs_schema_offline() -> None:
    result = check_jsonschema(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr


def test_both_checks_do_reject_an_unsafe_workflow(tmp_path: Path) -> None:
    """The two checks above are not vacuous: the old kind of workflow fails both."""
    unsafe = tmp_path / "unsafe.yml"
    unsafe.write_text(
        "on: pull_request\n"
        "jobs:\n"
        "  bench:\n"
        "    runs-on: [self-hosted, qatbench-cpu]\n"
        "    steps:\n"
        "      - uses: actions/checkout@v4\n"
        "      - run: nox -s bench-cpu -- ${{ github.event.pull_request.title }}\n")
    audit = zizmor(unsafe)
    assert audit.returncode != 0
    assert "unpinned-uses" in audit.stdout and "template-injection" in audit.stdout
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  bench:\n    steps: []\n")  # no runs-on
    assert check_jsonschema(broken).returncode != 0


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    from ruamel.yaml import YAML  # installed with check-jsonschema

    return YAML(typ="safe").load(WORKFLOW.read_text())


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return job["steps"]


def test_actions_are_pinned_to_commits_and_checkouts_keep_no_credentials(
        workflow: dict[str, Any]) -> None:
    text = WORKFLOW.read_text()
    uses = re.findall(r"uses: (\S+)(.*)", text)
    assert uses
    for action, comment in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", action), action
        assert re.search(r"# v\d", comment), f"{action}: say which tag it is"
    for job in workflow["jobs"].values():
        for step in steps(job):
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step.get("with", {}).get("persist-credentials") is False


def test_no_expression_is_expanded_inside_a_shell_script(workflow: dict[str, Any]) -> None:
    for name, job in workflow["jobs"].items():
        for step in steps(job):
            assert "${{" not in step.get("run", ""), (name, step.get("name"))


def test_least_privilege_and_no_fork_on_the_lab_runners(workflow: dict[str, Any]) -> None:
    assert workflow["permissions"] == {}
    for name, job in workflow["jobs"].items():
        assert set(job["permissions"].values()) <= {"read"}, name
        if "self-hosted" in job["runs-on"]:
            condition = job.get("if", "")
            # a fork's pull request is skipped, or the job never runs for pull requests
            assert SAME_REPO in condition or "github.event_name == 'workflow_dispatch'" \
                in condition, name


def test_one_job_per_device_and_never_cancelled_midway(workflow: dict[str, Any]) -> None:
    for name, job in workflow["jobs"].items():
        if "self-hosted" in job["runs-on"]:
            assert job["concurrency"]["cancel-in-progress"] is False, name
    group = workflow["jobs"]["bench"]["concurrency"]["group"]
    assert "matrix.target" in group and "matrix.device" in group


def test_failed_jobs_reach_the_gate_and_fail_the_run(workflow: dict[str, Any]) -> None:
    text = WORKFLOW.read_text() + (ROOT / "noxfile.py").read_text()
    assert "QATBENCH_ALLOW_FAILED" not in text
    job = workflow["jobs"]["bench"]
    by_id = {step["id"]: step for step in steps(job) if "id" in step}
    assert by_id["bench"]["continue-on-error"] is True
    assert "!cancelled()" in by_id["gate"]["if"] or "always()" in by_id["gate"]["if"]
    assert "nox -s compare" in by_id["gate"]["run"]
    verdict = steps(job)[-1]
    assert "!cancelled()" in verdict["if"] or "always()" in verdict["if"]
    assert set(verdict["env"].values()) == {"${{ steps.bench.outcome }}",
                                            "${{ steps.gate.outcome }}",
                                            "${{ steps.ab.outcome }}"}
    assert by_id["ab"]["continue-on-error"] is True and "nox -s ab" in by_id["ab"]["run"]
    assert 'exit "$status"' in verdict["run"]


def test_baselines_are_keyed_by_fingerprint_and_repeats_set_once(
        workflow: dict[str, Any]) -> None:
    job = workflow["jobs"]["bench"]
    names = [step["with"]["name"] for step in steps(job)
             if "baseline-" in str(step.get("with", {}).get("name", ""))]
    assert names and all(name == "baseline-${{ matrix.target }}-"
                                 "${{ steps.fingerprint.outputs.id }}" for name in names)
    assert re.fullmatch(r"\d+", workflow["env"]["QATBENCH_REPEATS"])
    text = WORKFLOW.read_text()
    assert "--repeats 3" not in text and "--repeats" in text


def test_reports_reach_the_job_summary_once(workflow: dict[str, Any]) -> None:
    """`qatbench run`, `report` and `compare` append their markdown themselves."""
    for job in workflow["jobs"].values():
        for step in steps(job):
            script = step.get("run", "")
            assert not re.search(r"(report|compare)\.md[^\n]*GITHUB_STEP_SUMMARY", script)
    bench = {step.get("name", ""): step for step in steps(workflow["jobs"]["bench"])}
    rebuild = next(step for name, step in bench.items() if name.startswith("Report"))
    assert 'if [ ! -f "$RUN_DIR/report.md" ]' in rebuild["run"]


def test_models_are_built_once_and_device_jobs_only_time_them(
        workflow: dict[str, Any]) -> None:
    """Build once on a hosted runner; every device job needs it, downloads its artifact
    and times it with the TensorFlow-free install; one job merges every target."""
    jobs = workflow["jobs"]
    build, bench, report = jobs["build"], jobs["bench"], jobs["report"]
    assert "self-hosted" not in build["runs-on"]
    assert "nox -s build" in "".join(step.get("run", "") for step in steps(build))
    uploaded = next(s for s in steps(build) if s.get("uses", "").startswith(
        "actions/upload-artifact@"))["with"]["name"]
    assert bench["needs"] == "build"
    uploads = [s["with"]["name"] for s in steps(build)
               if s.get("uses", "").startswith("actions/upload-artifact@")]
    downloaded = [s["with"]["name"] for s in steps(bench)
                  if s.get("uses", "").startswith("actions/download-artifact@")]
    assert downloaded[0] == uploaded and set(downloaded) == set(uploads)
    # pull requests: the base's models, timed against the pull request's in one job
    ab = next(s for s in steps(bench) if s.get("id") == "ab")
    assert "github.event_name == 'pull_request'" in ab["if"]
    assert '"prebuilt-base/$TARGET.tar.gz" "prebuilt/$TARGET.tar.gz"' in ab["run"]
    assert {entry["session"] for entry in bench["strategy"]["matrix"]["include"]} == {
        "bench-prebuilt"}
    timing = next(s for s in steps(bench) if s.get("id") == "bench")["run"]
    assert '--artifacts "prebuilt/$TARGET.tar.gz"' in timing
    noxfile = (ROOT / "noxfile.py").read_text()
    prebuilt = noxfile[noxfile.index("def bench_prebuilt"):]
    assert '_install(session, "-e", ".")' in prebuilt.split("def ", 2)[1]  # no qat extra
    assert report["needs"] == "bench" and "nox -s report" in "".join(
        step.get("run", "") for step in steps(report))
