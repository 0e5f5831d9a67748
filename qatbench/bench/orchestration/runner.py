"""The matrix runner: models x variants x targets x threads, one isolated job at a time.

It never branches on a target's name and never imports TensorFlow: models are built by
``qatbench.qat.build_worker`` and timed by ``qatbench.targets.worker``, each in a child
process. Every finished job is on disk before the next one starts.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from qatbench.atomic import UnwritableOutput
from qatbench.bench.orchestration.build_cache import (
    ENTRY_FILE,
    BuildCache,
    DamagedBuild,
    build_key,
    first_os_error,
    relocate,
)
from qatbench.bench.orchestration.config import RunConfig
from qatbench.bench.orchestration.launcher import build_in_child, run_in_child
from qatbench.bench.orchestration.profiling import MIXED, RunProfiler, mixed_last
from qatbench.bench.orchestration.repeats import (
    REPEATED_STATUSES,
    latency_columns,
    repeat_line,
    summarise,
)
from qatbench.bench.statistics.accuracy import wilson_of
from qatbench.bench.statistics.regression import truth_error
from qatbench.bench.statistics.stats import noisy_cv
from qatbench.bench.storage.environment import Environment
from qatbench.bench.storage.fingerprint import fingerprint_of, fingerprint_parts, host_parts
from qatbench.bench.storage.key import RowKey
from qatbench.bench.storage.layout import (
    CHILD_RESULT_FILE,
    artifacts_dir,
    job_work_dir,
    recorded_model_file,
)
from qatbench.bench.storage.predictions import Predictions, save_predictions
from qatbench.bench.storage.store import RunStore, failed_for_space
from qatbench.qat.artifacts import MANIFEST, BuildRequest, ModelBuild, VariantArtifact
from qatbench.targets.base import Availability, EvalSet, Status
from qatbench.targets.options import TargetOptions
from qatbench.targets.registry import (
    create_target,
    options_for_repeat,
    target_takes_device,
)
from qatbench.targets.runtime import PROBE_TIMEOUT_S, RuntimeMissing, runtime_label_in
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
    def key(self) -> tuple[str, str, str, int]:
        """``RowKey.job``: how the store knows a job before its device is known."""
        return (self.model, self.variant, self.target, self.threads)

    @property
    def slug(self) -> str:
        return f"{self.model}-{self.variant}-{self.target.replace(':', '_')}-t{self.threads}"


def plan_config_jobs(config: RunConfig) -> list[Job]:
    """The run config's matrix; a ``tflite`` model gets rows for its own files only."""
    jobs = [job for model in config.run.models
            for job in plan_jobs([model], config.variants_for(model), config.run.targets,
                                 config.run.threads)]
    if config.run.shard is not None:
        index, count = config.run.shard
        jobs = [job for position, job in enumerate(jobs) if position % count == index - 1]
    return jobs


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
        default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    # the build cache (None: build every model here, as before the cache); ``rebuild``
    # builds even on a hit and stores the new build
    cache: BuildCache | None = None
    rebuild: bool = False

    def target_options(self, target: str) -> TargetOptions:
        return self.config.target_options(target)


def zoo_provider(context: RunContext, on_status: ProgressHook | None = None) -> ModelProvider:
    """Build models in a child process, through the build cache when the run has one
    (reusing a finished build on --resume)."""

    def provide(model: str, variants: Sequence[str]) -> ModelBuild:
        out_dir = artifacts_dir(context.store.run_dir, model)
        existing = ModelBuild.load(out_dir)
        if existing and all(v in existing.variants and not failed_for_space(
                existing.variants[v].error) for v in variants):  # a full disk: build again
            return existing
        return obtain_build(context.config, model, variants, out_dir, context.cache,
                            context.rebuild, on_status)

    return provide


def build_request(config: RunConfig, model: str, variants: Sequence[str], out_dir: Path
                  ) -> BuildRequest:
    source = config.models.get(model)
    return BuildRequest(model=model, variants=list(variants), out_dir=str(out_dir),
                        budget=config.budget_for(model), imagenet_dir=config.run.imagenet_dir,
                        source=source)


