"""Sessions a user runs: ``nox -l`` lists them.

Each session installs the project into its own virtualenv from the package registries
only, so the two Quickstart commands work on a fresh machine. Extra arguments after
``--`` go to ``qatbench run`` (bench sessions) or ``pytest`` (tests).

Pythons. ``tests`` runs on every Python the project claims: the ``Programming Language
:: Python :: 3.x`` classifiers of pyproject.toml, read with ``nox.project.python_versions``
(one place to edit; ``requires-python`` is their lower bound). CI's budget is ~12 minutes
on 2 cores for all of them, so:

- Every run uses every core, up to 4 (pytest-xdist, ``--dist worksteal``): the converter
  and most children are single-threaded, so two workers nearly halve the wall time.
- PRIMARY, the oldest claimed Python (the Quickstart's 3.11), runs the whole suite, slow
  end-to-end tests included (first, so the workers finish together): the reference run.
- Every newer claimed Python runs the suite without the ``slow`` marker and without
  HEAVY_ELSEWHERE, the files that cost most and depend least on the interpreter
  (TensorFlow training, whole-CLI runs in child processes, simulated phones and Edge
  TPUs driven through subprocesses, timeout tests that wait). What stays still imports
  and exercises every package on that Python: statistics, storage, reports, timing on
  LiteRT, TF/tfmot conversion and model checks.
- Measured on 2 cores (benchmarks/ci_wall_time.py prints it): see README, "Tests".

``nox -s tests -p 3.13 -- -q`` runs everything on one Python (arguments after ``--``
replace the default selection). Interpreters come from the machine, never downloaded
(``download_python = "never"``): a claimed Python that is not installed is skipped with a
warning, so ``nox -s tests`` works where only 3.11 is; ``.ci/run`` exposes pyenv's
Pythons and passes ``--error-on-missing-interpreters``, so CI cannot skip one quietly.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import nox

nox.needs_version = ">=2024.3.2"  # nox.project.python_versions
nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True
nox.options.download_python = "never"
# uv where nox can find it (``pip install "nox[uv]"``, as the README and .ci/run do), plain
# virtualenv + pip otherwise. Same registries and requirements; a fresh venv with the qat
# and test extras takes uv about 0.6 of pip's time (pip unpacks and byte-compiles one file
# at a time), on each of CI's three Pythons (README, "nox sessions").
nox.options.default_venv_backend = "uv|virtualenv"

PYPROJECT = nox.project.load_toml("pyproject.toml")
PYTHONS = nox.project.python_versions(PYPROJECT)
PRIMARY = PYTHONS[0]
FULL = ".[qat,test]"
# the test suite also loads Model Explorer (`qatbench explore`'s tests); the bench sessions
# do not need its ~480 MB adapter
TESTS = ".[qat,test,explore]"
TESTS_WITH_TORCH = ".[qat,test,explore,torch]"  # PRIMARY, with a local CPU torch wheel
REGRESS_REPEATS = 3
WORKFLOW = ".github/workflows/device-lab.yml"
# run on PRIMARY only (see the docstring); every path must exist (tests/test_project_surface.py)
HEAVY_ELSEWHERE = [
    "tests/bench/test_cli.py",
    "tests/bench/test_profile_cli.py",
    "tests/bench/orchestration/test_launcher.py",
    "tests/bench/orchestration/test_phone_profiles.py",
    "tests/qat/test_quantize.py",
    "tests/qat/test_distill.py",
    "tests/targets/android/test_target.py",
    "tests/targets/edgetpu/test_target.py",
    "tests/targets/edgetpu/test_runtime.py",
    "tests/test_user_models.py",
    # each trains or converts its own models (the digits build, op-scoped quantizer
    # recipes) or drives many CLI runs; the code they reach is Python-version neutral
    "tests/bench/orchestration/test_explore_command.py",
    "tests/bench/orchestration/test_external.py",
    "tests/qat/test_quantizer_op_scopes.py",
    # PyTorch models: the torch extra is installed on PRIMARY only (TORCH_WHEELS below)
    "tests/qat/pytorch/test_source.py",
    "tests/qat/pytorch/test_build.py",
]
# The `torch` extra (PyTorch models) on PRIMARY's test session. PyPI's Linux torch is a CUDA
# build (~3 GB of downloads with uv); a CPU wheel in this folder is installed instead
# (uv does not look in pip's find-links by itself). Installed, the extra adds ~1.5 GB to
# the venv (benchmarks/torch_digits.py prints it). Without such a wheel the extra is not
# installed and tests/qat/pytorch skips -- which fails under CI=true (tests/conftest.py).
TORCH_WHEELS = os.environ.get("QATBENCH_TORCH_WHEELS", "/opt/wheels")


def _test_workers() -> int:
    """One pytest-xdist worker per usable core, at most 4: each worker imports TensorFlow
    and builds the session's small models (~1 GB each), so a wide host gains little more."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(4, usable or 1))


