"""``qatbench profile MODEL.tflite [--against OTHER.tflite]``: where a model's time goes.

Each file is checked in a child first (as ``qatbench bench`` does); its variant is what
the file is (``float32``, ``int8``, ``mixed``). Each file is profiled in the profile
child on every target that declares ``Capability.PROFILE`` (a host CPU target cuts
one-op models; a phone reads benchmark_model's op tables from a run beside an unprofiled
one); any other target is a failure line saying so. Everything lands in
``OUT/<run_id>/``: ``profile.parquet`` and ``profile.md``
(the report's profile sections, with the float-vs-int8 plot when ``--against`` pairs a
float32 file with an int8 one).
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from qatbench.atomic import atomic_write_text, ensure_writable_dir
from qatbench.bench.orchestration.config import RunConfig
from qatbench.bench.orchestration.external import check_model_paths, inspect_in_child
from qatbench.bench.orchestration.profiling import (
    PROFILE_TIMEOUT_FACTOR,
    profile_in_child,
    profile_lines,
    profile_spec,
)
from qatbench.bench.presentation.profile_report import profile_sections
from qatbench.bench.presentation.sections import render_markdown
from qatbench.bench.storage.environment import capture_environment
from qatbench.bench.storage.fingerprint import fingerprint_of, fingerprint_parts, host_parts
from qatbench.bench.storage.layout import job_dir, recorded_model_file
from qatbench.bench.storage.profiles import add_profile, read_profiles
from qatbench.bench.storage.store import new_run_id
from qatbench.targets.base import Capability, capabilities_of
from qatbench.targets.profile_worker import ProfileRequest, ProfileResult, not_profilable
from qatbench.targets.registry import create_target


@dataclass
class ProfileRun:
    run_dir: Path
    profiles: pd.DataFrame
    failures: list[str] = field(default_factory=list)
    report: Path | None = None


def _variants(files: Sequence[Path], scratch: Path) -> list[tuple[Path, str]]:
    """(file, variant) with the variant read from the file; two files of one kind keep
    their stems, so a pair never collapses into one."""
    check_model_paths(files)  # a missing --against before MODEL is read
    kinds = [inspect_in_child(path, scratch / str(i))[0] for i, path in enumerate(files)]
    if len(set(kinds)) < len(kinds):
        return [(path, path.stem) for path in files]
    return list(zip(files, kinds, strict=True))


def _profile_one(name: str, model: Path, work: Path, settings: RunConfig, threads: int,
                 run_id: str) -> tuple[ProfileResult, bool]:
    """The profile of ``model`` on target ``name``, and whether the host's CPU ran it.

    One path for every target that declares ``Capability.PROFILE``: the profile child.
    """
    options = settings.target_options(name)
    target = create_target(name, options)
    if Capability.PROFILE not in capabilities_of(target):
        return ProfileResult(None, error=not_profilable(name)), False
    request = ProfileRequest(target=name, model=str(model), work_dir=str(work),
                             result_path=str(work / "profile.json"),
                             spec=profile_spec(settings, threads), target_options=options,
                             run_id=run_id, job=work.name)
    return profile_in_child(request, settings.run.timeout_s * PROFILE_TIMEOUT_FACTOR,
                            python=options.python), not target.takes_device


def profile_files(files: Sequence[Path], settings: RunConfig) -> ProfileRun:
    """Profile every file on every target and thread count of ``settings``. Each file is
    read (``InvalidModelFile``, exit 2) before the run directory exists."""
    ensure_writable_dir(Path(settings.run.out))  # UnwritableOutput: exit 2 naming it
    with tempfile.TemporaryDirectory(prefix="qatbench-inspect-") as scratch:
        labelled = _variants(files, Path(scratch))
    run_dir = Path(settings.run.out) / new_run_id()
    run_dir.mkdir(parents=True, exist_ok=False)
    model = files[0].stem
    environment = capture_environment()
    failures = []
    for path, variant in labelled:
        for target in settings.run.targets:
            for threads in settings.run.threads:
                work = job_dir(run_dir, f"{variant}-{target.replace(':', '_')}-t{threads}")
                result, on_host = _profile_one(target, path.resolve(), work, settings, threads,
                                                run_dir.name)
                if result.profile is None:
                    first = (result.error.strip().splitlines() or ["no reason given"])[0]
                    failures.append(f"{path.name} on {target} x{threads}: {first}")
                    continue
                parts = fingerprint_parts(host=host_parts(environment) if on_host else None,
                                          runtime=result.runtime,
                                          delegate=result.profile.delegate)
                key = {"run_id": run_dir.name, "model": model, "variant": variant,
                       "target": target, "device": result.device, "threads": threads,
                       "fingerprint": fingerprint_of(parts),
                       "model_file": recorded_model_file(run_dir, path)}
                add_profile(run_dir, profile_lines(result.profile, key))
    run = ProfileRun(run_dir, read_profiles(run_dir), failures)
    sections = profile_sections(pd.DataFrame(), [run_dir], [])
    if sections:
        report = run_dir / "profile.md"
        atomic_write_text(report, render_markdown(
            sections, pd.DataFrame({"run_id": [run_dir.name]}), run_dir))
        run.report = report
    return run
