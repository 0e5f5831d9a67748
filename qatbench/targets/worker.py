"""The child's work for one job (kind ``job``): prepare, measure, evaluate.

The child entry (``targets/child.py``) runs it and writes its ``JobResult``. Living in
its own process is the point: a delegate that segfaults or a device that hangs takes
down only this process, and the parent turns that into a ``failed`` row. Only the
timing side is imported here, so the child starts fast and TensorFlow never shares the
CPU with a measurement.

At a job's timeout the parent sends SIGTERM, then SIGKILL after a grace period
(``QATBENCH_KILL_GRACE_S``). The child entry turns SIGTERM into ``JobInterrupted`` so
``finally`` blocks run: a phone's benchmark process is killed and pushed files removed.

Evaluation is a bonus on top of a latency row, never a threat to it: loading the eval
set and scoring run in one guarded block with their own time budget
(``eval_timeout_s``); a failure or overrun keeps the measurement with a note. Scoring is
top-1 where the eval set has labels, and always (where the build saved the float32
model's outputs as ``reference``) agreement with the float model and output SNR, all
from the outputs the target's own interpreter produced; the predicted class of every
input goes back too, so two rows can be compared input by input.
"""

from __future__ import annotations

import contextlib
import hashlib
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType
from typing import Any, ClassVar, TypeVar

import numpy as np
from pydantic import Field, SerializeAsAny, ValidationInfo, field_validator
from pydantic.dataclasses import dataclass as pydantic_dataclass

from qatbench.targets.agreement import fidelity, output_fidelity, uninformative_reference
from qatbench.targets.base import (
    EvalSet,
    Evaluation,
    JobFailed,
    JobId,
    JobSkipped,
    Measurement,
    MeasureSpec,
    Prepared,
    Status,
    Target,
    TargetUnavailable,
)
from qatbench.targets.child import ChildRequest, Served, crash_text
from qatbench.targets.options import TargetOptions
from qatbench.targets.registry import create_target, validate_target_options
from qatbench.targets.tflite_file import inspect_tflite

DEFAULT_EVAL_TIMEOUT_S = 300.0
R = TypeVar("R")  # a timing-side kind's result


@dataclass(frozen=True)
class JobResult:
    """What the child hands back: the measurement, top-1, and what preparing learnt."""

    measurement: Measurement
    accuracy_top1: float | None = None
    eval_samples: int | None = None
    ops_total: int | None = None
    ops_on_accelerator: int | None = None
    accuracy_note: str = ""
    accuracy_source: str = ""
    # against the float32 model's outputs on the same inputs (the eval set's reference)
    agreement_top1: float | None = None
    agreement_top5: float | None = None
    output_snr_db: float | None = None
    # the predicted class of every eval input, in order: for paired tests (McNemar)
    predictions: list[int] | None = None
    eval_digest: str = ""  # which inputs those were (see ``eval_digest``)
    # each output of a user's model against float: name, task, snr_db, cosine, max_abs_error
    # (and mae, rmse against the truth where the output has labels)
    per_output: list[dict[str, Any]] | None = None
    # the headline non-class output against its true values, per input: the output's
    # name and each input's mean absolute and mean squared error (MAE, RMSE and their
    # bootstrap intervals are computed from these on the bench side)
    truth_errors: dict[str, Any] | None = None



def failed_result(error: str) -> JobResult:
    """A job that ended without a result of its own: a ``failed`` row saying why."""
    return JobResult(measurement=Measurement(status=Status.FAILED, error=error))


# not kw_only: pydantic then hides ``target`` from the options validator
timing_request = pydantic_dataclass(frozen=True)