def obtain_build(config: RunConfig, model: str, variants: Sequence[str], out_dir: Path,
                 cache: BuildCache | None, rebuild: bool = False,
                 on_status: ProgressHook | None = None) -> ModelBuild:
    """``model``'s build in ``out_dir``: a cache hit copied in, else built in a child
    (and stored in the cache when every variant built)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    request = build_request(config, model, variants, out_dir)
    timeout = config.run.timeout_s * 4
    if cache is None or not cacheable(request):
        if on_status:
            on_status(f"building {model}: train, quantize, convert ({', '.join(variants)})")
        return build_in_child(request, timeout)
    key = build_key(model, request.variants, request.budget.model_dump(),
                    request.source.model_dump() if request.source else None,
                    request.imagenet_dir)
    with cache.lock(key.key):
        entry = None if rebuild else cache.lookup(key.key)
        if entry is not None:
            if on_status:
                on_status(f"{model}: build cache hit {key.key}")
            try:
                return restore_build(entry, out_dir, key.key)
            except DamagedBuild:  # a hand-edited entry whose digests were redone too
                cache.discard(key.key)
        if on_status:
            on_status(f"building {model}: train, quantize, convert ({', '.join(variants)}; "
                      f"cache key {key.key})")
        built = replace(build_in_child(request, timeout), build_key=key.key, cache="built")
        built.save(out_dir)
        if all(a.ok or a.skipped for a in built.variants.values()):
            cache.store(key, out_dir, built.op_determinism)
        return built


def cacheable(request: BuildRequest) -> bool:
    """A mixed_int8 build whose op types come from this run's profile depends on a
    measurement the key cannot see: it is built here, not cached."""
    return "mixed_int8" not in request.variants or bool(request.budget.keep_float_ops)


def restore_build(entry: Path, out_dir: Path, key: str) -> ModelBuild:
    """A cache entry copied into this run's artifacts, its paths moved there."""
    import shutil

    try:
        shutil.copytree(entry, out_dir, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns(ENTRY_FILE))
    except OSError as error:  # a full disk: the place named (shutil.Error has no errno)
        raise UnwritableOutput(out_dir, first_os_error(error)) from None
    try:
        manifest = json.loads((entry / MANIFEST).read_text())
        old = json.loads((entry / ENTRY_FILE).read_text()).get("built_in", "")
        moved = relocate(manifest, old, str(out_dir)) if old else manifest
        built = replace(ModelBuild.from_dict(moved), build_key=key, cache="cache hit")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise DamagedBuild(entry / MANIFEST, f"{type(error).__name__}: {error}") from None
    built.save(out_dir)
    return built


def base_row(context: RunContext, job: Job) -> dict[str, Any]:
    env = context.environment
    return {
        "run_id": context.store.run_id, "started_at": context.started_at,
        "git_commit": env.git_commit, "host": env.host, "model": job.model,
        "variant": job.variant, "target": job.target, "device": "", "threads": job.threads,
        "cpu_model": env.cpu_model, "cpu_count": env.cpu_count,
    }


CONVERSION_GAP_FIELDS = ("keras_qat_top1", "tflite_top1", "keras_qat_agreement",
                         "tflite_agreement", "tflite_qat_keras_agreement",
                         "conversion_gap_points", "conversion_gap_basis", "conversion_samples")


def fidelity_columns(result: JobResult) -> dict[str, Any]:
    """Top-1 and agreement with their Wilson 95% intervals, top-5 agreement, SNR."""
    top1_low, top1_high = wilson_of(result.accuracy_top1, result.eval_samples)
    agree_low, agree_high = wilson_of(result.agreement_top1, result.eval_samples)
    measured = result.accuracy_top1 is not None or result.agreement_top1 is not None
    return {"accuracy_top1": result.accuracy_top1, "eval_samples": result.eval_samples,
            "accuracy_top1_ci_low": top1_low, "accuracy_top1_ci_high": top1_high,
            "accuracy_source": result.accuracy_source if measured else None,
            "agreement_top1": result.agreement_top1, "agreement_top1_ci_low": agree_low,
            "agreement_top1_ci_high": agree_high, "agreement_top5": result.agreement_top5,
            "output_snr_db": result.output_snr_db,
            "output_cosine": min((o["cosine"] for o in result.per_output), default=None)
            if result.per_output else None,
            "output_max_abs_error": max((o["max_abs_error"] for o in result.per_output),
                                        default=None) if result.per_output else None,
            **truth_columns(result)}


