"""Bad configs fail with the key and the allowed values; CLI overrides win."""

from __future__ import annotations

from pathlib import Path

import pytest

from qatbench.bench.orchestration.config import ConfigError, load_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "run.toml"
    path.write_text(text)
    return path


def test_shipped_default_is_the_cpu_matrix() -> None:
    config = load_config()
    assert config.run.models == ["mnist_cnn", "mobilenet_v2"]
    assert config.run.variants == ["float32", "ptq_int8", "qat_int8"]
    assert config.run.targets == ["cpu-xnnpack", "cpu-ref"]
    assert config.run.threads == [1]
    assert (config.measure.min_runs, config.measure.min_s, config.measure.max_s) == (50, 1.0, 150)


def test_quick_overlays_shorter_timing_and_training() -> None:
    quick = load_config(quick=True)
    assert quick.measure.min_runs < 50
    assert quick.training.float_epochs < load_config().training.float_epochs
    assert quick.run.models == ["mnist_cnn", "mobilenet_v2"]


@pytest.mark.parametrize(
    ("text", "key", "allowed"),
    [
        ('[run]\nmodels = ["resnet9000"]', "run.models", "mnist_cnn"),
        ('[run]\nvariants = ["bf16"]', "run.variants", "float32"),  # fp16 is one now
        ('[run]\ntargets = ["gpu"]', "run.targets", "cpu-xnnpack"),
        ("[run]\nthreads = [0]", "run.threads", ">= 1"),
        ("[measure]\nmin_runs = -3", "measure.min_runs", "greater than or equal to 1"),
        ("[run]\ntimeout = 5", "run.timeout", "unknown key"),
    ],
)
def test_invalid_values_name_the_key(tmp_path: Path, text: str, key: str, allowed: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(write(tmp_path, text))
    assert key in str(error.value)
    assert allowed in str(error.value)


def test_unparseable_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[run\nmodels="))
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")


def test_overrides_win_over_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[run]\nmodels = ["digits_cnn"]\nthreads = [1]')
    config = load_config(path, overrides={"run": {"threads": [1, 2]}})
    assert config.run.models == ["digits_cnn"]
    assert config.run.threads == [1, 2]
