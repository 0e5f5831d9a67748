"""Sessions a user runs: ``nox -l`` lists them.

Each session installs the project into its own virtualenv from the package registries
only, so the two Quickstart commands work on a fresh machine. Extra arguments after
``--`` go to ``qatbench run`` (bench sessions) or ``pytest`` (tests).
"""

from __future__ import annotations

import os

import nox

nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True

PYTHON = "3.11"
FULL = ".[qat,test]"


def _qatbench_run(session: nox.Session, config: str) -> None:
    session.install("-e", FULL)
    args = list(session.posargs)
    if "--pytest" in args:
        args.remove("--pytest")
        session.run("pytest", "benchmarks/test_cpu_matrix.py", "--benchmark-only", *args)
        return
    chosen = [] if "--config" in args else ["--config", config]
    session.run("qatbench", "run", *chosen, *args,
                success_codes=[0, 1] if os.environ.get("QATBENCH_ALLOW_FAILED") else [0])


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The test suite, slow end-to-end tests included (what CI runs)."""
    session.install("-e", FULL)
    session.run("pytest", *(session.posargs or ["-q"]))


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff over the package, tests, benchmarks and this file."""
    session.install("ruff")
    session.run("ruff", "check", "qatbench", "tests", "benchmarks", "noxfile.py")


@nox.session(name="bench-cpu", python=PYTHON)
def bench_cpu(session: nox.Session) -> None:
    """QAT on the default models, timed on cpu-xnnpack and cpu-ref (`-- --pytest`: as
    pytest-benchmark tests)."""
    _qatbench_run(session, "cpu")


@nox.session(name="bench-edgetpu", python=PYTHON)
def bench_edgetpu(session: nox.Session) -> None:
    """QAT, edgetpu_compiler placement, and Edge TPU latency where a TPU is attached."""
    _qatbench_run(session, "edgetpu")


@nox.session(name="bench-nnapi", python=PYTHON)
def bench_nnapi(session: nox.Session) -> None:
    """QAT, then NNAPI and phone-CPU latency over adb (`-- --device SERIAL`)."""
    _qatbench_run(session, "nnapi")


@nox.session(python=PYTHON)
def report(session: nox.Session) -> None:
    """Rebuild report.md/report.html and plots for run dirs (`-- results/RUN [...]`)."""
    session.install("-e", ".")
    session.run("qatbench", "report", *(session.posargs or ["--latest", "results"]))


@nox.session(python=PYTHON)
def compare(session: nox.Session) -> None:
    """The regression gate alone: `-- BASE CURRENT [--threshold 5%]` (exit 1 on regression)."""
    session.install("-e", ".")
    session.run("qatbench", "compare", *session.posargs)


@nox.session(python=PYTHON)
def regress(session: nox.Session) -> None:
    """Run the CPU matrix and gate it against a baseline run (`-- BASELINE_DIR`)."""
    if not session.posargs:
        session.error("usage: nox -s regress -- BASELINE_RUN_DIR [qatbench run options]")
    baseline, *run_args = session.posargs
    session.install("-e", FULL)
    out = os.path.join(session.create_tmp(), "regress")
    session.run("qatbench", "run", "--config", "cpu", "--out", out, *run_args,
                success_codes=[0, 1])
    session.run("qatbench", "compare", baseline, "--latest", out)