def truth_columns(result: JobResult) -> dict[str, Any]:
    """MAE and RMSE against the true values, with bootstrap intervals ({}: no labels)."""
    measured = truth_error(result.truth_errors)
    return measured.columns() if measured is not None else {}


def conversion_columns(artifact: VariantArtifact) -> dict[str, Any]:
    """A QAT variant's conversion gap and fine-tuning objective, from its build."""
    return {"keras_qat_top1": artifact.keras_qat_top1,
            "conversion_gap_points": artifact.conversion_gap_points,
            "conversion_gap_basis": artifact.conversion_gap_basis,
            "qat_objective": artifact.qat_objective}


def result_row(context: RunContext, job: Job, artifact: VariantArtifact, build: ModelBuild,
               result: JobResult) -> dict[str, Any]:
    """Flatten one job's outcome into a results-table row."""
    m = result.measurement
    row = base_row(context, job)
    extra = dict(m.extra)
    notes = [note for note in (artifact.note, extra.pop("note", ""), result.accuracy_note,
                               build.data_note, cache_note(build)) if note]
    if result.per_output:
        extra["outputs"] = result.per_output
    if artifact.worst_layers:
        extra["worst_layers"] = artifact.worst_layers
    if artifact.worst_layers_vs_qat_keras:
        extra["worst_layers_vs_qat_keras"] = artifact.worst_layers_vs_qat_keras
    if artifact.conversion_gap_basis is not None:  # the whole record, for the report
        extra["conversion_gap"] = {f: getattr(artifact, f) for f in CONVERSION_GAP_FIELDS}
    row.update({
        "status": m.status.value, "error": m.error, "device": m.device or row["device"],
        "size_bytes": artifact.size_bytes, "init_ms": m.init_ms,
        "first_inference_ms": m.first_inference_ms, "peak_memory_mb": m.peak_memory_mb,
        "delegate": m.delegate, "runtime": m.runtime, "weights": build.weights,
        "build_key": build.build_key or None,
        "model_file": recorded_model_file(context.store.run_dir, artifact.path),
        "ops_total": result.ops_total, "ops_on_accelerator": result.ops_on_accelerator,
        **fidelity_columns(result), **conversion_columns(artifact),
    })
    if m.samples_ms:
        row.update(latency_columns(np.asarray(m.samples_ms)))
    elif m.reported is not None:
        r = m.reported
        row.update({"latency_ms_min": r.min_ms, "latency_ms_p50": r.p50_ms,
                    "latency_ms_mean": r.mean_ms, "latency_ms_max": r.max_ms,
                    "latency_ms_std": r.std_ms, "n_samples": r.n_samples})
        if r.std_ms is not None and r.mean_ms:
            row["noisy"] = noisy_cv(r.std_ms, r.mean_ms)
    if result.accuracy_top1 is None and build.accuracy_note and m.status is Status.OK:
        notes.append(build.accuracy_note)
    row["note"] = "; ".join(notes)
    if m.status in (Status.OK, Status.COMPILED):
        parts = fingerprint_parts(
            host=None if target_takes_device(job.target, context.target_options(job.target))
            else host_parts(context.environment),
            runtime=m.runtime, delegate=m.delegate, device=extra.get("fingerprint"))
        row["fingerprint_parts"] = json.dumps(parts, sort_keys=True)
        row["fingerprint"] = fingerprint_of(parts)
    row["extra"] = json.dumps(extra, default=str, sort_keys=True)
    return row


def cache_note(build: ModelBuild) -> str:
    if build.cache == "cache hit":
        return f"build cache hit (key {build.build_key}): not rebuilt"
    if build.cache == "built":
        return f"built here (cache key {build.build_key})"
    if build.cache == "prebuilt":
        return f"prebuilt artifact (key {build.build_key}), timed here"
    return ""


def outcome_row(context: RunContext, job: Job, status: Status, error: str,
                artifact: VariantArtifact | None = None) -> dict[str, Any]:
    row = base_row(context, job)
    row.update({"status": status.value, "error": error,
                "size_bytes": artifact.size_bytes if artifact else None, "extra": "{}",
                "model_file": recorded_model_file(context.store.run_dir, artifact.path)
                if artifact and artifact.path else None})
    return row


