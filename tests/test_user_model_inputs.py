"""Inputs that are not one float image: token ids into an Embedding, dict inputs of a
Keras 3 model -- each through `qatbench run` as a user runs it, with the expected
figures computed by TensorFlow itself."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tests.test_user_models import QUICK, qatbench, results, write_config

pytest.importorskip("tensorflow")

VOCAB, LENGTH = 50, 16


def token_data(rng: np.random.Generator, samples: int) -> tuple[np.ndarray, np.ndarray]:
    """Token ids and whether more than half the tokens come from the lower half of the
    vocabulary: a rule an Embedding + Conv1D learns in a few epochs."""
    x = rng.integers(0, VOCAB, (samples, LENGTH)).astype(np.int32)
    return x, (np.sum(x < VOCAB // 2, axis=1) > LENGTH // 2).astype(np.int64)


def tflite_top1(content: bytes, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 of a .tflite on TensorFlow's own interpreter, on the builtin kernels the
    ``cpu-ref`` target runs (no XNNPACK, whose int8 rounding may differ)."""
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(
        model_content=content, experimental_op_resolver_type=tf.lite.experimental
        .OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interpreter.allocate_tensors()
    (source,), (sink,) = interpreter.get_input_details(), interpreter.get_output_details()
    hits = 0
    for sample, label in zip(x, y, strict=True):
        interpreter.set_tensor(source["index"], sample[np.newaxis].astype(source["dtype"]))
        interpreter.invoke()
        hits += int(np.argmax(interpreter.get_tensor(sink["index"])[0]) == label)
    return hits / len(y)


@pytest.mark.slow
def test_a_token_model_gets_float_and_ptq_rows_that_match_tensorflows_converter(
        tmp_path: Path) -> None:
    """int32 token ids: timing draws ids inside the vocabulary, calibration and
    evaluation pass them as integers, and the PTQ file keeps its int32 input. The rows'
    top-1 equals what TensorFlow's converter and interpreter give on the same eval
    split, for a float file and a full-integer file the test converts itself
    (calibrated on the same 50 training samples `--quick` calibrates on)."""
    import tensorflow as tf
    import tf_keras as keras

    rng = np.random.default_rng(0)
    x_train, y_train = token_data(rng, 600)
    x_eval, y_eval = token_data(rng, 200)
    keras.utils.set_random_seed(0)
    inputs = keras.Input((LENGTH,), dtype="int32", name="tokens")
    x = keras.layers.Embedding(VOCAB, 8)(inputs)
    x = keras.layers.Conv1D(8, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling1D()(x)
    model = keras.Model(inputs, keras.layers.Dense(2)(x), name="tokens")
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x_train, y_train, epochs=30, batch_size=32, verbose=0)
    model.save(tmp_path / "tokens.h5")
    np.savez(tmp_path / "tokens.npz", x_train=x_train, y_train=y_train, x_eval=x_eval,
             y_eval=y_eval)

    float_file = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([x_train[i:i + 1]] for i in range(50))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8  # float inputs only: int32 ids stay int32
    converter.inference_output_type = tf.int8
    int8_file = converter.convert()
    expected = {"float32": tflite_top1(float_file, x_eval, y_eval),
                "ptq_int8": tflite_top1(int8_file, x_eval, y_eval)}
    assert expected["float32"] > 0.75, expected  # premise: the model learnt the rule

    write_config(tmp_path, '''
        [models.tokens]
        keras = "tokens.h5"
        data = "tokens.npz"
    ''')
    result = qatbench("run", "--config", "qatbench.toml", "--out", "results",
                      "--variants", "float32,ptq_int8", *QUICK, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    frame = results(tmp_path / "results").set_index("variant")
    assert (frame["status"] == "ok").all(), frame["error"].tolist()
    assert (frame["eval_samples"] == 200).all()
    for variant, top1 in expected.items():
        assert frame.loc[variant, "accuracy_top1"] == pytest.approx(top1, abs=1e-9), variant
    (written,) = (tmp_path / "results").rglob("artifacts/tokens/ptq_int8.tflite")
    interpreter = tf.lite.Interpreter(model_path=str(written))
    (source,) = interpreter.get_input_details()
    assert source["dtype"] == np.int32 and source["quantization"] == (0.0, 0)
    assert interpreter.get_output_details()[0]["dtype"] == np.int8


DICT_MODEL = textwrap.dedent('''
    import keras

    image = keras.Input((8, 8, 1), name="image")
    feats = keras.Input((3,), name="feats")
    x = keras.layers.Flatten()(keras.layers.Conv2D(8, 3, activation="relu")(image))
    x = keras.layers.Concatenate()([x, feats])
    model = keras.Model({"image": image, "feats": feats}, keras.layers.Dense(10)(x))
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
''')


@pytest.mark.slow
def test_a_keras3_model_called_with_a_dict_gets_every_row_like_its_list_form(
        tmp_path: Path) -> None:
    """`keras.Model({"image": a, "feats": b}, out)` saved by Keras 3: rebuilt, proved,
    and float, PTQ and QAT rows on data keyed by input name, as the list form gets."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images[..., np.newaxis] / 16.0).astype(np.float32)
    feats = np.random.default_rng(0).uniform(0, 1, (len(x), 3)).astype(np.float32)
    np.savez(tmp_path / "dual.npz", **{"x/image": x, "x/feats": feats, "y": digits.target})
    script = DICT_MODEL + textwrap.dedent('''
        import numpy as np
        data = np.load("dual.npz")
        model.fit({"image": data["x/image"], "feats": data["x/feats"]}, data["y"],
                  epochs=3, verbose=0)
        model.save("dict.keras")
    ''')
    made = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, text=True,
                          capture_output=True, timeout=600,
                          env={**os.environ, "TF_USE_LEGACY_KERAS": "0"})
    assert made.returncode == 0, made.stderr[-2000:]
    write_config(tmp_path, '''
        [models.dict]
        keras = "dict.keras"
        data = "dual.npz"
    ''')
    result = qatbench("run", "--config", "qatbench.toml", "--out", "results",
                      "--variants", "float32,ptq_int8,qat_int8", *QUICK, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    frame = results(tmp_path / "results").set_index("variant")
    assert (frame["status"] == "ok").all(), frame["error"].tolist()
    assert frame["note"].str.contains("rebuilt from Keras 3", na=False).all()
    # three epochs on the digits: far above chance (10%) in every variant
    assert (frame["accuracy_top1_ci_low"] > 0.5).all(), frame["accuracy_top1"].tolist()


REGRESSOR = textwrap.dedent('''
    import tf_keras as keras


    def ink():
        """An untrained regressor: how much ink an 8x8 digit holds."""
        inputs = keras.Input((8, 8, 1), name="image")
        x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
        x = keras.layers.Flatten()(x)
        return keras.Model(inputs, keras.layers.Dense(1, name="ink")(x), name="ink")
''')


@pytest.mark.slow
def test_a_regression_model_gets_mae_and_rmse_against_the_truth_beside_snr(
        tmp_path: Path) -> None:
    """Labels of a regression output are kept: every row gets MAE and RMSE against the
    true values with a bootstrap interval, the console and report show them, and the
    QAT note names the loss that was fitted (mean squared error, not cross-entropy)."""
    import tensorflow as tf
    from scipy.stats import bootstrap
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images[..., np.newaxis] / 16.0).astype(np.float32)
    y = x.mean(axis=(1, 2, 3)).astype(np.float32)
    np.savez(tmp_path / "ink.npz", x_train=x[:1400], y_train=y[:1400], x_eval=x[1400:],
             y_eval=y[1400:])
    (tmp_path / "nets.py").write_text(REGRESSOR)
    write_config(tmp_path, '''
        [models.ink]
        build = "nets.py:ink"
        trained = false
        data = "ink.npz"
        [models.ink.training]
        float_epochs = 8
    ''')
    result = qatbench("run", "--config", "qatbench.toml", "--out", "results",
                      "--variants", "float32,ptq_int8,qat_int8", *QUICK, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    frame = results(tmp_path / "results").set_index("variant")
    assert (frame["status"] == "ok").all(), frame["error"].tolist()
    assert set(frame["truth_output"]) == {"ink"}
    assert (frame["error_samples"] == 397).all()  # the eval split, every input
    # the float row, recomputed from its own file on TensorFlow's interpreter
    (float_file,) = (tmp_path / "results").rglob("artifacts/ink/float32.tflite")
    interpreter = tf.lite.Interpreter(model_path=str(float_file))
    interpreter.allocate_tensors()
    (source,), (sink,) = interpreter.get_input_details(), interpreter.get_output_details()
    predicted = []
    for sample in x[1400:]:
        interpreter.set_tensor(source["index"], sample[np.newaxis])
        interpreter.invoke()
        predicted.append(float(interpreter.get_tensor(sink["index"])[0, 0]))
    error = np.asarray(predicted) - y[1400:]
    assert frame.loc["float32", "mae"] == pytest.approx(np.mean(np.abs(error)), rel=1e-4)
    assert frame.loc["float32", "rmse"] == pytest.approx(np.sqrt(np.mean(error ** 2)),
                                                         rel=1e-4)
    interval = bootstrap((np.abs(error),), np.mean, n_resamples=2000,
                         random_state=np.random.default_rng(1)).confidence_interval
    # an independent bootstrap of the same errors lands on the same interval, within
    # the resampling noise of 2,000 draws
    width = interval.high - interval.low
    assert frame.loc["float32", "mae_ci_low"] == pytest.approx(interval.low, abs=0.15 * width)
    assert frame.loc["float32", "mae_ci_high"] == pytest.approx(interval.high, abs=0.15 * width)
    for variant in frame.index:  # every row: a point inside a real interval
        row = frame.loc[variant]
        assert row["mae_ci_low"] < row["mae"] < row["mae_ci_high"], variant
        assert row["rmse_ci_low"] < row["rmse"] < row["rmse_ci_high"], variant
    # ink is ~0.3 on average: a trained regressor is far better than predicting 0
    assert frame.loc["float32", "mae"] < 0.5 * float(np.mean(np.abs(y[1400:])))
    assert "labels (mean squared error)" in frame.loc["qat_int8", "note"]
    assert "cross-entropy" not in frame.loc["qat_int8", "note"]
    assert "MAE f/PTQ/QAT" in result.stdout and "SNR dB PTQ/QAT" in result.stdout
    report = next((tmp_path / "results").rglob("report.md")).read_text()
    assert "Error against the true values (regression outputs)" in report


@pytest.mark.slow
def test_an_already_sized_image_folder_scores_what_the_npz_of_its_images_scores(
        tmp_path: Path) -> None:
    """8x8 PNGs for an 8x8 model are used as they are (no 256/224 enlargement and
    crop): the folder's rows have the top-1 of the same images from an .npz, exactly,
    and the note says so. A third model fed the same pixels as 0..255 warns on stderr
    and in its rows."""
    import tf_keras as keras
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    pixels = np.round(digits.images * 255 / 16).astype(np.uint8)
    for label in range(10):
        (tmp_path / "digits" / str(label)).mkdir(parents=True)
    for index, (image, label) in enumerate(zip(pixels, digits.target, strict=True)):
        Image.fromarray(image).save(tmp_path / "digits" / str(label) / f"{index:04d}.png")
    # the folder's order (class folders, then file names) and its scaling (x / 255)
    order = sorted(range(len(pixels)), key=lambda i: (digits.target[i], f"{i:04d}"))
    x = pixels[order][..., np.newaxis].astype(np.float32) / 255.0
    y = digits.target[order].astype(np.int64)
    np.savez(tmp_path / "digits.npz", x=x, y=y)
    np.savez(tmp_path / "raw.npz", x=pixels[order][..., np.newaxis], y=y)
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 1), name="image")
    hidden = keras.layers.Flatten()(keras.layers.Conv2D(8, 3, activation="relu")(inputs))
    model = keras.Model(inputs, keras.layers.Dense(10)(hidden))
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, epochs=5, verbose=0)
    model.save(tmp_path / "digits.h5")

    write_config(tmp_path, '''
        [models.arrays]
        keras = "digits.h5"
        data = "digits.npz"
        [models.folder]
        keras = "digits.h5"
        image_dir = "digits"
        [models.pixels]
        keras = "digits.h5"
        data = "raw.npz"
    ''')
    run = qatbench("run", "--config", "qatbench.toml", "--out", "results",
                   "--variants", "float32,ptq_int8", *QUICK, cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    by_npz = results(tmp_path / "results").set_index(["model", "variant"])
    by_folder = by_npz.loc["folder"]
    for variant in ("float32", "ptq_int8"):
        assert by_folder.loc[variant, "eval_samples"] == by_npz.loc[
            ("arrays", variant), "eval_samples"] == 359
        assert by_folder.loc[variant, "accuracy_top1"] == by_npz.loc[
            ("arrays", variant), "accuracy_top1"], variant
    assert by_npz.loc[("arrays", "float32"), "accuracy_top1"] > 0.8  # premise: it learnt
    assert "images used as they are (all 1797 already 8x8)" in by_folder.loc[
        "float32", "note"]
    # 0..255 pixels into a model trained on [0, 1]: said on stderr and in every row
    assert "warning:" in run.stderr and "pixels: data range: input image gets uint8 " \
        "data in 0..255" in " ".join(run.stderr.split())
    assert by_npz.loc[("pixels", "float32"), "note"].count("data range:") == 1
    assert "data range" not in str(by_npz.loc[("arrays", "float32"), "note"])
