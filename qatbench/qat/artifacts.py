"""What building a model produced: one ``.tflite`` per variant (or the reason it failed).

Plain records with no TensorFlow behind them, so the timing side can read a build
(``manifest.json``) on a host that never installed the QAT extra.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import ClassVar

from pydantic import Field
from pydantic.dataclasses import dataclass as pydantic_dataclass

from qatbench.atomic import atomic_write_json, atomic_write_text
from qatbench.models.sources import ModelSource
from qatbench.qat.budget import TrainingBudget
from qatbench.targets.child import ChildRequest, read_record, record_from, record_text

MANIFEST = "manifest.json"
# the run directory's format (``bench/storage/upgrade.py``'s ``FORMAT_VERSION``; a test
# keeps the two equal): stamped into every manifest, ignored when one is read
FORMAT_VERSION = 3


@dataclass(frozen=True)
class VariantArtifact:
    """A built variant (``path`` set) or the reason it could not be built (``error``)."""

    variant: str
    path: str | None = None
    size_bytes: int | None = None
    keras_top1: float | None = None
    error: str = ""
    note: str = ""  # what was done to build it (layers kept float, configs applied, ...)
    # CSV of per-layer error, when computed: PTQ's QuantizationDebugger table, or for QAT
    # the int8 file against the float model (quantization + fine-tuning), the same file as
    # ``layer_errors_vs_float``
    layer_errors: str | None = None
    worst_layers: list[dict] = field(default_factory=list)  # its first rows, for the report
    # QAT only. What fine-tuning fitted: "labels" or "distill" (also in ``note``)
    qat_objective: str | None = None
    # the conversion gap, on the same inputs (fractions; eval set, else calibration inputs)
    keras_qat_top1: float | None = None  # the fake-quant Keras model (labels needed)
    tflite_top1: float | None = None  # its converted .tflite, reference kernels
    keras_qat_agreement: float | None = None  # argmax agreement with the float Keras model
    tflite_agreement: float | None = None
    tflite_qat_keras_agreement: float | None = None  # .tflite vs the QAT Keras model
    conversion_gap_points: float | None = None  # Keras minus .tflite, percentage points
    conversion_gap_basis: str | None = None  # "top-1" or "agreement with float"
    conversion_samples: int | None = None
    # per-layer error of the int8 file against the QAT Keras model (what conversion
    # changed) and against the float model (what quantization + fine-tuning changed)
    layer_errors_vs_qat_keras: str | None = None
    worst_layers_vs_qat_keras: list[dict] = field(default_factory=list)
    layer_errors_vs_float: str | None = None
    worst_layers_vs_float: list[dict] = field(default_factory=list)
    # mixed_int8: the op types asked to stay float, and those that are float in the file
    keep_float_ops: list[str] = field(default_factory=list)
    float_ops_in_file: list[str] = field(default_factory=list)
    # a variant Google's LiteRT Quantizer made from the float32 file: its recipe as
    # applied (the quantizer's JSON: op-name regex, op type, config per entry)
    quantizer_recipe: list[dict] = field(default_factory=list)
    skipped: bool = False  # not built by design (``error`` says why): a skipped row

    @property
    def ok(self) -> bool:
        return self.path is not None and not self.error


@dataclass(frozen=True)
class ModelBuild:
    model: str
    weights: str
    eval_path: str | None
    accuracy_note: str  # why accuracy is missing, when it is
    variants: dict[str, VariantArtifact] = field(default_factory=dict)
    # what the model was trained, calibrated and evaluated on (e.g. an image folder's
    # split: how many eval images, how many classes they cover, calibration images)
    data_note: str = ""
    # the build cache's key for this build (what the gate compares: the same key is the
    # same model), and how this run got it: "built" or "cache hit"
    build_key: str = ""
    cache: str = ""
    # whether TensorFlow's op determinism was on (two builds of one key: identical bytes)
    op_determinism: bool | None = None
    # what built it beyond the Keras core: {"name": "pytorch", "torch": ..., "torchao": ...,
    # "litert-torch": ...} for a PyTorch source; empty for a Keras model
    framework: dict[str, str] = field(default_factory=dict)

    def save(self, directory: Path) -> None:
        atomic_write_text(directory / MANIFEST, self.to_json())

    def to_json(self) -> str:
        """The manifest's text (what ``save`` writes), stamped with the format version."""
        fields = json.loads(record_text(self))
        return json.dumps({**fields, "format_version": FORMAT_VERSION}, indent=2)

    @classmethod
    def load(cls, directory: Path) -> ModelBuild | None:
        path = directory / MANIFEST
        if not path.exists():
            return None
        return read_record(cls, path.read_text())

    @classmethod
    def from_dict(cls, data: dict) -> ModelBuild:
        """A manifest's fields (a cache entry's, its paths moved) as the build; the format
        stamp is not a field (``record_from`` ignores keys the record does not have)."""
        return record_from(cls, {k: v for k, v in data.items() if k != "format_version"})


