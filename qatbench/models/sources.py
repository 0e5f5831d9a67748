"""The user's own models: ``[models.NAME]`` tables of a run config, and plug-in zoos.

A model source is exactly one of

- ``keras = "PATH"``: a saved Keras model -- tf_keras ``.h5``, SavedModel directory or
  ``.keras`` file, or a **Keras 3** ``.keras`` file, which the build rebuilds as an
  equivalent tf_keras model (``qatbench.qat.keras3``) and proves on the spot;
- ``build = "package.module:function"`` or ``"path/to/file.py:function"``: a function
  returning a tf_keras model (``trained = false``: qatbench trains it first on the data);
- ``torch = "package.module:function"`` or ``"path/to/file.py:function"``: a function
  returning a PyTorch ``nn.Module`` (``qatbench[torch]``): float32, PT2E static int8 and
  PT2E QAT through litert-torch (``qatbench.qat.pytorch``); needs ``data`` or
  ``image_dir`` (a module declares no input shape);
- ``tflite = { float32 = "PATH", qat_int8 = "PATH", ... }``: variant files made elsewhere
  (PyTorch through litert-torch, LiteRT Quantizer, a vendor converter); nothing is built,
  the files join the same matrix, fidelity (against the ``float32`` file), report and gate.
  ``quantize = ["qat_selective", "mixed_int8", "dynamic_int8", ...]`` beside it names
  variants Google's LiteRT Quantizer makes from that ``float32`` file (tfmot never saw
  it): ``qat_selective`` makes int8 the ops ``[models.NAME.training] qat_layers`` match
  (op names or types), ``mixed_int8`` every op but ``keep_float_ops``.

Data comes from ``data = "PATH.npz"`` (``x_train``/``y_train``/``x_eval``/``y_eval``, or
``x``/``y`` that qatbench splits stratified and seeded; a multi-input or multi-output
model names its arrays ``x_train/INPUT``, ``y_train/OUTPUT``), ``data = "module:function"``
(returning those arrays, or a batched ``tf.data.Dataset``), or ``image_dir = "DIR"``
(class subfolders). Without data, QAT distils on synthetic inputs in ``input_range``.

This module is TensorFlow-free: the run config is checked on the timing side, so a
missing file or a misspelt key is exit 2 before any child starts. What needs the model
itself (input shapes, label ranges, import errors in the user's code) is checked by
``qatbench.qat.source_check`` in one child before anything trains.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# the variants a ``.tflite`` table may name: the same names as built variants, so its rows
# line up with a built model's in reports, ratios and the gate
FILE_VARIANTS = ("float32", "ptq_int8", "qat_int8", "qat_selective", "mixed_int8",
                 "dynamic_int8", "int8_weights", "int4_weights", "fp16")
# what a tflite source's ``quantize`` may name: made from its float32 file by the LiteRT
# Quantizer (qatbench.qat.litert_quantize), qat_selective / mixed_int8 by op-scoped recipes
QUANTIZER_MADE = ("qat_selective", "mixed_int8", "dynamic_int8", "int8_weights",
                  "int4_weights", "fp16")
# the [models.NAME.training] keys a tflite source may set: what making its files reads
FILE_TRAINING_KEYS = ("qat_layers", "keep_float_ops", "representative_samples", "seed",
                      "max_eval_samples")
Task = Literal["classification", "regression"]
PREPROCESS_MODES = ("unit", "tf", "caffe", "raw")  # image_dir: [0,1], [-1,1], BGR-mean, 0..255
_REFERENCE = re.compile(r"^(?P<where>[^:]+(?:\.py)?):(?P<name>[A-Za-z_][A-Za-z0-9_]*)$")


def is_callable_reference(text: str) -> bool:
    """``package.module:function`` or ``path/to/file.py:function``."""
    return bool(_REFERENCE.match(text))


class ModelSource(BaseModel):
    """One ``[models.NAME]`` table; paths are resolved against the config file's folder."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    keras: str | None = None
    build: str | None = None
    torch: str | None = None  # module:function returning a torch.nn.Module
    tflite: dict[str, str] | None = None
    # tflite sources only: variants made from the float32 file (QUANTIZER_MADE)
    quantize: list[str] = Field(default_factory=list)
    # build sources only: false = the function returns an untrained model to train first
    trained: bool = True
    data: str | None = None
    image_dir: str | None = None
    preprocess: str = "unit"  # image_dir: one of PREPROCESS_MODES, or module:function
    # image_dir: how images not at the model's input size are brought to it (images
    # already that size are used as they are): "crop" (short side to the size, centre
    # crop), "pad" (long side to the size, black bands) or "stretch" (aspect not kept)
    resize: Literal["crop", "pad", "stretch"] = "crop"
    eval_fraction: float = Field(0.2, gt=0, lt=1)  # x/y data: held out, stratified, seeded
    # synthetic inputs (no data): the range the model expects
    input_range: tuple[float, float] = (0.0, 1.0)
    # per output ("classification" | "regression"), or one value for every output;
    # inferred where unset: a class vector with integer labels, or ending in a softmax
    task: Task | dict[str, Task] | None = None
    # label QAT: a Keras loss name or module:function, per output or one for all
    loss: str | dict[str, str] | None = None
    description: str = ""
    # modules (``"wild_layers"``) or files (``"path/to/layers.py"``, relative to the config)
    # imported before the model loads, so classes they register resolve (custom layers)
    imports: list[str] = Field(default_factory=list)
    # [models.NAME.training]: TrainingBudget fields for this model only (checked when the
    # run config merges them with [training])
    training: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_source(self) -> ModelSource:
        given = [key for key in ("keras", "build", "torch", "tflite")
                 if getattr(self, key) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of keras = \"PATH\", build = \"module:function\""
                             ", torch = \"module:function\" or tflite = { float32 = \"PATH\", ... }"
                             + (f" (got {' and '.join(given)})" if given else ""))
        if self.data is not None and self.image_dir is not None:
            raise ValueError("give data or image_dir, not both")
        if self.tflite is not None:
            self._check_file_variants()
        elif self.quantize:
            raise ValueError("quantize applies to tflite = { float32 = \"PATH\" } sources: it "
                             "names variants made from that file")
        if not self.trained and self.build is None and self.torch is None:
            raise ValueError("trained = false applies to build = \"module:function\" and "
                             "torch = \"module:function\" sources")
        if self.torch is not None and not is_callable_reference(self.torch):
            raise ValueError(f"torch = {self.torch!r}: give \"package.module:function\" or "
                             "\"path/to/file.py:function\" returning a torch.nn.Module")
        return self

    def _check_file_variants(self) -> None:
        """``quantize`` names variants the quantizer makes and no file gives; [training]
        holds only what making them reads; qat_selective names its ops."""
        unknown = [v for v in self.quantize if v not in QUANTIZER_MADE]
        if unknown:
            raise ValueError(f"quantize: {', '.join(unknown)} cannot be made from the float32 "
                             f"file; choose from {', '.join(QUANTIZER_MADE)}")
        twice = [v for v in self.quantize if v in (self.tflite or {})]
        if twice:
            raise ValueError(f"{', '.join(twice)} is both a file in tflite and in quantize; "
                             "keep one")
        other = [key for key in self.training if key not in FILE_TRAINING_KEYS]
        if other:
            raise ValueError(f"a tflite source is not trained: [training] {', '.join(other)} "
                             f"does not apply (a file takes {', '.join(FILE_TRAINING_KEYS)})")
        if "qat_selective" in self.quantize and not self.training.get("qat_layers"):
            raise ValueError("quantize qat_selective needs [models.NAME.training] qat_layers: "
                             "patterns of the float32 file's op names or types to make int8 "
                             "(e.g. [\"conv*\"] or [\"CONV_2D\"])")

    @property
    def variants(self) -> list[str]:
        """The variants this source has rows for: a tflite table's files, then what
        ``quantize`` makes; [] for a model that is built (the run's variants apply)."""
        return [*(self.tflite or {}), *self.quantize] if self.tflite is not None else []

    @field_validator("tflite")
    @classmethod
    def _float_and_known_variants(cls, files: dict[str, str] | None) -> dict[str, str] | None:
        if files is None:
            return None
        unknown = [name for name in files if name not in FILE_VARIANTS]
        if unknown:
            raise ValueError(f"unknown variant(s) {', '.join(unknown)}; a tflite table names "
                             f"files by variant: {', '.join(FILE_VARIANTS)}")
        if "float32" not in files:
            raise ValueError("needs a float32 file: int8 files are compared with it "
                             "(fidelity, speedup, shrink)")
        return files

    @field_validator("preprocess")
    @classmethod
    def _known_preprocess(cls, value: str) -> str:
        if value not in PREPROCESS_MODES and not is_callable_reference(value):
            raise ValueError(f"preprocess {value!r}: one of {', '.join(PREPROCESS_MODES)}, "
                             "or \"module:function\" mapping uint8 images to model inputs")
        return value

    @field_validator("input_range")
    @classmethod
    def _ordered_range(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not value[0] < value[1]:
            raise ValueError(f"input_range {list(value)}: low must be below high")
        return value

    @property
    def kind(self) -> str:
        return "keras" if self.keras else "build" if self.build else \
            "torch" if self.torch else "tflite"

    @property
    def data_is_callable(self) -> bool:
        return self.data is not None and is_callable_reference(self.data) \
            and not self.data.endswith(".npz")

    def resolved(self, base: Path) -> ModelSource:
        """Paths made absolute against ``base`` (the config file's folder), so the build
        child and ``--resume`` from anywhere find the same files."""

        def path(value: str | None) -> str | None:
            if value is None:
                return None
            candidate = Path(value).expanduser()
            return str(candidate if candidate.is_absolute() else (base / candidate).resolve())

        def reference(value: str | None) -> str | None:
            if value is None or not is_callable_reference(value):
                return value
            where, name = value.rsplit(":", 1)
            return f"{path(where)}:{name}" if where.endswith(".py") else value

        updates: dict[str, Any] = {
            "keras": path(self.keras), "image_dir": path(self.image_dir),
            "build": reference(self.build), "torch": reference(self.torch),
            "data": reference(self.data) if self.data_is_callable else path(self.data),
            "tflite": {k: str(path(v)) for k, v in self.tflite.items()} if self.tflite else None,
            "preprocess": reference(self.preprocess),
            "imports": [str(path(item)) if item.endswith(".py") else item
                        for item in self.imports],
        }
        return self.model_copy(update=updates)

    def file_problems(self, name: str) -> list[str]:
        """Missing files and folders, each as ``models.NAME.KEY: what and how to fix``."""
        problems = []
        where = f"models.{name}"
        if self.keras is not None and not Path(self.keras).exists():
            problems.append(f"{where}.keras: {self.keras} does not exist (a tf_keras .h5, a "
                            "SavedModel directory or a .keras file)")
        for variant, file in (self.tflite or {}).items():
            if not Path(file).is_file():
                problems.append(f"{where}.tflite.{variant}: {file} does not exist")
        for key in ("build", "torch", "data", "preprocess"):
            value = getattr(self, key)
            if value and is_callable_reference(value) and value.split(":")[0].endswith(".py"):
                file = value.rsplit(":", 1)[0]
                if not Path(file).is_file():
                    problems.append(f"{where}.{key}: {file} does not exist")
        if self.data is not None and not self.data_is_callable:
            if not Path(self.data).is_file():
                problems.append(f"{where}.data: {self.data} does not exist (an .npz file, or "
                                "\"module:function\")")
            elif not self.data.endswith(".npz"):
                problems.append(f"{where}.data: {self.data} is not an .npz file; give "
                                "x_train/y_train/x_eval/y_eval (or x/y) in an .npz, or "
                                "\"module:function\"")
        for item in self.imports:
            if item.endswith(".py") and not Path(item).is_file():
                problems.append(f"{where}.imports: {item} does not exist (a module name, or "
                                "a .py file relative to the config)")
        if self.image_dir is not None and not Path(self.image_dir).is_dir():
            problems.append(f"{where}.image_dir: {self.image_dir} is not a directory of class "
                            "subfolders")
        if self.torch is not None and self.data is None and self.image_dir is None:
            problems.append(f"{where}.torch: a PyTorch module declares no input shape: give "
                            "data = \"PATH.npz\" (or \"module:function\") or image_dir = "
                            "\"DIR\" (calibration, fine-tuning and export read it)")
        if not self.trained and self.data is None and self.image_dir is None:
            problems.append(f"{where}.trained: false needs labelled data to train on "
                            "(data = \"PATH.npz\" or image_dir = \"DIR\")")
        return problems


def _builder_name(reference: str) -> str:
    """What a user calls a model built by ``module:function``: the file's stem or the
    module's last name, not the function that builds it."""
    where = reference.rsplit(":", 1)[0]
    return Path(where).stem if where.endswith(".py") else where.rsplit(".", 1)[-1]


def ad_hoc_source(model: str, data: str | None, base: Path, framework: str | None = None,
                  trained: bool = True, imports: list[str] | None = None
                  ) -> tuple[str, ModelSource]:
    """``qatbench run --model PATH_OR_MODULE:FN [--data PATH] [--untrained] [--framework
    torch]``: the name is the file's stem or the module's last name; ``trained=False`` (a
    builder only) trains it first; ``--data`` is an ``.npz``, a ``module:function``, or a
    folder of class subfolders of images (``image_dir``)."""
    folder = data is not None and (Path(data).expanduser() if Path(data).expanduser()
                                   .is_absolute() else base / data).is_dir()
    given: dict[str, Any] = {"image_dir": data} if folder else {"data": data}
    if imports:
        given["imports"] = imports
    if framework == "torch":
        if not is_callable_reference(model):
            raise ValueError(f"--framework torch: --model {model!r} must be "
                             "\"module:function\" or \"file.py:function\" returning a "
                             "torch.nn.Module")
        source = ModelSource(torch=model, trained=trained, **given)
        name = _builder_name(model)
    elif is_callable_reference(model) and not Path(model).exists():
        source = ModelSource(build=model, trained=trained, **given)
        name = _builder_name(model)
    elif model.endswith(".tflite"):
        source = ModelSource(tflite={"float32": model}, **given)
        name = Path(model).stem
    else:
        source = ModelSource(keras=model, **given)
        name = Path(model.rstrip("/")).stem
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name), source.resolved(base)

