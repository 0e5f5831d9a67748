"""[models.NAME] tables: one source each, paths against the config file, errors by key."""

from __future__ import annotations

from pathlib import Path

import pytest

from qatbench.bench.orchestration.config import ConfigError, load_config
from qatbench.models.sources import ModelSource, ad_hoc_source


def config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sub" / "run.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return path


def test_paths_are_resolved_against_the_config_files_folder(tmp_path: Path,
                                                              monkeypatch) -> None:
    folder = tmp_path / "sub"
    folder.mkdir()
    (folder / "m.h5").write_bytes(b"x")
    (folder / "d.npz").write_bytes(b"x")
    (folder / "nets.py").write_text("def f(): pass\n")
    monkeypatch.chdir(tmp_path)  # elsewhere: the paths must still be the config's
    loaded = load_config(config(tmp_path, '''
[models.a]
keras = "m.h5"
data = "d.npz"
[models.b]
build = "nets.py:f"
preprocess = "tf"
'''))
    assert loaded.models["a"].keras == str(folder / "m.h5")
    assert loaded.models["a"].data == str(folder / "d.npz")
    assert loaded.models["b"].build == f"{folder / 'nets.py'}:f"
    assert loaded.models["b"].preprocess == "tf"
    assert loaded.run.models == ["a", "b"]  # the tables are the run's models


@pytest.mark.parametrize(("table", "words"), [
    ('keras = "m.h5"\nbuild = "x:y"', "exactly one of"),
    ("data = \"d.npz\"", "exactly one of"),
    ('tflite = { qat_int8 = "q.tflite" }', "needs a float32 file"),
    ('tflite = { float32 = "f.tflite", int4 = "q.tflite" }', "unknown variant(s) int4"),
    ('keras = "m.h5"\ntrained = false', "trained = false applies to build"),
    ('keras = "m.h5"\npreprocess = "imagenet"', "preprocess 'imagenet'"),
    ('keras = "m.h5"\ncolour = "red"', "unknown key"),
])
def test_a_bad_table_is_a_config_error_naming_the_problem(tmp_path: Path, table: str,
                                                           words: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(config(tmp_path, f"[models.mine]\n{table}\n"))
    assert "models.mine" in str(error.value)
    assert words in str(error.value)


def test_missing_files_are_all_named_at_once(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(config(tmp_path, '''
[models.a]
keras = "gone.h5"
data = "gone.npz"
[models.b]
tflite = { float32 = "f.tflite", qat_int8 = "q.tflite" }
'''))
    message = str(error.value)
    for key in ("models.a.keras", "models.a.data", "models.b.tflite.float32",
                "models.b.tflite.qat_int8"):
        assert key in message


def test_a_zoo_name_cannot_be_taken_and_unknown_names_say_how_to_add_one(
        tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "m.h5").write_bytes(b"x")
    with pytest.raises(ConfigError, match="mnist_cnn is a zoo model's name"):
        load_config(config(tmp_path, '[models.mnist_cnn]\nkeras = "m.h5"\n'))
    with pytest.raises(ConfigError, match=r"unknown model\(s\) my_net.*\[models.NAME\]"):
        load_config(config(tmp_path, '[run]\nmodels = ["my_net"]\n'))


def test_per_model_training_overrides_the_run_budget_and_is_checked(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "m.h5").write_bytes(b"x")
    loaded = load_config(config(tmp_path, '''
[training]
qat_epochs = 2
batch_size = 64
[models.a]
keras = "m.h5"
[models.a.training]
batch_size = 16
optimizer = "sgd"
'''))
    budget = loaded.budget_for("a")
    assert (budget.batch_size, budget.qat_epochs, budget.optimizer) == (16, 2, "sgd")
    assert loaded.budget_for("mnist_cnn").batch_size == 64
    with pytest.raises(ConfigError, match=r"models\.a\.training\.batch_size"):
        load_config(config(tmp_path, '[models.a]\nkeras = "m.h5"\n'
                                     '[models.a.training]\nbatch_size = 0\n'))


def test_a_tflite_table_gives_rows_for_its_own_files_only(tmp_path: Path) -> None:
    folder = tmp_path / "sub"
    folder.mkdir()
    for name in ("f.tflite", "q.tflite"):
        (folder / name).write_bytes(b"x")
    loaded = load_config(config(tmp_path, '''
[run]
models = ["mnist_cnn", "vendor"]
variants = ["float32", "ptq_int8", "qat_int8"]
[models.vendor]
tflite = { float32 = "f.tflite", qat_int8 = "q.tflite" }
'''))
    assert loaded.variants_for("vendor") == ["float32", "qat_int8"]
    assert loaded.variants_for("mnist_cnn") == ["float32", "ptq_int8", "qat_int8"]


@pytest.mark.parametrize(("given", "name", "kind"), [
    ("models/net.keras", "net", "keras"),
    ("saved_model_dir/", "saved_model_dir", "keras"),
    ("pkg.nets:mobile_unet", "nets", "build"),  # the module, as a file is by its stem
    ("nets.py:tiny", "nets", "build"),
    ("export/model.tflite", "model", "tflite"),
])
def test_ad_hoc_model_is_named_after_the_file_or_the_module(tmp_path: Path, given: str,
                                                               name: str, kind: str) -> None:
    found, source = ad_hoc_source(given, None, tmp_path)
    assert found == name
    assert source.kind == kind
    assert isinstance(source, ModelSource)


def test_ad_hoc_data_may_be_a_folder_of_class_subfolders(tmp_path: Path) -> None:
    (tmp_path / "images" / "cat").mkdir(parents=True)
    _, source = ad_hoc_source("net.keras", "images", tmp_path)
    assert source.image_dir == str(tmp_path / "images") and source.data is None
    _, source = ad_hoc_source("net.keras", "digits.npz", tmp_path)
    assert source.data == str(tmp_path / "digits.npz") and source.image_dir is None


def test_an_untrained_builder_on_the_command_line_is_trained_first(tmp_path: Path) -> None:
    _, source = ad_hoc_source("nets.py:tiny", "digits.npz", tmp_path, trained=False)
    assert source.trained is False


PLUGIN = '''
from qatbench.models.zoo import BuiltModel, ModelSpec


def _build():
    import tf_keras as keras
    return BuiltModel(keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)]), "random")


def zoo():
    return [ModelSpec("lab_net", "a lab's own model", (4,), 3, _build)]
'''


def _install_plugin(folder: Path) -> None:
    """A plug-in zoo as pip would install it: a module and its dist-info entry point."""
    (folder / "lab_zoo.py").write_text(PLUGIN)
    info = folder / "lab_zoo-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: lab-zoo\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[qatbench.models]\nlab = lab_zoo:zoo\n")


def test_a_plugin_zoo_is_found_through_its_entry_point(tmp_path: Path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from qatbench.bench.cli import app
    from qatbench.models.zoo import get_model_spec

    _install_plugin(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert get_model_spec("lab_net").input_shape == (4,)
    loaded = load_config(config(tmp_path, '[run]\nmodels = ["lab_net", "mnist_cnn"]\n'))
    assert loaded.run.models == ["lab_net", "mnist_cnn"]
    listing = CliRunner().invoke(app, ["models"], env={"COLUMNS": "200"})
    assert listing.exit_code == 0
    assert "lab_net" in listing.output and "plug-in" in listing.output
