"""Per-op profiles: where a model's time goes, op by op, on the host or on a phone.

Host (``source="host-cut"``): the model is cut into one-op models (``op_cut``); each is
fed the real tensors its op sees inside the whole model (one run of the whole model on
the builtin kernels with every intermediate kept) and timed with the whole-model rules
(``timing.time_invocations``: warm-up, then count and duration). Placement is the whole
model's: an op the delegate took inside the whole model is timed with the delegate, an
op it left to the builtin kernels is timed on them, so the cut runs where the op runs.
The whole model is timed in the same process with the same rules, and the profile's
*coverage* -- the sum of the ops' p50 over the whole model's p50 -- says how far the sum
can be trusted (fusion, caches and per-invoke overhead are what a cut changes).

The profile's type, and the phone's profile from ``benchmark_model``'s op tables, are
in ``targets/op_profile.py`` and ``android/benchmark_model_output.py``.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import numpy as np

from qatbench.targets.base import MeasureSpec
from qatbench.targets.host.interpreter_target import delegate_kernels, delegated_op_indices
from qatbench.targets.host.op_cut import cut_model
from qatbench.targets.inputs import index_bounds_of_file, random_input
from qatbench.targets.op_profile import HOST_CUT, OpProfile, OpTiming
from qatbench.targets.runtime import Runtime
from qatbench.targets.timing import time_invocations


def op_spec(spec: MeasureSpec, op_s: float | None) -> MeasureSpec:
    """The whole-model rules for one op; ``op_s`` (when given) caps both phases' minimum
    durations, so a model of 700 ops does not take 700 whole-model budgets."""
    if op_s is None:
        return spec
    return spec.model_copy(update={"min_s": min(spec.min_s, op_s),
                                   "warmup_min_s": min(spec.warmup_min_s, op_s)})


def _inputs_of_whole_model(runtime: Runtime, model: Path, seed: int) -> dict[int, np.ndarray]:
    """Every tensor of one whole-model run on random inputs (builtin kernels, every
    intermediate kept): what each cut op is fed."""
    interpreter = runtime.module.Interpreter(
        model_path=str(model), num_threads=1, experimental_preserve_all_tensors=True,
        experimental_op_resolver_type=runtime.module.OpResolverType
        .BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interpreter.allocate_tensors()
    rng = np.random.default_rng(seed)
    bounds = index_bounds_of_file(model)
    for detail in interpreter.get_input_details():
        interpreter.set_tensor(detail["index"], random_input(detail, rng, bounds))
    interpreter.invoke()
    values: dict[int, np.ndarray] = {}
    for detail in interpreter.get_tensor_details():
        try:
            values[detail["index"]] = np.array(interpreter.get_tensor(detail["index"]))
        except ValueError:  # a tensor without data (optional, or freed)
            continue
    return values


def _p50(samples: tuple[float, ...]) -> float:
    return float(statistics.median(samples))


def profile_on_host(runtime: Runtime, model: Path, work: Path, spec: MeasureSpec, *,
                    use_delegate: bool, delegate_name: str = "xnnpack",
                    op_s: float | None = None) -> OpProfile:
    """Time ``model`` whole and op by op on the host's interpreter (see the module doc)."""
    whole = runtime.interpreter(str(model), threads=spec.threads,
                                use_default_delegates=use_delegate)
    whole.allocate_tensors()
    placed = delegated_op_indices(whole) if use_delegate else set()
    kernels = delegate_kernels(whole) if use_delegate else 0
    rng = np.random.default_rng(spec.seed)
    bounds = index_bounds_of_file(model)
    for detail in whole.get_input_details():
        whole.set_tensor(detail["index"], random_input(detail, rng, bounds))
    whole_runs = time_invocations(whole.invoke, spec)
    del whole
    values = _inputs_of_whole_model(runtime, model, spec.seed)
    per_op = op_spec(spec, op_s)
    ops_dir = work / "ops"
    ops_dir.mkdir(parents=True, exist_ok=True)
    timings = []
    for cut in cut_model(model):
        delegated = (cut.index in placed) if use_delegate else None
        if cut.content is None:
            timings.append(OpTiming(cut.index, cut.op_type, cut.name, delegated, None,
                                    note=cut.reason))
            continue
        timings.append(_time_cut(runtime, cut, ops_dir, per_op, values,
                                 delegated=delegated, rng=rng))
    label = (f"{delegate_name} ({kernels} kernels)" if kernels else "none") \
        if use_delegate else "none"
    return OpProfile(HOST_CUT, tuple(timings), _p50(whole_runs.samples_ms), label,
                     extra={"whole_n_samples": len(whole_runs.samples_ms),
                            "op_min_s": per_op.min_s, "op_warmup_min_s": per_op.warmup_min_s})


def _time_cut(runtime: Runtime, cut: Any, ops_dir: Path, spec: MeasureSpec,
              values: dict[int, np.ndarray], *, delegated: bool | None,
              rng: np.random.Generator) -> OpTiming:
    path = ops_dir / f"op_{cut.index:04d}_{cut.op_type.lower()}.tflite"
    path.write_bytes(cut.content)
    note = ""
    try:
        interpreter = runtime.interpreter(str(path), threads=spec.threads,
                                          use_default_delegates=bool(delegated))
        interpreter.allocate_tensors()
        if delegated and not delegate_kernels(interpreter):
            note = "the delegate took it in the whole model but not alone: timed builtin"
        for detail, tensor in zip(interpreter.get_input_details(), cut.input_tensors,
                                  strict=True):
            value = values.get(tensor)
            if value is None or value.shape != tuple(detail["shape"]):
                value = random_input(detail, rng)
                note = note or "fed random inputs (the whole model's tensor was not kept)"
            interpreter.set_tensor(detail["index"], value.astype(detail["dtype"]))
        runs = time_invocations(interpreter.invoke, spec)
    except (RuntimeError, ValueError) as error:
        return OpTiming(cut.index, cut.op_type, cut.name, delegated, None,
                        note=f"not timed: {type(error).__name__}: {error}"[:300])
    finally:
        path.unlink(missing_ok=True)
    return OpTiming(cut.index, cut.op_type, cut.name, delegated, _p50(runs.samples_ms),
                    len(runs.samples_ms), note)
