"""A ``torch = "module:function"`` source, loaded and checked before anything trains.

The function's ``nn.Module``; the data (``.npz``, ``module:function`` -- which may also
return a ``torch.utils.data.Dataset`` or ``DataLoader`` of ``(x, y)`` -- or an image
folder) in the module's own layout: images given channels-last (as the Keras side and
image folders have them) are transposed to NCHW when that is what the module takes, and
the build's note says so. Then, in this order, everything that would otherwise fail
after minutes of training, each as one ``models.NAME.torch: ...`` problem naming the
module's file and line or the op, and the usual fix:

- ``torch.export`` cannot capture the module (data-dependent control flow: ``if`` on a
  tensor's value);
- litert-torch cannot convert an op of it;
- litert-torch's PT2E quantizer leaves ops float (the int8 file would not be full-integer).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qatbench.models.datasets import Dataset
from qatbench.models.sources import ModelSource
from qatbench.models.user_data import DataError, load_function_data, load_image_dir, load_npz
from qatbench.qat.user_model import SourceError, load_callable

CHECK_SAMPLES = 8  # calibration inputs of the quantizer-coverage check
_CALL_SITE = re.compile(r'The following call raised this error:\s*\n\s*File "(?P<file>[^"]+)", '
                        r"line (?P<line>\d+), in (?P<function>\w+)\n\s*(?P<code>[^\n]+)")
_ORIGIN = re.compile(r'Original traceback:\s*\n\s*File "(?P<file>[^"]+)", line (?P<line>\d+)')
_ATEN_OP = re.compile(r"(aten[.:]+[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)?)")


@dataclass
class TorchModel:
    """A PyTorch source ready to build: the module (freshly built by the user's
    function), its data in the module's layout, what its output is."""

    name: str
    source: ModelSource
    module: Any
    data: Dataset
    classes: int  # the class output's width; 0 for a regression output
    notes: list[str] = field(default_factory=list)

    @property
    def classification(self) -> bool:
        return self.classes > 0


def _torch_data_as_arrays(value: Any) -> Any:
    """A ``torch.utils.data.Dataset`` / ``DataLoader`` of ``(x, y)`` as ``(x, y)`` arrays;
    anything else as it is (``load_function_data`` takes it from there)."""
    import torch

    if isinstance(value, torch.utils.data.DataLoader):
        xs, ys = zip(*((x, y) for x, y in value), strict=True)
        return (torch.cat(list(xs)).numpy(), torch.cat(list(ys)).numpy())
    if isinstance(value, torch.utils.data.Dataset):
        pairs = [value[index] for index in range(len(value))]  # type: ignore[arg-type]
        return (np.stack([np.asarray(x) for x, _ in pairs]),
                np.asarray([np.asarray(y) for _, y in pairs]))
    return value


def load_module(source: ModelSource, name: str) -> Any:
    import torch

    key = f"models.{name}.torch"
    function = load_callable(str(source.torch), key)
    try:
        module = function()
    except Exception as error:
        raise SourceError(key, f"{source.torch} raised {type(error).__name__}: {error}"
                          ) from None
    if not isinstance(module, torch.nn.Module):
        kind = f"{type(module).__module__}.{type(module).__qualname__}"
        raise SourceError(key, f"returned a {kind}, not a torch.nn.Module")
    return module


def load_data(source: ModelSource, name: str, seed: int, image_shape: tuple[int, ...] | None
              ) -> Dataset:
    """The user's data as the Keras side reads it (channels-last images)."""
    key = f"models.{name}.{'image_dir' if source.image_dir else 'data'}"
    try:
        if source.data is not None and source.data_is_callable:
            function = load_callable(source.data, key)
            return load_function_data(lambda: _torch_data_as_arrays(function()), source.data,
                                      source.eval_fraction, seed)
        if source.data is not None:
            return load_npz(Path(source.data), source.eval_fraction, seed)
        if source.image_dir is not None:
            if image_shape is None:
                raise SourceError(key, "an image folder needs the module's input size: "
                                       "give an .npz instead")
            from qatbench.models.user_data import unit

            dataset, _ = load_image_dir(Path(source.image_dir), image_shape, unit,
                                        source.eval_fraction, seed)
            return dataset
    except DataError as error:
        raise SourceError(key, str(error)) from None
    raise SourceError(f"models.{name}.torch", "needs data or image_dir")


def _runs(module: Any, x: np.ndarray) -> Any | None:
    """The module's output on ``x`` (two samples), or None where it does not take ``x``."""
    import torch

    from qatbench.qat.pytorch.pt2e import tensor

    try:
        with torch.no_grad():
            return module(tensor(x[:2]))
    except Exception:
        return None


