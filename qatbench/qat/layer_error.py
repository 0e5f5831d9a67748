"""Per-layer quantization error: where an int8 model departs from its float model.

What users reach for when int8 top-1 drops. For ``ptq_int8`` TFLite's own
``QuantizationDebugger`` compares each quantized op with its float counterpart on the
same inputs. For ``qat_int8`` the int8 model's intermediate tensors (kept with
``experimental_preserve_all_tensors``) are dequantized and compared, layer by layer
(matched by name), with two references, written as two tables:

- ``vs_qat_keras``: the fake-quant QAT Keras model -- what *conversion* changed. The two
  should agree to about rounding noise; a layer far above it is a conversion problem.
- ``vs_float``: the float Keras model before QAT -- what quantization *and* fine-tuning
  changed together (fine-tuning moves weights, so this is not quantization error alone).

Every table reports ``rmse_over_scale``: the RMS error in quantization steps of that
tensor (≈0.29 is pure rounding noise).
"""

from __future__ import annotations

import io
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from qatbench.qat import eager
from qatbench.qat.export import full_integer_converter, input_dtypes, representative_inputs

METHOD_VS_FLOAT = "int8 vs float model layer outputs"
METHOD_VS_QAT_KERAS = "int8 vs QAT Keras model layer outputs"

COLUMNS = ["layer", "op", "tensor", "rmse", "rel_rmse", "max_abs_error", "scale",
           "rmse_over_scale", "method"]


def ptq_layer_errors(model: Any, calibration: np.ndarray, samples: np.ndarray) -> pd.DataFrame:
    """TFLite's QuantizationDebugger on the full-integer post-training conversion."""
    import tensorflow as tf

    converter = full_integer_converter(model, calibration, integer_io=False)
    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=converter, debug_dataset=lambda: representative_inputs(
            samples, model.input_names, input_dtypes(model)))
    debugger.run()
    buffer = io.StringIO()
    debugger.layer_statistics_dump(buffer)
    stats = pd.read_csv(io.StringIO(buffer.getvalue()))
    rmse = np.sqrt(stats["mean_squared_error"].astype(float))
    frame = pd.DataFrame({
        "layer": stats["tensor_name"].map(_layer_from_tensor),
        "op": stats["op_name"], "tensor": stats["tensor_name"], "rmse": rmse,
        "rel_rmse": np.nan,  # the debugger's stddev is the error's, not the output's
        "max_abs_error": stats["max_abs_error"], "scale": stats["scale"],
        "rmse_over_scale": rmse / stats["scale"].replace(0, np.nan),
        "method": "QuantizationDebugger"})
    return _ordered(frame)


def _layer_from_tensor(name: str) -> str:
    """``model/block_1_conv/Conv2D;...`` -> ``block_1_conv`` (best effort, for reading)."""
    first = str(name).split(";")[0]
    if first.startswith("StatefulPartitionedCall"):
        return "(model output)"
    parts = [p for p in first.split("/") if p]
    return parts[1] if len(parts) > 2 else parts[-1] if parts else str(name)


def _match_layer(tensor_name: str, layer_names: list[str]) -> str | None:
    """The Keras layer a TFLite tensor belongs to: longest name found as a path segment."""
    best = None
    for part in str(tensor_name).split(";"):
        segments = set(re.split(r"/", part))
        for name in layer_names:
            if (name in segments or f"quant_{name}" in segments) and \
                    (best is None or len(name) > len(best)):
                best = name
    return best


def _plain_name(name: str) -> str:
    """``quant_conv1`` (tfmot's wrapper) -> ``conv1``, so both tables name layers alike."""
    return name[len("quant_"):] if name.startswith("quant_") else name