@timing_request
class TimingRequest(ChildRequest[R]):
    """What every request to a timing-side child is, whatever its kind: the target, the
    model file, where it works and writes its result, the target's options (validated as
    the target's own options model) and which job it is; a subclass adds its ``spec`` (of
    its ``spec_model``). The models travel as their own ``model_dump``
    (``SerializeAsAny``: a target's options subclass keeps its fields) and come back
    through their models."""

    target: str
    model: str
    work_dir: str
    result_path: str
    target_options: SerializeAsAny[TargetOptions] = Field(default_factory=TargetOptions,
                                                          validate_default=True)
    run_id: str = ""
    job: str = ""
    repeat: int = 0

    spec_model: ClassVar[type[MeasureSpec]]

    @field_validator("model", mode="before")
    @classmethod
    def _model_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, Path) else value

    @field_validator("spec", mode="before", check_fields=False)
    @classmethod
    def _spec_as_its_model(cls, value: Any) -> Any:
        """A spec of another ``MeasureSpec`` model (a run's spec for a profile) is
        validated again as this request's model."""
        if isinstance(value, MeasureSpec) and not isinstance(value, cls.spec_model):
            return value.model_dump()
        return value

    @field_validator("target_options", mode="before")
    @classmethod
    def _options_of_the_target(cls, value: Any, info: ValidationInfo) -> TargetOptions:
        return validate_target_options(info.data["target"], value)

    def child_dir(self) -> Path:
        return Path(self.work_dir)

    def job_id(self) -> JobId:
        """Which run, job and repeat this is, as the target sees it (``Prepared.job``)."""
        return job_id_of(self)


@timing_request
class JobRequest(TimingRequest[JobResult]):
    """Everything the child needs: files, the typed timing rules and target options.

    ``spec`` and ``target_options`` are the objects the run config holds; across the
    process boundary they travel as ``model_dump`` and come back through their models,
    so the child's target gets exactly what the config validated. A plain mapping given
    for either is validated here, as the config would have.

    ``run_id``, ``job`` (the runner's slug of the job) and ``repeat`` say which job this
    is; the target gets them as ``Prepared.job`` (``job_id``). A request that leaves them
    out (a caller outside the runner) gets a name made from its work directory.
    """

    spec: SerializeAsAny[MeasureSpec] = Field(default_factory=MeasureSpec)
    eval_path: str | None = None
    eval_timeout_s: float = DEFAULT_EVAL_TIMEOUT_S  # evaluation's own budget, apart from timing

    spec_model: ClassVar[type[MeasureSpec]] = MeasureSpec
    kind: ClassVar[str] = "job"  # the child entry's kind (``targets/child.py``)
    result_type: ClassVar[type] = JobResult

    def without_result(self, how: str) -> JobResult:
        return failed_result(f"the measuring process {how}")


def job_id_of(request: TimingRequest) -> JobId:
    """A request's ``run_id``, ``job`` and ``repeat`` as a ``JobId``; without names (a
    caller outside the runner), a name unique to its work directory."""
    if request.run_id and request.job:
        return JobId(request.run_id, request.job, request.repeat)
    work = Path(request.work_dir).resolve()
    digest = hashlib.sha256(str(work).encode()).hexdigest()[:12]
    return JobId("unnamed", f"{work.name}-{digest}", request.repeat)


def _outcome_row(status: Status, error: str, prepared: Prepared | None = None) -> JobResult:
    return JobResult(
        measurement=Measurement(status=status, error=error,
                                extra=dict(prepared.extra) if prepared else {}),
        ops_total=prepared.ops_total if prepared else None,
        ops_on_accelerator=prepared.ops_on_accelerator if prepared else None,
    )


class EvaluationTimedOut(BaseException):  # a signal, not an error
    """Evaluation reached ``eval_timeout_s``; a ``BaseException`` so no target swallows it."""


@contextlib.contextmanager
def _time_budget(seconds: float) -> Iterator[None]:
    """Raise ``EvaluationTimedOut`` in this thread after ``seconds`` (SIGALRM).

    Python runs the handler between bytecodes: a single long ``invoke()`` finishes first,
    but the loop over the eval set stops. Without SIGALRM (another thread) there is no
    budget, only the parent's job timeout.
    """
    if not hasattr(signal, "setitimer") or threading.current_thread() is not \
            threading.main_thread():
        yield
        return

    def expire(signum: int, frame: FrameType | None) -> None:
        raise EvaluationTimedOut

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def eval_digest(data: EvalSet) -> str:
    """A short hash of the eval inputs: two rows' predictions pair only on the same ones."""
    digest = hashlib.sha256()
    for name, values in (sorted(data.x.items()) if isinstance(data.x, dict) else [("", data.x)]):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(values).tobytes())
    digest.update(np.ascontiguousarray(data.y).tobytes())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class EvalOutcome:
    """Everything evaluation adds to a row (all empty when it failed or did not apply)."""

    top1: float | None = None
    samples: int | None = None
    note: str = ""
    agreement_top1: float | None = None
    agreement_top5: float | None = None
    output_snr_db: float | None = None
    predictions: list[int] | None = None
    digest: str = ""
    per_output: list[dict[str, Any]] | None = None  # a user model's outputs against float
    truth_errors: dict[str, Any] | None = None  # the headline output against the truth


