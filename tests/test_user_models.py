"""Your model, your data: every [models.NAME] source kind through `qatbench run`, as a
user runs it (a child process, a config file with relative paths), and every bad input
refused with exit 2 naming its key before anything trains."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("tensorflow")

REPO = Path(__file__).resolve().parent.parent
QUICK = ["--quick", "--targets", "cpu-ref", "--min-runs", "5", "--min-secs", "0.05",
         "--max-secs", "5"]


def qatbench(*args: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "qatbench", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=timeout)


def run_dir(root: Path) -> Path:
    (found,) = [p for p in root.iterdir() if p.is_dir()]
    return found


def results(root: Path) -> pd.DataFrame:
    return pd.read_parquet(run_dir(root) / "results.parquet")


def digits_npz(path: Path, limit: int | None = None) -> Path:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images[..., np.newaxis] / 16.0).astype(np.float32)[:limit]
    y = digits.target.astype(np.int64)[:limit]
    np.savez(path, x=x, y=y)
    return path


BUILDERS = textwrap.dedent('''
    from pathlib import Path

    import tf_keras as keras


    def digits_net():
        """An untrained tf_keras CNN for the 8x8 digits."""
        inputs = keras.Input((8, 8, 1), name="image")
        x = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(inputs)
        x = keras.layers.Flatten()(x)
        return keras.Model(inputs, keras.layers.Dense(10)(x), name="digits_net")


    def two_heads():
        """A class head and a box head, no labels anywhere: distillation only."""
        inputs = keras.Input((8, 8, 1), name="image")
        x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
        x = keras.layers.GlobalAveragePooling2D()(x)
        classes = keras.layers.Dense(4, activation="softmax", name="classes")(x)
        box = keras.layers.Dense(4, name="box")(x)
        return keras.Model(inputs, [classes, box], name="two_heads")


    def dual():
        """Two inputs, a class head and a score head: labels for both."""
        image = keras.Input((8, 8, 1), name="image")
        meta = keras.Input((3,), name="meta")
        x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(image)
        x = keras.layers.Flatten()(x)
        x = keras.layers.Concatenate()([x, meta])
        classes = keras.layers.Dense(10, name="digit")(x)
        score = keras.layers.Dense(1, name="ink")(x)
        return keras.Model([image, meta], [classes, score], name="dual")


    CALLS = []


    def my_loop(model, data):
        """The user's own training loop: qatbench hands over the compiled model."""
        model.fit(data.x_train, data.y_train, epochs=2, batch_size=32, verbose=0)
        with open(Path(__file__).with_name("fit_calls.txt"), "a") as calls:
            calls.write(f"{model.name}\\n")


    def colours():
        """An untrained RGB classifier for an image folder."""
        inputs = keras.Input((8, 8, 3), name="image")
        x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
        x = keras.layers.GlobalAveragePooling2D()(x)
        return keras.Model(inputs, keras.layers.Dense(2)(x), name="colours")


    def broken():
        raise RuntimeError("the user's own bug")
