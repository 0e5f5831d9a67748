"""torch.export, PT2E quantization (torchao) and litert-torch conversion: the recipes.

``float32``: ``litert_torch.convert`` of the float module. ``ptq_int8``: the module
exported with a dynamic batch, ``prepare_pt2e`` with litert-torch's ``PT2EQuantizer``
(symmetric, per-channel weights, static int8 activations), calibrated, ``convert_pt2e``
and converted with that quantizer's ``QuantConfig``. ``qat_int8``: the same quantizer in
QAT mode through ``prepare_qat_pt2e``; fine-tuned by the caller (``train.py``), then
``move_exported_model_to_eval`` and ``convert_pt2e``. litert-torch gives a static int8
file int8 inputs and outputs, as the Keras core's int8 variants have.

The recipe (``RECIPE``) and the versions of torch, torchao and litert-torch go into
every variant's manifest and into the build cache's key.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

# what the quantized variants are, as the manifest records it (and the cache key holds)
RECIPE: dict[str, Any] = {
    "quantizer": "litert_torch.quantize.pt2e_quantizer.PT2EQuantizer",
    "config": "get_symmetric_quantization_config(is_per_channel=True, is_dynamic=False)",
    "ptq": "torch.export (dynamic batch) -> prepare_pt2e -> calibrate -> "
           "convert_pt2e(fold_quantize=False) -> litert_torch.convert(quant_config)",
    "qat": "torch.export (dynamic batch, train mode) -> prepare_qat_pt2e -> fine-tune -> "
           "move_exported_model_to_eval -> convert_pt2e(fold_quantize=False) -> "
           "litert_torch.convert(quant_config)",
}
PACKAGES = ("torch", "torchao", "litert-torch")


def versions() -> dict[str, str]:
    """The installed versions of the packages a PyTorch build's bytes depend on."""
    found = {}
    for name in PACKAGES:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found[name] = importlib.metadata.version(name)
    return found


def tensor(x: np.ndarray) -> Any:
    import torch

    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))


def export(module: Any, example: np.ndarray) -> Any:
    """``torch.export`` with a dynamic batch dimension (calibration and fine-tuning feed
    batches; the ``.tflite`` gets batch 1): the ``ExportedProgram``."""
    import torch

    batch = example[:2] if len(example) >= 2 else np.concatenate([example, example])
    return torch.export.export(module, (tensor(batch),),
                               dynamic_shapes=({0: torch.export.Dim.DYNAMIC},))


def quantizer(is_qat: bool) -> Any:
    from litert_torch.quantize.pt2e_quantizer import (
        PT2EQuantizer,
        get_symmetric_quantization_config,
    )

    return PT2EQuantizer().set_global(get_symmetric_quantization_config(
        is_per_channel=True, is_dynamic=False, is_qat=is_qat))


@contextlib.contextmanager
def _conv_bn_patterns_as_modules() -> Iterator[None]:
    """litert-torch 0.10's conv+BatchNorm annotator (QAT configs only) hands torchao a
    plain function, which ``torch.export`` refuses since torch 2.9 ("Expected `mod` to be
    an instance of `torch.nn.Module`"): wrap it in torchao's own ``WrapperModule`` while
    the quantizer annotates, as torchao's annotators do themselves."""
    import litert_torch.quantize.pt2e_quantizer_utils as utils
    import torch
    from torchao.quantization.pt2e.export_utils import WrapperModule

    original = utils._get_aten_graph_module_for_pattern

    def as_module(pattern: Any, *args: Any, **kwargs: Any) -> Any:
        wrapped = pattern if isinstance(pattern, torch.nn.Module) else WrapperModule(pattern)
        return original(wrapped, *args, **kwargs)

    utils._get_aten_graph_module_for_pattern = as_module
    try:
        yield
    finally:
        utils._get_aten_graph_module_for_pattern = original


def prepare_ptq(module: Any, example: np.ndarray) -> tuple[Any, Any]:
    """The module with observers (PT2E static int8), and its quantizer."""
    from torchao.quantization.pt2e.quantize_pt2e import prepare_pt2e

    module.eval()
    chosen = quantizer(is_qat=False)
    return prepare_pt2e(export(module, example).module(), chosen), chosen


def prepare_qat(module: Any, example: np.ndarray) -> tuple[Any, Any]:
    """The module with fake quantizers to fine-tune (PT2E QAT), and its quantizer."""
    from torchao.quantization.pt2e.quantize_pt2e import prepare_qat_pt2e

    module.train()
    chosen = quantizer(is_qat=True)
    with _conv_bn_patterns_as_modules():
        prepared = prepare_qat_pt2e(export(module, example).module(), chosen)
    return prepared, chosen


def calibrate(prepared: Any, samples: np.ndarray, batch_size: int = 32) -> None:
    import torch

    with torch.no_grad():
        for start in range(0, len(samples), batch_size):
            prepared(tensor(samples[start:start + batch_size]))


def finish(prepared: Any, is_qat: bool) -> Any:
    """``convert_pt2e`` (QAT: after moving the fake quantizers and BatchNorm to eval): a
    module with quantize/dequantize pairs, int8 simulated in PyTorch -- what the
    conversion gap compares with the file."""
    from torchao.quantization.pt2e import move_exported_model_to_eval
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e

    if is_qat:
        move_exported_model_to_eval(prepared)
    return convert_pt2e(prepared, fold_quantize=False)


def to_tflite(module: Any, example: np.ndarray, path: Path, chosen_quantizer: Any = None
              ) -> None:
    """litert-torch's conversion at batch 1, written atomically to ``path``."""
    import litert_torch
    from litert_torch.quantize.quant_config import QuantConfig

    from qatbench.atomic import atomic_write_bytes

    config = QuantConfig(pt2e_quantizer=chosen_quantizer) if chosen_quantizer else None
    edge = litert_torch.convert(module, (tensor(example[:1]),), quant_config=config)
    scratch = path.with_name(path.name + ".convert")
    edge.export(str(scratch))
    atomic_write_bytes(path, scratch.read_bytes())
    scratch.unlink()


def outputs(module: Any, x: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """The module's outputs on ``x`` (one row per input, flattened), in eval mode."""
    import torch

    with torch.no_grad():
        return np.concatenate([
            module(tensor(x[start:start + batch_size])).reshape(
                len(x[start:start + batch_size]), -1).numpy()
            for start in range(0, len(x), batch_size)])