def in_module_layout(module: Any, data: Dataset, name: str) -> tuple[Dataset, str]:
    """The data as the module takes it: as given, else channels-last images moved to
    NCHW (``x.transpose(0, 3, 1, 2)``); the note says which."""
    key = f"models.{name}.data"
    if isinstance(data.x_train, dict) or isinstance(data.y_train, dict):
        raise SourceError(key, "a PyTorch source takes one input array and one label array "
                               "(x_train, y_train, x_eval, y_eval, or x, y)")
    x = np.asarray(data.x_train, dtype=np.float32)
    module.eval()
    if _runs(module, x) is not None:
        return data, ""
    if x.ndim == 4 and _runs(module, x.transpose(0, 3, 1, 2)) is not None:
        def nchw(a: Any) -> np.ndarray:
            return np.ascontiguousarray(np.asarray(a, dtype=np.float32).transpose(0, 3, 1, 2))

        moved = Dataset(data.name, nchw(data.x_train), data.y_train, nchw(data.x_eval),
                        data.y_eval, data.num_classes)
        return moved, (f"inputs given channels-last {tuple(x.shape[1:])} were moved to NCHW "
                       f"{tuple(moved.x_train.shape[1:])} for the module; the .tflite files "
                       "take NCHW too")
    try:  # the module's own error, with its line
        import torch

        from qatbench.qat.pytorch.pt2e import tensor

        with torch.no_grad():
            module(tensor(x[:2]))
    except Exception as error:
        raise SourceError(key, f"the module does not take x_train's samples of shape "
                               f"{tuple(x.shape[1:])} (nor NCHW): {type(error).__name__}: "
                               f"{error}") from None
    raise SourceError(key, "the module does not take x_train")  # unreachable in practice


def classes_of(module: Any, data: Dataset, source: ModelSource, name: str) -> int:
    """The class output's width (a class vector with integer labels), or 0 (regression)."""
    output = _runs(module, np.asarray(data.x_train))
    key = f"models.{name}.torch"
    if output is None or not hasattr(output, "shape"):
        raise SourceError(key, "forward() must return one tensor (one output)")
    labels = np.asarray(data.y_train)
    task = source.task if isinstance(source.task, str) else None
    is_class = task == "classification" or (
        task is None and output.ndim == 2 and output.shape[1] > 1 and labels.ndim == 1
        and np.all(labels == np.round(labels)))
    if not is_class:
        return 0
    width = int(output.shape[1])
    for split, y in (("y_train", data.y_train), ("y_eval", data.y_eval)):
        low, high = int(np.min(y)), int(np.max(y))
        if low < 0 or high >= width:
            raise SourceError(f"models.{name}.data", f"{split} labels run from {low} to "
                                                     f"{high}, but the module's output has "
                                                     f"{width} classes (0..{width - 1})")
    return width


def export_problem(error: Exception) -> str:
    """Why ``torch.export`` refused the module: its file and line, and the usual fix."""
    text = str(error)
    site = _CALL_SITE.search(text)
    where = f" at {site['file']}:{site['line']} in {site['function']}(): " \
            f"{site['code'].strip()}" if site else ""
    first = next((line for line in text.splitlines() if line.strip()), type(error).__name__)
    if "data-dependent" in text or "GuardOnDataDependent" in type(error).__name__:
        return (f"torch.export cannot capture the module{where} -- data-dependent control "
                f"flow (a branch on a tensor's value: {first.strip()}). Rewrite the branch "
                "with torch.where or torch.cond, or move it out of forward()")
    return (f"torch.export cannot capture the module{where}: {type(error).__name__}: "
            f"{first.strip()}. Make forward() traceable (no Python branches on tensor "
            "values, no unsupported Python objects)")


def conversion_problem(error: Exception) -> str:
    text = str(error)
    op = _ATEN_OP.search(text)
    first = next((line for line in text.splitlines() if line.strip()), "")
    named = f" op {op.group(1)}" if op else ""
    origin = _ORIGIN.search(text)
    where = f" at {origin['file']}:{origin['line']}" if origin else ""
    return (f"litert-torch cannot convert{named} of the module{where} "
            f"({type(error).__name__}: {first.strip()[:300]}). Replace it with ops LiteRT "
            "has (or decompose it in forward()), or keep it out of the exported module")


def module_path(tensor_name: str) -> str:
    """The PyTorch module a litert-torch tensor came from: its name's first part is the
    module stack, ``pkg.Root/torch.nn...Sequential_features/torch.nn...ReLU_2;1`` ->
    ``features.2`` (each level is ``Class_attribute``); "" for the root module."""
    stack = tensor_name.split(";", 1)[0].split("/")[1:]
    return ".".join(level.rsplit(".", 1)[-1].split("_", 1)[-1] for level in stack)


