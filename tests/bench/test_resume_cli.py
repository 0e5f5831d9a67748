"""Resume as a user meets it: ``qatbench run`` killed with SIGKILL while a job is inside
its measurement, then ``qatbench run --resume`` and ``--resume --retry-failed`` from the
command line, each a child process as a user's shell would start it.

The crash is a whole-host one (an OOM kill of the session, a CI runner torn down, a
power cut): SIGKILL to the run's process group and to the measuring child's own group
(``orchestration/launcher.py`` starts every child in a group of its own), so no
``finally`` runs and the interrupted job never writes its result.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from qatbench.bench.orchestration.config import build_config
from qatbench.bench.orchestration.runner import Job, plan_config_jobs
from qatbench.bench.storage.key import RowKey
from qatbench.bench.storage.layout import job_work_dir
from qatbench.bench.storage.runs import load_runs, samples_of
from qatbench.bench.storage.store import RESULTS_FILE, RunStore, read_config
from qatbench.targets.child import load_request
from qatbench.targets.worker import JobRequest

pytestmark = pytest.mark.slow

MIN_SECS = 2.0  # each job's timed phase lasts at least this long: the window for the kill
MODEL = "digits_cnn"
# targets in this order so the job that fails first (on cpu-ref) runs before the killed one
PLANNED = [Job(MODEL, variant, target, 1) for variant in ("float32", "qat_int8")
           for target in ("cpu-ref", "cpu-xnnpack")]
FAILS_FIRST, KILLED = PLANNED[0], PLANNED[1]
PROC = Path("/proc")


def qatbench_args(*args: str) -> list[str]:
    return [sys.executable, "-m", "qatbench", *args]


def broken_then_fixed_python(tmp_path: Path) -> tuple[Path, Path]:
    """(interpreter, switch): an interpreter for ``[targets.cpu-ref] python = ...`` whose
    timing child exits 3 without a result while ``switch`` exists -- a runtime venv that
    is broken, then repaired (the target's probe, ``python -c``, still works)."""
    switch = tmp_path / "runtime-broken"
    wrapper = tmp_path / "python-wrapper"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'if [ -e {shlex.quote(str(switch))} ] && [ "$2" = qatbench.targets.child ] '
        "&& grep -q '\"kind\": \"job\"' \"$3\"; then\n"
        '  echo "simulated: this runtime venv is broken" >&2\n'
        "  exit 3\n"
        "fi\n"
        f'exec {shlex.quote(sys.executable)} "$@"\n')
    wrapper.chmod(0o755)
    switch.touch()
    return wrapper, switch


def wait_for(what: str, probe, deadline: float, parent: subprocess.Popen, log: Path):
    """Poll ``probe`` until it returns something; fail naming ``what`` if the run ends or
    the deadline passes first."""
    while time.monotonic() < deadline:
        found = probe()
        if found is not None:
            return found
        if parent.poll() is not None:
            pytest.fail(f"the run ended (exit {parent.returncode}) before {what}:\n"
                        + log.read_text(errors="replace")[-3000:])
        time.sleep(0.005)
    pytest.fail(f"timed out waiting for {what}:\n" + log.read_text(errors="replace")[-3000:])


def process_running(request: Path) -> int | None:
    """The pid of the timing child started with ``request`` (its command line names it)."""
    needle = str(request).encode()
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "cmdline").read_bytes().split(b"\0"):
                return int(entry.name)
        except OSError:
            continue
    return None


def maps_file(pid: int, path: str) -> bool:
    """Whether ``path`` is mapped into ``pid`` -- LiteRT mmaps the model when the target
    builds its interpreter, the first step of ``measure``."""
    try:
        return any(line.endswith(" " + path) for line in
                   (PROC / str(pid) / "maps").read_text().splitlines())
    except OSError:
        return False


