"""``qatbench explore RUN [--row KEY] [--out DIR] [--open]``: a run's measurements as
Model Explorer overlays on the ``.tflite`` files it measured.

For each chosen row (``--row``: its key as ``RowKey.label()`` prints it, or ``MODEL`` or
``MODEL/VARIANT``; without it, every profiled or ok row) the row's file (its
``model_file``, as the run's results row or profile line records it) and its model's
float32 file get: per-op time and placement from ``profile.parquet`` (the row's series:
target, device, threads, fingerprint), the variant's time over float32's per op, and the
variant's per-layer quantization error from its build's layer-error tables
(``artifacts/<model>/manifest.json``). What the run did not measure is said in one line
and not drawn. A profile whose op types do not match the file found for it is refused
in a line too: its numbers belong to another file.

Files go to ``OUT/<model>/<variant>.<overlay>[.<series>].json`` (``OUT`` defaults to
``RUN/explorer``); each loads in Model Explorer as node data for that variant's file.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from qatbench.atomic import atomic_write_text, ensure_writable_dir
from qatbench.bench.orchestration.explorer_graph import ExplorerGraph, read_explorer_graph
from qatbench.bench.orchestration.external import FILES_WEIGHTS
from qatbench.bench.presentation.explorer import (
    LAYER_ERROR,
    PLACEMENT,
    RATIO,
    TIME,
    Overlay,
    layer_error_overlay,
    model_node_data,
    node_data_builder,
    placement_overlay,
    ratio_overlay,
    time_overlay,
)
from qatbench.bench.statistics.op_profiles import is_delegate_row
from qatbench.bench.storage.key import KEY_COLUMNS, RowKey
from qatbench.bench.storage.layout import (
    EXPLORER_DIR,
    PROFILE_FILE,
    RESULTS_FILE,
    artifacts_dir,
    model_file_path,
)
from qatbench.bench.storage.profiles import conform_profile
from qatbench.bench.storage.store import (
    RESULTS_ADVICE,
    DamagedStoreFile,
    read_store_parquet,
)
from qatbench.bench.storage.upgrade import upgrade_profile_files, upgrade_results
from qatbench.errors import UserError
from qatbench.qat.artifacts import MANIFEST, ModelBuild
from qatbench.targets.op_profile import HOST_CUT

FLOAT = "float32"
OUT_DIR = EXPLORER_DIR
PROFILE_ADVICE = ("it holds the run's per-op profiles: restore it from a copy of the run "
                  "directory, or profile again (qatbench profile, or [run] profile = true)")
NO_PROFILE = ("no per-op profile in this run, so no per-op time, time over float32 or "
              "placement overlay (profile it: [run] profile = true, or qatbench profile)")


class ExploreError(UserError, ValueError):
    """The user's input cannot be explored (exit 2): the message names what and why."""


@dataclass(frozen=True)
class Written:
    path: Path
    model_file: Path
    overlay: Overlay


@dataclass
class Exploration:
    out_dir: Path
    written: list[Written] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _read_profiles(run_dir: Path) -> pd.DataFrame:
    path = run_dir / PROFILE_FILE
    if not path.exists():
        return conform_profile(pd.DataFrame())
    frame = read_store_parquet(path, PROFILE_ADVICE)
    lacking = [c for c in ("model", "variant", "target", "op_index", "op_type", "p50_ms")
               if c not in frame]
    if lacking:
        raise DamagedStoreFile(path, f"no {', '.join(lacking)} column", PROFILE_ADVICE)
    try:
        frame["model_file"] = upgrade_profile_files(frame, run_dir)
        return conform_profile(frame)
    except (TypeError, ValueError) as error:
        raise DamagedStoreFile(path, str(error).splitlines()[0], PROFILE_ADVICE) from None


def read_run(run_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(results rows, profile lines) of a run directory, in today's shape (an older run
    upgraded as it is read); ``ExploreError`` for anything that is not one, or a damaged
    table."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir() or not any((run_dir / name).exists()
                                       for name in (RESULTS_FILE, PROFILE_FILE)):
        raise ExploreError(f"{run_dir} is not a run directory (no {RESULTS_FILE} or "
                           f"{PROFILE_FILE}): give a results/<run_id> folder written by "
                           "qatbench run, bench or profile")
    try:
        profiles = _read_profiles(run_dir)
        results = upgrade_results(read_store_parquet(run_dir / RESULTS_FILE, RESULTS_ADVICE)
                                  if (run_dir / RESULTS_FILE).exists()
                                  else pd.DataFrame(columns=KEY_COLUMNS), run_dir)
    except DamagedStoreFile as error:
        raise ExploreError(str(error)) from None
    return results, profiles


