"""The contract between the runner and every hardware target.

A target is one small class with four verbs -- ``probe``, ``prepare``, ``measure``,
``evaluate`` -- and the frozen value types below. The runner never branches on a
target's name: everything target-specific travels in these values.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:  # op_profile imports this module; the annotation only names its type
    from qatbench.targets.op_profile import OpProfile


class Status(enum.StrEnum):
    """What became of one job (a row of the results table)."""

    OK = "ok"
    COMPILED = "compiled"  # prepared for the accelerator (placement, sizes), not timed
    FAILED = "failed"
    SKIPPED = "skipped"  # the job makes no sense on this target (e.g. float on Edge TPU)
    UNAVAILABLE = "unavailable"  # the target cannot run here (tool or device missing)


@dataclass(frozen=True)
class Availability:
    """Whether a target can run on this host; if not, the exact reason and the fix."""

    available: bool
    reason: str = ""
    fix: str = ""
    details: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.available and not self.reason:
            raise ValueError("an unavailable target must say why")

    def message(self) -> str:
        if self.available:
            return "available"
        return f"{self.reason} -- {self.fix}" if self.fix else self.reason


class MeasureSpec(BaseModel):
    """How to time a model: benchmark_model's defaults, kept configurable.

    Warm-up runs until both ``warmup_runs`` and ``warmup_min_s`` are met; timed runs
    until both ``min_runs`` and ``min_s`` are met; both phases stop at ``max_s``.

    One type from the run config's ``[measure]`` table (everything but ``threads``,
    which ``[run] threads`` lists) to the timing child: pydantic, so a bad value is a
    ``ValueError`` naming the field wherever the spec is made, and the process
    boundary carries ``model_dump()`` / ``model_validate()``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    threads: int = Field(1, ge=1)
    warmup_runs: int = Field(1, ge=0)
    warmup_min_s: float = Field(0.5, ge=0)
    min_runs: int = Field(50, ge=1)
    min_s: float = Field(1.0, ge=0)
    max_s: float = Field(150.0, gt=0)
    seed: int = 0  # of the random inputs a target feeds the model

    def with_threads(self, threads: int) -> MeasureSpec:
        """These rules on ``threads`` threads (validated: 0 is an error, as anywhere)."""
        return self.model_validate({**self.model_dump(), "threads": threads})


class ProfileSpec(MeasureSpec):
    """How to profile a model op by op: the whole model's rules, and ``op_s``, a cap on
    each op's warm-up and timed minimum durations (a model of 700 ops must not take 700
    whole-model budgets; ``None``: the whole model's)."""

    op_s: float | None = Field(None, gt=0)


class Capability(enum.StrEnum):
    """What a target can do beyond the four verbs, declared as data in its class's
    ``capabilities`` (never inferred from its type or its options' names).

    ``PROFILE`` promises a method. The others promise extra work in ``measure`` that a
    run *requests*: a target declaring one has the boolean option ``option`` names, off
    by default, and does the work when it is on (``registry.with_requested`` turns it on
    only where it is declared). A ``once_per_job`` one is done on a job's first repeat
    alone: the runner turns it off for the others (``registry.options_for_repeat``).
    """

    PROFILE = "profile"  # ``profile(prepared, spec) -> OpProfile``: time every op
    # instructions retired per inference (``perf stat``) in ``Measurement.extra``
    COUNT_INSTRUCTIONS = "count_instructions"
    # the timing job's own per-op profile (a phone's op tables from a second run beside the
    # timed one), in ``Measurement.extra["op_profile"]``
    PROFILE_IN_JOB = "profile_in_job"

    @property
    def option(self) -> str | None:
        """The option a run sets to request this capability (``None``: a method)."""
        return _REQUESTED_BY.get(self)

    @property
    def once_per_job(self) -> bool:
        """Whether one repeat of a job is enough for its work (one profile per job)."""
        return self is Capability.PROFILE_IN_JOB


_REQUESTED_BY = {Capability.COUNT_INSTRUCTIONS: "count_instructions",
                 Capability.PROFILE_IN_JOB: "op_profiling"}


def capabilities_of(target: object) -> frozenset[Capability]:
    """The capabilities ``target`` (an instance or its class) declares (none for a
    plug-in that declares none)."""
    return frozenset(Capability(c) for c in getattr(target, "capabilities", ()))


@dataclass(frozen=True)
class JobId:
    """Which run, job and repeat a prepared model is timed for.

    The worker sets it as ``Prepared.job`` after ``prepare`` returns, from its
    ``JobRequest``; the runner fills those from its own names (the run id, the job's
    slug, the repeat). A target that keeps files outside the job's work directory (a
    phone's device folder) names them from this, never from the shape of ``work``: two
    jobs, two repeats of a job and two runs sharing a device never share such a place.
    The values are plain text, not made safe for any shell: the target does that.
    """

    run_id: str
    job: str
    repeat: int = 0

    def __post_init__(self) -> None:
        if not self.run_id or not self.job:
            raise ValueError(f"a job id needs a run id and a job, got {self!r}")
        if self.repeat < 0:
            raise ValueError(f"repeat must be >= 0, got {self.repeat}")