def float_op_modules(path: Path) -> list[str]:
    """The modules whose ops compute in float in a quantized file (best effort, from its
    tensor names), in file order."""
    from qatbench.targets.runtime import resolve_runtime

    interpreter = resolve_runtime().interpreter(str(path), threads=1,
                                                use_default_delegates=False)
    interpreter.allocate_tensors()
    details = {t["index"]: t for t in interpreter.get_tensor_details()}
    found: list[str] = []
    for op in interpreter._get_ops_details():
        if op["op_name"] in ("QUANTIZE", "DEQUANTIZE"):
            continue
        for index in op["outputs"]:
            tensor = details.get(index)
            if tensor is not None and tensor["dtype"] == np.float32:
                module = module_path(tensor["name"])
                if module and module not in found:
                    found.append(module)
    return found


def float_ops_problem(float_ops: Sequence[str], modules: Sequence[str] = ()) -> str:
    where = f" in module(s) {', '.join(modules)}" if modules else ""
    return (f"litert-torch's PT2E quantizer leaves ops float{where}: {', '.join(float_ops)} "
            "-- the int8 files would not be full-integer. Replace those ops with ones the "
            "quantizer annotates (conv, linear, pooling, add, ReLU, ...), or drop "
            "ptq_int8/qat_int8 from the variants")


def check_convertible(model: TorchModel, scratch: Path) -> None:
    """Export, convert and quantize on a few inputs, each failure a ``SourceError``."""
    from qatbench.qat.pytorch import pt2e
    from qatbench.targets.tflite_file import inspect_tflite

    key = f"models.{model.name}.torch"
    x = np.asarray(model.data.x_train, dtype=np.float32)
    model.module.eval()
    try:
        pt2e.export(model.module, x)
    except Exception as error:
        raise SourceError(key, export_problem(error)) from None
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        pt2e.to_tflite(model.module, x, scratch / "float32.check.tflite")
    except Exception as error:
        raise SourceError(key, conversion_problem(error)) from None
    try:
        prepared, chosen = pt2e.prepare_ptq(model.module, x)
        pt2e.calibrate(prepared, x[:CHECK_SAMPLES])
        pt2e.to_tflite(pt2e.finish(prepared, is_qat=False), x,
                       scratch / "int8.check.tflite", chosen)
    except Exception as error:
        raise SourceError(key, f"PT2E int8 quantization failed: "
                               f"{conversion_problem(error)}") from None
    info = inspect_tflite(scratch / "int8.check.tflite")
    if info.float_ops:
        try:
            modules = float_op_modules(scratch / "int8.check.tflite")
        except Exception:  # the names are a help; the ops are the finding
            modules = []
        raise SourceError(key, float_ops_problem(sorted(set(info.float_ops)), modules))


def image_shape_of(module: Any) -> tuple[int, ...] | None:
    """An image folder's size for the module: from its first Conv2d's channels and an
    ``input_size`` attribute (``(H, W)``), which a module may declare; None otherwise."""
    size = getattr(module, "input_size", None)
    if size is None:
        return None
    import torch

    conv = next((m for m in module.modules() if isinstance(m, torch.nn.Conv2d)), None)
    channels = conv.in_channels if conv is not None else 3
    return (int(size[0]), int(size[1]), int(channels))


def prepare_torch_model(name: str, source: ModelSource, seed: int = 0,
                        max_train: int | None = None, max_eval: int | None = None
                        ) -> TorchModel:
    """Load the module (after the run's seed: its initialisation is the seed's) and its
    data in the module's layout; the output's task. ``check_convertible`` is separate
    (the source check runs it; a build finds the same errors as it converts)."""
    from qatbench.qat.pytorch.train import seed_torch

    seed_torch(seed)
    module = load_module(source, name)
    data = load_data(source, name, seed, image_shape_of(module)).limited(max_train, max_eval)
    data, layout = in_module_layout(module, data, name)
    classes = classes_of(module, data, source, name)
    if source.loss is not None and not (isinstance(source.loss, str) and ":" in source.loss):
        raise SourceError(f"models.{name}.loss", "a PyTorch source's loss is "
                                                 "\"module:function\" called as loss(outputs, "
                                                 "targets); Keras loss names do not apply")
    return TorchModel(name, source, module, data, classes, [n for n in (layout,) if n])


def check_source(name: str, source: ModelSource, seed: int, scratch: Path) -> None:
    """The source check's work for a ``torch`` source (``qat/source_check.py``): load,
    data, layout, then export, conversion and quantizer coverage; a ``SourceError``."""
    try:
        import torch  # noqa: F401
    except ImportError:
        raise SourceError(f"models.{name}.torch", "PyTorch is not installed: pip install "
                                                  "'qatbench[torch]' (see README, \"PyTorch "
                                                  "models\", for the CPU wheel)") from None
    model = prepare_torch_model(name, source, seed)
    check_convertible(model, scratch)