''')


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "nets.py").write_text(BUILDERS)
    digits_npz(tmp_path / "digits.npz")
    return tmp_path


def write_config(folder: Path, text: str) -> Path:
    path = folder / "qatbench.toml"
    path.write_text(textwrap.dedent(text))
    return path


@pytest.mark.slow
def test_the_shipped_keras3_example_runs_end_to_end(tmp_path: Path) -> None:
    """examples/keras3_digits as its README says: make the data and the Keras 3 model,
    then `qatbench run --config qatbench.toml`; the model is rebuilt, proved, trained
    with QAT, and every variant has a measured top-1 with its interval."""
    example = REPO / "examples" / "keras3_digits"
    for name in ("make_model.py", "qatbench.toml"):
        (tmp_path / name).write_text((example / name).read_text())
    made = subprocess.run([sys.executable, "make_model.py"], cwd=tmp_path, text=True,
                          capture_output=True, timeout=600)
    assert made.returncode == 0, made.stderr[-2000:]
    result = qatbench("run", "--config", "qatbench.toml", "--out", "results", *QUICK,
                      cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    frame = results(tmp_path / "results")
    assert sorted(frame["variant"]) == ["float32", "ptq_int8", "qat_int8"]
    assert (frame["status"] == "ok").all()
    assert frame["note"].str.contains("rebuilt from Keras 3", na=False).all()
    # a trained model on real digits, far above chance (10%) in every variant
    assert (frame["accuracy_top1_ci_low"] > 0.5).fillna(False).all(), frame[
        "accuracy_top1"].tolist()
    # the 20% held out of 1,797 digits
    assert (frame["eval_samples"] == 359).fillna(False).all()


@pytest.mark.slow
def test_a_builder_function_is_trained_first_when_it_says_so(project: Path) -> None:
    write_config(project, '''
        [models.digits_net]
        build = "nets.py:digits_net"
        trained = false
        data = "digits.npz"
        [models.digits_net.training]
        float_epochs = 4
        optimizer = "rmsprop"
    ''')
    result = qatbench("run", "--config", "qatbench.toml", "--out", "results",
                      "--variants", "float32,qat_int8", *QUICK, cwd=project)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    frame = results(project / "results").set_index("variant")
    assert set(frame["weights"]) == {"trained here"}
    # an untrained 10-way net scores ~10%; trained here it is far above
    assert frame.loc["float32", "accuracy_top1_ci_low"] > 0.5
    assert frame.loc["qat_int8", "qat_objective"] == "labels"


@pytest.mark.slow
def test_two_inputs_two_labelled_outputs_and_the_users_own_loop(project: Path) -> None:
    """Dict inputs keyed by input name, labels per output, a loss per output, and
    ``fit = "module:function"``: float training and QAT both go through the user's loop."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images[..., np.newaxis] / 16.0).astype(np.float32)
    meta = np.random.default_rng(0).uniform(0, 1, (len(x), 3)).astype(np.float32)
    ink = x.mean(axis=(1, 2, 3))[:, None]
    np.savez(project / "dual.npz", **{"x/image": x, "x/meta": meta,
                                      "y/digit": digits.target, "y/ink": ink})
    write_config(project, '''
        [models.dual]
        build = "nets.py:dual"
        trained = false
        data = "dual.npz"
        loss = { ink = "mae" }
        [models.dual.training]
        fit = "nets.py:my_loop"
    ''')
    result = qatbench("run", "--config", "qatbench.toml", "--out", "results",
                      "--variants", "float32,ptq_int8,qat_int8", *QUICK, cwd=project)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    frame = results(project / "results").set_index("variant")
    assert (frame["status"] == "ok").all()
    assert frame.loc["float32", "accuracy_top1_ci_low"] > 0.5  # trained by the user's loop
    assert frame.loc["qat_int8", "accuracy_top1_ci_low"] > 0.5
    outputs = json.loads(frame.loc["ptq_int8", "extra"])["outputs"]
    assert [(o["name"], o["task"]) for o in outputs] == [("digit", "classification"),
                                                         ("ink", "regression")]
    # float training and QAT fine-tuning, each in the build child's folder
    assert len((project / "fit_calls.txt").read_text().split()) == 2


@pytest.mark.slow
def test_a_two_output_model_without_labels_distils_and_reports_every_output(
        project: Path) -> None:
    result = qatbench("run", "--model", "nets.py:two_heads", "--out", "results",
                      "--variants", "float32,ptq_int8,qat_int8", *QUICK, cwd=project)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    frame = results(project / "results").set_index("variant")
    assert frame.loc["qat_int8", "qat_objective"] == "distill"
    snr = {}
    for variant in ("ptq_int8", "qat_int8"):
        outputs = json.loads(frame.loc[variant, "extra"])["outputs"]
        assert [o["name"] for o in outputs] == ["classes", "box"]
        assert [o["task"] for o in outputs] == ["classification", "regression"]
        for output in outputs:
            # How close int8 comes to float depends on the weights this host's training
            # found (threads, kernels), so no fixed cosine or SNR holds everywhere. What
            # holds on every host: int8 is not bit-identical to float; a cosine is at most
            # 1; int8 explains the float output better than an all-zero output would (SNR
            # above 0 dB: error energy below signal energy -- a broken conversion fails
            # it); and cosine and SNR describe one error vector e = int8 - float, so
            # sin(angle) <= |e| / |float| = 10^(-SNR/20): a cosine the SNR rules out is a
            # wrong figure, whatever the host.
            snr_db, cosine = output["snr_db"], output["cosine"]
            assert output["max_abs_error"] > 0
            assert snr_db > 0, output
            assert cosine <= 1.0 + 1e-9, output
            assert cosine >= math.sqrt(1.0 - 10.0 ** (-snr_db / 10.0)) - 1e-9, output
            if output["task"] == "classification":  # softmax: both in [0, 1]
                assert output["max_abs_error"] <= 1.0
        assert frame.loc[variant, "output_cosine"] == min(o["cosine"] for o in outputs)
        assert pd.isna(frame.loc[variant, "accuracy_top1"])  # no labels: none invented
        snr[variant] = {o["name"]: o["snr_db"] for o in outputs}
    # QAT's ranges must start from the data, not tfmot's [-6, 6] (which left the box head
    # 19-35 dB below PTQ over 8 seeds, benchmarks/qat_range_start.py). How far below PTQ
    # that puts it is a figure of one host's training, not a bound, so the test asserts
    # the cause -- the note naming where the ranges started -- and, per output, the bound
    # every working int8 file meets on any host (SNR above 0 dB, checked above for both)
    assert set(snr["qat_int8"]) == set(snr["ptq_int8"]) == {"classes", "box"}, snr
    assert "quantizer ranges started from" in frame.loc["qat_int8", "note"]
    float_outputs = json.loads(frame.loc["float32", "extra"])["outputs"]
    assert all(o["max_abs_error"] == 0.0 for o in float_outputs)  # float vs itself
    report = (run_dir(project / "results") / "report.md").read_text()
    assert "box" in report


@pytest.mark.slow
def test_foreign_tflite_files_join_the_matrix_and_a_slower_int8_file_fails_the_gate(
        tmp_path: Path, digits_build) -> None:
    """Files made elsewhere: rows only for the named variants, fidelity against their
    float32 file, and `compare` flags the run whose int8 file got slower."""
    import tf_keras

    from qatbench.qat.export import Variant, export_variant

    float_file = Path(digits_build.variants["float32"].path)
    int8_file = Path(digits_build.variants["ptq_int8"].path)
    inputs = tf_keras.Input((8, 8, 1))
    x = inputs
    for _ in range(6):  # the same I/O, far more work
        x = tf_keras.layers.Conv2D(96, 3, padding="same", activation="relu")(x)
    x = tf_keras.layers.Flatten()(x)
    heavy = tf_keras.Model(inputs, tf_keras.layers.Dense(10)(x))
    calibration = np.random.default_rng(0).uniform(0, 1, (16, 8, 8, 1)).astype(np.float32)
    slower = tmp_path / "slower_int8.tflite"
    export_variant(heavy, Variant.PTQ_INT8, calibration, slower)
    digits_npz(tmp_path / "digits.npz", limit=400)
    for name, int8 in (("base", int8_file), ("current", slower)):
        folder = tmp_path / name
        folder.mkdir()
        write_config(folder, f'''
            [models.vendor_digits]
            tflite = {{ float32 = "{float_file}", ptq_int8 = "{int8}" }}
            data = "../digits.npz"
        ''')
        result = qatbench("run", "--config", "qatbench.toml", "--out", "results",
                          "--repeats", "3", *QUICK, cwd=folder)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    base = results(tmp_path / "base" / "results").set_index("variant")
    assert sorted(base.index) == ["float32", "ptq_int8"]
    assert base.loc["ptq_int8", "agreement_top1"] > 0.9  # the real int8 of that float
    assert base.loc["float32", "accuracy_top1"] > 0.5  # labels from the .npz
    gate = qatbench("compare", str(run_dir(tmp_path / "base" / "results")),
                    str(run_dir(tmp_path / "current" / "results")), cwd=tmp_path)
    assert gate.returncode == 1, gate.stdout + gate.stderr
    # the int8 row fails on its latency (a far heavier file timed 3x on each side), not
    # only on its accuracy and size, which also changed
    from qatbench.bench.statistics.compare import compare_runs
    from qatbench.bench.storage.runs import load_runs

    verdicts = compare_runs(load_runs([run_dir(tmp_path / "base" / "results")]),
                            load_runs([run_dir(tmp_path / "current" / "results")]))
    int8 = verdicts.set_index("variant").loc["ptq_int8"]
    assert int8["verdict"] == "slower", int8.to_dict()
    assert int8["change"] > 1.0 and int8["ci_low"] > 0.05  # several times the work
    assert int8["gate"].startswith("p50 +"), int8["gate"]  # the latency check's failure


@pytest.mark.slow
def test_an_image_folder_trains_and_evaluates_a_users_classifier(project: Path) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for name, channel in (("blue", 2), ("red", 0)):
        folder = project / "images" / name
        folder.mkdir(parents=True)
        for index in range(30):
            pixels = rng.integers(0, 60, (12, 12, 3)).astype(np.uint8)
            pixels[..., channel] = rng.integers(180, 255, (12, 12))
            Image.fromarray(pixels).save(folder / f"{index}.png")
    write_config(project, '''
        [models.colours]
        build = "nets.py:colours"
        trained = false
        image_dir = "images"
        eval_fraction = 0.3
        [models.colours.training]
        float_epochs = 30
        batch_size = 8
        learning_rate = 0.01
    ''')
    result = qatbench("run", "--config", "qatbench.toml", "--out", "results",
                      "--variants", "float32,ptq_int8", *QUICK, cwd=project)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    frame = results(project / "results").set_index("variant")
    # 30% of 60 images, both classes
    assert (frame["eval_samples"] == 18).fillna(False).all()
    # red vs blue is trivially separable: a trained model is far above chance (50%)
    assert frame.loc["float32", "accuracy_top1_ci_low"] > 0.6, frame["accuracy_top1"]


PLUGIN = '''
from qatbench.models.zoo import BuiltModel, ModelSpec


