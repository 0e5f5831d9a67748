"""Fixtures of the presentation tests that drive a real browser."""

from __future__ import annotations

import os
import shutil

import pytest


@pytest.fixture(scope="module")
def chromium() -> str:
    """Headless Chromium for the report and Model Explorer screenshots. CI installs it
    (``.ci/run``), so its absence there is a failure; elsewhere the test is skipped."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is missing under CI=true (apt-get install -y chromium)")
        pytest.skip("no chromium here (apt-get install -y chromium)")
    return found
