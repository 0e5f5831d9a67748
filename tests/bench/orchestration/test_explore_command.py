"""``qatbench explore``: a run the product wrote (its RunStore, its build manifest, a real
per-op profile of the digits CNN) drawn as Model Explorer node data, checked with Model
Explorer's own code: its node-data dataclasses load every file, and every node id exists
in the graph its tflite adapter makes of the file, on an op node of the profiled type."""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import asdict
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest

from qatbench.bench.orchestration.build_cache import relocate
from qatbench.bench.orchestration.explore_command import (
    ExploreError,
    explore,
    open_in_explorer,
    select_rows,
)
from qatbench.bench.orchestration.profiling import profile_lines
from qatbench.bench.presentation.explorer import LAYER_ERROR, PLACEMENT, RATIO, TIME
from qatbench.bench.storage.key import RowKey
from qatbench.bench.storage.profiles import PROFILE_FILE, add_profile, read_profiles
from qatbench.qat.artifacts import ModelBuild
from qatbench.targets.base import MeasureSpec
from qatbench.targets.host.op_profile import profile_on_host
from qatbench.targets.runtime import resolve_runtime
from tests.bench.runs_helpers import write_run
from tests.bench.test_cli import qatbench

explorer = pytest.importorskip("model_explorer")
from model_explorer.builtin_tflite_flatbuffer_adapter import (  # noqa: E402
    BuiltinTfliteFlatbufferAdapter,
)

MODEL = "digits_cnn"
VARIANTS = ("float32", "ptq_int8", "qat_int8")
KEY = {"target": "cpu-xnnpack", "device": "host", "threads": 1, "fingerprint": "fp-host"}
SPEC = MeasureSpec(threads=1, warmup_runs=1, warmup_min_s=0.0, min_runs=5, min_s=0.01)


def _run_with_build(root: Path, run_id: str, build: ModelBuild) -> Path:
    """A run of the three variants (RunStore rows) with the build in artifacts/, its
    manifest's paths moved there as the runner does for a cache hit."""
    rows = [{"model": MODEL, "variant": v, **KEY, "samples": [1.0, 1.1, 0.9],
             "model_file": f"artifacts/{MODEL}/{Path(build.variants[v].path).name}"}
            for v in VARIANTS]  # relative to the run, as the runner records its build
    run_dir = write_run(root, run_id, rows)
    source = Path(build.variants["float32"].path).parent
    folder = run_dir / "artifacts" / MODEL
    shutil.copytree(source, folder)
    ModelBuild.from_dict(relocate(asdict(build), str(source), str(folder))).save(folder)
    return run_dir


@pytest.fixture(scope="module")
def profiled_run(tmp_path_factory: pytest.TempPathFactory, digits_build: ModelBuild) -> Path:
    """The run with a real host-cut profile of each variant on cpu-xnnpack."""
    run_dir = _run_with_build(tmp_path_factory.mktemp("results"), "profiled", digits_build)
    build = ModelBuild.load(run_dir / "artifacts" / MODEL)
    runtime = resolve_runtime()
    for variant in VARIANTS:
        path = Path(build.variants[variant].path)
        profile = profile_on_host(runtime, path, run_dir / "jobs" / variant, SPEC,
                                  use_delegate=True)
        add_profile(run_dir, profile_lines(profile, {"run_id": run_dir.name, "model": MODEL,
                                                     "variant": variant, **KEY}))
    return run_dir


@pytest.fixture(scope="module")
def explored(profiled_run: Path):
    return explore(profiled_run)


def _explorer_graph(path: Path) -> dict[str, Any]:
    """Model Explorer's own graph of the file (subgraph 0): node id -> node."""
    converted = BuiltinTfliteFlatbufferAdapter().convert(str(path), {})
    (graph,) = [g for c in converted["graphCollections"] for g in c.graphs
                if g["subgraphIndex"] == 0]
    return {"id": graph["id"], "nodes": {n["id"]: n for n in graph["nodes"]}}


