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
at the first candidate meeting every goal, when the budget is spent, or when every
ranked op is float.

Everything lands in the tune directory: ``tune.json`` (the request, the ranking, every
candidate with its figures: the search path), ``recipe.toml`` (the chosen candidate as
a ``[models.NAME]`` table to reuse), ``tune.md`` and ``pareto_tune.png`` (the run's
variants and the candidates). Running the same tune again continues it: finished
candidates are kept, and an interrupted one is resumed as a run is.
"""

from __future__ import annotations

import glob
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib.util import find_spec
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
from qatbench.bench.presentation.accuracy import predictions_of
from qatbench.bench.statistics.decision import (
    Candidate,
    GroupDecision,
    Outcome,
    decide_group,
    overlaps,
)
from qatbench.bench.statistics.goals import Goals
from qatbench.bench.statistics.keep_float import FloatFileOp, RankedOp, rank_ops
from qatbench.bench.storage.environment import capture_environment
from qatbench.bench.storage.profiles import read_profiles
from qatbench.bench.storage.store import (
    RunDirError,
    RunStore,
    atomic_write_json,
    atomic_write_text,
    read_config,
)
from qatbench.qat.artifacts import ModelBuild
from qatbench.qat.litert_quantize import GRAPH_ENDS

TUNE_FILE = "tune.json"
RECIPE_FILE = "recipe.toml"
CANDIDATES_RUN = "candidates"
DATA_FILE = "tune_data.npz"
FULL_INT8 = ("ptq_int8", "qat_int8")
REFERENCE = "float32"
CANDIDATE_VARIANT = "mixed_int8"


class TuneError(ValueError):
    """The tune cannot start: the message names what is missing and how to get it."""


@dataclass(frozen=True)
class TuneRequest:
    run_dir: Path
    model: str
    target: str
    threads: int
    goals: Goals
    budget_s: float | None = None
    out_dir: Path | None = None

    @property
    def directory(self) -> Path:
        return self.out_dir or (self.run_dir / "tune" /
                                f"{self.model}-{self.target.replace(':', '_')}-t{self.threads}")

    def identity(self) -> dict[str, Any]:
        """What a continued tune must share with the one it continues."""
        return {"run_dir": str(self.run_dir.resolve()), "model": self.model,
                "target": self.target, "threads": self.threads,
                "goals": self.goals.model_dump(exclude_none=True)}


@dataclass
class Tried:
    """One candidate of the search path, with the figures it was decided on."""

    name: str
    kept: list[str]  # the error table's layer names of the ops kept float
    keep_float_ops: list[str]  # as a [models.NAME.training] key takes them
    outcome: str = ""
    checks: list[str] = field(default_factory=list)
    latency_ms: float | None = None
    latency_ci: list[float | None] = field(default_factory=list)
    top1: float | None = None
    agreement: float | None = None
    size_bytes: int | None = None
    faster_than_float32: str = ""
    file: str = ""
    seconds: float = 0.0


@dataclass
class TuneState:
    identity: dict[str, Any]
    start: dict[str, Any]
    ranking: list[dict[str, Any]]
    ranking_basis: str
    reference: dict[str, Any] = field(default_factory=dict)
    candidates: list[Tried] = field(default_factory=list)
    chosen: str | None = None
    stopped: str = ""
    elapsed_s: float = 0.0

    def save(self, directory: Path) -> None:
        atomic_write_json(directory / TUNE_FILE, asdict(self))

    @classmethod
    def load(cls, directory: Path) -> TuneState | None:
        path = directory / TUNE_FILE
        if not path.is_file():
            return None
        data = json.loads(path.read_text())
        data["candidates"] = [Tried(**c) for c in data.get("candidates", [])]
        return cls(**data)


@dataclass(frozen=True)
class TunePlan:
    """Everything checked before anything is built: the run, its files, the ranking."""

    request: TuneRequest
    config: RunConfig
    results: pd.DataFrame  # the run's rows of this model, target and threads
    float_path: Path
    eval_path: Path
    calibration: np.ndarray | dict[str, np.ndarray] | None
    ranking: list[RankedOp]
    ranking_basis: str
    start: GroupDecision
    start_variant: str


# -- checking the request -------------------------------------------------------------------

def _rows(run_dir: Path, request: TuneRequest) -> pd.DataFrame:
    from qatbench.bench.storage.runs import load_runs

    results = load_runs([run_dir]).results
    mine = results[(results["model"] == request.model) & (results["target"] == request.target)
                   & (results["threads"] == request.threads)]
    if mine.empty:
        have = sorted({f"{m} on {t} x{n}" for m, t, n in
                       zip(results["model"], results["target"], results["threads"],
                           strict=True)})
        raise TuneError(f"{run_dir} has no rows of {request.model} on {request.target} "
                        f"x{request.threads}; it has {', '.join(have) or 'no rows'}")
    ok = mine[mine["status"] == "ok"]
    if REFERENCE not in set(ok["variant"]):
        raise TuneError(f"{request.model} on {request.target} has no ok float32 row: tune "
                        "builds its candidates from the float32 file and judges them "
                        "against it; run with float32 in the variants")
    if not set(FULL_INT8) & set(ok["variant"]):
        raise TuneError(f"{request.model} on {request.target} has no ok full-int8 row "
                        "(ptq_int8 or qat_int8) to start from; run with ptq_int8")
    return mine


def _hits(row: dict, run_dirs: list[Path]) -> np.ndarray | None:
    found = predictions_of(row, run_dirs)
    return None if found is None else found.correct


def decide_rows(rows: pd.DataFrame, goals: Goals, run_dirs: list[Path], target: str,
                threads: int) -> GroupDecision:
    records = rows.to_dict("records")
    return decide_group([Candidate.of_row(r, _hits(r, run_dirs)) for r in records], goals,
                        model=str(records[0]["model"]), target=target, threads=threads)


_RANK = {Outcome.MEETS: 0, Outcome.UNDECIDED: 1, Outcome.MISSES: 2, Outcome.NOT_MEASURED: 3}


def best_full_int8(decision: GroupDecision, rows: pd.DataFrame) -> str:
    """The full-int8 variant to start from: the best outcome, then the most accurate."""
    by_variant = {str(r["variant"]): r for r in rows.to_dict("records")}

    def order(variant: str) -> tuple[int, float]:
        outcome = decision.of(variant)
        row = by_variant[variant]
        accuracy = row.get("accuracy_top1")
        if accuracy is None or pd.isna(accuracy):
            accuracy = row.get("agreement_top1")
        value = 0.0 if accuracy is None or pd.isna(accuracy) else float(accuracy)
        return (_RANK[outcome.outcome] if outcome else 3, -value)

    present = [v for v in FULL_INT8 if v in by_variant and by_variant[v]["status"] == "ok"]
    return min(present, key=order)


def in_model_dir(path: str | None, model_dir: Path) -> Path | None:
    """A file the manifest names, found in the model's folder of this run (the manifest's
    path may be relative to wherever the run was started, or the run moved since)."""
    if not path:
        return None
    here = model_dir / Path(path).name
    return here if here.is_file() else Path(path) if Path(path).is_file() else None


def _error_table(build: ModelBuild, variant: str, model_dir: Path) -> pd.DataFrame:
    artifact = build.variants.get(variant)
    candidates = [artifact.layer_errors_vs_float, artifact.layer_errors] if artifact else []
    candidates += [f"layer_errors_{variant}.csv", f"layer_errors_{variant}_vs_float.csv"]
    for path in candidates:
        found = in_model_dir(path, model_dir)
        if found is not None:
            return pd.read_csv(found)
    raise TuneError(f"no per-layer error table of {variant} in {model_dir}: tune ranks the "
                    f"ops to keep float from it; run with [training] layer_error_samples > 0 "
                    "(the default)")


def _calibration(config: RunConfig, model: str) -> np.ndarray | dict[str, np.ndarray] | None:
    """Inputs the candidates are calibrated on: the model's training data (never the eval
    inputs); None when the model has none (synthetic inputs, as for a file source)."""
    from qatbench.models.arrays import take

    budget = config.budget_for(model)
    source = config.models.get(model)
    if source is None:
        from qatbench.models.zoo import get_model_spec

        spec = get_model_spec(model)
        return take(spec.dataset().x_train, budget.representative_samples) \
            if spec.dataset is not None else None
    if source.data is None and source.image_dir is None:
        return None
    if source.data is not None and not source.data_is_callable:
        from qatbench.models.user_data import load_npz

        data = load_npz(Path(source.data), source.eval_fraction, budget.seed)
        return take(data.x_train, budget.representative_samples)
    raise TuneError(f"tune calibrates its candidates on {model}'s training data, which it "
                    f"reads from an .npz or a zoo dataset; give [models.{model}] data = "
                    "\"PATH.npz\" (a function or an image folder is not read here yet)")


def plan_tune(request: TuneRequest) -> TunePlan:
    """Check the request against the run; rank the ops. Nothing is built or timed."""
    run_dir = request.run_dir
    config = build_config(read_config(run_dir))
    rows = _rows(run_dir, request)
    model_dir = run_dir / "artifacts" / request.model
    build = ModelBuild.load(model_dir)
    if build is None:
        raise TuneError(f"{model_dir} holds no build manifest: tune needs the run's float32 "
                        "file and eval set (a run made with --artifacts keeps them there too)")
    float_artifact = build.variants.get(REFERENCE)
    float_path = in_model_dir(float_artifact.path, model_dir) \
        if float_artifact is not None and float_artifact.ok else None
    if float_path is None:
        raise TuneError(f"the float32 file of {request.model} is missing from {model_dir}")
    eval_path = in_model_dir(build.eval_path, model_dir)
    if eval_path is None:
        raise TuneError(f"{request.model} has no eval set in {model_dir}: candidates could "
                        "not be judged")
    if find_spec("litert_quantizer") is None:
        raise TuneError("tune builds candidates with Google's LiteRT Quantizer, which is not "
                        "installed: pip install 'qatbench[qat]'")
    goals = request.goals
    start = decide_rows(rows, goals, [run_dir], request.target, request.threads)
    start_variant = best_full_int8(start, rows)
    start_meets = start.of(start_variant) is not None and \
        start.of(start_variant).outcome == Outcome.MEETS  # type: ignore[union-attr]
    if start_meets:  # nothing to search: no table, profile or calibration needed
        return TunePlan(request, config, rows, float_path.resolve(), eval_path.resolve(),
                        None, [], "not needed: the full-int8 file meets the goals", start,
                        start_variant)
    errors = _error_table(build, start_variant, model_dir)
    from qatbench.qat.litert_quantize import file_ops

    ops = [FloatFileOp(i, op.op_type, op.scope) for i, op in
           enumerate(file_ops(float_path.read_bytes()))]
    profiles = read_profiles(run_dir)
    on_target = profiles[(profiles["model"] == request.model)
                         & (profiles["target"] == request.target)
                         & (profiles["threads"] == request.threads)] \
        if not profiles.empty else profiles
    float_profile = on_target[on_target["variant"] == REFERENCE] if not on_target.empty \
        else None
    int8_profile = on_target[on_target["variant"] == start_variant] if not on_target.empty \
        else None
    profiled = float_profile is not None and not float_profile.empty and \
        int8_profile is not None and not int8_profile.empty
    ranking = rank_ops(ops, errors, float_profile if profiled else None,
                       int8_profile if profiled else None)
    basis = (f"{start_variant}'s per-layer error per ms int8 saves on {request.target} "
             "(the run's per-op profiles)" if profiled else
             f"{start_variant}'s per-layer error alone: the run has no per-op profile of "
             f"float32 and {start_variant} on {request.target} (`qatbench profile "
             f"{run_dir}` measures them)")
    if not ranking:
        raise TuneError(f"no op of the float32 file matches a layer of {start_variant}'s "
                        "error table: nothing to rank")
    calibration = _calibration(config, request.model)
    if request.target not in config.run.targets and request.target not in config.targets:
        raise TuneError(f"{request.target} is not a target of {run_dir}")
    return TunePlan(request, config, rows, float_path.resolve(), eval_path.resolve(),
                    calibration, ranking, basis, start, start_variant)


# -- the candidates -----------------------------------------------------------------------

def keep_float_patterns(ops: list[RankedOp]) -> list[str]:
    """``keep_float_ops`` for these ops: the file's inputs and outputs, then each op's
    full name, escaped so that it matches only itself."""
    return [*GRAPH_ENDS, *(glob.escape(op.scope) for op in ops)]


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


def candidate_source(plan: TunePlan, keep: list[RankedOp], data: Path | None
                     ) -> dict[str, Any]:
    """The candidate as a ``[models.NAME]`` table (what recipe.toml writes)."""
    budget = plan.config.budget_for(plan.request.model)
    table: dict[str, Any] = {
        "tflite": {REFERENCE: str(plan.float_path)}, "quantize": [CANDIDATE_VARIANT],
        "training": {"keep_float_ops": keep_float_patterns(keep),
                     "representative_samples": budget.representative_samples,
                     "seed": budget.seed}}
    if data is not None:
        table["data"] = str(data)
    return table


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
    if (run_dir / "config.json").is_file():
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
        store.write_json("config.json", config.model_dump())
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
        reference = Candidate.of_row(reference_row, _hits(reference_row, run_dirs)) \
            if reference_row and reference_row.get("status") == "ok" else None
        candidate = Candidate.of_row(row, _hits(row, run_dirs))
        decision = decide_group([c for c in (reference, candidate) if c is not None],
                                self.plan.request.goals)
        verdict = decision.of(CANDIDATE_VARIANT)
        assert verdict is not None
        tried.outcome = str(verdict.outcome)
        tried.checks = [check.text() for check in verdict.checks]
        for key, value in _figures(row).items():
            setattr(tried, key, value)
        tried.faster_than_float32 = faster_text(candidate, reference) if reference else \
            "no float32 reference row"
        artifact = Path(store.run_dir) / "artifacts" / tried.name / f"{CANDIDATE_VARIANT}.tflite"
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


# -- outputs ----------------------------------------------------------------------------------

def recipe_text(plan: TunePlan, state: TuneState) -> str:
    """The chosen candidate as a ``[models.NAME]`` table a run config can take."""
    chosen = next((c for c in state.candidates if c.name == state.chosen), None)
    when = datetime.now(UTC).strftime("%Y-%m-%d")
    head = (f"# qatbench tune: {plan.request.model} on {plan.request.target} "
            f"x{plan.request.threads}, {when}\n# goals: {plan.request.goals.describe()}\n")
    if chosen is None:
        return head + f"# no candidate met the goals: {state.stopped}\n"
    source = candidate_source(plan, plan.ranking[:len(chosen.kept)],
                              plan.request.directory / DATA_FILE
                              if (plan.request.directory / DATA_FILE).exists() else None)
    name = f"{plan.request.model}_tuned"
    lines = [head, f"[models.{name}]",
             f"tflite = {{ float32 = {json.dumps(source['tflite'][REFERENCE])} }}",
             f"quantize = {json.dumps(source['quantize'])}"]
    if "data" in source:
        lines.append(f"data = {json.dumps(source['data'])}")
    lines += ["", f"[models.{name}.training]",
              f"# kept float: {', '.join(chosen.kept)}"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in source["training"].items()]
    return "\n".join(lines) + "\n"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _ms(value: float | None, ci: list[float | None] | None = None) -> str:
    if value is None:
        return "–"
    if ci and ci[0] is not None and ci[1] is not None:
        return f"{value:.4g} [{ci[0]:.4g}–{ci[1]:.4g}]"
    return f"{value:.4g}"


def search_frame(state: TuneState) -> pd.DataFrame:
    rows = [{"candidate": f"start: {state.start['variant']}", "kept float": "",
             "p50 ms": _ms(state.start.get("latency_ms"), state.start.get("latency_ci")),
             "top-1": _pct(state.start.get("top1")),
             "size KB": "" if state.start.get("size_bytes") is None
             else f"{state.start['size_bytes'] / 1024:,.0f}",
             "outcome": state.start["outcome"], "vs float32": "",
             "figures": "; ".join(state.start["checks"])}]
    for c in state.candidates:
        rows.append({"candidate": c.name, "kept float": ", ".join(c.kept),
                     "p50 ms": _ms(c.latency_ms, c.latency_ci), "top-1": _pct(c.top1),
                     "size KB": "" if c.size_bytes is None else f"{c.size_bytes / 1024:,.0f}",
                     "outcome": ("SHIP: " if c.name == state.chosen else "") + c.outcome,
                     "vs float32": c.faster_than_float32, "figures": "; ".join(c.checks)})
    return pd.DataFrame(rows)


def write_outputs(plan: TunePlan, state: TuneState) -> None:
    from qatbench.bench.presentation.tables import markdown_table

    directory = plan.request.directory
    atomic_write_text(directory / RECIPE_FILE, recipe_text(plan, state))
    plot = write_tune_plot(plan, state, directory / "pareto_tune.png")
    reference = state.reference
    text = [f"# qatbench tune: {plan.request.model} on {plan.request.target} "
            f"x{plan.request.threads}", "",
            f"- goals: {plan.request.goals.describe()}",
            f"- result: {state.stopped}",
            f"- order of ops to keep float: {state.ranking_basis}",
            f"- float32 in this session: p50 "
            f"{_ms(reference.get('latency_ms'), reference.get('latency_ci'))} ms, top-1 "
            f"{_pct(reference.get('top1'))}" if reference else "- no candidate was measured",
            f"- time spent: {state.elapsed_s:.0f} s over {len(state.candidates)} candidate(s)",
            f"- recipe: {RECIPE_FILE}", "", "## Search path", "",
            markdown_table(search_frame(state)), "## Ranking", "",
            *[f"{i}. {op['why']}" for i, op in enumerate(state.ranking, 1)], ""]
    if plot is not None:
        text += ["## Pareto", "", f"![pareto]({plot.name})", ""]
    atomic_write_text(directory / "tune.md", "\n".join(text))


def write_tune_plot(plan: TunePlan, state: TuneState, path: Path) -> Path | None:
    """The run's variants and the candidates on one Pareto plot."""
    import matplotlib.pyplot as plt

    from qatbench.bench.presentation.pareto import (
        ParetoPoint,
        accuracy_bound,
        axis_for,
        draw_pareto,
        point_of,
    )

    rows = plan.results[plan.results["status"] == "ok"]
    axis = axis_for(rows)
    if axis is None:
        return None
    points = [p for p in (point_of(r, axis) for r in rows.to_dict("records")) if p]
    candidates_run = plan.request.directory / CANDIDATES_RUN
    if (candidates_run / "results.parquet").is_file():
        measured = pd.read_parquet(candidates_run / "results.parquet")
        for record in measured[(measured["status"] == "ok")
                               & (measured["variant"] == CANDIDATE_VARIANT)].to_dict("records"):
            point = point_of(record, axis, label=str(record["model"]))
            if point is not None:
                points.append(point)
    if not points:
        return None
    float_row = rows[rows["variant"] == REFERENCE].to_dict("records")
    fig, ax = plt.subplots(figsize=(7, 5))
    draw_pareto(ax, [ParetoPoint(**asdict(p)) for p in points], axis, winner=state.chosen,
                latency_bound=plan.request.goals.max_latency_ms,
                accuracy_line=accuracy_bound(plan.request.goals, axis,
                                             float_row[0] if float_row else None),
                title=f"tune {plan.request.model} on {plan.request.target} "
                      f"x{plan.request.threads}: run variants and candidates")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def request_from(run_dir: Path, model: str, target: str, threads: int | None,
                 goal_overrides: dict[str, Any], budget_min: float | None,
                 out_dir: Path | None) -> TuneRequest:
    """The request from the CLI's values, the goals the run's config and ``--goal``s."""
    try:
        config = build_config(read_config(run_dir))
    except RunDirError:
        raise
    goals = config.goals_for(model) if model in config.run.models else config.goals
    if goal_overrides:
        goals = goals.merged(Goals.model_validate(goal_overrides))
    return TuneRequest(run_dir.resolve(), model, target,
                       threads if threads is not None else config.run.threads[0], goals,
                       None if budget_min is None else budget_min * 60,
                       None if out_dir is None else out_dir.resolve())


