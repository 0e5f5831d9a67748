"""The child process that profiles one model op by op on one host target.

Run as ``python -m qatbench.targets.profile_worker REQUEST.json``, started by the bench
side's launcher like the timing child (``worker``) and for the same reasons: a cut op
that crashes the runtime takes down only this process, and TensorFlow is never loaded
here. Only the host CPU targets (``cpu-xnnpack``, ``cpu-ref`` and user-named targets of
their kind) can be cut and timed here; a phone's per-op profile comes from
``benchmark_model`` itself (``op_profiling = true`` on the Android targets).
"""

from __future__ import annotations

import dataclasses
import json
import signal
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from qatbench.atomic import atomic_write_text
from qatbench.targets.base import JobInterrupted, MeasureSpec
from qatbench.targets.op_profile import OpProfile, profile_on_host
from qatbench.targets.registry import create_target


@dataclass(frozen=True)
class ProfileRequest:
    target: str
    model: str
    work_dir: str
    result_path: str
    spec: dict[str, Any]  # MeasureSpec fields: the whole model's rules
    target_options: dict[str, Any] = field(default_factory=dict)
    op_s: float | None = None  # cap on each op's warm-up and timed durations

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(dataclasses.asdict(self), indent=2))

    @classmethod
    def load(cls, path: Path) -> ProfileRequest:
        return cls(**json.loads(path.read_text()))


@dataclass(frozen=True)
class ProfileResult:
    """The profile, or why there is none (``error``)."""

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


class NotProfilable(ValueError):
    """The target cannot be profiled by cutting the model on this host."""


def host_profilable(target: Any) -> bool:
    """Whether ``target`` runs on the host's interpreter with or without XNNPACK."""
    from qatbench.targets.cpu import CpuTarget

    return isinstance(target, CpuTarget)


def run_profile(request: ProfileRequest) -> ProfileResult:
    target = create_target(request.target, request.target_options)
    if not host_profilable(target):
        raise NotProfilable(f"{request.target}: per-op profiles on the host cut models for "
                            "the CPU targets only (cpu-xnnpack, cpu-ref); a phone profiles "
                            "with op_profiling = true under [targets.NAME]")
    work = Path(request.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    profile = profile_on_host(target.runtime, Path(request.model), work,
                              MeasureSpec(**request.spec), use_delegate=target.use_xnnpack,
                              op_s=request.op_s)
    return ProfileResult(profile, device=target.device_label(),
                         runtime=target.runtime_label())


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