def _load(path: Path) -> Any:
    """The file through Model Explorer's node-data dataclasses (strict: no unknown key)."""
    import dacite
    from model_explorer import node_data_builder as builder

    data = json.loads(path.read_text())
    return builder.ModelNodeData(graphsData={
        graph_id: dacite.from_dict(builder.GraphNodeData, graph,
                                   config=dacite.Config(strict=True))
        for graph_id, graph in data.items()})


def test_every_overlay_loads_and_keys_op_nodes_of_its_file(explored, profiled_run: Path
                                                           ) -> None:
    kinds = {(w.overlay.variant, w.overlay.kind) for w in explored.written}
    assert {(v, TIME) for v in VARIANTS} <= kinds
    assert {(v, PLACEMENT) for v in VARIANTS} <= kinds
    assert {("ptq_int8", RATIO), ("qat_int8", RATIO)} <= kinds
    assert {("ptq_int8", LAYER_ERROR), ("qat_int8", LAYER_ERROR)} <= kinds
    profiles = read_profiles(profiled_run)
    for written in explored.written:
        graph = _explorer_graph(written.model_file)
        data = _load(written.path)
        assert list(data.graphsData) == [graph["id"]]
        results = data.graphsData[graph["id"]].results
        scale = data.graphsData[graph["id"]]
        assert results and (scale.gradient if written.overlay.kind != PLACEMENT
                            else scale.thresholds)
        lines = profiles[profiles["variant"] == written.overlay.variant]
        op_type = dict(zip(lines["op_index"].astype(str), lines["op_type"], strict=True))
        for node_id in results:
            node = graph["nodes"][node_id]  # KeyError: not a node Model Explorer shows
            assert node["label"] == op_type[node_id].lower(), (written.path, node_id)


def test_time_and_ratio_are_the_profiles_figures(explored, profiled_run: Path) -> None:
    profiles = read_profiles(profiled_run)
    by_variant = {v: dict(zip(g["op_index"].astype(int), g["p50_ms"].astype(float),
                              strict=True)) for v, g in profiles.groupby("variant")}
    types = {v: dict(zip(g["op_index"].astype(int), g["op_type"], strict=True))
             for v, g in profiles.groupby("variant")}
    overlays = {(w.overlay.variant, w.overlay.kind): w for w in explored.written}
    for variant in VARIANTS:
        values = _load(overlays[(variant, TIME)].path).graphsData["main"].results
        assert {int(k): r.value for k, r in values.items()} == pytest.approx(
            by_variant[variant])
    ratio = _load(overlays[("qat_int8", RATIO)].path).graphsData["main"].results
    float_convs = sorted(i for i, t in types["float32"].items() if t == "CONV_2D")
    int8_convs = sorted(i for i, t in types["qat_int8"].items() if t == "CONV_2D")
    assert len(float_convs) == len(int8_convs) >= 1
    for mine, theirs in zip(int8_convs, float_convs, strict=True):
        assert ratio[str(mine)].value == pytest.approx(
            by_variant["qat_int8"][mine] / by_variant["float32"][theirs])


def test_placement_says_which_ops_the_delegate_took(explored, profiled_run: Path) -> None:
    profiles = read_profiles(profiled_run)
    qat = profiles[profiles["variant"] == "qat_int8"]
    placement = next(w for w in explored.written
                     if w.overlay.variant == "qat_int8" and w.overlay.kind == PLACEMENT)
    values = _load(placement.path).graphsData["main"].results
    assert {int(k): bool(r.value) for k, r in values.items()} == dict(
        zip(qat["op_index"].astype(int), qat["delegated"].astype(bool), strict=True))


