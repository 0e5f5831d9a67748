"""Keras -> .tflite in the three variants qatbench compares, with the int8 promise checked.

``float32``: plain conversion. ``ptq_int8``: full-integer post-training quantization
calibrated on the training split. ``qat_int8``: the tfmot-trained model converted
full-integer. Both int8 variants take and return int8 tensors, and are refused the
int8 label if any float compute op is left in them. ``dynamic_int8``, ``int8_weights``,
``int4_weights`` and ``fp16`` are the float32 file quantized by Google's LiteRT Quantizer
(``export_from_float_file``; float in and out, never labelled full-integer).
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from qatbench.atomic import atomic_write_bytes
from qatbench.models.arrays import take
from qatbench.qat.errors import NotFullIntegerError
from qatbench.qat.litert_quantize import Calibration, OpSelection
from qatbench.targets.tflite_file import ModelInfo, inspect_tflite


class Variant(enum.StrEnum):
    FLOAT32 = "float32"
    PTQ_INT8 = "ptq_int8"
    QAT_INT8 = "qat_int8"
    QAT_SELECTIVE = "qat_selective"  # QAT on chosen layers; the rest stays float
    # PTQ int8 with chosen op types denied quantization (kept float): "make it faster"
    MIXED_INT8 = "mixed_int8"
    # Google's LiteRT Quantizer applied to the float32 .tflite (qat/litert_quantize.py)
    DYNAMIC_INT8 = "dynamic_int8"  # int8 weights, activations quantized at run time
    INT8_WEIGHTS = "int8_weights"  # int8 weights dequantized to float (weight-only)
    INT4_WEIGHTS = "int4_weights"  # int4 weights (blockwise where the width allows)
    FP16 = "fp16"  # float16 weights dequantized to float

    @property
    def from_float_file(self) -> bool:
        """Made from the float32 ``.tflite`` (not the Keras model): built after float32."""
        return self in (Variant.DYNAMIC_INT8, Variant.INT8_WEIGHTS, Variant.INT4_WEIGHTS,
                        Variant.FP16)

    @property
    def is_int8(self) -> bool:
        """Labelled full-integer: the promise ``verify_variant`` checks."""
        return self in (Variant.PTQ_INT8, Variant.QAT_INT8)

    @property
    def is_qat(self) -> bool:
        return self in (Variant.QAT_INT8, Variant.QAT_SELECTIVE)


def representative_inputs(samples: Any, names: Sequence[str] = (),
                          dtypes: Sequence[Any] = ()
                          ) -> Iterator[list[np.ndarray] | dict[str, np.ndarray]]:
    """One calibration sample at a time, as the converter wants it: a list for a
    single-input model, a dict keyed by input name for several (the calibrator feeds a
    dict through the signature by name; a list would follow the file's tensor order,
    which is not the Keras model's). Each input in its own dtype (``dtypes``, in
    ``names`` order; float32 where not given): token ids stay integers."""
    from qatbench.models.arrays import count

    kinds = dict(zip(names, dtypes, strict=False))
    single = dtypes[0] if dtypes else np.float32
    for index in range(count(samples)):
        if isinstance(samples, dict):
            yield {name: np.asarray(samples[name][index:index + 1],
                                    dtype=kinds.get(name, np.float32))
                   for name in names}
        else:
            yield [np.asarray(samples[index:index + 1], dtype=single)]


def input_dtypes(model: Any) -> list[Any]:
    """The numpy dtype of each of a Keras model's inputs, in ``input_names`` order."""
    return [np.dtype(tensor.dtype.as_numpy_dtype) for tensor in model.inputs]


def signature_output_names(model: Any) -> list[str]:
    """The output names the file's signature gets: the Keras model's, and for a tfmot QAT
    model the names of the float layers its wrappers hold (``quant_box`` -> ``box``), so a
    QAT file's outputs are found by the same names as its float32 file's."""
    names = []
    for name in model.output_names:
        layer = model.get_layer(name)
        inner = getattr(layer, "layer", None)
        wrapped = inner is not None and "Quantize" in type(layer).__name__
        names.append(inner.name if wrapped else name)
    return names


def keras_converter(model: Any) -> Any:
    """A TFLite converter for a tf_keras model, without ``from_keras_model``'s SavedModel.

    Why: ``TFLiteConverter.from_keras_model`` first saves the model as a *Keras* SavedModel,
    which traces every layer's call functions again, only to convert the one serving
    function. Converting that function, with the model's variables tracked by a plain
    ``tf.Module``, goes through the same SavedModel lowering and MLIR converter: the same
    ops, tensor names, signature, quantization parameters and outputs (compared in
    tests/qat/test_export.py); only the conversion metadata's source type differs. A QAT
    MobileNetV2 at 224x224 converts 4.6x faster (benchmarks/conversion_time.py; README,
    "QAT beyond tfmot's defaults").
    """
    import tensorflow as tf

    specs = [tf.TensorSpec(tensor.shape, tensor.dtype, name=name)  # a fixed batch stays
             for tensor, name in zip(model.inputs, model.input_names, strict=True)]
    names = signature_output_names(model)

    @tf.function
    def serve(*inputs: Any) -> dict[str, Any]:
        outputs = model(inputs[0] if len(inputs) == 1 else list(inputs), training=False)
        outputs = outputs if isinstance(outputs, list | tuple) else [outputs]
        return dict(zip(names, outputs, strict=True))  # Keras's signature keys

    variables = tf.Module()
    variables.tracked = list(model.variables)  # what the saved signature captures
    return tf.lite.TFLiteConverter.from_concrete_functions(
        [serve.get_concrete_function(*specs)], variables)


