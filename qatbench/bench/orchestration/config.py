"""Run configuration: a TOML file (defaults ship in ``qatbench/bench/configs/``), validated
with errors that name the key and the allowed values; CLI flags override it.
"""

from __future__ import annotations

import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializeAsAny,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)

from qatbench.bench.statistics.goals import Goals
from qatbench.errors import UserError
from qatbench.models.sources import FILE_VARIANTS, ModelSource
from qatbench.models.zoo import known_models
from qatbench.qat.budget import TrainingBudget
from qatbench.targets.base import MeasureSpec
from qatbench.targets.options import TargetOptions
from qatbench.targets.registry import (
    TargetOptionsError,
    UnknownTarget,
    updated_options,
    validate_target_options,
)

# qat_selective (QAT on [training] qat_layers only, the rest float) is built when asked for
# mixed_int8 (PTQ int8 keeping [training] keep_float_ops, or the op types a profile found
# slower in int8, in float) is built after the other variants were profiled
# dynamic_int8, int8_weights, int4_weights and fp16 are the float32 .tflite quantized by
# Google's LiteRT Quantizer (qat/litert_quantize.py; the litert-quantizer package)
VariantName = Literal["float32", "ptq_int8", "qat_int8", "qat_selective", "mixed_int8",
                      "dynamic_int8", "int8_weights", "int4_weights", "fp16"]
VARIANTS: tuple[str, ...] = ("float32", "ptq_int8", "qat_int8")
ALL_VARIANTS: tuple[str, ...] = get_args(VariantName)  # what --variants may name


class ConfigError(UserError, ValueError):
    """The configuration is unreadable or invalid; the message names the key."""


# A model's name names files and folders of the run directory (artifacts/NAME,
# jobs/NAME-...) and of the build: a file-name-safe identifier, never a path.
MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
MODEL_NAME_RULE = ("a model name is 1-64 letters, digits, '_', '-' or '.', starting with a "
                   "letter or digit (it names files in the run directory)")


def model_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a model's name, or None."""
    if isinstance(name, str) and MODEL_NAME.fullmatch(name):
        return None
    shown = name if len(str(name)) <= 40 else f"{str(name)[:37]}..."
    return f"{shown!r} is not a valid model name: {MODEL_NAME_RULE}"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


DEFAULT_MODELS = ("mnist_cnn", "mobilenet_v2")


class RunSection(_Strict):
    # zoo, plug-in or [models.NAME] names; default: the [models] tables when there are
    # any, else the two default zoo models
    models: list[str] = Field(default_factory=lambda: list(DEFAULT_MODELS), min_length=1)
    variants: list[VariantName] = Field(default_factory=lambda: list(VARIANTS), min_length=1)
    targets: list[str] = Field(default_factory=lambda: ["cpu-xnnpack", "cpu-ref"], min_length=1)
    threads: list[int] = Field(default_factory=lambda: [1], min_length=1)
    # independent child processes per measurement, interleaved across the matrix: what
    # the gate decides on (see the README's "How latency is measured")
    repeats: int = Field(1, ge=1, le=100)
    # (I, N): this run is slice I of N of the matrix; kept so --resume keeps it
    shard: tuple[int, int] | None = None
    timeout_s: float = Field(900.0, gt=0)
    out: str = "results"
    # an ImageNet-style folder (class subfolders of images) to evaluate ImageNet models on
    imagenet_dir: str | None = None
    # per-op profile of every ok job on a target that declares it (host CPU targets:
    # one-op models; Android phones: benchmark_model's op tables) into profile.parquet
    profile: bool = False
    # each op's warm-up and timed minimum durations in a profile (default: [measure]'s)
    profile_op_s: float | None = Field(None, gt=0)

    @field_validator("models")
    @classmethod
    def _safe_model_names(cls, models: list[str]) -> list[str]:
        problems = [p for p in map(model_name_problem, models) if p]
        if problems:
            raise ValueError("; ".join(problems))
        return models

    @field_validator("shard")
    @classmethod
    def _valid_shard(cls, shard: tuple[int, int] | None) -> tuple[int, int] | None:
        if shard is not None and not 1 <= shard[0] <= shard[1]:
            raise ValueError(f"shard {shard[0]}/{shard[1]}: I must be between 1 and N")
        return shard

    @field_validator("threads")
    @classmethod
    def _positive_threads(cls, threads: list[int]) -> list[int]:
        if any(t < 1 for t in threads):
            raise ValueError("every thread count must be >= 1")
        return threads