@dataclass(frozen=True)
class Prepared:
    """A model made ready for one target (compiled, pushed, ...), plus what was learnt.

    ``job`` is not the target's to fill: the worker sets it after ``prepare`` (see
    ``JobId``), so ``measure`` and ``evaluate`` can rely on it; it is ``None`` only when
    a caller drives a target by hand without saying which job this is.
    """

    model: Path
    source: Path  # the .tflite the user asked for, before any target-specific compile
    ops_total: int | None = None
    ops_on_accelerator: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    job: JobId | None = None  # set by the worker: run id, job slug, repeat


@dataclass(frozen=True)
class ReportedLatency:
    """Aggregates printed by a tool that does not hand out its samples (benchmark_model).

    A figure the tool did not print stays ``None``: never guessed, never 0.
    """

    n_samples: int | None = None
    min_ms: float | None = None
    max_ms: float | None = None
    mean_ms: float | None = None
    std_ms: float | None = None
    p50_ms: float | None = None


@dataclass(frozen=True)
class Measurement:
    """One timing of a prepared model: every sample when we timed it ourselves."""

    status: Status = Status.OK
    samples_ms: tuple[float, ...] = ()
    reported: ReportedLatency | None = None
    init_ms: float | None = None
    first_inference_ms: float | None = None
    peak_memory_mb: float | None = None
    device: str = ""
    delegate: str = ""
    runtime: str = ""
    error: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status is Status.OK and not self.samples_ms and self.reported is None:
            raise ValueError("an ok measurement needs samples or reported figures")
        if any(not math.isfinite(s) or s < 0 for s in self.samples_ms):
            raise ValueError("latency samples must be finite and non-negative")


NO_LABEL = -1  # the label of an eval input that has none (fidelity only, no top-1)


@dataclass(frozen=True)
class OutputSpec:
    """One model output as the eval set's reference holds it: name, task, values per input."""

    name: str
    task: str  # "classification" (a class vector) or "regression" (anything else)
    width: int


@dataclass(frozen=True)
class EvalSet:
    """Evaluation inputs (float, in the model's training scale), their labels, and the
    float32 model's outputs on them.

    ``y`` holds ``NO_LABEL`` (-1) for inputs without a label: a model with no labelled
    data still gets an eval set, so its int8 rows are compared with the float model
    (agreement, SNR) where top-1 cannot be measured. ``reference`` is the float32
    model's output for each input (computed once at build time on the host's reference
    kernels), what every target's outputs are compared with.

    A multi-input model's inputs are ``x`` as a dict keyed by input name; a multi-output
    model's reference rows hold every output side by side in ``outputs`` order, and
    ``y`` labels the first class output (top-1, agreement and predictions are about that
    one; every output gets SNR, cosine and max abs error). Without ``outputs``: one class
    output, as in the zoo.
    """

    x: np.ndarray | dict[str, np.ndarray]
    y: np.ndarray
    name: str = ""
    reference: np.ndarray | None = None
    reference_source: str = ""  # what produced ``reference`` (file and kernels)
    outputs: tuple[OutputSpec, ...] = ()
    # the true values of labelled non-class outputs (regression), laid out like
    # ``reference`` (one row per input, outputs side by side); NaN where an output has
    # no truth. None: no such labels
    truth: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.samples != len(self.y):
            raise ValueError(f"eval set has {self.samples} inputs but {len(self.y)} labels")
        if self.reference is not None and len(self.reference) != self.samples:
            raise ValueError(f"eval set has {self.samples} inputs but {len(self.reference)} "
                             "reference outputs")
        if self.truth is not None and len(self.truth) != self.samples:
            raise ValueError(f"eval set has {self.samples} inputs but {len(self.truth)} "
                             "true output rows")

    @property
    def samples(self) -> int:
        if isinstance(self.x, dict):
            return len(next(iter(self.x.values()))) if self.x else 0
        return len(self.x)

    @property
    def input_names(self) -> list[str] | None:
        return list(self.x) if isinstance(self.x, dict) else None

    @property
    def output_names(self) -> list[str] | None:
        return [o.name for o in self.outputs] or None

    def output_slices(self) -> list[tuple[OutputSpec, slice]]:
        """Where each output sits in a reference / outputs row."""
        found, start = [], 0
        for spec in self.outputs:
            found.append((spec, slice(start, start + spec.width)))
            start += spec.width
        return found

    def class_slice(self) -> slice | None:
        """The columns of the class output that top-1, agreement and predictions read:
        the whole row for a zoo eval set, None when no output is a class vector."""
        if not self.outputs:
            return slice(None)
        return next((where for spec, where in self.output_slices()
                     if spec.task == "classification"), None)

    @property
    def has_labels(self) -> bool:
        """Whether top-1 can be scored: every input carries a real label."""
        return len(self.y) > 0 and bool(np.all(np.asarray(self.y) != NO_LABEL)) \
            and self.class_slice() is not None

    @classmethod
    def load(cls, path: Path) -> EvalSet:
        with np.load(path) as data:
            reference = data["reference"] if "reference" in data.files else None
            source = str(data["reference_source"]) if "reference_source" in data.files else ""
            named = {k.split("/", 1)[1]: data[k] for k in data.files if k.startswith("x/")}
            outputs = ()
            if "output_names" in data.files:
                outputs = tuple(OutputSpec(str(n), str(t), int(w)) for n, t, w in zip(
                    data["output_names"], data["output_tasks"], data["output_widths"],
                    strict=True))
            return cls(x=named or data["x"], y=data["y"],
                       name=str(data.get("name", path.stem)), reference=reference,
                       reference_source=source, outputs=outputs,
                       truth=data["truth"] if "truth" in data.files else None)

    def save(self, path: Path) -> None:
        arrays: dict[str, np.ndarray] = {"y": self.y, "name": np.array(self.name)}
        if isinstance(self.x, dict):
            arrays.update({f"x/{name}": value for name, value in self.x.items()})
        else:
            arrays["x"] = self.x
        if self.reference is not None:
            arrays["reference"] = self.reference
            arrays["reference_source"] = np.array(self.reference_source)
        if self.outputs:
            arrays["output_names"] = np.array([o.name for o in self.outputs])
            arrays["output_tasks"] = np.array([o.task for o in self.outputs])
            arrays["output_widths"] = np.array([o.width for o in self.outputs])
        if self.truth is not None:
            arrays["truth"] = self.truth
        np.savez_compressed(path, **arrays)