OVERSUBSCRIBED = "oversubscribed"


def oversubscription_note(threads: int, availability: Availability) -> str:
    """A note for a job run on more threads than the cores its target declares
    (``Availability.details["cores"]``, set by targets that run on this host): such a
    figure measures threads waiting for each other (one was ~70x slower), not the model.
    Empty when it fits, or when the target does not say how many cores it has."""
    try:
        cores = int(availability.details.get("cores", ""))
    except ValueError:
        return ""
    if threads <= cores:
        return ""
    return (f"{OVERSUBSCRIBED}: {threads} threads on {cores} cores -- the threads wait for "
            f"each other, so this latency is not the model's; use --threads {cores} or fewer")


@dataclass
class RunSummary:
    total: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    interrupted: bool = False
    # target -> why its configured interpreter (``python = ...``) cannot time: the user's
    # setting is wrong, not the hardware absent, so the run fails (exit 1)
    unusable_interpreters: dict[str, str] = field(default_factory=dict)

    @property
    def failed(self) -> int:
        return self.counts.get(Status.FAILED.value, 0)


class JobRunner:
    """Runs planned jobs against model builds, writing each result as it lands.

    With ``repeats`` K > 1 the matrix is run K times over, pass after pass, so that a
    slow period of the machine spreads over every model instead of landing on one.
    """

    def __init__(self, context: RunContext, provider: ModelProvider,
                 on_job_start: ProgressHook | None = None,
                 on_job_done: Callable[[Job, dict[str, Any]], None] | None = None) -> None:
        self.context = context
        self.provider = provider
        self.on_job_start = on_job_start
        self.on_job_done = on_job_done
        self._availability: dict[str, Availability] = {}
        self.unusable_interpreters: dict[str, str] = {}
        self.profiler = RunProfiler(context)

    def availability(self, target: str) -> Availability:
        if target not in self._availability:
            unusable = self.interpreter_problem(target)
            if unusable is not None:
                self._availability[target] = unusable
                return unusable
            try:
                target_object = create_target(target, self.context.target_options(target))
                self._availability[target] = target_object.probe()
            except Exception as error:  # a broken plug-in is that target's problem only
                self._availability[target] = Availability(
                    False, reason=f"{type(error).__name__}: {error}")
        return self._availability[target]

    def interpreter_problem(self, target: str) -> Availability | None:
        """Unavailable, with the reason, when the target's ``python = ...`` cannot time
        models (missing, not Python, no runtime there, no answer within the run's
        ``--timeout``, at most ``PROBE_TIMEOUT_S``); None when it can or none is set.
        Asked here for every target, so no target's probe can wait longer."""
        python = self.context.target_options(target).python
        if not python:
            return None
        timeout_s = min(PROBE_TIMEOUT_S, self.context.config.run.timeout_s)
        try:
            runtime_label_in(python, timeout_s)
        except RuntimeMissing as error:
            self.unusable_interpreters[target] = str(error)
            return Availability(False, reason=str(error), fix=(
                "point python = ... at an interpreter with qatbench and a runtime (`nox -s "
                "runtime-venv -- SPEC` prints one), or remove it to time with this one"))
        return None

    def pending(self, jobs: Sequence[Job], repeats: int) -> list[tuple[int, Job]]:
        """(repeat, job) still to run, pass by pass; a job whose first repeat was not
        ``ok`` or ``failed`` (skipped, unavailable, compiled) is not repeated."""
        store = self.context.store
        todo = []
        for repeat in range(repeats):
            for job in jobs:
                done = store.repeats_done(job.key)
                row = store.row(job.key)
                if repeat < done:
                    continue
                if repeat > 0 and row is not None and row.get("status") not in \
                        REPEATED_STATUSES:
                    continue
                todo.append((repeat, job))
        return todo

    def run(self, jobs: Sequence[Job], repeats: int = 1) -> RunSummary:
        summary = RunSummary(total=len(jobs))
        work = mixed_last(self.pending(jobs, repeats))
        try:
            for (repeat, model, _), group in itertools.groupby(  # mixed_int8: built apart
                    work, key=lambda item: (item[0], item[1].model, item[1].variant == MIXED)):
                group = list(group)
                variants = list(dict.fromkeys(job.variant for _, job in group))
                build = self.profiler.provide(model, variants, self.provider)
                for _, job in group:
                    row = self.run_repeat(job, build, repeat)
                    if repeat == 0:
                        self.profiler.after_job(job, build, row)
                    if repeat == repeats - 1 or row["status"] not in REPEATED_STATUSES:
                        summary.counts[row["status"]] = summary.counts.get(row["status"], 0) + 1
                    if self.on_job_done:
                        self.on_job_done(job, row)
        except KeyboardInterrupt:
            summary.interrupted = True
        summary.unusable_interpreters = dict(self.unusable_interpreters)
        return summary

    def run_repeat(self, job: Job, build: ModelBuild, repeat: int) -> dict[str, Any]:
        """Run one repeat of ``job``, store it with the job's re-summarised row, and
        return that row."""
        row, samples = self.run_one(job, build, repeat)
        store = self.context.store
        stored = store.row(job.key)
        earlier = [line for line in store.repeat_lines(job.key) if line["repeat"] != repeat]
        if stored is None or not earlier:
            store.add(row, samples, repeat=repeat, repeat_line=repeat_line(row))
            return row
        rows = [{**stored, **line} for line in earlier] + [row]  # repeat order
        sample_map = store.repeat_samples(job.key)
        sample_map[repeat] = np.asarray(samples, dtype=float)
        ordered = {position: sample_map[line["repeat"]]
                   for position, line in enumerate([*earlier, {"repeat": repeat}])
                   if line["repeat"] in sample_map}
        summary = summarise(rows, ordered)
        store.add(summary, samples, repeat=repeat, repeat_line=repeat_line(row))
        return summary

    def run_one(self, job: Job, build: ModelBuild, repeat: int = 0
                ) -> tuple[dict[str, Any], tuple[float, ...]]:
        if self.on_job_start:
            self.on_job_start(job.label + (f" (repeat {repeat + 1})" if repeat else ""))
        artifact = build.variants.get(job.variant) or VariantArtifact(
            job.variant, error="variant was not built")
        if not artifact.ok:
            status = Status.SKIPPED if artifact.skipped else Status.FAILED
            return outcome_row(self.context, job, status, artifact.error), ()
        availability = self.availability(job.target)
        if not availability.available:
            return outcome_row(self.context, job, Status.UNAVAILABLE, availability.message(),
                               artifact), ()
        work = job_work_dir(self.context.store.run_dir, job.slug, repeat)
        options = options_for_repeat(job.target, self.context.target_options(job.target),
                                     repeat)  # e.g. a phone's per-op profile: once per job
        request = JobRequest(
            target=job.target, model=str(artifact.path), work_dir=str(work),
            result_path=str(work / CHILD_RESULT_FILE),
            run_id=self.context.store.run_id, job=job.slug, repeat=repeat,  # Prepared.job
            spec=self.context.config.spec(job.threads), target_options=options,
            eval_path=build.eval_path if repeat == 0 else None)  # top-1 needs one run
        result = run_in_child(request, self.context.config.run.timeout_s,
                              python=options.python)
        row = result_row(self.context, job, artifact, build, result)
        crowded = oversubscription_note(job.threads, availability)
        if crowded:  # kept (a user may mean it), but never an unmarked "ok"
            row["note"] = "; ".join(note for note in (row["note"], crowded) if note)
        hint = availability.details.get("crash_hint")  # the target's reading of a crash
        if hint and "SIGSEGV" in row["error"]:
            row["error"] += f"\n{hint}"
        row["repeats"] = 1
        if result.predictions is not None and build.eval_path:
            save_predictions(self.context.store.run_dir, RowKey.of(row),
                             predictions_of(build.eval_path, result))
        return row, result.measurement.samples_ms


def predictions_of(eval_path: str, result: JobResult) -> Predictions:
    """The row's per-input classes beside the labels and the float model's classes."""
    data = EvalSet.load(Path(eval_path))
    labels = np.asarray(data.y).astype(np.int64)
    classes = data.class_slice()
    reference = np.argmax(np.asarray(data.reference).reshape(len(labels), -1)[:, classes],
                          axis=-1) if data.reference is not None and classes is not None \
        else np.full(len(labels), -1, np.int64)
    return Predictions(np.asarray(result.predictions, dtype=np.int64), labels, reference,
                       result.eval_digest)
