"""qat_selective and mixed_int8 for a float32 .tflite tfmot never saw: a tflite source's
``quantize = [...]`` makes them with the LiteRT Quantizer, scoped by op-name regexes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# no CI exemption: CI installs the qat extra, so a TensorFlow or LiteRT Quantizer that
# fails to import there is a failure (the skip guard fails it), not a silent skip
pytest.importorskip("tensorflow", reason="the qat extra is not installed (a timing-only "
                                         "host has no TensorFlow)")
pytest.importorskip("litert_quantizer", reason="the qat extra (litert-quantizer) is not "
                                               "installed")

from qatbench.models.sources import ModelSource
from qatbench.qat.artifacts import ModelBuild
from qatbench.qat.budget import TrainingBudget
from qatbench.qat.foreign import collect_files
from qatbench.targets.host.cpu import cpu_xnnpack
from qatbench.targets.tflite_file import inspect_tflite
from qatbench.targets.worker import _evaluate


@pytest.fixture(scope="module")
def float_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two convolutions, a pool and a dense layer: a float32 file with no Keras behind it."""
    import tensorflow as tf
    import tf_keras as keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.layers.Input((8, 8, 1)),
        keras.layers.Conv2D(8, 3, activation="relu", name="conv_a"),
        keras.layers.Conv2D(8, 3, activation="relu", name="conv_b"),
        keras.layers.AveragePooling2D(name="pool"),
        keras.layers.Flatten(),
        keras.layers.Dense(10, name="dense"),
    ])
    path = tmp_path_factory.mktemp("float") / "tiny.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    return path


def _made(float_file: Path, out: Path, quantize: list[str], **training: object) -> ModelBuild:
    source = ModelSource(tflite={"float32": str(float_file)}, quantize=quantize,
                         training=training)
    budget = TrainingBudget(representative_samples=16, **training)  # as budget_for merges
    return collect_files("tiny", source, ["float32", *quantize], out, budget)


def test_qat_selective_makes_only_the_matched_ops_int8(float_file: Path,
                                                        tmp_path: Path) -> None:
    build = _made(float_file, tmp_path, ["qat_selective"], qat_layers=("conv_a",))
    artifact = build.variants["qat_selective"]
    assert artifact.ok, artifact.error
    info = inspect_tflite(Path(artifact.path))  # the product's own reader
    assert info.op_counts["CONV_2D"] == 2
    assert info.float_ops.count("CONV_2D") == 1  # conv_a int8, conv_b float
    assert {"AVERAGE_POOL_2D", "FULLY_CONNECTED"} <= set(info.float_ops)
    assert info.op_counts.get("QUANTIZE") and info.op_counts.get("DEQUANTIZE")
    # the recipe is in the manifest: one exact op scope, static int8
    recorded = ModelBuild.load(tmp_path).variants["qat_selective"]
    (entry,) = recorded.quantizer_recipe
    assert entry["operation"] == "CONV_2D" and "conv_a" in entry["regex"]
    assert entry["regex"].startswith("^") and entry["regex"].endswith("$")
    assert entry["op_config"]["activation_tensor_config"]["num_bits"] == 8
    assert "litert-quantizer" in recorded.note and "not tfmot" in recorded.note
    assert (tmp_path / "qat_selective_recipe.json").exists()


def test_a_pattern_matching_both_convolutions_makes_both_int8(float_file: Path,
                                                              tmp_path: Path) -> None:
    build = _made(float_file, tmp_path, ["qat_selective"], qat_layers=("conv_*",))
    info = inspect_tflite(Path(build.variants["qat_selective"].path))
    assert "CONV_2D" not in info.float_ops
    assert "FULLY_CONNECTED" in info.float_ops
    assert len(build.variants["qat_selective"].quantizer_recipe) == 2


def test_mixed_int8_keeps_only_the_named_op_types_float_and_is_compared_with_float(
        float_file: Path, tmp_path: Path) -> None:
    build = _made(float_file, tmp_path, ["mixed_int8"], keep_float_ops=("AVERAGE_POOL_2D",))
    artifact = build.variants["mixed_int8"]
    assert artifact.ok, artifact.error
    info = inspect_tflite(Path(artifact.path))
    assert set(info.float_ops) == {"AVERAGE_POOL_2D"}
    assert info.op_counts["CONV_2D"] == 2 and info.op_counts["FULLY_CONNECTED"] == 1
    assert artifact.keep_float_ops == ["AVERAGE_POOL_2D"]
    assert artifact.float_ops_in_file == ["AVERAGE_POOL_2D"]
    kept = [e for e in artifact.quantizer_recipe if e["algorithm_key"] == "no_quantize"]
    assert [e["operation"] for e in kept] == ["AVERAGE_POOL_2D"]
    target = cpu_xnnpack()  # timed and compared with the float32 file like any row
    prepared = target.prepare(Path(artifact.path), tmp_path / "job")
    outcome = _evaluate(target, prepared, build.eval_path, 60.0)
    assert outcome.output_snr_db is not None and outcome.output_snr_db > 10.0, outcome.note