@dataclass(frozen=True)
class Evaluation:
    """What ``Target.evaluate`` measured on an eval set, on the target's own interpreter.

    ``outputs`` (one dequantized output row per input, in eval-set order) is what makes
    fidelity possible: the worker compares it with the float model's ``reference``
    (agreement, SNR) and keeps its argmax per input for paired tests. A target that can
    only count correct answers (a tool on a device) returns ``top1`` with no outputs.
    """

    top1: float | None = None
    outputs: np.ndarray | None = field(default=None, repr=False)
    samples: int | None = None  # how many inputs were run

    @classmethod
    def of_outputs(cls, outputs: np.ndarray, data: EvalSet) -> Evaluation:
        """Top-1 from the outputs (None when the inputs carry no labels)."""
        outputs = np.asarray(outputs, dtype=np.float32).reshape(data.samples, -1)
        top1 = float(np.mean(np.argmax(outputs[:, data.class_slice()], axis=-1)
                             == np.asarray(data.y))) if data.has_labels else None
        return cls(top1=top1, outputs=outputs, samples=data.samples)


class TargetError(Exception):
    """Base for target-side outcomes the runner turns into rows instead of crashes."""


class JobSkipped(TargetError):
    """The job makes no sense on this target; the message is the reason (row ``skipped``)."""


class TargetUnavailable(TargetError):
    """The target cannot run here right now (tool missing, device gone); row ``unavailable``.

    The message says what is missing or vanished and how to bring it back.
    """


class JobFailed(TargetError):
    """The tool or device reported a failure; the message carries its own words (``failed``)."""


class JobInterrupted(BaseException):  # a signal, like KeyboardInterrupt
    """The timing child was told to stop (SIGTERM at the job's timeout).

    A ``BaseException`` so that ``except Exception`` in a target or a library does not
    swallow it: it unwinds the stack, ``finally`` blocks clean up (a process on a phone,
    pushed files), and the runner's own timeout row stands.
    """