def test_layer_error_is_the_build_table_on_the_op_writing_the_tensor(explored,
                                                                     profiled_run: Path
                                                                     ) -> None:
    build = ModelBuild.load(profiled_run / "artifacts" / MODEL)
    table = pd.read_csv(build.variants["qat_int8"].layer_errors)
    written = next(w for w in explored.written if w.overlay.variant == "qat_int8"
                   and w.overlay.kind == LAYER_ERROR and "vs_qat_keras" not in w.path.name)
    graph = _explorer_graph(written.model_file)
    values = _load(written.path).graphsData["main"].results
    assert values
    for node_id, result in values.items():
        tensors = {a["value"] for m in graph["nodes"][node_id]["outputsMetadata"]
                   for a in m["attrs"] if a["key"] == "tensor_name"}
        errors = table.loc[table["tensor"].isin(tensors), "rmse_over_scale"]
        assert result.value == pytest.approx(float(errors.iloc[0]))


def test_a_run_without_a_profile_says_so_and_writes_the_layer_errors(
        tmp_path: Path, digits_build: ModelBuild) -> None:
    run_dir = _run_with_build(tmp_path, "unprofiled", digits_build)
    result = explore(run_dir, row=f"{MODEL}/qat_int8")
    assert [n for n in result.notes if "no per-op profile in this run" in n]
    assert {w.overlay.kind for w in result.written} == {LAYER_ERROR}
    assert all(w.path.is_file() for w in result.written)


def test_row_keys_are_read_as_labels_models_or_model_and_variant() -> None:
    keys = [RowKey(MODEL, v, "cpu-xnnpack", "host", 1, "fp") for v in VARIANTS] + \
        [RowKey(MODEL, "qat_int8", "cpu-ref", "host", 2, "fp")]
    assert select_rows(keys, None) == keys
    assert select_rows(keys, MODEL) == keys
    assert select_rows(keys, f"{MODEL}/qat_int8") == [keys[2], keys[3]]
    assert select_rows(keys, keys[3].label()) == [keys[3]]
    assert select_rows(keys, f"{MODEL}/qat_int8 on cpu-ref x2") == [keys[3]]
    with pytest.raises(ExploreError, match=r"digits_cnn/float32 on cpu-xnnpack \[host\] x1"):
        select_rows(keys, f"{MODEL}/qat_int8 on cpu-ref x4")


def test_a_qatbench_profile_run_finds_its_files_outside_the_run(
        tmp_path: Path, float_tflite: Path, int8_tflite: Path) -> None:
    """``qatbench profile``'s run keeps no copy of the files: their paths are in the jobs'
    requests. Its overlays are time, ratio and placement; no layer error is measured."""
    from qatbench.bench.orchestration.config import load_config
    from qatbench.bench.orchestration.profile_command import profile_files

    settings = load_config(None, overrides={
        "run": {"targets": ["cpu-xnnpack"], "threads": [1], "out": str(tmp_path),
                "profile_op_s": 0.01},
        "measure": {"warmup_runs": 1, "min_runs": 5, "min_s": 0.01, "warmup_min_s": 0.0}})
    run = profile_files([int8_tflite, float_tflite], settings)
    result = explore(run.run_dir)
    kinds = {(w.overlay.variant, w.overlay.kind, w.model_file) for w in result.written}
    assert kinds == {("int8", TIME, int8_tflite), ("int8", PLACEMENT, int8_tflite),
                     ("int8", RATIO, int8_tflite), ("float32", TIME, float_tflite),
                     ("float32", PLACEMENT, float_tflite)}
    assert [n for n in result.notes if "no per-layer quantization error" in n]


def test_a_row_picks_its_variant_and_float32_only(profiled_run: Path, tmp_path: Path) -> None:
    result = explore(profiled_run, row=f"{MODEL}/ptq_int8 on cpu-xnnpack x1",
                     out=tmp_path / "out")
    assert {w.overlay.variant for w in result.written} == {"ptq_int8", "float32"}
    assert all(w.path.is_relative_to(tmp_path / "out") for w in result.written)


def test_an_unknown_row_is_exit_2_listing_the_runs_rows(profiled_run: Path,
                                                        tmp_path: Path) -> None:
    bad_row = qatbench("explore", str(profiled_run), "--row", "resnet9000",
                       "--out", str(tmp_path / "a"))
    assert bad_row.returncode == 2, bad_row.stderr
    assert "resnet9000" in bad_row.stderr and f"{MODEL}/qat_int8 on" in bad_row.stderr
    assert not (tmp_path / "a").exists() or not any((tmp_path / "a").iterdir())


