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
