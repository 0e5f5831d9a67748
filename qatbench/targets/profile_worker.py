"""The child process that profiles one model op by op, on any target that declares it.

Run as ``python -m qatbench.targets.profile_worker REQUEST.json``, started by the bench
side's launcher like the timing child (``worker``) and for the same reasons: a cut op
that crashes the runtime takes down only this process, and TensorFlow is never loaded
here. Which targets can profile is their own declaration (``Capability.PROFILE`` in
``capabilities``; ``targets/base.py``): the host CPU targets cut the model into one-op
models, a phone reads ``benchmark_model``'s op tables. This child does the same for
every one of them: ``prepare``, set ``Prepared.job``, ``profile``.
"""

from __future__ import annotations

import json
import signal
import sys
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType
from typing import ClassVar

from qatbench.atomic import atomic_write_text
from qatbench.targets.base import (
    Capability,
    JobFailed,
    JobId,
    JobInterrupted,
    JobSkipped,
    ProfileSpec,
    TargetUnavailable,
    capabilities_of,
)
from qatbench.targets.host.op_profile import OpProfile
from qatbench.targets.options import TargetOptions
from qatbench.targets.registry import create_target
from qatbench.targets.worker import job_id_of, request_json, typed_request_fields


@dataclass(frozen=True)
class ProfileRequest:
    """What the profile child needs; typed as ``JobRequest`` is, and saved the same way.
    ``spec`` carries the whole model's rules and ``op_s``, the per-op cap."""

    target: str
    model: str
    work_dir: str
    result_path: str
    spec: ProfileSpec = field(default_factory=ProfileSpec)
    target_options: TargetOptions = field(default_factory=TargetOptions)
    run_id: str = ""
    job: str = ""
    repeat: int = 0

    spec_model: ClassVar[type[ProfileSpec]] = ProfileSpec

    def __post_init__(self) -> None:
        typed_request_fields(self)

    def job_id(self) -> JobId:
        return job_id_of(self)

    def save(self, path: Path) -> None:
        path.write_text(request_json(self))

    @classmethod
    def load(cls, path: Path) -> ProfileRequest:
        return cls(**json.loads(path.read_text()))


@dataclass(frozen=True)
class ProfileResult:
    """The profile, or why there is none (``error``); where it ran (``device``,
    ``runtime``: the profile's own ``extra``), for the lines' fingerprint."""

    profile: OpProfile | None
    error: str = ""
    device: str = ""
    runtime: str = ""

    def to_json(self) -> str:
        return json.dumps({"profile": json.loads(self.profile.to_json()) if self.profile
                           else None, "error": self.error, "device": self.device,
                           "runtime": self.runtime})

    @classmethod
    def from_json(cls, text: str) -> ProfileResult:
        data = json.loads(text)
        profile = data.pop("profile")
        return cls(profile=OpProfile.from_json(json.dumps(profile)) if profile else None,
                   **data)


def not_profilable(name: str) -> str:
    """Why ``name`` gets no per-op profile: it does not declare the capability."""
    return (f"{name} cannot be profiled per op: it does not declare "
            f"Capability.PROFILE (the host CPU targets and the Android phones do)")


def run_profile(request: ProfileRequest) -> ProfileResult:
    """Prepare and profile one model; a target's expected outcome is the result's error."""
    target = create_target(request.target, request.target_options)
    if Capability.PROFILE not in capabilities_of(target):
        return ProfileResult(None, error=not_profilable(request.target))
    work = Path(request.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    try:
        prepared = replace(target.prepare(Path(request.model), work), job=request.job_id())
        profile = target.profile(prepared, request.spec)  # type: ignore[attr-defined]
    except (JobSkipped, TargetUnavailable, JobFailed) as reason:
        return ProfileResult(None, error=f"{type(reason).__name__}: {reason}")
    return ProfileResult(profile, device=str(profile.extra.get("device", "")),
                         runtime=str(profile.extra.get("runtime", "")))


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise JobInterrupted(f"stopped by {signal.Signals(signum).name} (the profile's timeout)")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    request = ProfileRequest.load(Path(args[0]))
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        result = run_profile(request)
    except JobInterrupted as stop:
        print(f"qatbench profile worker: {stop}", file=sys.stderr, flush=True)
        return 128 + signal.SIGTERM
    except Exception as error:
        detail = "".join(traceback.format_exception(error)[-3:]).strip()
        result = ProfileResult(None, error=f"{type(error).__name__}: {error}\n{detail}")
    atomic_write_text(Path(request.result_path), result.to_json())
    return 0


if __name__ == "__main__":
    sys.exit(main())