def qat_layer_errors(reference_model: Any, int8_path: Path, samples: np.ndarray,
                     method: str = METHOD_VS_FLOAT) -> pd.DataFrame:
    """The int8 model's layer outputs, dequantized, against ``reference_model``'s.

    ``reference_model``: the float model (``METHOD_VS_FLOAT``) or the QAT Keras model the
    int8 file was converted from (``METHOD_VS_QAT_KERAS``).
    """
    float_model = reference_model
    from qatbench.targets.inputs import quantize_for_input
    from qatbench.targets.runtime import resolve_runtime

    module = resolve_runtime().module
    interpreter = module.Interpreter(
        model_path=str(int8_path), experimental_preserve_all_tensors=True,
        experimental_op_resolver_type=module.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interpreter.allocate_tensors()
    layer_names = [layer.name for layer in float_model.layers]
    details = {t["index"]: t for t in interpreter.get_tensor_details()}
    # the last op writing a layer's tensor gives that layer's output (fused ops included)
    last_output: dict[str, int] = {}
    ops: dict[str, str] = {}
    # the model's outputs carry the signature's name, not the layer's: map them by position
    output_layers = {detail["index"]: output._keras_history.layer.name
                     for detail, output in zip(interpreter.get_output_details(),
                                               float_model.outputs, strict=False)}
    for op in interpreter._get_ops_details():
        for index in op["outputs"]:
            tensor = details.get(index)
            if tensor is None or tensor["dtype"] not in (np.int8, np.uint8):
                continue
            layer = output_layers.get(index) or _match_layer(tensor["name"], layer_names)
            if layer is not None:
                last_output[layer] = index
                ops[layer] = op["op_name"]
    if not last_output:
        return pd.DataFrame(columns=COLUMNS)
    import tf_keras

    matched = [name for name in layer_names if name in last_output]
    probe = tf_keras.Model(float_model.inputs,
                           [float_model.get_layer(name).output for name in matched])
    reference = eager.predict(probe, samples.astype(np.float32), batch_size=16)
    if len(matched) == 1:
        reference = [reference]
    input_detail = interpreter.get_input_details()[0]
    errors: dict[str, list[np.ndarray]] = {name: [] for name in matched}
    for i, sample in enumerate(samples):
        interpreter.set_tensor(input_detail["index"],
                               quantize_for_input(sample[np.newaxis], input_detail))
        interpreter.invoke()
        for name, expected in zip(matched, reference, strict=True):
            tensor = details[last_output[name]]
            scale, zero_point = tensor["quantization"]
            value = (interpreter.get_tensor(tensor["index"]).astype(np.float32) - zero_point) \
                * scale
            want = expected[i:i + 1]
            if value.shape != want.shape:
                continue
            errors[name].append((value - want, want))
    return error_table({_plain_name(name): errors[name] for name in matched},
                       {_plain_name(name): details[last_output[name]] for name in matched},
                       {_plain_name(name): ops[name] for name in matched}, method)


def error_table(errors: dict[str, list[tuple[np.ndarray, np.ndarray]]],
                tensors: dict[str, dict[str, Any]], ops: dict[str, str], method: str
                ) -> pd.DataFrame:
    """The per-layer table from each layer's (int8 minus reference, reference) pairs and
    the int8 tensor it was read from, worst first (rmse in quantization steps). Keras and
    PyTorch sources fill it the same way, so their tables read alike."""
    rows = []
    for name, pairs in errors.items():
        if not pairs:
            continue
        diff = np.concatenate([d.reshape(-1) for d, _ in pairs])
        want = np.concatenate([w.reshape(-1) for _, w in pairs])
        tensor = tensors[name]
        scale = float(tensor["quantization"][0])
        rmse = float(np.sqrt(np.mean(diff ** 2)))
        spread = float(np.std(want))
        rows.append({"layer": name, "op": ops[name], "tensor": tensor["name"],
                     "rmse": rmse,
                     "rel_rmse": rmse / spread if spread > 0 else math.nan,
                     "max_abs_error": float(np.max(np.abs(diff))), "scale": scale,
                     "rmse_over_scale": rmse / scale if scale > 0 else math.nan,
                     "method": method})
    return _ordered(pd.DataFrame(rows, columns=COLUMNS))


def worst_layers(frame: pd.DataFrame, count: int = 5) -> list[dict[str, Any]]:
    """The layers with the largest error (rmse in quantization steps), JSON-ready."""
    keep = ["layer", "op", "rmse_over_scale", "rel_rmse", "method"]
    top = frame[keep].head(count).astype(object)
    return [{k: (None if pd.isna(v) else v) for k, v in row.items()}
            for row in top.to_dict("records")]


def _ordered(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[COLUMNS].sort_values("rmse_over_scale", ascending=False,
                                      na_position="last").reset_index(drop=True)
