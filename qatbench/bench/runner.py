"""The matrix runner: models x variants x targets x threads, one isolated job at a time.

It never branches on a target's name and never imports TensorFlow: models are built by
``qatbench.qat.build_worker`` and timed by ``qatbench.targets.worker``, each in a child
process. Every finished job is on disk before the next one starts.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from qatbench.bench.config import RunConfig
from qatbench.bench.environment import Environment
from qatbench.bench.isolation import run_in_child
from qatbench.bench.stats import latency_stats
from qatbench.bench.store import RunStore
from qatbench.qat.artifacts import ModelBuild, VariantArtifact
from qatbench.targets.base import Availability, Status
from qatbench.targets.registry import create_target
from qatbench.targets.worker import JobRequest, JobResult


@dataclass(frozen=True)
class Job:
    model: str
    variant: str
    target: str
    threads: int

    @property
    def label(self) -> str:
        return f"{self.model}/{self.variant} on {self.target} x{self.threads}"

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.model, self.variant, self.target, str(self.threads))


def plan_jobs(models: Sequence[str], variants: Sequence[str], targets: Sequence[str],
              threads: Sequence[int], shard: tuple[int, int] | None = None) -> list[Job]:
    """Every job in a fixed order; ``shard=(i, n)`` keeps the i-th of n interleaved slices."""
    jobs = [Job(m, v, t, n) for m, v, t, n in itertools.product(models, variants, targets,
                                                                  threads)]
    if shard is not None:
        index, count = shard
        jobs = [job for position, job in enumerate(jobs) if position % count == index - 1]
    return jobs


ModelProvider = Callable[[str, Sequence[str]], ModelBuild]
ProgressHook = Callable[[str], None]


@dataclass
class RunContext:
    config: RunConfig
    store: RunStore
    environment: Environment
    started_at: str = field(
        default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))


def zoo_provider(context: RunContext, on_status: ProgressHook | None = None) -> ModelProvider:
    """Build zoo models in a child process (reusing a finished build on --resume)."""

    def provide(model: str, variants: Sequence[str]) -> ModelBuild:
        out_dir = context.store.run_dir / "artifacts" / model
        existing = ModelBuild.load(out_dir)
        if existing and all(v in existing.variants for v in variants):
            return existing
        out_dir.mkdir(parents=True, exist_ok=True)
        request = {"model": model, "variants": list(variants), "out_dir": str(out_dir),
                   "budget": context.config.training.model_dump(),
                   "imagenet_dir": context.config.run.imagenet_dir}
        (out_dir / "build_request.json").write_text(json.dumps(request, indent=2))
        if on_status:
            on_status(f"building {model}: train, quantize, convert ({', '.join(variants)})")
        log_path = out_dir / "build.log"
        with log_path.open("wb") as log:
            try:
                completed = subprocess.run(
                    [sys.executable, "-m", "qatbench.qat.build_worker",
                     str(out_dir / "build_request.json")],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    timeout=context.config.run.timeout_s * 4)
                code: int | str = completed.returncode
            except subprocess.TimeoutExpired:
                code = "timeout"
        built = ModelBuild.load(out_dir)
        if built is not None:
            return built
        tail = "\n".join(log_path.read_text(errors="replace").strip().splitlines()[-8:])
        error = f"building {model} failed (exit {code}); see {log_path}\n{tail}"
        return ModelBuild(model, "", None, "", {v: VariantArtifact(v, error=error)
                                                for v in variants})

    return provide


def base_row(context: RunContext, job: Job) -> dict[str, Any]:
    env = context.environment
    return {
        "run_id": context.store.run_id, "started_at": context.started_at,
        "git_commit": env.git_commit, "host": env.host, "model": job.model,
        "variant": job.variant, "target": job.target, "device": "", "threads": job.threads,
        "cpu_model": env.cpu_model, "cpu_count": env.cpu_count,
    }


def result_row(context: RunContext, job: Job, artifact: VariantArtifact, build: ModelBuild,
               result: JobResult) -> dict[str, Any]:
    """Flatten one job's outcome into a results-table row."""
    m = result.measurement
    row = base_row(context, job)
    extra = dict(m.extra)
    notes = [note for note in (artifact.note, extra.pop("note", ""), result.accuracy_note)
             if note]
    if artifact.worst_layers:
        extra["worst_layers"] = artifact.worst_layers
    row.update({
        "status": m.status.value, "error": m.error, "device": m.device or row["device"],
        "size_bytes": artifact.size_bytes, "init_ms": m.init_ms,
        "first_inference_ms": m.first_inference_ms, "peak_memory_mb": m.peak_memory_mb,
        "delegate": m.delegate, "runtime": m.runtime, "weights": build.weights,
        "ops_total": result.ops_total, "ops_on_accelerator": result.ops_on_accelerator,
        "accuracy_top1": result.accuracy_top1, "eval_samples": result.eval_samples,
        "accuracy_source": result.accuracy_source if result.accuracy_top1 is not None else None,
    })
    if m.samples_ms:
        s = latency_stats(m.samples_ms)
        row.update({"latency_ms_min": s.min, "latency_ms_p50": s.p50, "latency_ms_mean": s.mean,
                    "latency_ms_p90": s.p90, "latency_ms_p99": s.p99, "latency_ms_max": s.max,
                    "latency_ms_std": s.std, "latency_ms_p50_ci_low": s.p50_ci_low,
                    "latency_ms_p50_ci_high": s.p50_ci_high, "n_samples": s.n,
                    "noisy": s.noisy})
    elif m.reported is not None:
        r = m.reported
        row.update({"latency_ms_min": r.min_ms, "latency_ms_p50": r.p50_ms,
                    "latency_ms_mean": r.mean_ms, "latency_ms_max": r.max_ms,
                    "latency_ms_std": r.std_ms, "n_samples": r.n_samples})
        if r.std_ms is not None and r.mean_ms:
            row["noisy"] = r.std_ms / r.mean_ms > 0.10
    if result.accuracy_top1 is None and build.accuracy_note and m.status is Status.OK:
        notes.append(build.accuracy_note)
    row["note"] = "; ".join(notes)
    row["extra"] = json.dumps(extra, default=str, sort_keys=True)
    return row


