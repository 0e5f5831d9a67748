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

For a float32 file tfmot never saw (a ``tflite`` source's ``quantize = [...]``), two more,
static int8 (int8 weights and activations, calibrated) on the ops an ``OpSelection``
names, scoped by the recipe's op-name regexes:

- ``qat_selective``: the ops ``qat_layers`` patterns match int8, every other op float;
- ``mixed_int8``: every op int8 but ``keep_float_ops``, which stay float: an op type
  (``AVERAGE_POOL_2D``) keeps every op of that type, any other entry is a pattern of op
  names as ``qat_layers`` takes them and keeps exactly the ops it matches (what
  ``qatbench tune`` writes: one op's full name).

A pattern or op type that names no op of the file is ``NoOpMatched`` (the source check
turns it into exit 2 before anything runs).

The recipe applied (the quantizer's JSON) is written beside the file as
``<variant>_recipe.json`` and kept in the manifest; the build names it in the note.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
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
# the quantizer's names for the model's inputs and outputs: in keep_float_ops they keep
# the file's inputs and outputs float (as ptq_int8's), so a first op kept float reads the
# float input itself rather than one quantized to a scale its outliers set
GRAPH_ENDS = ("INPUT", "OUTPUT")
# static int8 on the ops an OpSelection names: tfmot's variants, for a file it never saw
SCOPED_VARIANTS = ("qat_selective", "mixed_int8")
# calibration data as the quantizer takes it: signature key -> one {input: batch} per sample
Calibration = Mapping[str, Sequence[Mapping[str, Any]]]


class QuantizerMissing(QatModelError):
    """litert-quantizer is not installed: the variant's row fails with the fix."""


class NoOpMatched(QatModelError):
    """A pattern or op type of an ``OpSelection`` names no op of the file."""


@dataclass(frozen=True)
class OpSelection:
    """What ``qat_selective`` and ``mixed_int8`` of a file take from ``[training]``.

    ``int8_ops`` (``qat_layers``): fnmatch patterns; an op is made int8 when one matches
    its type (``CONV_2D``) or a part of its scope -- the names of its output tensors, as
    the quantizer and Model Explorer name ops, split at ``/`` and ``;`` (a Keras layer
    ``conv1`` gives ops such as ``model/conv1/Conv2D``). ``keep_float_ops``: op types,
    or patterns of op names as ``int8_ops`` takes them, left float; every other op int8.
    """

    int8_ops: tuple[str, ...] = ()
    keep_float_ops: tuple[str, ...] = ()


@dataclass(frozen=True)
class FileOp:
    """One operator of a ``.tflite``: its type and its scope (output tensor names)."""

    op_type: str
    scope: str

    def matches(self, pattern: str) -> bool:
        parts = [part for part in re.split(r"[/;]", self.scope) if part]
        return any(fnmatchcase(text, pattern) for text in (self.op_type, self.scope, *parts))


def file_ops(float_file: bytes) -> list[FileOp]:
    """Every operator of the file's subgraphs, in order, named as the quantizer names it."""
    from litert_quantizer import qtyping
    from litert_quantizer.utils import tfl_flatbuffer_utils as fb

    names = {code: name for name, code in vars(qtyping.BuiltinOperator).items()
             if name.isupper()}
    model = fb.read_model(float_file)
    found = []
    for subgraph in model.subgraphs:
        for op in subgraph.operators:
            code = model.operatorCodes[op.opcodeIndex]
            builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
            known = fb.TFL_OP_CODE_TO_NAME.get(builtin)
            op_type = known.value if known is not None else names.get(builtin, str(builtin))
            found.append(FileOp(str(op_type), fb.get_op_scope(op, subgraph.tensors)))
    return found


def _listing(ops: Sequence[FileOp], limit: int = 8) -> str:
    types = Counter(op.op_type for op in ops)
    scopes = ", ".join(op.scope.rstrip(";") for op in ops[:limit])
    more = f", ... ({len(ops)} ops)" if len(ops) > limit else ""
    return (f"op types {', '.join(f'{t}×{n}' for t, n in types.items())}; op names "
            f"{scopes}{more}")


def selection_problems(float_file: bytes, variant: str, selection: OpSelection) -> list[str]:
    """What in ``selection`` names no op of the file, each with what the file has and how
    to fix it; [] when every pattern (``qat_selective``) or op type (``mixed_int8``) does."""
    ops = file_ops(float_file)
    if variant == "qat_selective":
        if not selection.int8_ops:
            return ["qat_selective needs qat_layers: patterns of op names or types to make "
                    "int8 (e.g. \"conv*\", \"CONV_2D\")"]
        missing = [p for p in selection.int8_ops if not any(op.matches(p) for op in ops)]
        return [f"qat_layers pattern {p!r} matches no op of the float32 file (patterns match "
                f"an op's type or a part of its name split at / and ;); the file has "
                f"{_listing(ops)}" for p in missing]
    if variant == "mixed_int8":
        present = {op.op_type for op in ops}
        missing = [t for t in selection.keep_float_ops if t not in present
                   and t not in GRAPH_ENDS and not any(op.matches(t) for op in ops)]
        return [f"keep_float_ops {t!r} is no op type of the float32 file and matches no op "
                f"name; it has {_listing(ops)}" for t in missing]
    return []


def is_op_type(entry: str) -> bool:
    """``AVERAGE_POOL_2D``: an op type; anything else in ``keep_float_ops`` is a pattern
    of op names."""
    return bool(re.fullmatch(r"[A-Z][A-Z0-9_]*", entry))


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


def _static_int8(manager: Any, qtyping: Any, regex: str, op_type: Any) -> None:
    manager.add_static_config(regex=regex, operation_name=op_type, activation_num_bits=8,
                              weight_num_bits=8)


def _selective_recipe(manager: Any, qtyping: Any, ops: list[FileOp],
                      patterns: tuple[str, ...]) -> tuple[str, list[dict], list[str]]:
    """Static int8 on each op a pattern matches, one exact op-scope regex per op."""
    known = {name.value for name in qtyping.TFLOperationName}
    chosen = [op for op in ops if any(op.matches(p) for p in patterns)]
    quantizable = [op for op in chosen if op.op_type in known]
    if not quantizable:
        raise NoOpMatched(f"qat_layers {list(patterns)} match only op types "
                          f"{', '.join(sorted({op.op_type for op in chosen}))}, which "
                          f"{PACKAGE} does not quantize")
    for op in quantizable:
        _static_int8(manager, qtyping, f"^{re.escape(op.scope)}$",
                     qtyping.TFLOperationName(op.op_type))
    types = Counter(op.op_type for op in quantizable)
    left = sorted({op.op_type for op in chosen if op.op_type not in known})
    return "static_wi8_ai8 on the ops qat_layers match", manager.get_quantization_recipe(), [
        f"int8 (static, calibrated): {len(quantizable)} of {len(ops)} ops matched by "
        f"qat_layers {list(patterns)} ({', '.join(f'{t}×{n}' for t, n in types.items())}); "
        "the rest float" + (f" (matched, but not quantized by {PACKAGE}: "
                            f"{', '.join(left)})" if left else "")]


def _mixed_recipe(manager: Any, qtyping: Any, keep_float: tuple[str, ...],
                  ops: Sequence[FileOp] = ()) -> tuple[str, list[dict], list[str]]:
    """Static int8 on every op, then no quantization for the kept types, and for each op
    a name pattern matches (one exact op-scope regex per op; the latest matching config
    wins); a type the quantizer does not know stays float anyway."""
    from litert_quantizer.algorithm_manager import AlgorithmName

    known = {name.value for name in qtyping.TFLOperationName}
    _static_int8(manager, qtyping, ".*", qtyping.TFLOperationName.ALL_SUPPORTED)
    kept_ops = [op for op in ops if any(op.matches(p) for p in keep_float
                                        if not is_op_type(p))]
    for regex, op_type in [(".*", t) for t in keep_float if is_op_type(t)] + [
            (f"^{re.escape(op.scope)}$", op.op_type) for op in kept_ops]:
        if op_type in known:
            manager.add_quantization_config(
                regex, qtyping.TFLOperationName(op_type),
                op_config=qtyping.OpQuantizationConfig(),
                algorithm_key=AlgorithmName.NO_QUANTIZE)
    return "static_wi8_ai8 less keep_float_ops", manager.get_quantization_recipe(), [
        f"int8 (static, calibrated) but {', '.join(keep_float)} kept float"]


def _scoped_recipe(variant: str, manager: Any, qtyping: Any, float_file: bytes,
                   selection: OpSelection) -> tuple[str, list[dict], list[str]]:
    """Static int8 on the ops ``selection`` names for ``variant``; the rest float."""
    problems = selection_problems(float_file, variant, selection)
    if problems:
        raise NoOpMatched("; ".join(problems))
    if variant == "qat_selective":
        return _selective_recipe(manager, qtyping, file_ops(float_file), selection.int8_ops)
    return _mixed_recipe(manager, qtyping, selection.keep_float_ops, file_ops(float_file))


def recipe_for(variant: str, float_file: bytes, selection: OpSelection | None = None
               ) -> tuple[str, list[dict], list[str]]:
    """(recipe name, the quantizer's JSON recipe, notes) for one variant of this file;
    ``selection``: what ``qat_selective`` / ``mixed_int8`` make int8 or keep float."""
    _, recipe, recipe_manager, qtyping = _modules(variant)
    if variant in SCOPED_VARIANTS:
        return _scoped_recipe(variant, recipe_manager.RecipeManager(), qtyping, float_file,
                              selection or OpSelection())
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
                     f"({', '.join((*QUANTIZER_VARIANTS, *SCOPED_VARIANTS))})")


def quantize_file(float_path: Path, variant: str, selection: OpSelection | None = None,
                  calibration: Calibration | None = None) -> QuantizedFile:
    """``variant`` of the float32 ``.tflite`` at ``float_path`` (nothing written).
    ``calibration``: the inputs a static recipe (``SCOPED_VARIANTS``) is calibrated on."""
    quantizer = _modules(variant)[0]
    content = float_path.read_bytes()
    name, recipe, notes = recipe_for(variant, content, selection)
    made = quantizer.Quantizer(bytearray(content), recipe)
    ranges = None
    if made.need_calibration:
        if not calibration:
            raise QatModelError(f"{variant} is static int8: it needs calibration inputs")
        ranges = made.calibrate({key: list(samples) for key, samples in calibration.items()})
        count = sum(len(samples) for samples in calibration.values())
        notes = [*notes, f"calibrated on {count} inputs"]
    quantized = made.quantize(ranges, enable_progress_report=False)
    if quantized.quantized_model is None:
        raise QatModelError(f"{PACKAGE} returned no model for {variant}")
    return QuantizedFile(bytes(quantized.quantized_model), json.loads(json.dumps(recipe)),
                         name, quantizer_version() or "?", notes)