def _build():
    import tf_keras as keras
    inputs = keras.Input((6,), name="x")
    return BuiltModel(keras.Model(inputs, keras.layers.Dense(3)(inputs)), "random")


def zoo():
    return [ModelSpec("lab_net", "a lab's own model", (6,), 3, _build)]
'''


@pytest.mark.slow
def test_a_plugin_zoo_model_is_built_and_timed_like_a_zoo_model(tmp_path: Path) -> None:
    plugins = tmp_path / "site"
    plugins.mkdir()
    (plugins / "lab_zoo.py").write_text(PLUGIN)
    info = plugins / "lab_zoo-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: lab-zoo\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[qatbench.models]\nlab = lab_zoo:zoo\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(plugins), str(REPO), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-m", "qatbench", "run", "--models", "lab_net",
                             "--variants", "float32,ptq_int8", "--out", "results", *QUICK],
                            cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    frame = results(tmp_path / "results")
    assert sorted(frame["variant"]) == ["float32", "ptq_int8"]
    assert (frame["status"] == "ok").all()
    assert set(frame["model"]) == {"lab_net"}
    # the plug-in's own network was built: a 6 -> 3 dense layer, float32 and int8
    from qatbench.targets.tflite_file import inspect_tflite

    built = run_dir(tmp_path / "results") / "artifacts" / "lab_net"
    for variant in ("float32", "ptq_int8"):
        info = inspect_tflite(built / f"{variant}.tflite")
        shapes = [tuple(t.shape) for t in info.inputs], [tuple(t.shape) for t in info.outputs]
        assert shapes == ([(1, 6)], [(1, 3)]), (variant, shapes)
        assert "FULLY_CONNECTED" in info.op_counts, info.op_counts


BAD_INPUTS = {
    "missing file": ('keras = "nowhere.h5"', "models.bad.keras", "does not exist"),
    "not a Keras model": ('keras = "notes.h5"', "models.bad.keras", "not a Keras model"),
    "tflite without float32": ('tflite = { qat_int8 = "digits.npz" }', "models.bad.tflite",
                               "float32"),
    "exception in the builder": ('build = "nets.py:broken"', "models.bad.build",
                                 "the user's own bug"),
    "import error in the module": ('build = "unimportable.py:net"', "models.bad.build",
                                   "No module named 'a_package_nobody_has'"),
    "Keras 3 layer without counterpart": ('keras = "rms.keras"', "models.bad.keras",
                                          "rms (RMSNormalization)"),
    "input shape vs data": ('build = "nets.py:two_heads"\ndata = "wide.npz"', "models.bad.data",
                            "the model expects (8, 8, 1)"),
    "labels outside the classes": ('build = "nets.py:digits_net"\ndata = "eleven.npz"',
                                   "models.bad.data", "10 classes"),
    "NaN in data": ('build = "nets.py:digits_net"\ndata = "nan.npz"', "models.bad.data",
                    "NaN"),
    "float labels": ('build = "nets.py:digits_net"\ndata = "halves.npz"', "models.bad.data",
                     "neither class indices"),
    "one class": ('build = "nets.py:digits_net"\ndata = "single.npz"', "models.bad.data",
                  "one class only"),
    "unknown training key": ('build = "nets.py:digits_net"\n[models.bad.training]\nepochs = 3',
                             "models.bad.training.epochs", "unknown key"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_exits_2_naming_its_key_before_anything_trains(project: Path,
                                                                 case: str) -> None:
    table, key, words = BAD_INPUTS[case]
    (project / "notes.h5").write_text("not a model")
    (project / "unimportable.py").write_text("import a_package_nobody_has\n")
    if case == "Keras 3 layer without counterpart":
        import keras

        inputs = keras.Input((4,))
        outputs = keras.layers.RMSNormalization(name="rms")(keras.layers.Dense(4)(inputs))
        keras.Model(inputs, outputs).save(project / "rms.keras")
    x = np.random.default_rng(0).uniform(0, 1, (40, 8, 8, 1)).astype(np.float32)
    y = np.arange(40) % 10
    np.savez(project / "wide.npz", x=np.zeros((40, 9, 9, 1), np.float32), y=y)
    np.savez(project / "eleven.npz", x=x, y=np.where(y == 3, 11, y))
    np.savez(project / "halves.npz", x=x, y=y + 0.5)  # 0.5 ... 9.5: not classes
    np.savez(project / "single.npz", x=x, y=np.full(40, 7))
    bad = x.copy()
    bad[5, 2, 2, 0] = np.nan
    np.savez(project / "nan.npz", x=bad, y=y)
    write_config(project, f"[models.bad]\n{table}\n")
    result = qatbench("run", "--config", "qatbench.toml", "--out", "results", *QUICK,
                      cwd=project, timeout=240)
    assert result.returncode == 2, result.stdout + result.stderr
    assert key in result.stderr
    assert words in result.stderr
    assert "Traceback" not in result.stderr
    assert not (project / "results").exists()  # refused before a run directory exists