SLOWEST = "--durations=25"  # CI's log names where the wall time went
PARALLEL = ["-n", str(_test_workers()), "--dist", "worksteal"]  # pytest-xdist (test extra)
# uv installs without byte-compiling unless asked. Where PYTHONDONTWRITEBYTECODE is set (CI
# images often set it) nothing is ever compiled later, and every process -- each pytest
# worker, each timing child -- would spend 12-19 s compiling TensorFlow as it imports it.
# pip compiles at install time on its own; this makes uv do the same (in parallel).
INSTALL_ENV = {"UV_COMPILE_BYTECODE": "1"}


def _install(session: nox.Session, *args: str) -> None:
    session.install(*args, env=INSTALL_ENV)


def _torch_cpu_wheel(session: nox.Session) -> str | None:
    """The CPU build of torch for this session's Python in TORCH_WHEELS, if one lies there."""
    tag = "cp" + str(session.python).replace(".", "")
    folder = Path(TORCH_WHEELS)
    wheels = sorted(folder.glob(f"torch-*+cpu-{tag}-{tag}-*.whl")) if folder.is_dir() else []
    return str(wheels[-1]) if wheels else None


def _test_requirement(name: str) -> str:
    """The ``test`` extra's requirement for ``name`` (one version bound, in pyproject)."""
    for requirement in PYPROJECT["project"]["optional-dependencies"]["test"]:
        if re.split(r"[\s<>=!~\[;]", requirement, maxsplit=1)[0] == name:
            return requirement
    raise LookupError(f"{name} is not in pyproject's test extra")


def _qatbench_run(session: nox.Session, config: str) -> None:
    _install(session, "-e", FULL)
    args = list(session.posargs)
    if "--pytest" in args:
        args.remove("--pytest")
        session.run("pytest", "benchmarks/test_cpu_matrix.py", "--benchmark-only", *args)
        return
    command = "run"
    if "--fingerprint" in args:
        # one line on stdout: the host/runtime/device fingerprint of this session's venv
        # (the device lab names its baselines with it)
        args.remove("--fingerprint")
        command = "fingerprint"
    chosen = [] if "--config" in args else ["--config", config]
    # exit 1 (a job failed, results written) fails the session: CI sees a broken run
    session.run("qatbench", command, *chosen, *args)


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """The test suite on every claimed Python (what CI runs).

    All of it on PRIMARY; on the others, all but the `slow` tests and HEAVY_ELSEWHERE.
    """
    wheel = _torch_cpu_wheel(session) if session.python == PRIMARY else None
    if wheel is not None:
        _install(session, "-e", TESTS_WITH_TORCH, wheel)
    else:
        if session.python == PRIMARY:
            session.warn(f"no CPU torch wheel in {TORCH_WHEELS}: the torch extra is not "
                         "installed and tests/qat/pytorch skips")
        _install(session, "-e", TESTS)
    if session.posargs:
        args = list(session.posargs)
    elif session.python == PRIMARY:
        args = ["-q", *PARALLEL, SLOWEST]
    else:
        args = ["-q", *PARALLEL, SLOWEST, "-m", "not slow",
                *(f"--ignore={path}" for path in HEAVY_ELSEWHERE)]
    session.run("pytest", *args)