@runtime_checkable
class Target(Protocol):
    """One hardware target. Implementations register by name (see ``registry``).

    The runner calls ``probe`` once per run in its own process, then for each job
    ``prepare``, ``measure`` and (when the job has an eval set and the measurement is
    ``ok``) ``evaluate`` in a fresh child process. A method reports an expected outcome
    by raising a ``TargetError`` subclass, which becomes the row's status:

    * ``JobSkipped`` -- this job makes no sense here (e.g. a float model on the Edge TPU);
    * ``TargetUnavailable`` -- the tool or device is missing or vanished; the jobs after
      it cannot run either until someone acts on the message;
    * ``JobFailed`` -- the tool or device ran and reported a failure.

    Any other exception is a bug or a crash and becomes a ``failed`` row with its
    traceback. ``JobInterrupted`` (a ``BaseException``) may arrive at any point while
    the child is stopped at its timeout; targets clean up in ``finally``, never catch it.

    Which job is running reaches the target explicitly: between ``prepare`` and
    ``measure`` the worker sets ``Prepared.job`` (a ``JobId``: run id, job slug, repeat).
    Anything a target keeps outside ``work`` -- a folder on a shared phone -- is named
    from it and is the job's alone; a target never reads the run or the job from the
    shape of ``work``.

    Attributes:
      name: the name the run config and the results use (for a user-named target with
        ``kind = ...`` this is the user's name, not the built-in's).
      description: one line for ``qatbench targets``.
      takes_device: whether the target runs on an attached device that ``--device``
        selects (a phone, a TPU); answered without touching hardware.
      accuracy_source: where ``evaluate`` runs the eval set (top-1 and agreement with
        the float model), recorded in every row that has either (e.g.
        ``"cpu-xnnpack interpreter"``, or the host interpreter for a phone that cannot
        evaluate).
      capabilities (optional): a frozenset of ``Capability`` the target declares; each
        one promises a method (``Capability.PROFILE``: ``Profiler.profile``) or work
        ``measure`` does when a run requests it through the capability's option
        (``Capability.COUNT_INSTRUCTIONS``: ``count_instructions``). The runner asks
        ``capabilities_of(target)``, the way a backend registry declares what each
        backend supports, and never checks a target's type or tries its options.
    """

    name: str
    description: str
    takes_device: bool
    accuracy_source: str

    def probe(self) -> Availability:
        """Whether this host can run the target now; never raises for a missing tool.

        Returns:
          ``Availability(True, details=...)`` with what was found (tool versions,
          device), or ``Availability(False, reason=..., fix=...)``.
        """
        ...

    def prepare(self, model: Path, work: Path) -> Prepared:
        """Make ``model`` ready for this target (compile it, plan where it goes on a device).

        Args:
          model: the ``.tflite`` file of the job, never modified.
          work: an empty directory of this job (and repeat) for outputs and logs; where
            it lies says nothing a target may rely on.

        Returns:
          ``Prepared`` with the file to measure and what was learnt (op placement ...);
          its ``job`` is left ``None``: the worker sets it.

        Raises:
          JobSkipped: the model does not suit the target (float on an int8-only chip).
          TargetUnavailable: a tool or device this step needs is missing or gone.
          JobFailed: a tool ran and failed (a compiler error); the message carries its lines.
        """
        ...

    def measure(self, prepared: Prepared, spec: MeasureSpec) -> Measurement:
        """Time ``prepared`` as ``spec`` says (warm-up, runs, durations, threads).

        ``prepared.job`` says which run, job and repeat this is (set by the worker).

        Returns:
          A ``Measurement``: ``ok`` with every sample (or the tool's reported figures),
          ``compiled`` when only preparation was possible (no accelerator attached), or
          ``failed`` with the tool's own words when it ran but produced no valid figure.

        Raises:
          TargetUnavailable: the device or tool is gone (a phone unplugged mid-run).
          JobFailed: the device or tool failed in a way that is not a result (a push
            failed, the run hung past its own timeout).
        """
        ...

    def evaluate(self, prepared: Prepared, data: EvalSet) -> Evaluation | None:
        """Run ``prepared`` on every input of ``data``, where ``accuracy_source`` says.

        Returns:
          An ``Evaluation``: ideally the dequantized outputs of every input
          (``Evaluation.of_outputs(outputs, data)``, which also scores top-1 when the
          inputs carry labels), from which the worker derives agreement with the float
          model and per-input predictions; or only ``top1`` when the target cannot hand
          out outputs. ``None`` when the model is not a single-input classifier this can
          run. (A bare float is still read as top-1, for plug-ins written before this.)

        Raises:
          Any exception: the runner keeps the latency row and notes the failure; a
          budget (``eval_timeout_s``) stops it when it takes too long.
        """
        ...


@runtime_checkable
class Profiler(Protocol):
    """What a target declaring ``Capability.PROFILE`` adds to ``Target``.

    The profile child (``targets/profile_worker.py``) calls it after ``prepare`` (and
    after setting ``Prepared.job``), for host and phone targets alike: one path, one
    result type.
    """

    def profile(self, prepared: Prepared, spec: ProfileSpec) -> OpProfile:
        """Time every op of ``prepared`` as ``spec`` says.

        Returns:
          An ``OpProfile``: each op's p50 (or why it has none), the whole model's p50 in
          the same conditions (for the coverage), the delegate; ``extra["device"]`` and
          ``extra["runtime"]`` say where it ran, as a ``Measurement`` does.

        Raises:
          The ``TargetError`` subclasses, as ``measure`` does (a tool that printed no op
          tables is ``JobFailed``).
        """
        ...
