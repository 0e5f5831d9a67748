"""The build cache: a key for everything that changes a build's bytes, entries that are
whole or not used, one build per key at a time, least recently used out first."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from qatbench.bench.orchestration import build_cache, runner
from qatbench.bench.orchestration.build_cache import BuildCache, build_key
from qatbench.bench.orchestration.config import build_config
from qatbench.qat.artifacts import ModelBuild, VariantArtifact

BUDGET = {"float_epochs": 2, "qat_epochs": 1, "seed": 0}


def key(**changes) -> str:
    arguments = {"model": "digits_cnn", "variants": ["float32", "qat_int8"],
                 "budget": BUDGET, "source": None, "imagenet_dir": None, **changes}
    return build_key(**arguments).key


def test_the_same_ingredients_give_the_same_key_and_each_ingredient_counts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert key() == key()
    assert key(variants=["qat_int8", "float32"]) == key()  # order is not a difference
    assert key(budget={**BUDGET, "qat_epochs": 2}) != key()
    assert key(budget={**BUDGET, "seed": 1}) != key()
    assert key(variants=["float32"]) != key()
    assert key(model="mnist_cnn") != key()
    data = tmp_path / "d.npz"
    data.write_bytes(b"first")
    source = {"keras": str(tmp_path / "m.h5"), "data": str(data)}
    (tmp_path / "m.h5").write_bytes(b"model")
    with_data = key(model="mine", source=source)
    data.write_bytes(b"second")  # the same path, other data
    assert key(model="mine", source=source) != with_data
    before = key()
    versions = build_cache.package_versions()
    monkeypatch.setattr(build_cache, "package_versions",
                        lambda: {**versions, "tensorflow": "9.99.0"})
    assert key() != before  # another TensorFlow: another build


def test_each_further_ingredient_counts_one_by_one(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """qatbench's build code, an ImageNet folder and a zoo model's cached weights each
    change the key on their own (a key without one of them reuses a stale build)."""
    before = key()
    with monkeypatch.context() as patched:
        patched.setattr(build_cache, "code_digest", lambda: "0" * 64)  # the build code changed
        assert key() != before
    assert key() == before
    images = tmp_path / "imagenet" / "n01440764"
    images.mkdir(parents=True)
    (images / "a.JPEG").write_bytes(b"one image")
    with_images = key(imagenet_dir=str(images.parent))
    assert with_images != before
    (images / "b.JPEG").write_bytes(b"another image")  # the folder's listing changed
    assert key(imagenet_dir=str(images.parent)) != with_images
    # ImageNet weights of a zoo model in the local Keras cache ($KERAS_HOME/models)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    without_weights = key(model="mobilenet_v2")
    weights = tmp_path / "keras" / "models"
    weights.mkdir(parents=True)
    from qatbench.models.zoo import known_models

    name = known_models()["mobilenet_v2"].build.weights_file
    (weights / name).write_bytes(b"imagenet weights")
    with_weights = key(model="mobilenet_v2")
    assert with_weights != without_weights
    (weights / name).write_bytes(b"other imagenet weights")
    assert key(model="mobilenet_v2") != with_weights


def test_the_hashed_code_holds_every_module_the_build_child_imports() -> None:
    """The build child is ``targets/child.py`` running ``qat/build_worker.py``; every
    qatbench module either imports (at any depth, in a function or not) decides the
    bytes it writes, so each must be inside ``code_digest``'s files: a change to one is
    a change of key. Read from the source (the import rules' own graph), no build run."""
    from tests.test_import_structure import import_graph, modules_of

    package = Path(build_cache.__file__).resolve().parents[2]
    edges: dict[str, set[str]] = {}
    for found in import_graph(package):
        edges.setdefault(found.importer, set()).add(found.imported)
    reached, pending = set(), ["qatbench.targets.child", "qatbench.qat.build_worker"]
    while pending:
        name = pending.pop()
        if name in reached:
            continue
        reached.add(name)
        parts = name.split(".")
        pending.extend(".".join(parts[:i]) for i in range(1, len(parts)))  # its packages
        pending.extend(edges.get(name, ()))
    modules = modules_of(package, "qatbench")
    files = {modules[name] for name in reached if name in modules}
    hashed = set()
    for part in build_cache._CODE:
        path = package / part
        hashed |= {path} if path.is_file() else set(path.rglob("*.py"))
    assert "qatbench.qat.pipeline" in reached and "qatbench.models.zoo" in reached
    assert sorted(str(f.relative_to(package)) for f in files - hashed) == []


def _fake_build(folder: Path, payload: bytes = b"TFL3 model bytes") -> ModelBuild:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "qat_int8.tflite").write_bytes(payload)
    built = ModelBuild("m", "random", None, "", {"qat_int8": VariantArtifact(
        "qat_int8", str(folder / "qat_int8.tflite"), len(payload))})
    built.save(folder)
    return built