def alive(pid: int) -> bool:
    try:
        state = (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in {"Z", "X"}  # a zombie has ended (its reaper may be slow)


def rows_by_job(run_dir: Path) -> dict[tuple, dict]:
    """The results table as committed (every row, duplicates kept), keyed by job; fails
    when a job has more than one row."""
    table = pd.read_parquet(run_dir / RESULTS_FILE)
    keys = [RowKey.of(row).job for row in table.to_dict("records")]
    assert len(keys) == len(set(keys)), f"a job has two rows: {sorted(keys)}"
    return dict(zip(keys, table.to_dict("records"), strict=True))


KEPT = ("status", "started_at", "error", "latency_ms_p50", "n_samples")


def kept(row: dict) -> dict:
    """The columns that show whether a row was written again (NaN made comparable)."""
    return {column: None if pd.isna(row[column]) else row[column] for column in KEPT}


def resume(run_dir: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(qatbench_args("run", "--resume", str(run_dir), *extra),
                          capture_output=True, text=True, timeout=300, check=False)


def test_sigkill_inside_a_measurement_then_resume_and_retry_failed(tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")  # the run builds digits_cnn
    if not (PROC / "self" / "maps").exists():
        pytest.skip("needs /proc (Linux) to find the measuring child and its mapped model")
    python, switch = broken_then_fixed_python(tmp_path)
    config = tmp_path / "run.toml"
    config.write_text(f"[targets.cpu-ref]\npython = {str(python)!r}\n")
    out = tmp_path / "results"
    log = tmp_path / "first-run.log"

    # 1. the first run: killed with SIGKILL inside the second job's timed phase
    with log.open("wb") as sink:
        parent = subprocess.Popen(
            qatbench_args("run", "--config", str(config), "--quick", "--models", MODEL,
                          "--variants", "float32,qat_int8", "--targets", "cpu-ref,cpu-xnnpack",
                          "--min-runs", "5", "--min-secs", str(MIN_SECS), "--max-secs", "5",
                          "--out", str(out)),
            stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT,
            start_new_session=True)
    child: int | None = None
    try:
        deadline = time.monotonic() + 240  # the build of digits_cnn comes first
        run_dir = wait_for("the run directory", lambda: next(out.glob("*/config.json"), None),
                           deadline, parent, log).parent
        request = job_work_dir(run_dir, KILLED.slug, 0) / "request.json"
        child = wait_for(f"the timing child of {KILLED.label}",
                         lambda: process_running(request), deadline, parent, log)
        model = load_request(request, JobRequest).model
        wait_for(f"{KILLED.label} to begin measuring",
                 lambda: True if maps_file(child, model) else None, deadline, parent, log)
        child_group = os.getpgid(child)
        os.killpg(child_group, signal.SIGSTOP)  # frozen mid-job, however late we got here
        result_before_kill = (job_work_dir(run_dir, KILLED.slug, 0) / "result.json").exists()
        os.killpg(parent.pid, signal.SIGKILL)  # the run first: it must not see the child end
        os.killpg(child_group, signal.SIGKILL)
        parent.wait(timeout=30)
        while alive(child):
            time.sleep(0.01)
    finally:
        if parent.poll() is None:
            os.killpg(parent.pid, signal.SIGKILL)
            parent.wait()
        if child is not None and alive(child):
            os.killpg(os.getpgid(child), signal.SIGKILL)
    assert parent.returncode == -signal.SIGKILL
    # what a busy host still guarantees: the child was stopped after it began measuring
    # (the model mapped) and before it wrote its result -- how long after, the host's
    # load decides, and the timed phase (MIN_SECS) plus evaluation leaves room for it
    assert not result_before_kill, (
        "the measuring child had already written its result when it was stopped: the "
        "kill did not land inside the job")

    planned = plan_config_jobs(build_config(read_config(run_dir)))
    assert planned == PLANNED
    killed_work = job_work_dir(run_dir, KILLED.slug, 0)
    assert not (killed_work / "result.json").exists()  # the child died measuring
    after_kill = rows_by_job(run_dir)
    assert set(after_kill) == {FAILS_FIRST.key}  # the killed job committed nothing
    assert after_kill[FAILS_FIRST.key]["status"] == "failed"
    assert "exited with status 3" in after_kill[FAILS_FIRST.key]["error"]

    # 2. `--resume`: the runtime repaired; finishes the run without re-running a
    # finished job, the failed one included
    switch.unlink()
    first = resume(run_dir)
    assert first.returncode == 1, first.stdout[-3000:] + first.stderr[-3000:]  # one failed
    assert "Traceback" not in first.stdout + first.stderr
    resumed = rows_by_job(run_dir)
    assert set(resumed) == {job.key for job in PLANNED}
    assert kept(resumed[FAILS_FIRST.key]) == kept(after_kill[FAILS_FIRST.key])
    for job in PLANNED[1:]:
        assert resumed[job.key]["status"] == "ok", (job.label, resumed[job.key]["error"])
    assert (run_dir / "environment.resume-1.json").is_file()
    assert not (run_dir / "environment.resume-2.json").exists()

    # 3. `--resume --retry-failed`: only the failed job runs again, and is ok now
    second = resume(run_dir, "--retry-failed")
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    final = rows_by_job(run_dir)
    assert set(final) == {job.key for job in PLANNED}
    assert {key: row["status"] for key, row in final.items()} == {
        job.key: "ok" for job in PLANNED}
    for job in PLANNED[1:]:  # kept, not measured again
        assert kept(final[job.key]) == kept(resumed[job.key]), job.label
    assert final[FAILS_FIRST.key]["started_at"] != after_kill[FAILS_FIRST.key]["started_at"]
    assert (run_dir / "environment.resume-2.json").is_file()

    # what the report and the gate read: every row's samples, one repeat line a job
    loaded = load_runs([run_dir])
    assert len(loaded.results) == len(PLANNED)
    for _, row in loaded.results.iterrows():
        samples = samples_of(loaded.samples, row)
        assert len(samples) == row["n_samples"] >= 5, (row["variant"], row["target"])
    assert sorted(RowKey.of(line).job for line in loaded.repeats.to_dict("records")) == \
        sorted(job.key for job in PLANNED)
    store = RunStore.open_existing(run_dir)  # not left locked by the killed run
    try:
        assert store.finished_jobs() == {job.key for job in PLANNED}
    finally:
        store.close()