def row_keys(results: pd.DataFrame, profiles: pd.DataFrame) -> list[RowKey]:
    """Every row of the run that can have an overlay: profiled, or an ok results row."""
    ok = results[results["status"] == "ok"] if "status" in results else results
    keys = [RowKey.of(r) for r in profiles.to_dict("records")] + \
        [RowKey.of(r) for r in ok.to_dict("records")]
    return sorted(dict.fromkeys(keys))


def select_rows(keys: list[RowKey], row: str | None) -> list[RowKey]:
    """The rows ``--row`` names (all without it): a row's ``RowKey.label()``, the same
    without its ``[device]``, ``MODEL`` or ``MODEL/VARIANT``. ``ExploreError`` listing the
    run's rows when it names none."""
    if row is None:
        return keys
    text = row.strip()
    chosen = [k for k in keys if text in (k.label(), replace(k, device="").label(), k.model,
                                          f"{k.model}/{k.variant}")]
    if not chosen:
        listed = "; ".join(k.label() for k in keys) or "none"
        raise ExploreError(f"--row {row!r} names no row of this run; give one of its row "
                           f"keys, MODEL or MODEL/VARIANT. Its rows: {listed}")
    return chosen


def _in_run(path: str | None, folder: Path) -> Path | None:
    """The file of a path a build's manifest recorded: its copy in ``folder`` (the run's
    own, also when the run directory was moved or copied), else the recorded path."""
    if not path:
        return None
    for candidate in (folder / Path(path).name, Path(path)):
        if candidate.is_file():
            return candidate
    return None


def _build(run_dir: Path, model: str) -> ModelBuild | None:
    folder = artifacts_dir(run_dir, model)
    try:
        return ModelBuild.load(folder)
    except (ValueError, TypeError, KeyError) as error:
        raise ExploreError(f"{folder / MANIFEST} is damaged ({error}); restore it from a "
                           "copy of the run directory") from None


def model_files(run_dir: Path, results: pd.DataFrame, profiles: pd.DataFrame
                ) -> dict[tuple[str, str, str, int], Path]:
    """The ``.tflite`` each job of the run measured (``RowKey.job`` -> file), from the
    ``model_file`` its results rows and profile lines record; files no longer there are
    left out."""
    found: dict[tuple[str, str, str, int], Path] = {}
    for frame in (results, profiles):
        for row in frame.to_dict("records"):
            path = model_file_path(run_dir, row.get("model_file"))
            job = RowKey.of(row).job
            if path is not None and job not in found and path.is_file():
                found[job] = path
    return found


def series_label(key: RowKey) -> str:
    device = f" [{key.device}]" if key.device and key.device != "host" else ""
    return f"{key.target}{device} x{key.threads}"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:120]


def _profile_mismatch(lines: pd.DataFrame, graph: ExplorerGraph) -> str:
    """The first op whose type differs between the profile and the file, or (a host-cut
    profile, which names each op by its first output tensor) whose output does ('' if
    none): two conversions of one model often have the same op types."""
    for line in lines.to_dict("records"):
        index, op_type = line["op_index"], str(line["op_type"])
        if pd.isna(index) or is_delegate_row(op_type):
            continue
        index = int(index)
        found = graph.op_types[index] if graph.node_id(index) is not None else "no such op"
        if found != op_type:
            return f"op {index} is {op_type} in the profile, {found} in {graph.path}"
        name = "" if pd.isna(line["name"]) else str(line["name"])
        outputs = graph.op_outputs[index]
        if line["source"] == HOST_CUT and name and outputs and outputs[0] != name:
            return f"op {index} writes {name} in the profile, {outputs[0]} in {graph.path}"
    return ""


def _op_lines(lines: pd.DataFrame) -> pd.DataFrame:
    """A profile without a phone's delegate-partition lines (they have no op node)."""
    return lines[[not is_delegate_row(str(t)) for t in lines["op_type"]]]