def _as_evaluation(value: Evaluation | float | None, data: EvalSet) -> Evaluation | None:
    """A target's answer as an ``Evaluation`` (a bare float: a plug-in's top-1)."""
    if value is None or isinstance(value, Evaluation):
        return value
    return Evaluation(top1=float(value), samples=len(data.y))


def output_step(model: Path) -> float | None:
    """One quantization step of the file's output, when it has exactly one integer
    output (None otherwise, or when the file cannot be read here)."""
    try:
        info = inspect_tflite(model)
    except Exception:  # a file only a device's runtime loads: no step, no rule
        return None
    if len(info.outputs) != 1 or not info.outputs[0].is_quantized_integer:
        return None
    return info.outputs[0].scale


def snr_unrepresentable_reason(reference: np.ndarray, step: float | None) -> str:
    """Why output SNR is no figure for this file on these inputs ("" when it is one).

    When every float output lies below one step of the int8 output, the file can only
    answer zero (or one step) for all of them: SNR then measures the output format, not
    the model -- as for a random-weight ImageNet model, whose softmax is 0.001 for every
    class against int8 softmax's fixed step of 1/256 (0 dB for PTQ and QAT alike)."""
    if step is None or reference.size == 0:
        return ""
    largest = float(np.max(np.abs(reference)))
    if largest >= step:
        return ""
    return (f"output SNR not reported: every float output is below one step of the int8 "
            f"output ({largest:.2g} < {step:.2g}), so the file cannot represent them")


def truth_errors(outputs: np.ndarray, data: EvalSet, per_output: list[dict[str, Any]] | None
                 ) -> dict[str, Any] | None:
    """Each labelled non-class output's MAE and RMSE against the truth, added to its
    ``per_output`` entry; returns the first such output's per-input errors (the row's
    headline) or None when no output has true values."""
    if data.truth is None or not data.outputs:
        return None
    truth = np.asarray(data.truth, dtype=np.float64).reshape(data.samples, -1)
    headline = None
    entries = {entry["name"]: entry for entry in per_output or []}
    for spec, where in data.output_slices():
        expected = truth[:, where]
        if spec.task == "classification" or np.isnan(expected).all():
            continue
        error = outputs[:, where].astype(np.float64) - expected
        absolute, squared = np.mean(np.abs(error), axis=1), np.mean(error ** 2, axis=1)
        if spec.name in entries:
            entries[spec.name].update(mae=float(absolute.mean()),
                                      rmse=float(np.sqrt(squared.mean())))
        if headline is None:
            headline = {"output": spec.name, "abs": absolute.tolist(),
                        "squared": squared.tolist()}
    return headline


