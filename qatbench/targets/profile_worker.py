"""The child's work that profiles one model op by op (kind ``profile``), on any target
that declares it.

Run by the child entry (``targets/child.py``), started by the bench side's launcher
like the timing child (``worker``) and for the same reasons: a cut op
that crashes the runtime takes down only this process, and TensorFlow is never loaded
here. Which targets can profile is their own declaration (``Capability.PROFILE`` in
``capabilities``; ``targets/base.py``): the host CPU targets cut the model into one-op
models, a phone reads ``benchmark_model``'s op tables. This child does the same for
every one of them: ``prepare``, set ``Prepared.job``, ``profile``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import ClassVar

from pydantic import Field, SerializeAsAny

from qatbench.targets.base import (
    Capability,
    JobFailed,
    JobSkipped,
    ProfileSpec,
    TargetUnavailable,
    capabilities_of,
)
from qatbench.targets.child import Served, crash_text
from qatbench.targets.op_profile import OpProfile
from qatbench.targets.options import TargetOptions  # noqa: F401 -- resolves the inherited field
from qatbench.targets.registry import create_target
from qatbench.targets.worker import TimingRequest, timing_request


@dataclass(frozen=True)
class ProfileResult:
    """The profile, or why there is none (``error``); where it ran (``device``,
    ``runtime``: the profile's own ``extra``), for the lines' fingerprint."""

    profile: OpProfile | None
    error: str = ""
    device: str = ""
    runtime: str = ""


@timing_request
class ProfileRequest(TimingRequest[ProfileResult]):
    """What the profile child needs; typed as ``JobRequest`` is, and saved the same way.
    ``spec`` carries the whole model's rules and ``op_s``, the per-op cap."""

    spec: SerializeAsAny[ProfileSpec] = Field(default_factory=ProfileSpec)

    spec_model: ClassVar[type[ProfileSpec]] = ProfileSpec
    kind: ClassVar[str] = "profile"  # the child entry's kind (``targets/child.py``)
    result_type: ClassVar[type[ProfileResult]] = ProfileResult

    def without_result(self, how: str) -> ProfileResult:
        return ProfileResult(None, error=f"the profiling process {how}")


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


def serve(request: ProfileRequest) -> Served:
    """The ``profile`` kind for the child entry: a crash is the result's error."""
    return Served(lambda: run_profile(request),
                  lambda error: ProfileResult(None, error=crash_text(error)))
