"""How much training a run spends: the full default, ``--quick``, or a test's minimum."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class TrainingBudget(BaseModel):
    """Epochs and sample counts for float training, QAT fine-tuning and calibration."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    float_epochs: int = Field(6, ge=0)
    qat_epochs: int = Field(2, ge=0)
    batch_size: int = Field(64, ge=1)
    learning_rate: float = Field(1e-3, gt=0)
    qat_learning_rate: float = Field(1e-4, gt=0)
    max_train_samples: int | None = Field(None, ge=1)
    max_eval_samples: int | None = Field(None, ge=1)
    representative_samples: int = Field(200, ge=1)
    # Models without labelled data: QAT only runs this many steps on synthetic inputs so
    # the quantizer ranges see data; accuracy is then reported missing, never invented.
    synthetic_qat_steps: int = Field(4, ge=0)
    synthetic_batch_size: int = Field(4, ge=1)
    seed: int = 0
    # per-layer quantization error of each int8 variant on this many eval inputs (0: off)
    layer_error_samples: int = Field(16, ge=0)
    # qat_selective: quantize only layers whose name matches one of these patterns
    # (fnmatch, e.g. "conv*") or whose class is named here (e.g. "Dense"); the rest stay float
    qat_layers: tuple[str, ...] = ()
