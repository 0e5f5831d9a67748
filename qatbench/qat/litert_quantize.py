"""Variants made by Google's LiteRT Quantizer (``litert-quantizer``) from a float32 ``.tflite``.

No Keras model is involved: each variant is the float32 file with a recipe applied, so it
can be made for any float file, and its outputs are compared with that file's.

- ``dynamic_int8``: int8 weights (per channel), activations left float and quantized at run
  time by the kernels (XNNPACK's qd8 ones); recipe ``dynamic_wi8_afp32`` on every op type
  it covers but DEPTHWISE_CONV_2D (``DYNAMIC_OPS``: XNNPACK runs no such depthwise one).
- ``int8_weights``: int8 weights dequantized to float before a float op (smaller file,
  float compute); recipe ``weight_only_wi8_afp32``.
- ``int4_weights``: int4 FULLY_CONNECTED weights with activations quantized at run time:
  blockwise (blocks of 32 along the input) where the input width is a multiple of 32, else
  per channel; every other weight as ``dynamic_int8`` (XNNPACK runs no int4 convolution:
  an int4 CONV_2D falls back to TFLite's kernels, and the quantizer's policy allows int4
  on no depthwise convolution).
- ``fp16``: float16 weights dequantized to float (the quantizer's ``float_casting``).

The recipe applied (the quantizer's JSON) is written beside the file as
``<variant>_recipe.json``; the build names it in the variant's note.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qatbench.qat.errors import QatModelError

PACKAGE = "litert-quantizer"
INSTALL = "pip install 'qatbench[qat]' (or pip install litert-quantizer)"
INT4_BLOCK = 32  # the blockwise granularity of int4 FULLY_CONNECTED weights
# The op types dynamic_wi8_afp32 quantizes, less DEPTHWISE_CONV_2D: XNNPACK runs no
# dynamic-range depthwise convolution, so each one would leave the delegate (MobileNetV2
# here: 17 depthwise convolutions outside XNNPACK, 18 partitions, p50 18.0 ms against
# 9.5 ms for its int8_weights file, 2026-12-03, 2-core AMD EPYC); they stay float
DYNAMIC_OPS = ("FULLY_CONNECTED", "CONV_2D", "CONV_2D_TRANSPOSE", "BATCH_MATMUL",
               "EMBEDDING_LOOKUP")
QUANTIZER_VARIANTS = ("dynamic_int8", "int8_weights", "int4_weights", "fp16")


class QuantizerMissing(QatModelError):
    """litert-quantizer is not installed: the variant's row fails with the fix."""


@dataclass(frozen=True)
class QuantizedFile:
    flatbuffer: bytes
    recipe: list[dict[str, Any]]  # the quantizer's JSON recipe, as applied
    recipe_name: str  # the recipe's name in the quantizer's terms
    version: str  # litert-quantizer's version
    details: list[str] = field(default_factory=list)  # e.g. which ops got blockwise int4

    def describe(self) -> str:
        detail = f"; {'; '.join(self.details)}" if self.details else ""
        return f"{PACKAGE} {self.version}, recipe {self.recipe_name}{detail}"


def quantizer_version() -> str | None:
    from importlib import metadata

    try:
        return metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        return None


def _modules(variant: str) -> tuple[Any, Any, Any, Any]:
    try:
        from litert_quantizer import qtyping, quantizer, recipe, recipe_manager
    except ImportError as error:
        raise QuantizerMissing(f"{variant} is built by Google's LiteRT Quantizer, which is "
                               f"not installed ({error}): {INSTALL}") from None
    return quantizer, recipe, recipe_manager, qtyping


def _fc_weights(float_file: bytes, qtyping: Any) -> list[tuple[str, int]]:
    """(op scope, input width) of every FULLY_CONNECTED with constant weights."""
    from litert_quantizer.utils import tfl_flatbuffer_utils as fb

    model = fb.read_model(float_file)
    codes = model.operatorCodes
    found = []
    for subgraph in model.subgraphs:
        for op in subgraph.operators:
            name = fb.TFL_OP_CODE_TO_NAME.get(codes[op.opcodeIndex].builtinCode)
            if name != qtyping.TFLOperationName.FULLY_CONNECTED or len(op.inputs) < 2:
                continue
            weights = subgraph.tensors[op.inputs[1]]
            if weights.shape is None or len(weights.shape) < 2:
                continue
            found.append((fb.get_op_scope(op, subgraph.tensors), int(weights.shape[-1])))
    return found