MIXED_PROPOSAL = "keep_float_ops.json"


@dataclass(frozen=True)
class MixedProposal:
    """Which op types ``mixed_int8`` keeps float, and why: written beside a model's build
    (``keep_float_ops.json``) from a per-op profile, read by the build of ``mixed_int8``."""

    ops: list[str]
    reasons: dict[str, str] = field(default_factory=dict)  # op type -> what the profile showed
    source: str = ""  # which profiles it came from

    def save(self, directory: Path) -> None:
        atomic_write_json(directory / MIXED_PROPOSAL, asdict(self))

    @classmethod
    def load(cls, directory: Path) -> MixedProposal | None:
        path = directory / MIXED_PROPOSAL
        return cls(**json.loads(path.read_text())) if path.exists() else None


def keep_float_ops_for(configured: Sequence[str], directory: Path) -> tuple[str, ...]:
    """The op types ``mixed_int8`` keeps float: ``[training] keep_float_ops``, else those a
    per-op profile proposed for the model built in ``directory`` (tfmot's build and the
    LiteRT Quantizer's of a file share this rule)."""
    from qatbench.qat.errors import QatModelError

    if configured:
        return tuple(configured)
    proposal = MixedProposal.load(directory)
    if proposal is None or not proposal.ops:
        raise QatModelError("mixed_int8 needs op types to keep float: [training] "
                            "keep_float_ops = [\"AVERAGE_POOL_2D\", ...], or [run] profile = "
                            "true so that a per-op profile of float32 and int8 proposes them")
    return tuple(proposal.ops)


@pydantic_dataclass(frozen=True)
class BuildRequest(ChildRequest[ModelBuild]):
    """What the build child (kind ``build``: ``qat/build_worker.py``) is asked to do:
    typed on both sides of the process boundary, as ``targets.worker.JobRequest``. Its
    result is the build's manifest, which a build writes as it goes: kept, and read even
    after a timeout (what was built before the hang stands)."""

    model: str
    variants: list[str]
    out_dir: str
    budget: TrainingBudget = Field(default_factory=TrainingBudget)
    imagenet_dir: str | None = None
    # a user's [models.NAME] table (paths absolute); None: a zoo or plug-in model found
    # by name
    source: ModelSource | None = None

    kind: ClassVar[str] = "build"  # the child entry's kind (``targets/child.py``)
    result_type: ClassVar[type[ModelBuild]] = ModelBuild
    result_indent: ClassVar[int | None] = 2
    clears_old_result: ClassVar[bool] = False
    reads_result_after_timeout: ClassVar[bool] = True

    def result_file(self) -> Path:
        return Path(self.out_dir) / MANIFEST

    def child_dir(self) -> Path:
        return Path(self.out_dir) / "build"

    def without_result(self, how: str) -> ModelBuild:
        """Every variant failed, naming how the child ended."""
        error = f"building {self.model} {how}"
        return ModelBuild(self.model, "", None, "",
                          {v: VariantArtifact(v, error=error) for v in self.variants})
