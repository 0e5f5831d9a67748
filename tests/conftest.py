"""Shared fixtures: small real models built once per session, and a child-process path.

The models are real TFLite files converted by the QAT core (scikit-learn's 8x8 digits,
seconds to train), so every timing and parsing test runs against genuine models.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _children_can_import_tests(monkeypatch: pytest.MonkeyPatch) -> None:
    """Child processes (the job worker) must import test-only targets from ``tests``."""
    existing = os.environ.get("PYTHONPATH", "")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(REPO_ROOT), existing) if p))


@pytest.fixture(scope="session")
def digits_build(tmp_path_factory: pytest.TempPathFactory):
    """float32 / ptq_int8 / qat_int8 .tflite files of the digits CNN, built once."""
    pytest.importorskip("tensorflow")
    from qatbench.models.zoo import get_model_spec
    from qatbench.qat.budget import TrainingBudget
    from qatbench.qat.pipeline import build_variants

    out = tmp_path_factory.mktemp("digits_build")
    budget = TrainingBudget(float_epochs=8, qat_epochs=2, batch_size=32,
                            representative_samples=64)
    build = build_variants(get_model_spec("digits_cnn"), ["float32", "ptq_int8", "qat_int8"],
                           out, budget)
    assert all(a.ok for a in build.variants.values()), build.variants
    return build


@pytest.fixture(scope="session")
def float_tflite(digits_build) -> Path:
    return Path(digits_build.variants["float32"].path)


@pytest.fixture(scope="session")
def int8_tflite(digits_build) -> Path:
    return Path(digits_build.variants["qat_int8"].path)


# Under CI every skip is a failure unless its reason starts with this prefix and then says
# why the skip holds on every CI host (e.g. "root writes anywhere": CI may run as root).
# Keep the list of such skips small: ``grep -rn "allowed on CI:" tests``.
CI_ALLOWED_SKIP = "allowed on CI:"


def _under_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def _skip_reason(report: pytest.CollectReport | pytest.TestReport) -> str:
    longrepr = report.longrepr
    reason = str(longrepr[-1]) if isinstance(longrepr, tuple) else str(longrepr or "")
    return reason.removeprefix("Skipped: ")


def _fail_unallowed_skip(report: pytest.CollectReport | pytest.TestReport, where: str) -> None:
    """Under CI (``CI=true``; ``.ci/run`` sets it, and ``nox -s tests`` installs the ``qat``
    and ``test`` extras, adb, chromium and a C compiler there) turn a skip into a failure
    unless its reason starts with CI_ALLOWED_SKIP: a broken TensorFlow or tfmot install, a
    missing tool or an empty parametrisation must turn CI red, not quietly skip tests."""
    if not _under_ci() or not report.skipped:
        return
    reason = _skip_reason(report)
    if reason.startswith(CI_ALLOWED_SKIP):
        return
    report.outcome = "failed"
    report.longrepr = (f"CI=true: {where} skipped: {reason!r}. Under CI a skip fails unless "
                       f"its reason starts with {CI_ALLOWED_SKIP!r} and says why it holds on "
                       "every CI host (the qat and test extras must import in CI; .ci/run "
                       "installs adb, chromium and a C compiler)")


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):
    """A collection-time skip (a module-level ``pytest.importorskip`` or
    ``pytest.skip(allow_module_level=True)``) never reaches the runtest hook: it would drop
    every test of its file without a trace. Under CI it is a collection error."""
    outcome = yield
    _fail_unallowed_skip(outcome.get_result(), f"collecting {collector.nodeid or '.'}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """A skip in setup (a ``skipif`` mark, a fixture's ``pytest.skip``) or in the test."""
    outcome = yield
    _fail_unallowed_skip(outcome.get_result(), item.nodeid)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """``slow`` tests first, in their own order: under pytest-xdist (``nox -s tests``) the
    minute-long conversions then start at once and the short tests fill in around them,
    instead of one worker finishing a conversion while the other idles."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(autouse=True)
def _a_build_cache_of_its_own(tmp_path_factory: pytest.TempPathFactory,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets an empty build cache (``QATBENCH_CACHE_DIR``), never the user's:
    a test's builds are its own, and no test reads another's."""
    monkeypatch.setenv("QATBENCH_CACHE_DIR", str(tmp_path_factory.mktemp("build_cache")))
