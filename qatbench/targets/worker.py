"""The child process that runs one job: prepare, measure, evaluate, then write the result.

Run as ``python -m qatbench.targets.worker JOB.json``. Living in its own process is the
point: a delegate that segfaults or a device that hangs takes down only this process,
and the parent turns that into a ``failed`` row. Only the timing side is imported here,
so the child starts fast and TensorFlow never shares the CPU with a measurement.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qatbench.targets.base import (
    EvalSet,
    JobFailed,
    JobSkipped,
    Measurement,
    MeasureSpec,
    Prepared,
    ReportedLatency,
    Status,
    TargetUnavailable,
)
from qatbench.targets.registry import create_target


@dataclass(frozen=True)
class JobRequest:
    """Everything the child needs, as files and plain values."""

    target: str
    model: str
    work_dir: str
    result_path: str
    spec: dict[str, Any]
    target_options: dict[str, Any] = field(default_factory=dict)
    eval_path: str | None = None

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(dataclasses.asdict(self), indent=2))

    @classmethod
    def load(cls, path: Path) -> JobRequest:
        return cls(**json.loads(path.read_text()))


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

    def to_json(self) -> str:
        data = dataclasses.asdict(self)
        data["measurement"]["status"] = self.measurement.status.value
        return json.dumps(data, default=str)

    @classmethod
    def from_json(cls, text: str) -> JobResult:
        data = json.loads(text)
        m = data.pop("measurement")
        reported = m.pop("reported")
        measurement = Measurement(
            **{**m, "status": Status(m["status"]), "samples_ms": tuple(m["samples_ms"]),
               "reported": ReportedLatency(**reported) if reported else None},
        )
        return cls(measurement=measurement, **data)


def _outcome_row(status: Status, error: str, prepared: Prepared | None = None) -> JobResult:
    return JobResult(
        measurement=Measurement(status=status, error=error,
                                extra=dict(prepared.extra) if prepared else {}),
        ops_total=prepared.ops_total if prepared else None,
        ops_on_accelerator=prepared.ops_on_accelerator if prepared else None,
    )


def run_job(request: JobRequest) -> JobResult:
    """Prepare, measure and (when data is given) evaluate one model on one target."""
    target = create_target(request.target, request.target_options)
    work = Path(request.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    prepared: Prepared | None = None
    try:
        prepared = target.prepare(Path(request.model), work)
        measurement = target.measure(prepared, MeasureSpec(**request.spec))
    except JobSkipped as reason:
        return _outcome_row(Status.SKIPPED, str(reason), prepared)
    except TargetUnavailable as reason:
        return _outcome_row(Status.UNAVAILABLE, str(reason), prepared)
    except JobFailed as reason:
        return _outcome_row(Status.FAILED, str(reason), prepared)

    accuracy, samples, note = None, None, ""
    if request.eval_path and measurement.status is Status.OK:
        data = EvalSet.load(Path(request.eval_path))
        try:
            accuracy = target.evaluate(prepared, data)
            samples = len(data.y) if accuracy is not None else None
        except Exception as error:  # accuracy is a bonus: keep the latency row
            note = f"evaluation failed: {type(error).__name__}: {error}"
    source = getattr(target, "accuracy_source", f"{target.name} interpreter")
    return JobResult(measurement=measurement, accuracy_top1=accuracy, eval_samples=samples,
                     ops_total=prepared.ops_total, ops_on_accelerator=prepared.ops_on_accelerator,
                     accuracy_note=note, accuracy_source=source)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    request = JobRequest.load(Path(args[0]))
    try:
        result = run_job(request)
    except Exception as error:
        detail = "".join(traceback.format_exception(error)[-3:]).strip()
        result = _outcome_row(Status.FAILED, f"{type(error).__name__}: {error}\n{detail}")
    result_path = Path(request.result_path)
    temporary = result_path.with_suffix(".tmp")
    temporary.write_text(result.to_json())
    temporary.replace(result_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