@nox.session(python=PRIMARY)
def lint(session: nox.Session) -> None:
    """ruff; zizmor and check-jsonschema over the device-lab workflow (offline)."""
    _install(session, "ruff", _test_requirement("zizmor"), _test_requirement("check-jsonschema"))
    session.run("ruff", "check", "qatbench", "tests", "benchmarks", "noxfile.py")
    session.run("zizmor", "--offline", WORKFLOW)
    session.run("check-jsonschema", "--builtin-schema", "vendor.github-workflows", WORKFLOW)


@nox.session(name="bench-cpu", python=PRIMARY)
def bench_cpu(session: nox.Session) -> None:
    """QAT on the default models, timed on cpu-xnnpack and cpu-ref (`-- --pytest`: as
    pytest-benchmark tests; `-- --fingerprint`: print this host's fingerprint)."""
    _qatbench_run(session, "cpu")


@nox.session(name="bench-edgetpu", python=PRIMARY)
def bench_edgetpu(session: nox.Session) -> None:
    """QAT, edgetpu_compiler placement, and Edge TPU latency where a TPU is attached."""
    _qatbench_run(session, "edgetpu")


@nox.session(name="bench-nnapi", python=PRIMARY)
def bench_nnapi(session: nox.Session) -> None:
    """QAT, then NNAPI and phone-CPU latency over adb (`-- --device SERIAL`)."""
    _qatbench_run(session, "nnapi")


@nox.session(python=PRIMARY)
def build(session: nox.Session) -> None:
    """Build every model of a config once, into an artifacts directory that hosts without
    TensorFlow time (`-- --config cpu --out artifacts/cpu --archive`); through the build
    cache, so a second build of the same key copies it."""
    _install(session, "-e", FULL)
    session.run("qatbench", "build", *session.posargs)


@nox.session(name="bench-prebuilt", python=PRIMARY)
def bench_prebuilt(session: nox.Session) -> None:
    """Time prebuilt artifacts with the timing-only install -- no TensorFlow, as a device
    host has it: `-- --config edgetpu --artifacts artifacts-edgetpu.tar.gz [run options]`
    (`-- --fingerprint --config C`: this venv's fingerprint)."""
    _install(session, "-e", ".")
    args = list(session.posargs)
    if "--fingerprint" in args:
        args.remove("--fingerprint")
        chosen = [flag for option in ("--config", "--device") if option in args
                  for flag in (option, args[args.index(option) + 1])]
        session.run("qatbench", "fingerprint", *chosen)
        return
    session.run("qatbench", "run", *args)


@nox.session(python=PRIMARY)
def ab(session: nox.Session) -> None:
    """Interleaved A/B of two builds on this host, timing-only install (no TensorFlow):
    `-- BASE CURRENT [--target edgetpu] [--max-pairs 64]` (exit 1 if a series is SLOWER)."""
    _install(session, "-e", ".")
    session.run("qatbench", "ab", *session.posargs)


@nox.session(python=PRIMARY)
def report(session: nox.Session) -> None:
    """Rebuild report.md/report.html and plots for run dirs (`-- results/RUN [...]`)."""
    _install(session, "-e", ".")
    session.run("qatbench", "report", *(session.posargs or ["--latest", "results"]))


@nox.session(python=PRIMARY)
def compare(session: nox.Session) -> None:
    """The regression gate alone: `-- BASE CURRENT [--threshold 5%]` (exit 1 on regression)."""
    _install(session, "-e", ".")
    session.run("qatbench", "compare", *session.posargs)


@nox.session(python=PRIMARY)
def regress(session: nox.Session) -> None:
    """Run the CPU matrix and gate it against a baseline run (`-- BASELINE_DIR`)."""
    if not session.posargs:
        session.error("usage: nox -s regress -- BASELINE_RUN_DIR [qatbench run options]")
    baseline, *run_args = session.posargs
    if "--repeats" not in run_args:
        # K = 3: what the gate's measured error rates rest on (README, "Regression gate")
        run_args += ["--repeats", str(REGRESS_REPEATS)]
    _install(session, "-e", FULL)
    out = os.path.join(session.create_tmp(), "regress")
    session.run("qatbench", "run", "--config", "cpu", "--out", out, *run_args,
                success_codes=[0, 1])
    session.run("qatbench", "compare", baseline, "--latest", out)


