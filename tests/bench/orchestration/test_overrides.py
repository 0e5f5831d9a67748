"""``ConfigOverrides``: the one way flags reach a run config."""

from __future__ import annotations

from pathlib import Path

import pytest

from qatbench.bench.orchestration.config import ConfigError
from qatbench.bench.orchestration.overrides import ConfigOverrides, settings


def test_only_the_flags_given_are_set_and_measure_keys_go_to_measure() -> None:
    overrides = ConfigOverrides(threads=(1, 2), out=Path("somewhere"), shard=(2, 4),
                                min_secs=0.5, warmup_runs=3)
    assert overrides.tables() == {
        "run": {"threads": [1, 2], "out": "somewhere", "shard": [2, 4]},
        "measure": {"min_s": 0.5, "warmup_runs": 3}}
    assert ConfigOverrides().tables() == {"run": {}, "measure": {}}


def test_the_overrides_land_in_the_loaded_config() -> None:
    config = settings(None, ConfigOverrides(targets=["cpu-ref"], threads=[2], repeats=3,
                                            max_secs=7.0))
    assert config.run.targets == ["cpu-ref"]
    assert config.run.threads == [2]
    assert config.run.repeats == 3
    assert config.measure.max_s == 7.0


def test_a_misspelt_target_is_the_configs_error_naming_it() -> None:
    with pytest.raises(ConfigError, match="cpu-xnnpak"):
        settings(None, ConfigOverrides(targets=["cpu-xnnpak"]))