def test_mixed_int8_keeps_exactly_the_ops_a_name_pattern_matches_and_float_io(
        float_file: Path, tmp_path: Path) -> None:
    """What ``qatbench tune`` writes: one op by its full name, and the file's inputs and
    outputs float (the quantizer's INPUT / OUTPUT), as ptq_int8's are."""
    from qatbench.qat.litert_quantize import file_ops

    (conv_a,) = [op for op in file_ops(float_file.read_bytes()) if "conv_a" in op.scope]
    build = _made(float_file, tmp_path, ["mixed_int8"],
                  keep_float_ops=("INPUT", "OUTPUT", conv_a.scope))
    artifact = build.variants["mixed_int8"]
    assert artifact.ok, artifact.error
    info = inspect_tflite(Path(artifact.path))
    assert info.float_ops.count("CONV_2D") == 1  # conv_a float, conv_b int8
    assert "AVERAGE_POOL_2D" not in info.float_ops
    assert "FULLY_CONNECTED" not in info.float_ops
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(artifact.path))
    assert interpreter.get_input_details()[0]["dtype"].__name__ == "float32"
    assert interpreter.get_output_details()[0]["dtype"].__name__ == "float32"
    kept = [e for e in artifact.quantizer_recipe if e["algorithm_key"] == "no_quantize"]
    assert sorted(e["operation"] for e in kept) == ["CONV_2D", "INPUT", "OUTPUT"]


def test_a_pattern_that_matches_no_op_fails_the_variant_naming_the_file_s_ops(
        float_file: Path, tmp_path: Path) -> None:
    build = _made(float_file, tmp_path, ["qat_selective"], qat_layers=("dense_9*",))
    failed = build.variants["qat_selective"]
    assert not failed.ok and "NoOpMatched" in failed.error
    assert "'dense_9*' matches no op" in failed.error and "CONV_2D" in failed.error
    assert build.variants["float32"].ok  # one variant's failure is its own row


def test_quantize_is_for_file_sources_and_names_what_the_quantizer_makes(
        float_file: Path) -> None:
    from pydantic import ValidationError

    files = {"float32": str(float_file)}
    cases = [
        ({"keras": "m.h5", "quantize": ["fp16"]}, "quantize applies to tflite"),
        ({"tflite": files, "quantize": ["ptq_int8"]}, "cannot be made from the float32"),
        ({"tflite": files, "quantize": ["qat_selective"]}, "needs [models.NAME.training] "
                                                           "qat_layers"),
        ({"tflite": files, "training": {"float_epochs": 2}}, "float_epochs does not apply"),
        ({"tflite": {**files, "fp16": "f.tflite"}, "quantize": ["fp16"]}, "keep one"),
    ]
    for fields, words in cases:
        with pytest.raises(ValidationError) as error:
            ModelSource(**fields)
        assert words in str(error.value), fields


def test_the_run_has_rows_for_the_files_and_what_quantize_makes(float_file: Path) -> None:
    from qatbench.bench.orchestration.config import build_config

    config = build_config({"run": {"models": ["tiny"], "variants": ["float32", "qat_int8"]},
                           "models": {"tiny": {"tflite": {"float32": str(float_file)},
                                               "quantize": ["qat_selective", "fp16"],
                                               "training": {"qat_layers": ["conv_a"]}}}})
    assert config.variants_for("tiny") == ["float32", "qat_selective", "fp16"]
    assert config.budget_for("tiny").qat_layers == ("conv_a",)


@pytest.mark.parametrize(("training", "key", "words"), [
    ('qat_layers = ["dense_9*"]', "models.tiny.training.qat_layers",
     "'dense_9*' matches no op of the float32 file"),
    ('keep_float_ops = ["SOFTMAX"]', "models.tiny.training.keep_float_ops",
     "'SOFTMAX' is no op type of the float32 file"),
])
def test_a_selection_naming_no_op_exits_2_before_a_run_directory_exists(
        float_file: Path, tmp_path: Path, training: str, key: str, words: str) -> None:
    variant = "qat_selective" if "qat_layers" in training else "mixed_int8"
    (tmp_path / "qatbench.toml").write_text(textwrap.dedent(f"""
        [run]
        targets = ["cpu-ref"]

        [models.tiny]
        tflite = {{ float32 = "{float_file}" }}
        quantize = ["{variant}"]

        [models.tiny.training]
        {training}
    """))
    result = subprocess.run([sys.executable, "-m", "qatbench", "run", "--config",
                             "qatbench.toml", "--out", "results"], capture_output=True,
                            text=True, cwd=tmp_path, timeout=240)
    assert result.returncode == 2, result.stdout + result.stderr
    assert key in result.stderr and words in result.stderr
    assert "CONV_2D" in result.stderr  # what the file has, to fix the pattern with
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "results").exists()