@nox.session(name="runtime-venv", python=PRIMARY)
def runtime_venv(session: nox.Session) -> None:
    """A venv with another TFLite runtime for a target's `python = ...`: `-- SPEC... [DIR]`.

    E.g. `-- ai-edge-litert-nightly` or `-- "tflite-runtime==2.14.0" "numpy<2"`; prints the
    interpreter to name. qatbench's timing side goes in with --no-deps: no TensorFlow,
    pandas or scipy, as on a device image (qatbench/targets/host/runtime_venv.py).
    """
    if not session.posargs:
        session.error('usage: nox -s runtime-venv -- SPEC... [DIR], e.g. ai-edge-litert-nightly')
    session.run("python", "-m", "qatbench.targets.host.runtime_venv", *session.posargs)


@nox.session(python=PRIMARY)
def mutation(session: nox.Session) -> None:
    """Mutation testing (mutmut 3) of bench/statistics, bench/storage and orchestration's
    ab, bisect, repeats and build_cache against tests/bench's fast, in-process tests.

    Configured in pyproject's [tool.mutmut] (which tests, and why the slow, child-process
    and whole-CLI ones are left out: with them the run never finished). Arguments after
    `--` go to `mutmut run`: globs naming the mutants to run, e.g.
    `-- "qatbench.bench.statistics.latency*" "qatbench.bench.statistics.paired*"`, and
    `--max-children N` (default: one per core, at most 4). Starts from a fresh `mutants/`
    (git-ignored), so no stale copy of the code or the tests is judged; lists every
    survivor (`mutmut show NAME` prints its diff), then the score of each module and of
    the whole run (killed / checked; mutants outside a glob are not checked), and how
    long it took. Measured times and scores: benchmarks/measured/mutation_scores-*.
    """
    import json
    import shutil
    import time

    _install(session, "-e", FULL)
    _install(session, "mutmut>=3.8,<4")
    shutil.rmtree("mutants", ignore_errors=True)
    started = time.monotonic()
    if session.run("mutmut", "run", "--max-children", str(_test_workers()),
                   *session.posargs) is None and not os.path.isdir("mutants"):
        return  # --install-only: nothing ran
    listing = session.run("mutmut", "results", silent=True) or ""
    for line in listing.splitlines():  # mutants outside the run are "not checked"
        if line.strip() and not line.endswith(": not checked"):
            session.log(line.strip())
    for line in _mutation_scores("mutants"):
        session.log(line)
    session.run("mutmut", "export-cicd-stats")
    with open("mutants/mutmut-cicd-stats.json", encoding="utf-8") as handle:
        stats = json.load(handle)
    checked = sum(stats[k] for k in ("killed", "survived", "no_tests", "timeout",
                                     "suspicious", "segfault"))
    score = stats["killed"] / checked if checked else 0.0
    session.log(f"mutation score {score:.1%}: {stats['killed']} of {checked} mutants killed, "
                f"{stats['survived']} survived, {stats['no_tests']} without a test")
    session.log(f"mutation testing took {(time.monotonic() - started) / 60:.1f} min")


# mutmut 3's exit codes of a mutant's test run (mutmut/stats.py): which are a kill; None
# is "not checked" (outside the globs run), the rest survived, had no test or timed out
_KILLED_EXIT_CODES = {1, 3}
_SURVIVED_EXIT_CODES = {0}


def _mutation_scores(mutants: str) -> list[str]:
    """One line per mutated module: killed of checked, survivors, and the mutants without
    a test; from mutmut's per-file ``.meta`` records."""
    import json
    from pathlib import Path

    lines = []
    for meta in sorted(Path(mutants).rglob("*.py.meta")):
        codes = json.loads(meta.read_text(encoding="utf-8")).get("exit_code_by_key", {})
        checked = [code for code in codes.values() if code is not None]
        if not checked:
            continue
        killed = sum(code in _KILLED_EXIT_CODES for code in checked)
        survived = sum(code in _SURVIVED_EXIT_CODES for code in checked)
        module = str(meta.relative_to(mutants))[: -len(".py.meta")].replace("/", ".")
        lines.append(f"{module}: {killed / len(checked):.1%} ({killed} of {len(checked)} "
                     f"checked killed, {survived} survived, "
                     f"{len(checked) - killed - survived} other)")
    return lines
