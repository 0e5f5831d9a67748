"""Checking a tune request against its run, before anything is built: the rows, the
float32 file and eval set, the error table and profiles that rank the ops, the
calibration inputs -- and what a candidate is, as a ``[models.NAME]`` table."""

from __future__ import annotations

import glob
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from qatbench.bench.orchestration.config import RunConfig, build_config
from qatbench.bench.orchestration.tune_state import (
    CANDIDATE_VARIANT,
    FULL_INT8,
    REFERENCE,
    TuneError,
    TunePlan,
    TuneRequest,
)
from qatbench.bench.presentation.accuracy import predictions_of
from qatbench.bench.statistics.decision import (
    Candidate,
    GroupDecision,
    Outcome,
    decide_group,
)
from qatbench.bench.statistics.goals import Goals
from qatbench.bench.statistics.keep_float import FloatFileOp, RankedOp, rank_ops
from qatbench.bench.storage.layout import artifacts_dir
from qatbench.bench.storage.profiles import read_profiles
from qatbench.bench.storage.store import read_config
from qatbench.qat.artifacts import ModelBuild
from qatbench.qat.litert_quantize import GRAPH_ENDS


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


def hits_of(row: dict, run_dirs: list[Path]) -> np.ndarray | None:
    found = predictions_of(row, run_dirs)
    return None if found is None else found.correct


def decide_rows(rows: pd.DataFrame, goals: Goals, run_dirs: list[Path], target: str,
                threads: int) -> GroupDecision:
    records = rows.to_dict("records")
    return decide_group([Candidate.of_row(r, hits_of(r, run_dirs)) for r in records], goals,
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
    model_dir = artifacts_dir(run_dir, request.model)
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


def keep_float_patterns(ops: list[RankedOp]) -> list[str]:
    """``keep_float_ops`` for these ops: the file's inputs and outputs, then each op's
    full name, escaped so that it matches only itself."""
    return [*GRAPH_ENDS, *(glob.escape(op.scope) for op in ops)]


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