def _outcome(evaluation: Evaluation, data: EvalSet, step: float | None = None
             ) -> EvalOutcome:
    """Top-1 as the target scored it; fidelity and predictions from its outputs.
    ``step``: one step of the file's int8 output (``output_step``), if it has one."""
    if evaluation.outputs is None:
        return EvalOutcome(evaluation.top1, evaluation.samples or len(data.y)
                           if evaluation.top1 is not None else None,
                           note="" if data.reference is None else
                           "agreement with float not measured: this target returns top-1 "
                           "only, no outputs")
    outputs = np.asarray(evaluation.outputs).reshape(data.samples, -1)
    note, scores, per_output = "", None, None
    classes = data.class_slice()
    reference = None if data.reference is None else \
        np.asarray(data.reference).reshape(data.samples, -1)
    if reference is not None and data.outputs:
        try:
            per_output = [output_fidelity(spec.name, spec.task, outputs[:, where],
                                          reference[:, where]).as_dict()
                          for spec, where in data.output_slices()]
        except ValueError as error:
            note = f"fidelity to float not measured: {error}"
    if reference is not None and classes is not None:
        try:
            scores = fidelity(outputs[:, classes], reference[:, classes])
        except ValueError as error:
            note = f"agreement with float not measured: {error}"
    unrepresentable = "" if reference is None or per_output else \
        snr_unrepresentable_reason(reference, step)
    if scores is not None and uninformative_reference(reference[:, classes]):
        first = np.argmax(reference[:, classes], axis=-1)
        note = (f"agreement with float not reported: the float model gives class "
                f"{int(first[0])} for every one of the {len(first)} inputs (random "
                "weights?), so any model that does the same would agree 100%; " +
                (unrepresentable if unrepresentable else
                 "output SNR is the fidelity signal here"))
        scores = replace(scores, agreement_top1=None, agreement_top5=None)
    elif unrepresentable:
        note = "; ".join(n for n in (note, unrepresentable) if n)
    snr = scores.output_snr_db if scores and not unrepresentable else None
    if per_output:  # every output counts: the worst one is the row's SNR
        snr = min(float(o["snr_db"]) for o in per_output)
    against_truth = truth_errors(outputs, data, per_output)
    return EvalOutcome(
        top1=evaluation.top1, samples=data.samples, note=note,
        agreement_top1=scores.agreement_top1 if scores else None,
        agreement_top5=scores.agreement_top5 if scores else None,
        output_snr_db=snr,
        predictions=[int(c) for c in np.argmax(outputs[:, classes], axis=-1)]
        if classes is not None else None, digest=eval_digest(data), per_output=per_output,
        truth_errors=against_truth)


def _evaluate(target: Target, prepared: Prepared, eval_path: str, budget_s: float
              ) -> EvalOutcome:
    """Top-1, fidelity to the float model and predictions; never raises for what
    evaluation does."""
    try:
        with _time_budget(budget_s):
            data = EvalSet.load(Path(eval_path))
            evaluation = _as_evaluation(target.evaluate(prepared, data), data)
            if evaluation is None:
                return EvalOutcome()
            step = output_step(prepared.source) if data.reference is not None else None
            return _outcome(evaluation, data, step)
    except EvaluationTimedOut:
        return EvalOutcome(note=f"evaluation stopped at eval_timeout_s={budget_s:g} s; the "
                                "latency figures stand")
    except Exception as error:  # accuracy is a bonus: keep the latency row
        return EvalOutcome(note=f"evaluation failed: {type(error).__name__}: {error}")


def run_job(request: JobRequest) -> JobResult:
    """Prepare, measure and (when data is given) evaluate one model on one target."""
    target = create_target(request.target, request.target_options)
    work = Path(request.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    prepared: Prepared | None = None
    try:
        prepared = replace(target.prepare(Path(request.model), work), job=request.job_id())
        measurement = target.measure(prepared, request.spec)
    except JobSkipped as reason:
        return _outcome_row(Status.SKIPPED, str(reason), prepared)
    except TargetUnavailable as reason:
        return _outcome_row(Status.UNAVAILABLE, str(reason), prepared)
    except JobFailed as reason:
        return _outcome_row(Status.FAILED, str(reason), prepared)

    outcome = EvalOutcome()
    if request.eval_path and measurement.status is Status.OK:
        outcome = _evaluate(target, prepared, request.eval_path, request.eval_timeout_s)
    return JobResult(measurement=measurement, accuracy_top1=outcome.top1,
                     eval_samples=outcome.samples, ops_total=prepared.ops_total,
                     ops_on_accelerator=prepared.ops_on_accelerator,
                     accuracy_note=outcome.note, accuracy_source=target.accuracy_source,
                     agreement_top1=outcome.agreement_top1,
                     agreement_top5=outcome.agreement_top5,
                     output_snr_db=outcome.output_snr_db, predictions=outcome.predictions,
                     eval_digest=outcome.digest, per_output=outcome.per_output,
                     truth_errors=outcome.truth_errors)


def serve(request: JobRequest) -> Served:
    """The ``job`` kind for the child entry: a crash is a ``failed`` row."""
    return Served(lambda: run_job(request),
                  lambda error: _outcome_row(Status.FAILED, crash_text(error)))
