"""How much training a run spends: the full default, ``--quick``, or a test's minimum."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

QatObjective = Literal["labels", "distill"]
Strategy = Literal["default", "mirrored", "multi_worker"]


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
    # What QAT fine-tuning fits: "labels" (cross-entropy on the training labels) or
    # "distill" (the float model's softened outputs, no labels needed). None: labels where
    # the model has labelled training data, distill otherwise.
    qat_objective: QatObjective | None = None
    # T of the softened KL; 1 matches the output distribution argmax and top-1 read
    # (measured on mnist_cnn: T=1 lands nearer label QAT than T=2 or 4; see train.py)
    distill_temperature: float = Field(1.0, gt=0)
    # Models with no training inputs of their own (the ImageNet models): QAT distils for
    # this many steps of this batch size over the image folder's non-eval images, else the
    # calibration inputs. (Named from when those steps ran on synthetic inputs.)
    synthetic_qat_steps: int = Field(4, ge=0)
    synthetic_batch_size: int = Field(4, ge=1)
    seed: int = 0
    # where QAT's quantizer ranges start: "data" (from a few batches of the fine-tuning
    # inputs, where tfmot's moving average would land after ~1,000 steps; see
    # qat/range_init.py) or "tfmot" (tfmot's own start: activations at [-6, 6], which a
    # short fine-tune barely moves)
    qat_ranges: Literal["data", "tfmot"] = "data"
    # per-layer quantization error of each int8 variant on this many eval inputs (0: off)
    layer_error_samples: int = Field(16, ge=0)
    # qat_selective: quantize only layers whose name matches one of these patterns
    # (fnmatch, e.g. "conv*") or whose class is named here (e.g. "Dense"); the rest stay float
    qat_layers: tuple[str, ...] = ()
    # mixed_int8: post-training int8 with these TFLite op types (e.g. "AVERAGE_POOL_2D")
    # denied quantization, so they run in float; empty: the types a per-op profile found
    # slower in int8 than in float (see qatbench.bench.orchestration.profiling)
    keep_float_ops: tuple[str, ...] = ()
    # the optimizer of float training and QAT fine-tuning: a Keras optimizer name
    # ("adam", "sgd", "rmsprop", ...), at learning_rate / qat_learning_rate
    optimizer: str = "adam"
    # "module:function" or "file.py:function": the user's own training loop, called as
    # fit(model, data) with the model compiled (optimizer and loss as above) and the
    # Dataset (x_train, y_train, x_eval, y_eval); used for float training and QAT
    fit: str | None = None
    # the tf.distribute strategy float training, QAT fine-tuning and distillation run
    # under: "default" (one device, as without a strategy), "mirrored" (MirroredStrategy
    # over the GPUs present, else over the logical CPU devices) or "multi_worker"
    # (MultiWorkerMirroredStrategy from TF_CONFIG). batch_size and synthetic_batch_size
    # are then global batches, split across the replicas (Keras' behaviour)
    strategy: Strategy = "default"
