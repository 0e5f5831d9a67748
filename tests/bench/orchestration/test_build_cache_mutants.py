"""The build cache's promises that `nox -s mutation` found no test holding: where the
cache lives, how big it may grow, what `cache list` shows, what `prune` removes, and
which of a user's files go into a key. Expectations are stated here (hashlib computes
the digests independently of the code under test)."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import sys
import time
import uuid
from pathlib import Path

import pytest

from qatbench.bench.orchestration import build_cache
from qatbench.bench.orchestration.build_cache import (
    BuildCache,
    BuildKey,
    CacheError,
    build_key,
    cache_dir,
    local_modules,
    max_bytes,
    parse_size,
    relocate,
    tree_digest,
)

BUDGET = {"float_epochs": 2, "qat_epochs": 1, "seed": 0}


def _store(cache: BuildCache, tmp_path: Path, model: str, payload: bytes) -> str:
    built = tmp_path / f"built-{model}"
    built.mkdir()
    (built / "qat_int8.tflite").write_bytes(payload)
    (built / "build").mkdir()  # the build child's scratch folder: never stored
    (built / "build" / "log.txt").write_text("scratch")
    key = build_key(model, ["qat_int8", "float32"], BUDGET, None, None)
    cache.store(key, built)
    return key.key


def test_the_cache_folder_is_the_option_then_the_variable_then_xdg_then_home(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QATBENCH_CACHE_DIR", str(tmp_path / "from-env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir(tmp_path / "option") == tmp_path / "option"
    assert cache_dir("~/mine") == tmp_path / "home" / "mine"  # ~ expanded
    assert cache_dir() == tmp_path / "from-env"
    monkeypatch.setenv("QATBENCH_CACHE_DIR", "")  # set but empty: not a folder
    assert cache_dir() == tmp_path / "xdg" / "qatbench" / "builds"
    monkeypatch.delenv("QATBENCH_CACHE_DIR")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_dir() == tmp_path / "home" / ".cache" / "qatbench" / "builds"
    assert BuildCache().root == tmp_path / "home" / ".cache" / "qatbench" / "builds"


@pytest.mark.parametrize(("text", "expected"), [
    ("5368709120", 5368709120), ("500MB", 500_000_000), ("5GB", 5_000_000_000),
    ("5GiB", 5 * 1024**3), ("1.5 kb", 1500), (" 2 TiB ", 2 * 1024**4), ("3T", 3 * 10**12),
    ("7B", 7), ("1K", 1000), ("2M", 2_000_000), ("4G", 4 * 10**9), ("1TB", 10**12),
    ("3MiB", 3 * 1024**2), ("1KiB", 1024),
])
def test_a_size_is_read_with_its_unit(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "GB", "5 GBs", "-5GB", "5 PB", "five"])
def test_a_size_that_is_not_one_is_refused_naming_it(text: str) -> None:
    with pytest.raises(ValueError, match="is not a size like 500MB, 5GB or 5GiB") as raised:
        parse_size(text)
    assert repr(text) in str(raised.value)


def test_the_size_cap_defaults_to_5_gib_and_a_bad_one_names_the_variable(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("QATBENCH_CACHE_MAX_BYTES", raising=False)
    assert max_bytes() == 5 * 1024**3
    assert BuildCache(tmp_path).limit == 5 * 1024**3
    monkeypatch.setenv("QATBENCH_CACHE_MAX_BYTES", "")
    assert max_bytes() == 5 * 1024**3
    monkeypatch.setenv("QATBENCH_CACHE_MAX_BYTES", "200MB")
    assert max_bytes() == 200_000_000 and BuildCache(tmp_path).limit == 200_000_000
    assert BuildCache(tmp_path, limit=0).limit == 0  # an explicit 0 is a limit, not "unset"
    monkeypatch.setenv("QATBENCH_CACHE_MAX_BYTES", "lots")
    with pytest.raises(CacheError, match=r"^QATBENCH_CACHE_MAX_BYTES: 'lots' is not a size"):
        max_bytes()


def test_cache_list_shows_each_entry_with_its_model_size_and_digests(tmp_path: Path) -> None:
    cache = BuildCache(tmp_path / "nested" / "cache", limit=10**9)  # made with its parents
    before = time.time()
    older = _store(cache, tmp_path, "older", b"x" * 100)
    time.sleep(0.02)
    newer = _store(cache, tmp_path, "newer", b"y" * 30)
    (cache.root / ".half-written.123.tmp").mkdir()  # staging: not an entry
    (cache.root / "no-record").mkdir()  # no entry.json: not an entry
    (cache.root / f"{older}.lock").write_text("")  # a lock file: not an entry
    listed = cache.entries()
    assert [e["key"] for e in listed] == [newer, older]  # most recently used first
    first = listed[0]
    record = json.loads((cache.root / newer / "entry.json").read_text())
    assert first["model"] == "newer" and first["variants"] == ["float32", "qat_int8"]
    assert first["corrupt"] is None
    assert first["path"] == str(cache.root / newer)
    assert first["bytes"] == 30 + (cache.root / newer / "entry.json").stat().st_size
    assert before <= first["created"] <= time.time()
    assert first["last_used"] == (cache.root / newer / "entry.json").stat().st_mtime
    # what the entry keeps: the build's files by SHA-256 (computed here with hashlib),
    # never its scratch folder; the key and its ingredients, to explain a later miss
    assert record["files"] == {"qat_int8.tflite": hashlib.sha256(b"y" * 30).hexdigest()}
    assert record["key"] == newer and record["ingredients"]["model"] == "newer"
    assert not (cache.root / newer / "build").exists()
    assert record["built_in"] == str(tmp_path / "built-newer")
    assert record["op_determinism"] is None  # not stated by the builder: not claimed
    key = build_key("det", ["qat_int8"], BUDGET, None, None)
    cache.store(key, tmp_path / "built-newer", deterministic=True)
    stored = json.loads((cache.root / key.key / "entry.json").read_text())
    assert stored["op_determinism"] is True
    assert stored["ingredients"] == json.loads(json.dumps(key.ingredients))


@pytest.mark.parametrize(("content", "why"), [
    ("{not json", "JSONDecodeError"),
    ('{"files": {}, "ingredients": [1]}', "its ingredients are not a table"),
    ('{"files": [], "ingredients": {}}', 'no table of file digests under "files"'),
    ('{"files": {"a.tflite": 1}, "ingredients": {}}', 'no table of file digests under "files"'),
    ("[1, 2]", 'no table of file digests under "files"'),
    ('{"files": {}}', "KeyError"),
])
def test_a_corrupt_entry_is_listed_with_why_and_can_be_pruned(tmp_path: Path, content: str,
                                                              why: str) -> None:
    cache = BuildCache(tmp_path / "cache", limit=10**9)
    good = _store(cache, tmp_path, "good", b"z" * 10)
    bad = cache.root / "0123456789abcdef"
    bad.mkdir()
    (bad / "entry.json").write_text(content)
    listed = {e["key"]: e for e in cache.entries()}
    assert listed[good]["corrupt"] is None
    assert why in listed[bad.name]["corrupt"]
    assert str(bad / "entry.json") in listed[bad.name]["corrupt"]
    assert listed[bad.name]["model"] is None
    pruned = cache.prune(limit=0)
    assert sorted(pruned.removed) == sorted([good, bad.name]) and pruned.failed == {}
    assert cache.entries() == [] and not bad.exists()


def test_prune_removes_the_least_recently_used_until_the_cache_fits(tmp_path: Path) -> None:
    cache = BuildCache(tmp_path / "cache", limit=10**9)
    keys = []
    for index, size in enumerate((400, 300, 200)):
        keys.append(_store(cache, tmp_path, f"m{index}", b"q" * size))
        time.sleep(0.02)
    sizes = {e["key"]: e["bytes"] for e in cache.entries()}
    total = sum(sizes.values())
    assert cache.prune(limit=total).removed == []  # exactly at the cap: nothing goes
    # just under the cap: the oldest goes, and then the cache fits
    assert cache.prune(limit=total - 1).removed == [keys[0]]
    left = total - sizes[keys[0]]
    # room for the newest only: the next oldest goes, the newest stays
    assert cache.prune(limit=sizes[keys[2]]).removed == [keys[1]]
    assert [e["key"] for e in cache.entries()] == [keys[2]]
    assert left - sizes[keys[1]] == sizes[keys[2]]
    # the cap of the cache itself when none is given
    capped = BuildCache(tmp_path / "cache", limit=0)
    assert capped.prune().removed == [keys[2]] and capped.entries() == []


def test_prune_of_a_read_only_entry_names_it_and_counts_it_as_kept(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = BuildCache(tmp_path / "cache", limit=10**9)
    stuck = _store(cache, tmp_path, "stuck", b"s" * 50)
    time.sleep(0.02)
    other = _store(cache, tmp_path, "other", b"o" * 50)
    real_rmtree = shutil.rmtree

    def refuse(path, *args, **kwargs):
        if Path(path).name == stuck:
            raise PermissionError(errno.EACCES, "Permission denied",
                                  str(Path(path) / "qat_int8.tflite"))
        return real_rmtree(path, *args, **kwargs)

    monkeypatch.setattr(shutil, "rmtree", refuse)
    pruned = cache.prune(limit=0)
    assert pruned.removed == [other]
    assert pruned.failed == {
        stuck: f"{cache.root / stuck / 'qat_int8.tflite'}: Permission denied"}
    assert [e["key"] for e in cache.entries()] == [stuck]


def test_a_full_disk_while_copying_is_reported_with_its_errno() -> None:
    error = shutil.Error([("a", "/cache/x/a", "[Errno 28] No space left on device: 'a'")])
    found = build_cache.first_os_error(error)
    assert (found.errno, found.filename) == (errno.ENOSPC, "/cache/x/a")
    unknown = shutil.Error([("a", "/cache/x/a", "something else")])
    assert build_cache.first_os_error(unknown) is unknown
    plain = OSError(errno.EROFS, "Read-only file system")
    assert build_cache.first_os_error(plain) is plain


def test_relocate_moves_paths_under_the_old_folder_only() -> None:
    old, new = "/runs/a", "/runs/b"
    manifest = {"path": "/runs/a/m.tflite", "same": "/runs/a", "other": "/runs/ab/x",
                "nested": {"list": ["/runs/a/x", 3, "/elsewhere"]}, "count": 2}
    assert relocate(manifest, old, new) == {
        "path": "/runs/b/m.tflite", "same": "/runs/b", "other": "/runs/ab/x",
        "nested": {"list": ["/runs/b/x", 3, "/elsewhere"]}, "count": 2}


def test_a_folder_digest_is_its_paths_and_contents_or_sizes_and_times(tmp_path: Path) -> None:
    folder = tmp_path / "images"
    (folder / "sub").mkdir(parents=True)
    (folder / "b.bin").write_bytes(b"bee")
    (folder / "sub" / "a.bin").write_bytes(b"ay")
    expected = hashlib.sha256()
    for relative, content in (("b.bin", b"bee"), ("sub/a.bin", b"ay")):  # sorted paths
        expected.update(relative.encode())
        expected.update(hashlib.sha256(content).hexdigest().encode())
    assert tree_digest(folder) == expected.hexdigest()
    assert tree_digest(folder / "b.bin") == hashlib.sha256(b"bee").hexdigest()
    quick = hashlib.sha256()
    for relative in ("b.bin", "sub/a.bin"):
        stat = (folder / relative).stat()
        quick.update(relative.encode())
        quick.update(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
    assert tree_digest(folder, content=False) == quick.hexdigest()


def test_the_users_modules_are_followed_through_every_import_form(tmp_path: Path) -> None:
    (tmp_path / "pkg" / "deep").mkdir(parents=True)
    files = {
        "main.py": "import only_here\nfrom pkg import tool\nfrom pkg.deep import leaf\n"
                   "import numpy\nimport os.path\n",
        "only_here.py": "import main\n",  # a cycle back to the entry
        "helper.py": "X = 1\n",
        "top_only.py": "T = 1\n",
        "pkg/__init__.py": "",
        "pkg/tool.py": "from . import sibling\nfrom .deep.leaf import Y\nimport helper\n",
        "pkg/sibling.py": "from .. import top_only\n",
        "pkg/deep/__init__.py": "",
        "pkg/deep/leaf.py": "from ..sibling import *\nY = 2\n",
        "unused.py": "Z = 3\n",
        "broken.py": "def (:\n",
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    found = {str(p.relative_to(tmp_path)) for p in local_modules(tmp_path / "main.py")}
    assert found == {"main.py", "only_here.py", "helper.py", "top_only.py",
                     "pkg/__init__.py", "pkg/tool.py", "pkg/sibling.py",
                     "pkg/deep/__init__.py", "pkg/deep/leaf.py"}
    (tmp_path / "main.py").write_text("import broken\n")
    assert {p.name for p in local_modules(tmp_path / "main.py")} == {"main.py", "broken.py"}


def test_a_damaged_entry_names_its_file_and_discard_removes_it(tmp_path: Path) -> None:
    error = build_cache.DamagedBuild(tmp_path / "entry.json", "no files")
    assert str(error) == f"{tmp_path / 'entry.json'} is damaged (no files)"
    assert error.path == tmp_path / "entry.json"
    cache = BuildCache(tmp_path / "cache", limit=10**9)
    kept = _store(cache, tmp_path, "kept", b"k")
    gone = _store(cache, tmp_path, "gone", b"g")
    cache.discard(gone)
    assert not cache.entry(gone).exists() and cache.lookup(kept) == cache.entry(kept)
    cache.discard("never-stored")  # nothing to remove: no error


def test_a_custom_fit_in_the_budget_is_keyed_by_its_code(tmp_path: Path) -> None:
    """``[models.X.training] fit = "loop.py:fit"`` reaches the key through the budget:
    another training loop, or another module it imports, is another build."""
    (tmp_path / "loop.py").write_text("import steps\ndef fit(model, data):\n    pass\n")
    (tmp_path / "steps.py").write_text("STEPS = 4\n")
    fit = f"{tmp_path / 'loop.py'}:fit"

    def key() -> str:
        return build_key("digits_cnn", ["qat_int8"], {**BUDGET, "fit": fit}, None, None).key

    first = key()
    assert first == key()
    assert first != build_key("digits_cnn", ["qat_int8"], BUDGET, None, None).key
    (tmp_path / "steps.py").write_text("STEPS = 64\n")  # only an imported module changed
    second = key()
    assert second != first
    (tmp_path / "loop.py").write_text("import steps\ndef fit(model, data):\n    return 1\n")
    assert key() not in (first, second)
    ingredients = build_key("digits_cnn", ["qat_int8"], {**BUDGET, "fit": fit}, None,
                            None).ingredients
    assert ingredients["budget"]["fit"].endswith(":fit")
    assert ingredients["budget"]["fit"] != fit  # a digest of the code, not the path


def test_a_user_sources_files_each_reach_the_key(tmp_path: Path) -> None:
    """Every file-valued field of a ``[models.NAME]`` source changes the key with its
    content: a Keras file, per-variant .tflite files, the builder and preprocess code,
    the data (a file, or the code that makes it), an image folder's listing, a custom
    fit; plain settings go in as they are."""
    for name, text in {"m.keras": "k1", "f.tflite": "t1", "nets.py": "def b(): pass\n",
                       "prep.py": "def p(x): return x\n", "d.npz": "d1",
                       "gen.py": "def load(): pass\n", "fit.py": "def f(m, d): pass\n"
                       }.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.png").write_text("i1")
    base = {"keras": str(tmp_path / "m.keras"), "tflite": {"float32": str(tmp_path / "f.tflite")},
            "build": f"{tmp_path / 'nets.py'}:b", "preprocess": f"{tmp_path / 'prep.py'}:p",
            "data": str(tmp_path / "d.npz"), "image_dir": str(tmp_path / "images"),
            "training": {"fit": f"{tmp_path / 'fit.py'}:f", "epochs": 3}, "trained": False}

    def key(source: dict) -> str:
        return build_key("mine", ["qat_int8"], BUDGET, source, None).key

    first = key(base)
    assert key(dict(base)) == first
    seen = {first}
    for changed in ("m.keras", "f.tflite", "nets.py", "prep.py", "d.npz", "fit.py"):
        path = tmp_path / changed
        path.write_text(path.read_text() + "# changed\n")
        now = key(base)
        assert now not in seen, changed
        seen.add(now)
    (tmp_path / "images" / "b.png").write_text("i2")
    assert key(base) not in seen
    seen.add(key(base))
    assert key({**base, "trained": True}) not in seen  # a plain setting, as it is
    assert key({**base, "data": f"{tmp_path / 'gen.py'}:load"}) not in seen
    assert key({**base, "training": {**base["training"], "epochs": 4}}) not in seen


def test_a_module_reference_is_keyed_by_its_files_content(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    """``build = "package.module:function"`` (importable, not a path): the module's file
    and its own imports are hashed, so editing it is another build."""
    # a fresh package name: finding the module imports its package, and a package left in
    # sys.modules by an earlier run in this process would point at that run's folder
    package = f"userpkg_{uuid.uuid4().hex[:12]}"
    (tmp_path / package).mkdir()
    (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / package / "nets.py").write_text("def b():\n    return 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    source = {"build": f"{package}.nets:b"}
    try:
        first = build_key("mine", ["qat_int8"], BUDGET, source, None)
        assert first.ingredients["source"]["build"].endswith(f":{package}.nets:b")
        (tmp_path / package / "nets.py").write_text("def b():\n    return 2\n")
        assert build_key("mine", ["qat_int8"], BUDGET, source, None).key != first.key
    finally:
        for name in [n for n in sys.modules if n.split(".")[0] == package]:
            del sys.modules[name]
    missing = {"build": "no_such_package_here.nets:b"}
    assert build_key("mine", ["qat_int8"], BUDGET, missing,
                     None).ingredients["source"]["build"] == "no_such_package_here.nets:b"


def test_the_hashed_build_code_is_every_listed_file_by_path_and_bytes() -> None:
    """``code_digest`` recomputed here from the files it promises to cover: a change to
    any of them (or a file moved) is another key."""
    root = Path(build_cache.__file__).resolve().parents[2]
    expected = hashlib.sha256()
    for part in build_cache._CODE:
        path = root / part
        items = [path] if path.is_file() else sorted(path.rglob("*"))
        for item in items:
            if item.is_file() and item.suffix in (".py", ".txt", ".toml"):
                expected.update(str(item.relative_to(root)).encode())
                expected.update(item.read_bytes())
    assert build_cache.code_digest() == expected.hexdigest()
    assert os.path.isdir(root / "qat") and "qat" in build_cache._CODE


# --- the second sort of survivors (2026-12-07): what a key is made of, and what a
# damaged, half-written or re-stored entry does


def test_entry_files_names_the_record_and_why_it_cannot_be_read(tmp_path: Path) -> None:
    record = tmp_path / "entry.json"
    record.write_text("{not json")
    with pytest.raises(build_cache.DamagedBuild) as raised:
        build_cache.entry_files(record)
    assert raised.value.path == record
    assert str(raised.value).startswith(f"{record} is damaged (JSONDecodeError: ")
    record.write_text('{"files": [1]}')
    with pytest.raises(build_cache.DamagedBuild) as raised:
        build_cache.entry_files(record)
    assert str(raised.value) == f'{record} is damaged (no table of file digests under "files")'
    record.write_text('{"files": {"a.tflite": "00ff"}}')
    assert build_cache.entry_files(record) == {"a.tflite": "00ff"}


def test_a_corrupt_entry_is_listed_with_one_plain_reason(tmp_path: Path) -> None:
    """``cache list`` shows why an entry is corrupt once, in the words of the check that
    refused it (not wrapped a second time in the path and the exception's class)."""
    cache = BuildCache(tmp_path / "cache", limit=10**9)
    bad = cache.root / "0123456789abcdef"
    bad.mkdir(parents=True)
    (bad / "entry.json").write_text('{"files": {}, "ingredients": [1]}')
    [listed] = cache.entries()
    assert listed["corrupt"] == f"{bad / 'entry.json'} is damaged (its ingredients are not a table)"


def test_only_python_text_and_toml_files_of_the_build_code_are_hashed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Byte code caches appear after the first import and data files are not code: were
    they hashed, the second run of one config would miss the cache. A .toml is code
    (settings the build reads)."""
    root = tmp_path / "pkg"
    (root / "bench" / "orchestration").mkdir(parents=True)
    (root / "qat" / "__pycache__").mkdir(parents=True)
    files = {"qat/a.py": b"A = 1\n", "qat/notes.txt": b"n", "qat/rules.toml": b"x = 1\n",
             "atomic.py": b"B = 2\n"}
    for name, content in files.items():
        (root / name).write_bytes(content)
    (root / "qat" / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"\x00compiled")
    (root / "qat" / "weights.json").write_text("{}")
    monkeypatch.setattr(build_cache, "__file__",
                        str(root / "bench" / "orchestration" / "build_cache.py"))
    monkeypatch.setattr(build_cache, "_CODE", ("qat", "atomic.py"))
    expected = hashlib.sha256()
    for name in ("qat/a.py", "qat/notes.txt", "qat/rules.toml", "atomic.py"):  # _CODE order
        expected.update(name.encode())
        expected.update(files[name])
    assert build_cache.code_digest() == expected.hexdigest()


def test_a_module_that_does_not_parse_does_not_stop_the_others_being_followed(
        tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text("import good\nimport broken\n")
    (tmp_path / "good.py").write_text("import deeper\n")
    (tmp_path / "deeper.py").write_text("D = 1\n")
    (tmp_path / "broken.py").write_text("def (:\n")
    assert {p.name for p in local_modules(tmp_path / "main.py")} == {
        "main.py", "good.py", "deeper.py", "broken.py"}


def test_a_sibling_module_whose_name_starts_with_x_is_followed(tmp_path: Path) -> None:
    (tmp_path / "nets").mkdir()
    (tmp_path / "nets" / "__init__.py").write_text("")
    (tmp_path / "nets" / "main.py").write_text("from . import Xception\n")
    (tmp_path / "nets" / "Xception.py").write_text("X = 1\n")
    found = local_modules(tmp_path / "nets" / "main.py", tmp_path)
    assert tmp_path / "nets" / "Xception.py" in found


def test_a_reference_in_a_folder_with_a_colon_is_keyed_by_its_content_and_function(
        tmp_path: Path) -> None:
    """``build = "/runs/2026-12-07T10:00/nets.py:small"``: the function is what follows
    the last colon, the file what comes before it; two functions of one file are two
    builds, and editing the file is another build."""
    folder = tmp_path / "run:1"
    folder.mkdir()
    nets = folder / "nets.py"
    nets.write_text("def small(): pass\ndef big(): pass\n")

    def built(function: str) -> BuildKey:
        return build_key("mine", ["qat_int8"], BUDGET, {"build": f"{nets}:{function}"}, None)

    small, big = built("small"), built("big")
    assert small.key != big.key
    content = hashlib.sha256()
    content.update(b"nets.py")
    content.update(hashlib.sha256(nets.read_bytes()).hexdigest().encode())
    assert small.ingredients["source"]["build"] == f"{content.hexdigest()}:small"
    nets.write_text("def small(): return 1\ndef big(): pass\n")
    assert built("small").key != small.key


def test_a_torch_source_is_keyed_by_its_code_and_the_torch_versions(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``torch = "file.py:function"``: another module, function or torch / torchao /
    litert-torch version is another build (the PyTorch recipe depends on them)."""
    from importlib import metadata

    versions = {"torch": "2.0.0", "torchao": "0.1.0"}  # litert-torch: not installed

    def version(name: str) -> str:
        if name in versions:
            return versions[name]
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", version)
    net = tmp_path / "net.py"
    net.write_text("def make(): pass\ndef other(): pass\n")

    def built(reference: str) -> BuildKey:
        return build_key("mine", ["qat_int8"], BUDGET, {"torch": reference}, None)

    first = built(f"{net}:make")
    assert first.ingredients["source"]["torch_packages"] == versions
    assert first.ingredients["source"]["torch"].endswith(":make")
    assert built(f"{net}:make").key == first.key
    assert built(f"{net}:other").key != first.key
    versions["torch"] = "2.1.0"
    upgraded = built(f"{net}:make")
    assert upgraded.key != first.key
    net.write_text("def make(): return 1\ndef other(): pass\n")
    assert built(f"{net}:make").key not in (first.key, upgraded.key)


def test_data_made_by_code_is_keyed_by_that_code(tmp_path: Path) -> None:
    gen = tmp_path / "gen.py"
    gen.write_text("def load(): return 1\n")
    source = {"build": "nets:b", "data": f"{gen}:load"}
    first = build_key("mine", ["qat_int8"], BUDGET, source, None).key
    gen.write_text("def load(): return 2\n")
    assert build_key("mine", ["qat_int8"], BUDGET, source, None).key != first


def test_an_image_folder_is_keyed_by_its_listing_not_read(tmp_path: Path) -> None:
    """Image folders (a user's ``image_dir``, ``--imagenet-dir``) can hold gigabytes: the
    key covers each file's name, size and modification time, so a file touched (same
    bytes, new time) is another key -- a content digest would not see that."""
    images = tmp_path / "images"
    images.mkdir()
    (images / "a.png").write_bytes(b"pixels")

    def keys() -> tuple[str, str]:
        mine = build_key("mine", ["qat_int8"], BUDGET,
                         {"build": "nets:b", "image_dir": str(images)}, None).key
        zoo = build_key("mobilenet_v2", ["qat_int8"], BUDGET, None, str(images)).key
        return mine, zoo

    before = keys()
    assert keys() == before
    stat = (images / "a.png").stat()
    os.utime(images / "a.png", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    after = keys()
    assert after[0] != before[0] and after[1] != before[1]


def test_one_budget_or_source_written_in_another_order_is_one_key(tmp_path: Path) -> None:
    """``bench-edgetpu`` after ``bench-cpu`` finds the build whatever order the settings
    were written in."""
    source = {"build": "nets:b", "trained": False, "description": "d"}
    first = build_key("mine", ["qat_int8", "float32"], {"seed": 0, "qat_epochs": 1},
                      source, None)
    again = build_key("mine", ["float32", "qat_int8"], {"qat_epochs": 1, "seed": 0},
                      dict(reversed(list(source.items()))), None)
    assert again.key == first.key


def test_the_cache_folder_given_is_the_one_used(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QATBENCH_CACHE_DIR", str(tmp_path / "from-env"))
    assert BuildCache(tmp_path / "given").root == tmp_path / "given"


def test_a_damaged_entry_is_never_used_and_is_removed(tmp_path: Path) -> None:
    cache = BuildCache(tmp_path / "cache", limit=10**9)
    key = _store(cache, tmp_path, "m", b"m" * 8)
    (cache.entry(key) / "entry.json").write_text("{not json")
    assert cache.lookup(key) is None
    assert not cache.entry(key).exists()


def test_an_entry_that_cannot_be_removed_is_still_not_used(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A read-only cache: the damaged or partial entry stays on disk, the lookup is a
    miss (the model is rebuilt), and the run does not fail on the clean-up."""
    cache = BuildCache(tmp_path / "cache", limit=10**9)
    damaged = _store(cache, tmp_path, "damaged", b"d" * 8)
    (cache.entry(damaged) / "qat_int8.tflite").write_bytes(b"e" * 8)
    partial = cache.root / "fedcba9876543210"
    (partial / "half").mkdir(parents=True)

    def read_only(path, ignore_errors=False, onerror=None, **kwargs):
        if not ignore_errors:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(shutil, "rmtree", read_only)
    assert cache.lookup(damaged) is None
    assert cache.lookup(partial.name) is None


def test_a_full_disk_while_storing_is_reported_as_the_cache_unwritable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The copy fails before its staging folder exists: the error names the cache and
    the disk being full, not the clean-up of a folder that was never made."""
    from qatbench.atomic import UnwritableOutput

    cache = BuildCache(tmp_path / "cache", limit=10**9)
    built = tmp_path / "built"
    built.mkdir()
    (built / "qat_int8.tflite").write_bytes(b"q")

    def full(source, target, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(target))

    monkeypatch.setattr(shutil, "copytree", full)
    with pytest.raises(UnwritableOutput) as raised:
        cache.store(build_key("m", ["qat_int8"], BUDGET, None, None), built)
    assert raised.value.errno == errno.ENOSPC and raised.value.path == cache.root
    assert list(cache.root.iterdir()) == []


def test_a_copy_left_by_a_killed_store_is_replaced_not_stored(tmp_path: Path) -> None:
    """A run killed mid-copy leaves ``.KEY.PID.tmp``; the next store with that pid (pids
    repeat, in a container nearly always) starts it again from the build."""
    cache = BuildCache(tmp_path / "cache", limit=10**9)
    key = build_key("m", ["qat_int8"], BUDGET, None, None)
    leftover = cache.root / f".{key.key}.{os.getpid()}.tmp"
    leftover.mkdir(parents=True)
    (leftover / "stale.tflite").write_bytes(b"old")
    built = tmp_path / "built"
    built.mkdir()
    (built / "qat_int8.tflite").write_bytes(b"new")
    entry = cache.store(key, built)
    assert sorted(p.name for p in entry.iterdir()) == ["entry.json", "qat_int8.tflite"]
    assert not leftover.exists()


def test_a_build_folder_holding_an_entry_record_is_stored_whole(tmp_path: Path) -> None:
    """A build copied out of a cache entry (``entry.json`` inside) stored again: the old
    record is not one of the files, so the new entry checks whole on lookup."""
    cache = BuildCache(tmp_path / "cache", limit=10**9)
    built = tmp_path / "built"
    built.mkdir()
    (built / "qat_int8.tflite").write_bytes(b"q")
    (built / "entry.json").write_text('{"files": {}}')
    key = build_key("m", ["qat_int8"], BUDGET, None, None)
    cache.store(key, built)
    record = json.loads((cache.entry(key.key) / "entry.json").read_text())
    assert record["files"] == {"qat_int8.tflite": hashlib.sha256(b"q").hexdigest()}
    assert cache.lookup(key.key) == cache.entry(key.key)


def test_a_rebuild_replaces_the_entry_of_its_key(tmp_path: Path) -> None:
    """``--rebuild`` stores over an existing entry: the new build's files, none left of
    the old one."""
    cache = BuildCache(tmp_path / "cache", limit=10**9)
    key = build_key("m", ["qat_int8"], BUDGET, None, None)
    for name, payload in (("old", b"first"), ("new", b"second")):
        built = tmp_path / name
        built.mkdir()
        (built / f"{name}.tflite").write_bytes(payload)
        cache.store(key, built)
    entry = cache.lookup(key.key)
    assert entry is not None
    assert sorted(p.name for p in entry.iterdir()) == ["entry.json", "new.tflite"]


def test_a_store_in_progress_is_not_listed_or_pruned(tmp_path: Path) -> None:
    """The staging folder holds ``entry.json`` just before it is renamed into place: a
    ``cache list`` or ``prune`` at that moment must not show or remove it."""
    cache = BuildCache(tmp_path / "cache", limit=10**9)
    kept = _store(cache, tmp_path, "kept", b"k")
    staging = cache.root / f".{kept}.4242.tmp"
    shutil.copytree(cache.entry(kept), staging)
    assert [e["key"] for e in cache.entries()] == [kept]
    assert cache.prune(limit=0).removed == [kept]
    assert staging.is_dir()


def test_prune_names_the_entry_when_the_error_names_no_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = BuildCache(tmp_path / "cache", limit=10**9)
    stuck = _store(cache, tmp_path, "stuck", b"s")

    def refuse(path, *args, **kwargs):
        raise OSError(errno.EBUSY, "Device or resource busy")

    monkeypatch.setattr(shutil, "rmtree", refuse)
    assert cache.prune(limit=0).failed == {
        stuck: f"{cache.root / stuck}: Device or resource busy"}


def test_a_full_disk_while_copying_keeps_the_systems_words() -> None:
    error = shutil.Error([("a", "/cache/x/a", "[Errno 28] No space left on device: 'a'")])
    found = build_cache.first_os_error(error)
    assert found.strerror == "No space left on device"
    assert str(found) == "[Errno 28] No space left on device: '/cache/x/a'"


def test_the_same_files_in_another_folder_are_the_same_build(tmp_path: Path) -> None:
    """A source is keyed by its files' content, not where they lie: a second clone, or a
    CI workspace at another path, finds the build the first one stored. (The paths
    themselves must not reach the key alongside the digests.)"""
    first = tmp_path / "clone-a"
    (first / "images").mkdir(parents=True)
    for name, text in {"m.keras": "k", "f.tflite": "t", "nets.py": "def b(): pass\n",
                       "net.py": "def make(): pass\n", "prep.py": "def p(x): return x\n",
                       "d.npz": "d", "fit.py": "def f(m, d): pass\n", "images/a.png": "i"
                       }.items():
        (first / name).write_text(text)
    second = tmp_path / "elsewhere" / "clone-b"
    shutil.copytree(first, second)  # contents, and the images' times, copied

    def source(root: Path) -> dict:
        return {"keras": str(root / "m.keras"), "tflite": {"float32": str(root / "f.tflite")},
                "build": f"{root / 'nets.py'}:b", "torch": f"{root / 'net.py'}:make",
                "preprocess": f"{root / 'prep.py'}:p", "data": str(root / "d.npz"),
                "image_dir": str(root / "images"),
                "training": {"fit": f"{root / 'fit.py'}:f", "epochs": 3}}

    def key(root: Path) -> str:
        return build_key("mine", ["qat_int8"], BUDGET, source(root), None).key

    assert key(second) == key(first)
    (second / "d.npz").write_text("other data")
    assert key(second) != key(first)
