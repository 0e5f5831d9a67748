"""What building a model produced: one ``.tflite`` per variant (or the reason it failed).

Plain records with no TensorFlow behind them, so the timing side can read a build
(``manifest.json``) on a host that never installed the QAT extra.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class VariantArtifact:
    """A built variant (``path`` set) or the reason it could not be built (``error``)."""

    variant: str
    path: str | None = None
    size_bytes: int | None = None
    keras_top1: float | None = None
    error: str = ""
    note: str = ""  # what was done to build it (layers kept float, configs applied, ...)
    layer_errors: str | None = None  # CSV of per-layer quantization error, when computed
    worst_layers: list[dict] = field(default_factory=list)  # its first rows, for the report

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

    def save(self, directory: Path) -> None:
        data = asdict(self)
        (directory / (MANIFEST + ".tmp")).write_text(json.dumps(data, indent=2))
        (directory / (MANIFEST + ".tmp")).replace(directory / MANIFEST)

    @classmethod
    def load(cls, directory: Path) -> ModelBuild | None:
        path = directory / MANIFEST
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        data["variants"] = {k: VariantArtifact(**v) for k, v in data["variants"].items()}
        return cls(**data)