class _Explorer:
    """Writes one run's overlays; collects what it wrote and what it could not."""

    def __init__(self, run_dir: Path, profiles: pd.DataFrame, out_dir: Path,
                 read_graph: Callable[[Path], ExplorerGraph],
                 files: dict[tuple[str, str, str, int], Path]) -> None:
        self.run_dir = run_dir
        self.files = files
        self.out_dir = out_dir
        self.read_graph = read_graph
        self.profiles = {RowKey.of(dict(zip(KEY_COLUMNS, k, strict=True))): g
                         for k, g in profiles.groupby(KEY_COLUMNS, sort=False, dropna=False)}
        self.result = Exploration(out_dir)
        self._graphs: dict[Path, ExplorerGraph | None] = {}
        self._builds: dict[str, ModelBuild | None] = {}
        self._done: set[object] = set()  # profiled RowKeys, (model, variant) layer errors

    def note(self, text: str) -> None:
        if text not in self.result.notes:
            self.result.notes.append(text)

    def build(self, model: str) -> ModelBuild | None:
        if model not in self._builds:
            self._builds[model] = _build(self.run_dir, model)
        return self._builds[model]

    def graph(self, key: RowKey) -> ExplorerGraph | None:
        path = self.files.get(key.job)
        if path is None:
            self.note(f"{key.model}/{key.variant}: its .tflite is not in the run "
                      "(artifacts/ or the job's request), so it has no overlays")
            return None
        if path not in self._graphs:
            try:
                self._graphs[path] = self.read_graph(path)
            except ValueError as error:
                self.note(f"{key.model}/{key.variant}: {error}")
                self._graphs[path] = None
        return self._graphs[path]

    def write(self, overlay: Overlay | None, graph: ExplorerGraph, tag: str = "") -> None:
        if overlay is None:
            return
        values = {i: v for i, v in overlay.values.items() if graph.node_id(i) is not None}
        if len(values) < len(overlay.values):
            self.note(f"{overlay.model}/{overlay.variant} {overlay.kind}: "
                      f"{len(overlay.values) - len(values)} values are on ops Model Explorer "
                      f"does not show in {graph.path.name}; left out")
        if not values:
            return
        overlay = Overlay(overlay.model, overlay.variant, overlay.kind, overlay.series,
                          overlay.title, values, overlay.notes)
        stem = ".".join(p for p in (overlay.variant, overlay.kind, tag,
                                    _slug(overlay.series)) if p)
        path = self.out_dir / _slug(overlay.model) / f"{_slug(stem)}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, model_node_data(overlay, graph.graph_id).to_json_string(
            indent=2))
        self.result.written.append(Written(path, graph.path, overlay))
        for line in overlay.notes:
            self.note(f"{overlay.model}/{overlay.variant} {overlay.kind}: {line}")

    def profiled(self, key: RowKey) -> None:
        """Time, placement and (for a variant other than float32) time over float32."""
        if key in self._done:
            return
        self._done.add(key)
        lines = self.profiles.get(key)
        if lines is None:
            self.note(f"{key.label()}: {NO_PROFILE}")
            return
        graph = self.graph(key)
        if graph is None:
            return
        mismatch = _profile_mismatch(lines, graph)
        if mismatch:
            self.note(f"{key.label()}: the profile does not match the file ({mismatch}); "
                      "its overlays are not written")
            return
        ops = _op_lines(lines)
        series = series_label(key)
        if any(other.series == key.series and other != key for other in self.profiles):
            series += f" @{key.fingerprint[:8]}"  # two hosts' profiles: two files
        self.write(time_overlay(ops, key.model, key.variant, series), graph)
        placement = placement_overlay(ops, key.model, key.variant, series)
        if placement is None:
            self.note(f"{key.label()}: no placement overlay ({key.target} has no delegate)")
        self.write(placement, graph)
        float_key = RowKey(key.model, FLOAT, key.target, key.device, key.threads,
                           key.fingerprint)
        if key.variant != FLOAT and float_key in self.profiles:
            self.write(ratio_overlay(_op_lines(self.profiles[float_key]), ops, key.model,
                                     key.variant, series), graph)

    def layer_errors(self, key: RowKey) -> None:
        if key.variant == FLOAT or (key.model, key.variant) in self._done:
            return
        self._done.add((key.model, key.variant))
        build = self.build(key.model)
        artifact = build.variants.get(key.variant) if build else None
        tables = [(artifact.layer_errors, ""),
                  (artifact.layer_errors_vs_qat_keras, "vs_qat_keras")] if artifact else []
        tables = [(_in_run(p, artifacts_dir(self.run_dir, key.model)), tag)
                  for p, tag in tables if p]
        if not tables or tables[0][0] is None:
            self.note(f"{key.model}/{key.variant}: no per-layer quantization error in this "
                      "run, so no layer-error overlay (qatbench run measures it when it "
                      "builds an int8 variant)")
            return
        graph = self.graph(key)
        if graph is None:
            return
        for path, tag in tables:
            if path is None:
                continue
            try:
                table = pd.read_csv(path)
                method = str(table["method"].iloc[0]) if len(table) else ""
                overlay = layer_error_overlay(table, graph.op_of_tensor(), key.model,
                                              key.variant, method)
            except (ValueError, KeyError) as error:
                raise ExploreError(f"{path} is damaged ({error}); restore it from a copy "
                                   "of the run directory") from None
            self.write(overlay, graph, tag)


