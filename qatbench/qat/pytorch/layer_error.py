"""Per-layer error of a PyTorch source's int8 file against the float module.

The Keras core's tables (``qat/layer_error.py``) matched by Keras layer name; here the
file's tensors are matched to modules by the module stack litert-torch writes into
every tensor's name (``source.module_path``). Each int8 tensor that a module produced
(the last op writing it: a conv with its fused ReLU is the ReLU's output) is dequantized
and compared with that module's output in the float module (a forward hook), on the same
inputs; NCHW outputs are compared with the file's NHWC tensors. The same columns and
``rmse_over_scale`` (≈0.29: rounding noise alone) as the Keras tables, so the report
reads both alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from qatbench.qat.layer_error import COLUMNS, METHOD_VS_FLOAT, error_table
from qatbench.qat.pytorch.pt2e import tensor
from qatbench.qat.pytorch.source import module_path


def module_outputs(module: Any, names: list[str], x: np.ndarray) -> dict[str, np.ndarray]:
    """Each named submodule's output on ``x`` (forward hooks), as numpy."""
    import torch

    found: dict[str, np.ndarray] = {}
    modules = dict(module.named_modules())
    hooks = [modules[name].register_forward_hook(
        lambda _m, _i, out, name=name: found.__setitem__(name, out.detach().numpy()))
        for name in names]
    try:
        with torch.no_grad():
            module(tensor(x))
    finally:
        for hook in hooks:
            hook.remove()
    return found


def _as_file_layout(want: np.ndarray, shape: tuple[int, ...]) -> np.ndarray | None:
    if want.shape == shape:
        return want
    if want.ndim == 4 and want.transpose(0, 2, 3, 1).shape == shape:
        return want.transpose(0, 2, 3, 1)  # NCHW module, NHWC tensors inside the file
    return None


def int8_layer_errors(float_module: Any, int8_path: Path, samples: np.ndarray
                      ) -> pd.DataFrame:
    """The int8 file's module outputs, dequantized, against the float module's."""
    from qatbench.targets.inputs import quantize_for_input
    from qatbench.targets.runtime import resolve_runtime

    runtime = resolve_runtime().module
    interpreter = runtime.Interpreter(
        model_path=str(int8_path), experimental_preserve_all_tensors=True,
        experimental_op_resolver_type=runtime.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interpreter.allocate_tensors()
    details = {t["index"]: t for t in interpreter.get_tensor_details()}
    known = dict(float_module.named_modules())
    last_output: dict[str, int] = {}
    ops: dict[str, str] = {}
    for op in interpreter._get_ops_details():
        for index in op["outputs"]:
            detail = details.get(index)
            if detail is None or detail["dtype"] not in (np.int8, np.uint8):
                continue
            name = module_path(detail["name"])
            if name and name in known:
                last_output[name] = index
                ops[name] = op["op_name"]
    if not last_output:
        return pd.DataFrame(columns=COLUMNS)
    matched = [name for name in known if name in last_output]  # the module's order
    reference = module_outputs(float_module, matched, samples)
    input_detail = interpreter.get_input_details()[0]
    errors: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {name: [] for name in matched}
    for i in range(len(samples)):
        interpreter.set_tensor(input_detail["index"],
                               quantize_for_input(samples[i:i + 1], input_detail))
        interpreter.invoke()
        for name in matched:
            detail = details[last_output[name]]
            scale, zero_point = detail["quantization"]
            value = (interpreter.get_tensor(detail["index"]).astype(np.float32)
                     - zero_point) * scale
            want = _as_file_layout(reference[name][i:i + 1], value.shape)
            if want is not None:
                errors[name].append((value - want, want))
    return error_table({name: errors[name] for name in matched},
                       {name: details[last_output[name]] for name in matched},
                       {name: ops[name] for name in matched}, METHOD_VS_FLOAT)