def test_not_a_run_and_a_damaged_profile_are_named(profiled_run: Path, tmp_path: Path
                                                   ) -> None:
    """ExploreError is what the command turns into exit 2 (as the unknown row above)."""
    with pytest.raises(ExploreError, match="not a run directory"):
        explore(tmp_path)
    damaged = tmp_path / "damaged"
    shutil.copytree(profiled_run, damaged)
    (damaged / PROFILE_FILE).write_bytes(b"PAR1 not really")
    with pytest.raises(ExploreError, match=PROFILE_FILE):
        explore(damaged)


def test_a_profile_of_another_file_is_refused(profiled_run: Path, tmp_path: Path) -> None:
    swapped = tmp_path / "swapped"
    shutil.copytree(profiled_run, swapped)
    folder = swapped / "artifacts" / MODEL
    shutil.copy(folder / "float32.tflite", folder / "qat_int8.tflite")  # not what was profiled
    result = explore(swapped, row=f"{MODEL}/qat_int8")
    assert [n for n in result.notes if "does not match the file" in n]
    assert not [w for w in result.written if w.overlay.kind in (TIME, PLACEMENT, RATIO)
                and w.overlay.variant == "qat_int8"]


def test_without_model_explorer_the_error_names_the_extra(
        profiled_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from qatbench.bench.presentation.explorer import ExplorerMissing

    monkeypatch.setitem(sys.modules, "model_explorer", None)
    with pytest.raises(ExplorerMissing, match=r"qatbench\[explore\]"):
        explore(profiled_run)


def test_open_attaches_each_overlay_to_its_own_file(explored, profiled_run: Path) -> None:
    calls: list[tuple] = []

    class FakeConfig:
        def add_model_from_path(self, path: str) -> FakeConfig:
            calls.append(("model", path))
            return self

        def add_node_data_from_path(self, path: str, model_name: str | None = None
                                    ) -> FakeConfig:
            calls.append(("data", path, model_name))
            return self

    fake = SimpleNamespace(config=FakeConfig,
                           visualize_from_config=lambda config: calls.append(("show",)))
    open_in_explorer(explored, explorer=fake)
    models = [c[1] for c in calls if c[0] == "model"]
    assert sorted(Path(m).name for m in models) == sorted(f"{v}.tflite" for v in VARIANTS)
    assert all(Path(m).is_file() for m in models)
    for written in explored.written:
        assert ("data", str(written.path), written.model_file.name) in calls
    assert calls[-1] == ("show",)
    assert calls.index(("data", str(explored.written[0].path),
                        explored.written[0].model_file.name)) > max(
        i for i, c in enumerate(calls) if c[0] == "model")


def test_open_refuses_two_models_at_once(explored) -> None:
    two = type(explored)(explored.out_dir, [*explored.written, *[
        type(w)(w.path, w.model_file, type(w.overlay)(
            "other", w.overlay.variant, w.overlay.kind, w.overlay.series, w.overlay.title,
            w.overlay.values)) for w in explored.written]])
    with pytest.raises(ExploreError, match="--row"):
        open_in_explorer(two, explorer=SimpleNamespace())


def test_an_old_profile_run_finds_its_files_through_the_upgrade_step(tmp_path: Path) -> None:
    """A ``qatbench profile`` run from before rows named their file: explore is given
    the files its jobs' requests named (``storage/upgrade.py`` decodes them)."""
    from tests.bench.storage.old_runs import copy_old_run

    run_dir = copy_old_run("profile_before_format_versions", tmp_path)
    models = tmp_path / "lab-models"
    asked: list[Path] = []

    def read_graph(path: Path) -> Any:
        asked.append(path)
        raise ValueError("placeholder bytes, not a model")

    result = explore(run_dir, read_graph=read_graph, out=tmp_path / "out")
    assert sorted(asked) == [models / "float32.tflite", models / "ptq_int8.tflite"]
    assert not result.written