def refuse_lost_builds(run_dir: Path, results: pd.DataFrame, models: set[str]) -> None:
    """A chosen model that ``qatbench run`` built (its rows name weights other than a
    bench file's) must still have its build in ``artifacts/``: without it the overlays
    would silently say the run "has no per-layer error". ``ExploreError`` naming it."""
    if results.empty or "weights" not in results:
        return
    built = {str(m) for m, w in zip(results["model"], results["weights"], strict=True)
             if isinstance(w, str) and w and w != FILES_WEIGHTS}
    lost = sorted(m for m in built & models
                  if not (artifacts_dir(run_dir, m) / MANIFEST).is_file())
    if lost:
        raise ExploreError(
            f"{artifacts_dir(run_dir)} has no build of {', '.join(lost)} (its "
            f"{MANIFEST} is gone): the run's models and their per-layer error are not "
            "there to draw on; restore artifacts/ from a copy of the run directory")


def explore(run_dir: Path, row: str | None = None, out: Path | None = None,
            read_graph: Callable[[Path], ExplorerGraph] = read_explorer_graph) -> Exploration:
    """Write the overlays of ``run_dir``'s chosen rows (see the module doc).

    Raises ``ExplorerMissing`` without Model Explorer, ``ExploreError`` for bad input
    and ``UnwritableOutput`` when ``out`` cannot be written.
    """
    node_data_builder()  # the extra is missing: say so before reading anything
    run_dir = Path(run_dir)
    results, profiles = read_run(run_dir)
    chosen = select_rows(row_keys(results, profiles), row)
    refuse_lost_builds(run_dir, results, {key.model for key in chosen})
    out_dir = ensure_writable_dir(Path(out) if out else run_dir / OUT_DIR)
    explorer = _Explorer(run_dir, profiles, out_dir, read_graph,
                         model_files(run_dir, results, profiles))
    if profiles.empty:
        explorer.note(f"{run_dir.name}: {NO_PROFILE}")
    for key in chosen:
        float_key = RowKey(key.model, FLOAT, key.target, key.device, key.threads,
                           key.fingerprint)
        if not profiles.empty:
            for profiled in ([key, float_key] if key.variant != FLOAT else [key]):
                if profiled in explorer.profiles or profiled == key:
                    explorer.profiled(profiled)
        explorer.layer_errors(key)
    return explorer.result


def open_in_explorer(exploration: Exploration, explorer: Any = None) -> None:
    """Start Model Explorer (``model_explorer.visualize_from_config``) on the overlays'
    files, each overlay attached to its own file; ``explorer`` is anything with the
    ``model_explorer`` module's ``config`` / ``visualize_from_config`` (that module when
    None). One model at a time: Model Explorer names files by their base name."""
    if explorer is None:
        import model_explorer as explorer
    models = sorted({w.overlay.model for w in exploration.written})
    if len(models) != 1:
        raise ExploreError(f"--open shows one model at a time and this run has overlays "
                           f"for {len(models)} ({', '.join(models) or 'none'}): pick one "
                           "with --row")
    config = explorer.config()
    files = list(dict.fromkeys(w.model_file for w in exploration.written))
    for path in files:
        config.add_model_from_path(str(path))
    for written in exploration.written:
        config.add_node_data_from_path(str(written.path), model_name=written.model_file.name)
    explorer.visualize_from_config(config)


def overlay_counts(written: Iterable[Written]) -> dict[str, int]:
    """How many files of each overlay kind were written (the command's summary)."""
    counts = dict.fromkeys((TIME, RATIO, LAYER_ERROR, PLACEMENT), 0)
    for item in written:
        counts[item.overlay.kind] += 1
    return counts