class RunConfig(_Strict):
    run: RunSection = Field(default_factory=RunSection)
    # timing rules (defaults: benchmark_model's); the threads of each job come from
    # [run] threads, so `threads` is not a key here (see _no_threads_in_measure)
    measure: MeasureSpec = Field(default_factory=MeasureSpec)
    training: TrainingBudget = Field(default_factory=TrainingBudget)
    # Per-target options, e.g. [targets.edgetpu] device = "usb:0"; each table becomes its
    # target's options model when the config loads (a misspelt key is an error naming the
    # valid ones), and that object is what reaches the target, in this process and in the
    # timing child. A table with `kind = "cpu-xnnpack"` defines a new target reusing a
    # built-in. Read them with ``target_options(name)``.
    targets: dict[str, SerializeAsAny[TargetOptions]] = Field(default_factory=dict)
    # the user's own models: [models.NAME] tables (see qatbench.models.sources)
    models: dict[str, ModelSource] = Field(default_factory=dict)
    # what the shipped file must meet (statistics/goals.py); per model [models.NAME.goals],
    # kept here (a zoo model has no [models.NAME] source table of its own)
    goals: Goals = Field(default_factory=Goals)
    model_goals: dict[str, Goals] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _models_default_to_tables(cls, data: Any) -> Any:
        """``[models.NAME]`` tables without ``[run] models``: run those models."""
        if isinstance(data, dict) and data.get("models") and "models" not in data.get(
                "run", {}):
            data = {**data, "run": {**data.get("run", {}), "models": list(data["models"])}}
        return data

    @model_validator(mode="before")
    @classmethod
    def _goals_out_of_model_tables(cls, data: Any) -> Any:
        """``[models.NAME.goals]`` moves to ``model_goals``; a table that held only goals
        (a zoo model's) is no model source and goes with it."""
        if not isinstance(data, dict) or not isinstance(data.get("models"), dict):
            return data
        models, goals = {}, dict(data.get("model_goals") or {})
        for name, table in data["models"].items():
            if isinstance(table, dict) and "goals" in table:
                table = {k: v for k, v in table.items() if k != "goals"}
                goals[name] = data["models"][name]["goals"]
                if not table:
                    continue
            models[name] = table
        return {**data, "models": models, "model_goals": goals}

    @model_validator(mode="before")
    @classmethod
    def _typed_target_options(cls, data: Any) -> Any:
        """Each ``[targets.NAME]`` table as its target's options model, or every problem
        at once naming the table."""
        if not isinstance(data, dict) or not isinstance(data.get("targets"), dict):
            return data
        typed, problems = {}, []
        for name, options in data["targets"].items():
            if isinstance(options, TargetOptions):
                typed[name] = options
                continue
            if not isinstance(options, dict):
                problems.append(f"targets.{name}: must be a table of options "
                                f"([targets.{name}] key = value), got {options!r}")
                continue
            try:
                typed[name] = validate_target_options(name, options)
            except (UnknownTarget, TargetOptionsError) as error:
                problems.append(f"targets.{name}: {error}")
        if problems:
            raise ValueError("\n  ".join(problems))
        return {**data, "targets": typed}

    @field_serializer("measure")
    def _measure_without_threads(self, measure: MeasureSpec) -> dict[str, Any]:
        """``[measure]`` as the user writes it: threads are ``[run] threads``."""
        return measure.model_dump(exclude={"threads"})

    @model_validator(mode="after")
    def _no_threads_in_measure(self) -> RunConfig:
        if "threads" in self.measure.model_fields_set:
            raise ValueError("measure.threads: unknown key; the thread counts of a run are "
                             "[run] threads = [1, 4] (or --threads)")
        return self

    def target_options(self, name: str) -> TargetOptions:
        """The options ``name`` runs with: its table's, else its model's defaults."""
        options = self.targets.get(name)
        return options if options is not None else validate_target_options(name, {})

    def spec(self, threads: int) -> MeasureSpec:
        """The run's timing rules for a job on ``threads`` threads."""
        return self.measure.with_threads(threads)

    def with_target_options(self, name: str, **values: Any) -> RunConfig:
        """This config with ``values`` set in target ``name``'s options (validated as
        its options model; nothing else is re-validated)."""
        options = updated_options(name, self.target_options(name), **values)
        return self.model_copy(update={"targets": {**self.targets, name: options}})

    @field_validator("models")
    @classmethod
    def _safe_table_names(cls, models: dict[str, ModelSource]) -> dict[str, ModelSource]:
        problems = [p for p in map(model_name_problem, models) if p]
        if problems:
            raise ValueError("; ".join(problems))
        return models

    @model_validator(mode="after")
    def _known_models(self) -> RunConfig:
        known = known_models()
        unknown = [m for m in self.run.models if m not in known and m not in self.models]
        if unknown:
            raise ValueError(f"run.models: unknown model(s) {', '.join(unknown)}; the zoo has "
                             f"{', '.join(known)}; a model of your own needs a [models.NAME] "
                             "table (keras = \"PATH\", build = \"module:function\" or "
                             "tflite = { float32 = \"PATH\", ... })")
        shadowing = [m for m in self.models if m in known]
        if shadowing:
            raise ValueError(f"models: {', '.join(shadowing)} is a zoo model's name; give "
                             "your model another name")
        problems = []
        for name in self.models:
            try:
                self.budget_for(name)
            except ValidationError as error:
                for item in error.errors():
                    key = ".".join(str(part) for part in item["loc"])
                    message = "unknown key" if item["type"] == "extra_forbidden" else \
                        item["msg"]
                    problems.append(f"models.{name}.training.{key}: {message}")
        if problems:
            raise ValueError("\n  ".join(problems))
        return self

    @model_validator(mode="after")
    def _goals_name_run_models(self) -> RunConfig:
        unknown = [m for m in self.model_goals if m not in self.run.models]
        if unknown:
            raise ValueError(f"models.{unknown[0]}.goals: {unknown[0]} is not a model of this "
                             f"run ({', '.join(self.run.models)}); check the name")
        return self

    def goals_for(self, model: str) -> Goals:
        """[goals] with the model's own ``[models.NAME.goals]`` on top."""
        return self.goals.merged(self.model_goals.get(model))

    def budget_for(self, model: str) -> TrainingBudget:
        """[training] with the model's own ``[models.NAME.training]`` on top."""
        source = self.models.get(model)
        if source is None or not source.training:
            return self.training
        return TrainingBudget.model_validate({**self.training.model_dump(), **source.training})

    def variants_for(self, model: str) -> list[str]:
        """The variants a model gets rows for: a tflite table's own files, else the run's."""
        source = self.models.get(model)
        if source is not None and source.tflite is not None:
            return [v for v in source.variants if v in FILE_VARIANTS]
        return list(self.run.variants)

    @model_validator(mode="after")
    def _known_targets_and_options(self) -> RunConfig:
        problems = []
        for name in self.run.targets:  # the tables were checked as they loaded
            if name in self.targets:
                continue
            try:
                validate_target_options(name, {})
            except (UnknownTarget, TargetOptionsError) as error:
                problems.append(f"run.targets: {error}")
        if problems:
            raise ValueError("\n  ".join(problems))
        return self

    @model_validator(mode="after")
    def _mixed_needs_ops(self) -> RunConfig:
        if "mixed_int8" in self.run.variants and not self.training.keep_float_ops and not (
                self.run.profile and "float32" in self.run.variants
                and {"ptq_int8", "qat_int8"} & set(self.run.variants)):
            raise ValueError("mixed_int8 needs the op types to keep float: [training] "
                             "keep_float_ops = [\"AVERAGE_POOL_2D\", ...], or [run] profile = "
                             "true with float32 and ptq_int8 (or qat_int8) in the variants, "
                             "so that their profiles propose them")
        return self