def _dynamic_int8(manager: Any, qtyping: Any) -> None:
    for op in DYNAMIC_OPS:
        manager.add_dynamic_config(regex=".*", operation_name=qtyping.TFLOperationName[op],
                                   num_bits=8)


def _int4_recipe(manager: Any, qtyping: Any, float_file: bytes) -> tuple[list[dict], list[str]]:
    ops, granularity = qtyping.TFLOperationName, qtyping.QuantGranularity
    # dynamic_int8 under it: XNNPACK leaves an int4 CONV_2D to TFLite's own kernels
    # (mnist_cnn here: both convolutions outside the delegate, p50 82 us against 40 us
    # with them int8)
    _dynamic_int8(manager, qtyping)
    manager.add_dynamic_config(regex=".*", operation_name=ops.FULLY_CONNECTED, num_bits=4)
    layers = _fc_weights(float_file, qtyping)
    blocked = [scope for scope, width in layers if width % INT4_BLOCK == 0]
    for scope in blocked:  # the latest matching config wins: these override the line above
        manager.add_dynamic_config(regex=f"^{re.escape(scope)}$",
                                   operation_name=ops.FULLY_CONNECTED, num_bits=4,
                                   granularity=granularity.BLOCKWISE_32)
    return manager.get_quantization_recipe(), [
        f"int4 FULLY_CONNECTED weights, blockwise ({INT4_BLOCK}) on {len(blocked)} of "
        f"{len(layers)} (per channel where the input width is not a multiple of "
        f"{INT4_BLOCK}); the other weights int8 as dynamic_int8"]


def recipe_for(variant: str, float_file: bytes) -> tuple[str, list[dict], list[str]]:
    """(recipe name, the quantizer's JSON recipe, notes) for one variant of this file."""
    _, recipe, recipe_manager, qtyping = _modules(variant)
    if variant == "int8_weights":
        return "weight_only_wi8_afp32", recipe.weight_only_wi8_afp32(), []
    manager = recipe_manager.RecipeManager()
    if variant == "dynamic_int8":
        _dynamic_int8(manager, qtyping)
        return "dynamic_wi8_afp32 less DEPTHWISE_CONV_2D", manager.get_quantization_recipe(), [
            "depthwise convolutions float (XNNPACK runs none with dynamic range)"]
    if variant == "int4_weights":
        found, notes = _int4_recipe(manager, qtyping, float_file)
        return "dynamic_wi4_afp32 on FULLY_CONNECTED, dynamic_wi8_afp32 elsewhere", found, notes
    if variant == "fp16":
        from litert_quantizer.algorithm_manager import AlgorithmName

        manager.add_weight_only_config(
            regex=".*", operation_name=qtyping.TFLOperationName.ALL_SUPPORTED, num_bits=16,
            algorithm_key=AlgorithmName.FLOAT_CASTING)
        return "weight_only float_casting fp16", manager.get_quantization_recipe(), []
    raise ValueError(f"{variant} is not a LiteRT Quantizer variant "
                     f"({', '.join(QUANTIZER_VARIANTS)})")


def quantize_file(float_path: Path, variant: str) -> QuantizedFile:
    """``variant`` of the float32 ``.tflite`` at ``float_path`` (nothing written)."""
    quantizer = _modules(variant)[0]
    content = float_path.read_bytes()
    name, recipe, notes = recipe_for(variant, content)
    quantized = quantizer.Quantizer(bytearray(content), recipe).quantize(
        enable_progress_report=False)
    if quantized.quantized_model is None:
        raise QatModelError(f"{PACKAGE} returned no model for {variant}")
    return QuantizedFile(bytes(quantized.quantized_model), json.loads(json.dumps(recipe)),
                         name, quantizer_version() or "?", notes)
