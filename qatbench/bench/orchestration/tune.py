"""``qatbench tune MODEL --target T``: mixed precision searched and confirmed on the target.

Start from the run's best full-int8 file on that target. If it meets the goals there is
nothing to search. Otherwise keep ops of the float32 file float, one more at a time, in
the order ``statistics/keep_float.py`` ranks them from the run's own per-layer error
table and per-op profiles; each candidate is the float32 ``.tflite`` quantized by the
LiteRT Quantizer (static int8 on every op but the kept ones, the file's inputs and
outputs float as ptq_int8's) -- exactly a ``[models.NAME]`` tflite source with
``quantize = ["mixed_int8"]`` and ``keep_float_ops`` naming the ops. Each candidate is
built, evaluated on the target's interpreter and timed there by the run's own machinery
(build child, timing child, store), in a run directory of its own under the tune
directory, each beside the float32 file timed and evaluated in the same step (the
reference for accuracy, paired on the same inputs, and for "faster than float32"). The search stops
at the first candidate meeting every goal, at a candidate that misses a latency, size or
memory goal (one more float op can only make that worse), when the budget is spent, or
when every ranked op is float.

Everything lands in the tune directory: ``tune.json`` (the request, the ranking, every
candidate with its figures: the search path), ``recipe.toml`` (the chosen candidate as
a ``[models.NAME]`` table to reuse), ``tune.md`` and ``pareto_tune.png`` (the run's
variants and the candidates). Running the same tune again continues it: finished
candidates are kept, and an interrupted one is resumed as a run is.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from qatbench.bench.orchestration.config import RunConfig, build_config
from qatbench.bench.orchestration.runner import (
    JobRunner,
    RunContext,
    plan_jobs,
    zoo_provider,
)
from qatbench.bench.orchestration.tune_outputs import write_outputs
from qatbench.bench.orchestration.tune_plan import (
    candidate_source,
    hits_of,
    keep_float_patterns,
)
from qatbench.bench.orchestration.tune_state import (
    CANDIDATE_VARIANT,
    CANDIDATES_RUN,
    COST_GOALS,
    DATA_FILE,
    REFERENCE,
    Tried,
    TuneError,
    TunePlan,
    TuneState,
)
from qatbench.bench.statistics.decision import (
    Candidate,
    Outcome,
    decide_group,
    overlaps,
)
from qatbench.bench.storage.environment import capture_environment
from qatbench.bench.storage.layout import CONFIG_FILE, artifacts_dir
from qatbench.bench.storage.store import RunStore

# -- the candidates ------------------------------------------------------------

def write_data(plan: TunePlan, directory: Path) -> Path | None:
    """The candidates' data: calibration inputs and the run's own eval set (so their rows
    pair with the run's, input by input). None without calibration data."""
    if plan.calibration is None:
        return None
    from qatbench.targets.base import EvalSet

    evaluation = EvalSet.load(plan.eval_path)
    arrays: dict[str, np.ndarray] = {}
    for prefix, value in (("x_train", plan.calibration), ("x_eval", evaluation.x)):
        if isinstance(value, dict):
            arrays.update({f"{prefix}/{k}": np.asarray(v) for k, v in value.items()})
        else:
            arrays[prefix] = np.asarray(value)
    count = len(next(iter(plan.calibration.values()))) if isinstance(plan.calibration, dict) \
        else len(plan.calibration)
    arrays["y_train"] = np.zeros(count, np.int64)  # never read: nothing is trained
    arrays["y_eval"] = np.asarray(evaluation.y)
    path = directory / DATA_FILE
    with path.open("wb") as handle:
        np.savez(handle, **arrays)
    return path


def candidate_config(plan: TunePlan, sources: dict[str, dict[str, Any]]) -> RunConfig:
    """The run config of the candidates' run: the original run's timing rules and target
    options, the candidates as its models."""
    original = plan.config.model_dump()
    data = {"run": {**original["run"], "models": list(sources), "targets": [plan.request.target],
                    "threads": [plan.request.threads], "variants": [REFERENCE],
                    "profile": False, "shard": None},
            "measure": original["measure"], "training": original["training"],
            "targets": {k: v for k, v in original["targets"].items()
                        if k == plan.request.target},
            "models": sources, "goals": plan.request.goals.model_dump(exclude_none=True)}
    return build_config(data)


def _open_store(directory: Path) -> RunStore:
    run_dir = directory / CANDIDATES_RUN
    if (run_dir / CONFIG_FILE).is_file():
        return RunStore.open_existing(run_dir)
    if run_dir.exists():  # created, never configured: start it again
        import shutil

        shutil.rmtree(run_dir)
    return RunStore.create(directory, CANDIDATES_RUN)


def _figures(row: dict | None) -> dict[str, Any]:
    if row is None:
        return {}

    def number(key: str) -> float | None:
        value = row.get(key)
        return None if value is None or pd.isna(value) else float(value)

    return {"latency_ms": number("latency_ms_p50"),
            "latency_ci": [number("latency_ms_p50_ci_low"), number("latency_ms_p50_ci_high")],
            "top1": number("accuracy_top1"), "agreement": number("agreement_top1"),
            "size_bytes": None if number("size_bytes") is None else int(row["size_bytes"])}


def faster_text(candidate: Candidate, reference: Candidate) -> str:
    """Whether the candidate is faster than float32, from the two measured intervals."""
    if candidate.latency_ms is None or reference.latency_ms is None:
        return "not measured"
    mine, theirs = candidate.latency_interval, reference.latency_interval
    ratio = reference.latency_ms / candidate.latency_ms
    if overlaps(mine, theirs):
        return f"not resolved: p50 intervals overlap ({ratio:.2f}x)"
    return (f"faster: {ratio:.2f}x, intervals apart" if mine[1] < theirs[0] else
            f"slower: {ratio:.2f}x, intervals apart")


Progress = Callable[[str], None]


class Search:
    """The search over one tune directory; every step is written before the next."""

    def __init__(self, plan: TunePlan, state: TuneState, progress: Progress) -> None:
        self.plan, self.state, self.progress = plan, state, progress
        self.directory = plan.request.directory
        self.data = write_data(plan, self.directory)

    def _measure(self, store: RunStore, sources: dict[str, dict[str, Any]],
                 jobs: list[tuple[str, str]]) -> RunStore:
        config = candidate_config(self.plan, sources)
        store.write_config(config.model_dump())
        context = RunContext(config=config, store=store, environment=capture_environment())
        runner = JobRunner(context, zoo_provider(context, self.progress),
                           on_job_start=lambda label: self.progress(f"timing {label}"))
        planned = [job for model, variant in jobs for job in
                   plan_jobs([model], [variant], [self.plan.request.target],
                             [self.plan.request.threads])]
        summary = runner.run(planned, config.run.repeats)
        if summary.interrupted:
            raise KeyboardInterrupt
        return store

    def _row(self, store: RunStore, model: str, variant: str) -> dict | None:
        return store.row((model, variant, self.plan.request.target, self.plan.request.threads))

    def run(self) -> TuneState:
        state, plan = self.state, self.plan
        began = time.monotonic() - state.elapsed_s
        ranking = plan.ranking
        store = _open_store(self.directory)
        try:
            sources = {c.name: candidate_source(plan, ranking[:i + 1], self.data)
                       for i, c in enumerate(state.candidates)}
            for k in range(len(state.candidates), len(ranking)):
                if state.chosen or state.stopped:
                    break
                if plan.request.budget_s is not None and \
                        time.monotonic() - began >= plan.request.budget_s:
                    state.stopped = (f"budget of {plan.request.budget_s / 60:g} min spent "
                                     f"after {len(state.candidates)} candidate(s)")
                    break
                name = f"{plan.request.model}_keep{k + 1}"
                keep = ranking[:k + 1]
                sources[name] = candidate_source(plan, keep, self.data)
                # the float32 file beside each candidate: built with it (the quantizer reads
                # it), timed next to it, the reference it is judged against
                jobs = [(name, REFERENCE), (name, CANDIDATE_VARIANT)]
                tried = Tried(name, [op.layer for op in keep], keep_float_patterns(keep))
                self.progress(f"candidate {k + 1}: keep {', '.join(tried.kept)} float")
                step_began = time.monotonic()
                self._measure(store, sources, jobs)
                self._judge(store, tried)
                tried.seconds = round(time.monotonic() - step_began, 1)
                state.candidates.append(tried)
                state.elapsed_s = round(time.monotonic() - began, 1)
                if tried.outcome == Outcome.MEETS:
                    state.chosen = name
                    state.stopped = f"{name} meets every goal"
                elif tried.missed_costs:
                    state.stopped = (f"{name} misses {', '.join(tried.missed_costs)}: keeping "
                                     "more ops float can only make that worse")
                state.save(self.directory)
            if not state.chosen and not state.stopped:
                state.stopped = (f"every ranked op is float ({len(ranking)} candidates): "
                                 "no candidate meets the goals")
            state.elapsed_s = round(time.monotonic() - began, 1)
            state.save(self.directory)
        finally:
            store.close()
        return state

    def _judge(self, store: RunStore, tried: Tried) -> None:
        run_dirs = [store.run_dir]
        reference_row = self._row(store, tried.name, REFERENCE)
        row = self._row(store, tried.name, CANDIDATE_VARIANT)
        if row is None or row.get("status") != "ok":
            tried.outcome = str(Outcome.NOT_MEASURED)
            tried.checks = [str((row or {}).get("error") or "no row")[:300]]
            return
        reference = Candidate.of_row(reference_row, hits_of(reference_row, run_dirs)) \
            if reference_row and reference_row.get("status") == "ok" else None
        candidate = Candidate.of_row(row, hits_of(row, run_dirs))
        decision = decide_group([c for c in (reference, candidate) if c is not None],
                                self.plan.request.goals)
        verdict = decision.of(CANDIDATE_VARIANT)
        assert verdict is not None
        tried.outcome = str(verdict.outcome)
        tried.checks = [check.text() for check in verdict.checks]
        tried.missed_costs = [check.goal for check in verdict.checks
                              if check.goal in COST_GOALS and check.outcome == Outcome.MISSES]
        for key, value in _figures(row).items():
            setattr(tried, key, value)
        tried.faster_than_float32 = faster_text(candidate, reference) if reference else \
            "no float32 reference row"
        artifact = artifacts_dir(store.run_dir, tried.name) / f"{CANDIDATE_VARIANT}.tflite"
        tried.file = str(artifact) if artifact.is_file() else ""
        if reference_row is not None:
            self.state.reference = {"name": tried.name, **_figures(reference_row)}


def initial_state(plan: TunePlan) -> TuneState:
    start = plan.start.of(plan.start_variant)
    assert start is not None
    row = plan.results[plan.results["variant"] == plan.start_variant].to_dict("records")[0]
    return TuneState(
        identity=plan.request.identity(),
        start={"variant": plan.start_variant, "outcome": str(start.outcome),
               "checks": [c.text() for c in start.checks], **_figures(row)},
        ranking=[{"index": op.index, "op_type": op.op_type, "layer": op.layer,
                  "scope": op.scope, "error_steps": op.error_steps, "float_ms": op.float_ms,
                  "int8_ms": op.int8_ms, "why": op.describe()} for op in plan.ranking],
        ranking_basis=plan.ranking_basis)


def tune(plan: TunePlan, progress: Progress) -> TuneState:
    """Search (or continue searching) and write every output; return the final state."""
    directory = plan.request.directory
    directory.mkdir(parents=True, exist_ok=True)
    state = TuneState.load(directory)
    if state is not None and state.identity != plan.request.identity():
        raise TuneError(f"{directory} holds another tune ({state.identity['model']} on "
                        f"{state.identity['target']}, goals {state.identity['goals']}); give "
                        "another --out")
    if state is None:
        state = initial_state(plan)
        if state.start["outcome"] == Outcome.MEETS:
            state.stopped = (f"{plan.start_variant}, the run's full-int8 file, already meets "
                             "every goal: nothing to search")
        state.save(directory)
    if not state.stopped or (state.chosen is None and state.candidates and
                             state.stopped.startswith("budget")):
        if state.stopped.startswith("budget"):
            state.stopped = ""  # a new invocation brings a new budget
        state = Search(plan, state, progress).run()
    write_outputs(plan, state)
    return state
