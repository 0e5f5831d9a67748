"""What a tune writes: ``recipe.toml`` (the chosen file as a ``[models.NAME]`` table),
``tune.md`` with the search path and ranking, and ``pareto_tune.png`` (the run's variants
and the candidates)."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from qatbench.bench.orchestration.tune_plan import candidate_source
from qatbench.bench.orchestration.tune_state import (
    CANDIDATE_VARIANT,
    CANDIDATES_RUN,
    DATA_FILE,
    RECIPE_FILE,
    REFERENCE,
    TunePlan,
    TuneState,
)
from qatbench.bench.storage.layout import RESULTS_FILE
from qatbench.bench.storage.store import atomic_write_text


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
    if (candidates_run / RESULTS_FILE).is_file():
        measured = pd.read_parquet(candidates_run / RESULTS_FILE)
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
