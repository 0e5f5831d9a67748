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

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

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
from qatbench.targets.options import TargetOptions
from qatbench.targets.registry import create_target
from qatbench.targets.worker import TypedRequest


@dataclass(frozen=True)
class ProfileRequest(TypedRequest):
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
    kind: ClassVar[str] = "profile"  # the child entry's kind (``targets/child.py``)


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


def serve(fields: Mapping[str, Any]) -> Served:
    """The ``profile`` kind for the child entry: a crash is the result's error."""
    request = ProfileRequest(**fields)
    return Served(Path(request.result_path), lambda: run_profile(request).to_json(),
                  lambda error: ProfileResult(None, error=crash_text(error)).to_json())