def parse_goals(values: list[str]) -> dict[str, Any]:
    """``--goal KEY=VALUE`` values as a goals table (validated by ``Goals``)."""
    table: dict[str, Any] = {}
    for value in values:
        key, equals, text = value.partition("=")
        if not equals or not key.strip() or not text.strip():
            raise TuneError(f"--goal {value!r}: give KEY=VALUE, e.g. --goal max_top1_drop=1")
        text = text.strip()
        try:
            table[key.strip()] = float(text)
        except ValueError:
            table[key.strip()] = text
    try:
        Goals.model_validate(table)
    except ValueError as error:
        problems = [f"--goal {'.'.join(str(p) for p in item['loc'])}: "
                    f"{item['msg'].removeprefix('Value error, ')}"
                    if item["type"] != "extra_forbidden" else
                    f"--goal {'.'.join(str(p) for p in item['loc'])}: unknown goal; goals are "
                    f"{', '.join(Goals.model_fields)}" for item in error.errors()]  # type: ignore[attr-defined]
        raise TuneError("; ".join(problems)) from None
    return table


def run_tune_command(model: str, target: str, run: Path | None, threads: int | None,
                     goals: list[str], budget_min: float | None, out: Path | None,
                     console: Any, fail_usage: Callable[[str], Exception]) -> int:
    """``qatbench tune``: 0 when the chosen file meets every goal, 1 when nothing does
    (within the budget), 2 (``fail_usage``) for bad input, before anything is built."""
    from rich.markup import escape

    from qatbench.bench.presentation.tables import rich_table
    from qatbench.bench.storage.runs import RunsNotFound, latest_run
    from qatbench.bench.storage.store import DamagedStoreFile

    try:
        run_dir = run if run is not None else latest_run(Path("results"))
        request = request_from(run_dir, model, target, threads, parse_goals(goals),
                               budget_min, out)
        plan = plan_tune(request)
    except (TuneError, RunDirError, RunsNotFound, DamagedStoreFile, ValueError) as error:
        raise fail_usage(str(error)) from None
    console.print(f"[bold]qatbench tune[/] {escape(model)} on {escape(target)} "
                  f"x{request.threads} -> {request.directory}")
    console.print(f"goals: {escape(request.goals.describe())}", highlight=False)
    try:
        with console.status("tuning") as status:
            state = tune(plan, lambda text: status.update(escape(text)))
    except TuneError as error:
        raise fail_usage(str(error)) from None
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]: finished candidates are kept; run the same "
                      "command again to continue")
        return 130
    console.print(rich_table(search_frame(state), "search path"))
    console.print(f"{escape(state.stopped)}", highlight=False)
    console.print(f"tune: {request.directory / 'tune.md'}  recipe: "
                  f"{request.directory / RECIPE_FILE}")
    met = state.chosen is not None or state.start["outcome"] == Outcome.MEETS
    return 0 if met else 1