def full_integer_converter(model: Any, calibration: np.ndarray, integer_io: bool = True
                           ) -> Any:
    """Full-integer post-training conversion; int8 input/output unless ``integer_io=False``
    (TFLite's QuantizationDebugger wants float I/O)."""
    import tensorflow as tf

    converter = keras_converter(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: representative_inputs(
        calibration, model.input_names, input_dtypes(model))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if integer_io:
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    return converter


def mixed_int8_converted(model: Any, calibration: np.ndarray, keep_float_ops: Sequence[str]
                         ) -> bytes:
    """Full-integer PTQ (int8 in and out) except for ``keep_float_ops`` (TFLite op types),
    denied quantization through the converter's QuantizationDebugger options. The
    converter may still quantize an op it propagates scales through; the build records
    which ops really stayed float."""
    import tensorflow as tf

    if not keep_float_ops:
        raise ValueError("mixed_int8 needs op types to keep float")
    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=full_integer_converter(model, calibration, integer_io=False),
        debug_dataset=lambda: representative_inputs(take(calibration, 4), model.input_names,
                                                    input_dtypes(model)),
        debug_options=tf.lite.experimental.QuantizationDebugOptions(
            denylisted_ops=list(keep_float_ops), fully_quantize=True))
    return debugger.get_nondebug_quantized_model()


def convert(model: Any, variant: Variant, calibration: np.ndarray,
            keep_float_ops: Sequence[str] = ()) -> bytes:
    """The .tflite flatbuffer of ``model`` (the QAT-wrapped model for ``qat_int8``)."""
    import tensorflow as tf

    if variant is Variant.MIXED_INT8:
        return mixed_int8_converted(model, calibration, keep_float_ops)
    if variant is Variant.FLOAT32:
        return keras_converter(model).convert()
    if variant is Variant.QAT_SELECTIVE:
        # no representative data: only the layers trained with quantizers become int8, the layers
        # kept float stay float (with QUANTIZE/DEQUANTIZE at the borders)
        converter = keras_converter(model)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        return converter.convert()
    return full_integer_converter(model, calibration).convert()


def integer_io_problems(info: ModelInfo) -> list[str]:
    """Inputs and outputs that break the int8 promise: every tensor quantized integer,
    except index inputs (token ids, integers with no scale), which stay as they are."""
    from qatbench.targets.inputs import is_index_input

    bad = [t for t in info.inputs if not (t.is_quantized_integer or is_index_input(
        {"dtype": t.dtype, "quantization": (t.scale, t.zero_point)}))]
    bad += [t for t in info.outputs if not t.is_quantized_integer]
    return [f"{t.name}={t.dtype}" for t in bad]


def verify_variant(path: Path, variant: Variant) -> ModelInfo:
    """Inspect the written file; an int8 variant with float compute left is an error."""
    info = inspect_tflite(path)
    io_problems = integer_io_problems(info)
    if variant.is_int8 and not (info.is_full_integer and not io_problems):
        reasons = []
        if info.float_ops:
            reasons.append(f"float compute ops left: {', '.join(sorted(set(info.float_ops)))}")
        if io_problems:
            reasons.append(f"inputs/outputs are not all int8: {', '.join(io_problems)}")
        raise NotFullIntegerError(
            f"{path.name} is not a full-integer model ({'; '.join(reasons)}); refusing to "
            f"label it {variant.value}")
    return info


def export_variant(model: Any, variant: Variant, calibration: np.ndarray, path: Path,
                   keep_float_ops: Sequence[str] = ()) -> ModelInfo:
    """Convert, write atomically and verify one variant."""
    flatbuffer = convert(model, variant, calibration, keep_float_ops)
    atomic_write_bytes(path, flatbuffer)
    try:
        return verify_variant(path, variant)
    except NotFullIntegerError:
        path.rename(path.with_suffix(".rejected.tflite"))
        raise


def export_from_float_file(float_path: Path, variant: Variant, path: Path,
                           selection: OpSelection | None = None,
                           calibration: Calibration | None = None
                           ) -> tuple[ModelInfo, str, list[dict]]:
    """A LiteRT Quantizer variant of the float32 file, written atomically with its recipe
    beside it (``<variant>_recipe.json``); returns the file's info, what was applied and
    the recipe. ``qat_selective`` / ``mixed_int8`` (a file tfmot never saw) take the
    ``selection`` and ``calibration`` inputs (``litert_quantize.SCOPED_VARIANTS``)."""
    from qatbench.atomic import atomic_write_json
    from qatbench.qat.litert_quantize import SCOPED_VARIANTS, quantize_file

    if not variant.from_float_file and variant.value not in SCOPED_VARIANTS:
        raise ValueError(f"{variant.value} is not made from the float32 file")
    quantized = quantize_file(float_path, variant.value, selection, calibration)
    atomic_write_bytes(path, quantized.flatbuffer)
    recipe = path.with_name(f"{variant.value}_recipe.json")
    atomic_write_json(recipe, quantized.recipe)
    return verify_variant(path, variant), f"{quantized.describe()}; from {float_path.name}; " \
        f"recipe in {recipe.name}", quantized.recipe