def _format(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"])
        if key.startswith("model_goals."):  # written as [models.NAME.goals]
            name, _, rest = key.removeprefix("model_goals.").partition(".")
            key = f"models.{name}.goals" + (f".{rest}" if rest else "")
        message = item["msg"].removeprefix("Value error, ")
        if not key:  # a check across sections names its keys itself
            lines.append(f"  {message}")
            continue
        if item["type"] == "literal_error":
            message = f"{message} (got {item['input']!r})"
        if item["type"] == "extra_forbidden":
            message = "unknown key"
        lines.append(f"  {key}: {message}")
    return "invalid configuration:\n" + "\n".join(lines)


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def read_toml(path: Path) -> dict[str, Any]:
    if path.is_dir():
        raise ConfigError(f"--config {path} is a directory; give a TOML file (or a shipped "
                          f"config by name: {', '.join(SHIPPED_CONFIGS)})")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except UnicodeDecodeError as error:
        raise ConfigError(f"config file {path} is not UTF-8 text (byte {error.start}); "
                          "save it as UTF-8 TOML") from None
    except OSError as error:
        raise ConfigError(f"config file {path} cannot be read: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config file {path} is not valid TOML: {error}") from None


SHIPPED_CONFIGS = ("cpu", "edgetpu", "nnapi", "reference")


def shipped_config(name: str) -> dict[str, Any]:
    """A config shipped inside the package (``cpu``, ``quick``, ``edgetpu``, ``nnapi``)."""
    configs = resources.files("qatbench.bench.orchestration.configs")
    text = configs.joinpath(f"{name}.toml").read_text()
    return tomllib.loads(text)


def build_config(data: dict[str, Any]) -> RunConfig:
    try:
        return RunConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(_format(error)) from None


def load_config(path: Path | None = None, *, quick: bool = False,
                overrides: dict[str, Any] | None = None, check_files: bool = True
                ) -> RunConfig:
    """The default CPU config, or ``path``, with ``--quick`` and CLI flags on top."""
    if path is None:
        data = shipped_config("cpu")
    elif not path.exists() and path.suffix == "" and str(path) in SHIPPED_CONFIGS:
        data = shipped_config(str(path))  # `--config edgetpu`: a config shipped by name
    else:
        data = read_toml(path)
    if quick:
        data = deep_merge(data, shipped_config("quick"))
    if overrides:
        data = deep_merge(data, overrides)
    base = path.resolve().parent if path is not None and path.exists() else Path.cwd()
    return with_sources_resolved(build_config(data), base, check_files)


def with_sources_resolved(config: RunConfig, base: Path, check_files: bool = True
                          ) -> RunConfig:
    """``[models.NAME]`` paths made absolute against ``base`` (the config file's folder),
    and every missing file named at once (exit 2 before anything runs) -- unless the
    models come prebuilt (``run --artifacts``: a device host has no source files)."""
    if not config.models:
        return config
    models = {name: source.resolved(base) for name, source in config.models.items()}
    problems = [problem for name, source in models.items()
                for problem in source.file_problems(name)] if check_files else []
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))
    return config.model_copy(update={"models": models})