def test_a_damaged_or_partial_entry_is_removed_and_never_used(tmp_path: Path) -> None:
    cache = BuildCache(tmp_path / "cache")
    ingredients = build_key("m", ["qat_int8"], BUDGET, None, None)
    _fake_build(tmp_path / "run")
    entry = cache.store(ingredients, tmp_path / "run")
    assert cache.lookup(ingredients.key) == entry
    (entry / "qat_int8.tflite").write_bytes(b"TFL3 model bytez")  # one byte flipped
    assert cache.lookup(ingredients.key) is None
    assert not entry.exists()
    cache.store(ingredients, tmp_path / "run")
    (entry / "entry.json").unlink()  # a copy that never finished
    assert cache.lookup(ingredients.key) is None and not entry.exists()


def test_least_recently_used_entries_go_first(tmp_path: Path) -> None:
    cache = BuildCache(tmp_path / "cache", limit=10**9)
    keys = []
    for index in range(3):
        ingredients = build_key(f"m{index}", ["qat_int8"], BUDGET, None, None)
        _fake_build(tmp_path / f"run{index}", b"x" * 1000)
        cache.store(ingredients, tmp_path / f"run{index}")
        keys.append(ingredients.key)
        time.sleep(0.02)
    cache.lookup(keys[0])  # used again: now the most recent
    total = sum(entry["bytes"] for entry in cache.entries())
    removed = cache.evict(limit=total - 1)  # one entry has to go: the least recently used
    assert removed == [keys[1]]
    assert {e["key"] for e in cache.entries()} == {keys[0], keys[2]}


def test_two_runs_building_one_key_at_once_build_it_once(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    builds: list[str] = []

    def slow_build(request, timeout):
        builds.append(request.out_dir)
        time.sleep(0.5)
        return _fake_build(Path(request.out_dir))

    monkeypatch.setattr(runner, "build_in_child", slow_build)
    config = build_config({"run": {"models": ["digits_cnn"], "variants": ["qat_int8"]}})
    cache = BuildCache(tmp_path / "cache")
    results: dict[str, ModelBuild] = {}

    def run(name: str) -> None:
        results[name] = runner.obtain_build(config, "digits_cnn", ["qat_int8"],
                                            tmp_path / name / "digits_cnn", cache)

    threads = [threading.Thread(target=run, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(builds) == 1
    assert sorted(b.cache for b in results.values()) == ["built", "cache hit"]
    hit = next(b for b in results.values() if b.cache == "cache hit")
    path = Path(str(hit.variants["qat_int8"].path))
    assert path.read_bytes() == b"TFL3 model bytes"
    assert path.parent.parent.name in ("a", "b") and path.parent.parent.name != Path(
        builds[0]).parent.name  # the hit's paths were moved into its own run
    manifest = json.loads((path.parent / "manifest.json").read_text())
    assert manifest["cache"] == "cache hit"


def test_a_failed_build_is_not_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                      ) -> None:
    def failing(request, timeout):
        built = ModelBuild("digits_cnn", "", None, "", {"qat_int8": VariantArtifact(
            "qat_int8", error="ValueError: converter crashed")})
        built.save(Path(request.out_dir))
        return built

    monkeypatch.setattr(runner, "build_in_child", failing)
    config = build_config({"run": {"models": ["digits_cnn"], "variants": ["qat_int8"]}})
    cache = BuildCache(tmp_path / "cache")
    runner.obtain_build(config, "digits_cnn", ["qat_int8"], tmp_path / "r" / "m", cache)
    assert cache.entries() == []
