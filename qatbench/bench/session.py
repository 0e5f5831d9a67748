"""One run from start to end: set up the run directory, run the jobs with progress, write
the results and the report, and say what happened. Shared by ``run`` and ``bench``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from qatbench.bench.config import RunConfig
from qatbench.bench.environment import capture_environment
from qatbench.bench.report import write_report
from qatbench.bench.runner import Job, JobRunner, ModelProvider, RunContext, RunSummary
from qatbench.bench.store import RunStore
from qatbench.bench.summary import problems_frame, summary_frame
from qatbench.bench.tables import rich_table

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def open_store(config: RunConfig, resume: Path | None) -> RunStore:
    if resume is not None:
        return RunStore.open_existing(resume)
    store = RunStore.create(Path(config.run.out))
    store.write_json("config.json", config.model_dump())
    return store


def execute(context: RunContext, jobs: Sequence[Job], provider_factory: Any,
            console: Console, benchmark_json: Path | None = None) -> int:
    """Run ``jobs``, keep everything on disk, print the summary; return the exit code."""
    store = context.store
    store.write_json("environment.json", context.environment.to_dict())
    console.print(f"[bold]qatbench[/] run [cyan]{store.run_id}[/] -> {store.run_dir}")
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=True) as progress:
        task = progress.add_task("starting", total=len(jobs))
        provider: ModelProvider = provider_factory(
            context, lambda text: progress.update(task, description=text))

        def started(label: str) -> None:
            progress.update(task, description=f"timing {label}")

        def finished(job: Job, row: dict[str, Any]) -> None:
            progress.advance(task)
            colour = {"ok": "green", "failed": "red"}.get(row["status"], "yellow")
            console.print(f"  [{colour}]{row['status']:>11}[/] {job.label}")

        runner = JobRunner(context, provider, on_job_start=started, on_job_done=finished)
        done = store.finished_jobs()
        progress.update(task, completed=sum(1 for job in jobs if job.key in done))
        summary = runner.run(jobs)
    store.flush()
    report = write_report(store.results, [store.run_dir], store.run_dir)
    if benchmark_json is not None:
        from qatbench.bench.pytest_benchmark_json import write_benchmark_json

        write_benchmark_json(store.results, store.samples, context.environment, benchmark_json)
        console.print(f"pytest-benchmark JSON: {benchmark_json}")
    store.close()
    return finish(console, store, summary, report)


def finish(console: Console, store: RunStore, summary: RunSummary, report: Path) -> int:
    results = store.results
    if not results.empty:
        console.print(rich_table(summary_frame(results), "float → int8 (size, p50 latency, top-1)"))
        problems = problems_frame(results)
        if not problems.empty:
            console.print(rich_table(problems, "not measured"))
    console.print(f"results: {store.run_dir / 'results.parquet'}  report: {report}")
    if summary.interrupted:
        console.print(f"[yellow]interrupted[/]: finished jobs are kept; continue with "
                      f"`qatbench run --resume {store.run_dir}`")
        return 130
    return EXIT_FAILED if (results["status"] == "failed").any() else EXIT_OK


def new_context(config: RunConfig, store: RunStore) -> RunContext:
    return RunContext(config=config, store=store, environment=capture_environment())
