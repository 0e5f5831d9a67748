"""The report's reading of an op profile agrees with the profiler that wrote it."""

from __future__ import annotations

import pandas as pd

from qatbench.bench.statistics import op_profiles
from qatbench.targets import op_profile


def test_the_report_and_the_profiler_use_one_coverage_band() -> None:
    """A profile the profiler marks reliable is read as reliable: the band is restated
    below the import rule's line, so this keeps the two from drifting."""
    assert op_profiles.RELIABLE_COVERAGE == op_profile.RELIABLE_COVERAGE


def test_coverage_outside_the_band_or_unknown_is_not_reliable() -> None:
    low, high = op_profiles.RELIABLE_COVERAGE
    assert op_profiles.is_reliable(low) and op_profiles.is_reliable(high)
    assert op_profiles.is_reliable(low - 0.01) is False
    assert op_profiles.is_reliable(high + 0.01) is False
    assert op_profiles.is_reliable(None) is None and op_profiles.is_reliable(pd.NA) is None