def outcome_row(context: RunContext, job: Job, status: Status, error: str,
                artifact: VariantArtifact | None = None) -> dict[str, Any]:
    row = base_row(context, job)
    row.update({"status": status.value, "error": error,
                "size_bytes": artifact.size_bytes if artifact else None, "extra": "{}"})
    return row


@dataclass
class RunSummary:
    total: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    interrupted: bool = False

    @property
    def failed(self) -> int:
        return self.counts.get(Status.FAILED.value, 0)


class JobRunner:
    """Runs planned jobs against model builds, writing each result as it lands."""

    def __init__(self, context: RunContext, provider: ModelProvider,
                 on_job_start: ProgressHook | None = None,
                 on_job_done: Callable[[Job, dict[str, Any]], None] | None = None) -> None:
        self.context = context
        self.provider = provider
        self.on_job_start = on_job_start
        self.on_job_done = on_job_done
        self._availability: dict[str, Availability] = {}

    def availability(self, target: str) -> Availability:
        if target not in self._availability:
            options = self.context.config.targets.get(target, {})
            try:
                self._availability[target] = create_target(target, options).probe()
            except Exception as error:  # a broken plug-in is that target's problem only
                self._availability[target] = Availability(
                    False, reason=f"{type(error).__name__}: {error}")
        return self._availability[target]

    def run(self, jobs: Sequence[Job]) -> RunSummary:
        done = self.context.store.finished_jobs()
        pending = [job for job in jobs if job.key not in done]
        summary = RunSummary(total=len(jobs))
        try:
            for model, model_jobs in itertools.groupby(pending, key=lambda j: j.model):
                model_jobs = list(model_jobs)
                variants = list(dict.fromkeys(job.variant for job in model_jobs))
                build = self.provider(model, variants)
                for job in model_jobs:
                    row, samples = self.run_one(job, build)
                    self.context.store.add(row, samples)
                    summary.counts[row["status"]] = summary.counts.get(row["status"], 0) + 1
                    if self.on_job_done:
                        self.on_job_done(job, row)
        except KeyboardInterrupt:
            summary.interrupted = True
        return summary

    def run_one(self, job: Job, build: ModelBuild) -> tuple[dict[str, Any], tuple[float, ...]]:
        if self.on_job_start:
            self.on_job_start(job.label)
        artifact = build.variants.get(job.variant) or VariantArtifact(
            job.variant, error="variant was not built")
        if not artifact.ok:
            return outcome_row(self.context, job, Status.FAILED, artifact.error), ()
        availability = self.availability(job.target)
        if not availability.available:
            return outcome_row(self.context, job, Status.UNAVAILABLE, availability.message(),
                               artifact), ()
        work = self.context.store.run_dir / "jobs" / f"{job.model}-{job.variant}-" \
            f"{job.target.replace(':', '_')}-t{job.threads}"
        request = JobRequest(
            target=job.target, model=str(artifact.path), work_dir=str(work),
            result_path=str(work / "result.json"),
            spec=self.context.config.measure.spec(job.threads).__dict__,
            target_options=self.context.config.targets.get(job.target, {}),
            eval_path=build.eval_path)
        result = run_in_child(request, self.context.config.run.timeout_s)
        row = result_row(self.context, job, artifact, build, result)
        return row, result.measurement.samples_ms
