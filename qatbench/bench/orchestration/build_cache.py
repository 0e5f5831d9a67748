"""Build once, time everywhere: a content-addressed cache of model builds.

A build (every variant's ``.tflite``, the eval set, per-layer tables, the manifest) is
stored under a key that covers everything that changes its bytes: the model's source
(the zoo's recipe is its code; a user's model file, builder source and data by content),
the training budget and recipe, the variants, qatbench's own build code, the TensorFlow
/ tf_keras / tfmot versions (torch / torchao / litert-torch for a PyTorch source), and
the seed (part of the budget). A second ``qatbench run``
of the same config, or ``bench-edgetpu`` after ``bench-cpu``, copies the build instead
of training again; the row's note says which key and that it was a hit.

Safety: an entry is written to a temporary folder and renamed into place, with the
SHA-256 of every file in ``entry.json``; a lookup checks them all, and an entry that does
not match (a partial copy, a disk error, a hand edit) is removed and rebuilt, never used.
Two runs building one key at once take a lock (``fcntl``) so it is built once. The cache
is capped in size (``QATBENCH_CACHE_MAX_BYTES``, default 5 GiB); the least recently used
entries go first. TensorFlow-free: a timing-only host can list and read entries.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qatbench.atomic import UnwritableOutput, atomic_write_json
from qatbench.bench.storage import environment
from qatbench.errors import UserError

ENTRY_FILE = "entry.json"


class CacheError(UserError, ValueError):
    """The cache cannot be used as asked (its size cap misspelt, its folder read-only)."""


class DamagedBuild(UserError, ValueError):
    """A stored build (a cache entry, an artifacts folder) whose ``entry.json`` or
    ``manifest.json`` is not what qatbench wrote; names the file."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{path} is damaged ({problem})")
        self.path = path


def entry_files(record: Path) -> dict[str, str]:
    """``entry.json``'s file -> SHA-256 table; ``DamagedBuild`` if it is not one."""
    try:
        data = json.loads(record.read_text())
    except (OSError, ValueError) as error:
        raise DamagedBuild(record, f"{type(error).__name__}: {error}") from None
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
        raise DamagedBuild(record, "no table of file digests under \"files\"")
    return files
DEFAULT_MAX_BYTES = 5 * 1024**3
KEY_LENGTH = 16
# qatbench's own code that decides a build's bytes: the QAT core, the zoo and data, the
# timing-side modules the build child uses to write the eval set's reference, and the
# child's entry and the package's __init__ (it selects tf_keras before TensorFlow loads);
# tests/bench/orchestration/test_build_cache.py checks every module the child imports
_CODE = ("qat", "models", "targets/base.py", "targets/inputs.py", "targets/signature_io.py",
         "targets/tflite_file.py", "targets/runtime.py", "targets/child.py", "atomic.py",
         "errors.py", "__init__.py")
_PACKAGES = ("tensorflow", "tf-keras", "tensorflow-model-optimization", "numpy",
             "litert-quantizer", "ai-edge-litert")
# a PyTorch source's build also depends on these (its recipe is qat/pytorch's code)
_TORCH_PACKAGES = ("torch", "torchao", "litert-torch")


def cache_dir(override: Path | str | None = None) -> Path:
    """``--cache-dir``, else ``$QATBENCH_CACHE_DIR``, else the user cache dir."""
    if override:
        return Path(override).expanduser()
    if os.environ.get("QATBENCH_CACHE_DIR"):
        return Path(os.environ["QATBENCH_CACHE_DIR"]).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "qatbench" / "builds"


_SCALES = {"": 1, "B": 1, "K": 10**3, "KB": 10**3, "M": 10**6, "MB": 10**6, "G": 10**9,
           "GB": 10**9, "T": 10**12, "TB": 10**12, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30,
           "TIB": 2**40}


def parse_size(text: str) -> int:
    """``5368709120``, ``500MB``, ``5GB``, ``5GiB`` as bytes; ``ValueError`` if not one."""
    import re

    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Z]*)\s*", text.upper())
    if not found or found.group(2) not in _SCALES:
        raise ValueError(f"{text!r} is not a size like 500MB, 5GB or 5GiB")
    return int(float(found.group(1)) * _SCALES[found.group(2)])


def max_bytes() -> int:
    value = os.environ.get("QATBENCH_CACHE_MAX_BYTES")
    if not value:
        return DEFAULT_MAX_BYTES
    try:
        return parse_size(value)
    except ValueError as error:
        raise CacheError(f"QATBENCH_CACHE_MAX_BYTES: {error}") from None


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def tree_digest(path: Path, content: bool = True) -> str:
    """A file's or a folder's digest (a folder: every file's relative path and content,
    or -- for image folders, which can be large -- path, size and modification time)."""
    if path.is_file():
        return file_digest(path)
    digest = hashlib.sha256()
    for item in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(str(item.relative_to(path)).encode())
        if content:
            digest.update(file_digest(item).encode())
        else:
            stat = item.stat()
            digest.update(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def code_digest() -> str:
    """qatbench's build code: a change to it is a different build."""
    root = Path(__file__).resolve().parents[2]
    digest = hashlib.sha256()
    for part in _CODE:
        path = root / part
        files = [path] if path.is_file() else sorted(path.rglob("*"))
        for item in files:
            if item.is_file() and item.suffix in (".py", ".txt", ".toml"):
                digest.update(str(item.relative_to(root)).encode())
                digest.update(item.read_bytes())
    return digest.hexdigest()


def package_versions() -> dict[str, str]:
    """The versions that change a build's bytes (``storage.environment.package_versions``
    over the build's packages; one that is not installed is simply absent from the key)."""
    return environment.package_versions(_PACKAGES)


def _module_files(name: str, level: int, importer: Path, root: Path) -> list[Path]:
    """The files under ``root`` that ``import name`` (``level`` dots) in ``importer``
    may load: ``a/b.py`` or ``a/b/__init__.py`` and every package ``__init__`` on the way."""
    base = importer.parent
    for _ in range(max(level - 1, 0)):
        base = base.parent
    start = base if level else root
    found, folder = [], start
    for part in [p for p in name.split(".") if p]:
        if (folder / part / "__init__.py").is_file():
            found.append(folder / part / "__init__.py")
        if (folder / f"{part}.py").is_file():
            found.append(folder / f"{part}.py")
        folder = folder / part
    return [f for f in found if f.resolve().is_relative_to(root.resolve())]


def local_modules(entry: Path, root: Path | None = None) -> list[Path]:
    """``entry`` and every module of the user's own tree it imports, transitively: what
    ``file.py:function`` runs with its folder on ``sys.path`` (``qat/user_model.py``).
    Read with ``ast`` (nothing is imported); a module outside ``root`` (the entry's
    folder) -- the standard library, an installed package -- is not the user's tree."""
    import ast

    root = (root or entry.parent).resolve()
    seen: dict[Path, None] = {}
    pending = [entry.resolve()]
    while pending:
        path = pending.pop()
        if path in seen or not path.is_file():
            continue
        seen[path] = None
        try:
            tree = ast.parse(path.read_bytes(), filename=str(path))
        except (SyntaxError, ValueError):
            continue  # its bytes are still in the key
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    pending += _module_files(alias.name, 0, path, root)
            elif isinstance(node, ast.ImportFrom):
                module = node.module or ""
                pending += _module_files(module, node.level, path, root)
                for alias in node.names:  # ``from pkg import submodule``
                    pending += _module_files(f"{module}.{alias.name}".strip("."),
                                             node.level, path, root)
    return sorted(seen)


def _modules_digest(entry: Path) -> str:
    """One digest over ``entry`` and the user's modules it imports (names and bytes)."""
    digest = hashlib.sha256()
    root = entry.parent.resolve()
    for path in local_modules(entry):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(file_digest(path).encode())
    return digest.hexdigest()


def _reference_digest(reference: str | None) -> str | None:
    """``file.py:function`` by the content of the file and of every module of the user's
    tree it imports; ``module:function`` by its module file and the modules of its own
    package it imports."""
    if not reference or ":" not in reference:
        return reference
    where = reference.rsplit(":", 1)[0]
    path = Path(where)
    if where.endswith(".py") and path.is_file():
        return f"{_modules_digest(path)}:{reference.rsplit(':', 1)[1]}"
    import importlib.util

    try:
        spec = importlib.util.find_spec(where)
    except (ImportError, ValueError):
        spec = None
    origin = Path(spec.origin) if spec is not None and spec.origin else None
    if origin is not None and origin.is_file():
        return f"{_modules_digest(origin)}:{reference}"
    return reference


def source_ingredients(source: Mapping[str, Any] | None, model: str) -> dict[str, Any]:
    """What identifies a model's source: the zoo's by name (its recipe is the code), a
    user's by the content of its files."""
    if source is None:
        ingredients: dict[str, Any] = {"zoo": model}
        from qatbench.models.zoo import cached_weights, known_models

        spec = known_models().get(model)
        weights = getattr(getattr(spec, "build", None), "weights_file", None)
        cached = cached_weights(weights) if weights else None
        if cached is not None:  # ImageNet weights in the local Keras cache change the build
            ingredients["weights"] = file_digest(cached)
        return ingredients
    ingredients = {key: value for key, value in source.items()
                   if key not in ("keras", "tflite", "build", "torch", "data", "image_dir",
                                  "preprocess")}
    if source.get("keras"):
        ingredients["keras"] = tree_digest(Path(source["keras"]))
    if source.get("tflite"):
        ingredients["tflite"] = {variant: file_digest(Path(path))
                                 for variant, path in source["tflite"].items()}
    for key in ("build", "preprocess"):
        ingredients[key] = _reference_digest(source.get(key))
    if source.get("torch"):
        ingredients["torch"] = _reference_digest(source["torch"])
        ingredients["torch_packages"] = environment.package_versions(_TORCH_PACKAGES)
    data = source.get("data")
    if data:
        path = Path(data)
        ingredients["data"] = file_digest(path) if path.is_file() else _reference_digest(data)
    if source.get("image_dir"):
        ingredients["image_dir"] = tree_digest(Path(source["image_dir"]), content=False)
    training = dict(source.get("training") or {})
    if training.get("fit"):
        training["fit"] = _reference_digest(training["fit"])
    ingredients["training"] = training
    return ingredients


@dataclass(frozen=True)
class BuildKey:
    """A build's key and what went into it (kept in the entry, so a miss can be explained)."""

    key: str
    ingredients: dict[str, Any]


def build_key(model: str, variants: list[str], budget: Mapping[str, Any],
              source: Mapping[str, Any] | None, imagenet_dir: str | None) -> BuildKey:
    budget = dict(budget)
    if budget.get("fit"):
        budget["fit"] = _reference_digest(budget["fit"])
    ingredients = {
        "model": model, "variants": sorted(variants), "budget": budget,
        "source": source_ingredients(source, model),
        "imagenet_dir": tree_digest(Path(imagenet_dir), content=False)
        if imagenet_dir else None,
        "code": code_digest(), "packages": package_versions(),
    }
    text = json.dumps(ingredients, sort_keys=True, default=str)
    return BuildKey(hashlib.sha256(text.encode()).hexdigest()[:KEY_LENGTH], ingredients)


class BuildCache:
    """Entries ``ROOT/<key>/`` (the build's files and ``entry.json``), locks beside them."""

    def __init__(self, root: Path | None = None, limit: int | None = None) -> None:
        self.root = cache_dir(root)
        self.limit = max_bytes() if limit is None else limit

    def entry(self, key: str) -> Path:
        return self.root / key

    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[None]:
        """Held while one process looks up and builds ``key``: a second one waits, then
        finds the first one's entry."""
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / f"{key}.lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def lookup(self, key: str) -> Path | None:
        """The entry's folder if it is whole (every file's digest checks); a damaged entry
        is removed."""
        folder = self.entry(key)
        record = folder / ENTRY_FILE
        if not record.is_file():
            if folder.exists():
                shutil.rmtree(folder, ignore_errors=True)  # a partial entry
            return None
        try:
            files = entry_files(record)
            whole = all((folder / name).is_file() and file_digest(folder / name) == digest
                        for name, digest in files.items())
        except (OSError, DamagedBuild):
            whole = False
        if not whole:
            shutil.rmtree(folder, ignore_errors=True)
            return None
        os.utime(record)  # last used: what eviction orders by
        return folder

    def discard(self, key: str) -> None:
        """Remove an entry found damaged (it is rebuilt)."""
        shutil.rmtree(self.entry(key), ignore_errors=True)

    def store(self, key: BuildKey, built: Path, deterministic: bool | None = None) -> Path:
        """Copy the build folder ``built`` in as ``key``'s entry (atomically), then evict."""
        staging = self.root / f".{key.key}.{os.getpid()}.tmp"
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(staging, ignore_errors=True)
            shutil.copytree(built, staging,
                            ignore=shutil.ignore_patterns("build", ENTRY_FILE))
            files = {str(p.relative_to(staging)): file_digest(p)
                     for p in sorted(staging.rglob("*")) if p.is_file()}
            atomic_write_json(staging / ENTRY_FILE, {
                "key": key.key, "created": time.time(), "files": files,
                "ingredients": key.ingredients, "op_determinism": deterministic,
                "built_in": str(built)})
            final = self.entry(key.key)
            shutil.rmtree(final, ignore_errors=True)
            staging.rename(final)
        except OSError as error:  # a full or read-only cache: named, the build is kept
            shutil.rmtree(staging, ignore_errors=True)
            raise UnwritableOutput(staging.parent, first_os_error(error)) from None
        self.evict()
        return final

    def entries(self) -> list[dict[str, Any]]:
        """Every entry: key, model, size, created, last used, and ``corrupt`` -- why its
        ``entry.json`` cannot be read (None when it can). A corrupt entry is listed (and
        can be pruned), never a reason for a run or a listing to fail."""
        found: list[dict[str, Any]] = []
        if not self.root.is_dir():
            return found
        for folder in self.root.iterdir():
            record = folder / ENTRY_FILE
            if not folder.is_dir() or folder.name.startswith(".") or not record.is_file():
                continue
            corrupt, ingredients, created = None, {}, None
            try:
                data = json.loads(record.read_text())
                entry_files(record)
                if not isinstance(data["ingredients"], dict):
                    raise DamagedBuild(record, "its ingredients are not a table")
                ingredients = data["ingredients"]  # only a table is kept: it is listed
                created = data.get("created")
            except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
                corrupt = str(error) if isinstance(error, DamagedBuild) else \
                    f"{record} is damaged ({type(error).__name__}: {error})"
            size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
            found.append({"key": folder.name, "model": ingredients.get("model"),
                          "variants": ingredients.get("variants"),
                          "bytes": size, "created": created, "corrupt": corrupt,
                          "last_used": record.stat().st_mtime, "path": str(folder)})
        return sorted(found, key=lambda e: e["last_used"], reverse=True)

    def evict(self, limit: int | None = None) -> list[str]:
        """Remove least recently used entries until the cache fits ``limit`` bytes; the
        keys actually removed (``prune`` reports them truthfully)."""
        return self.prune(limit).removed

    def prune(self, limit: int | None = None) -> Pruned:
        """Remove least recently used entries until the cache fits ``limit`` bytes: what
        was removed, and what could not be (the path and the error, e.g. a read-only
        cache) -- an entry half-removed is not counted as removed."""
        limit = self.limit if limit is None else limit
        entries = self.entries()
        total = sum(e["bytes"] for e in entries)
        pruned = Pruned()
        for entry in reversed(entries):  # oldest use first
            if total <= limit:
                break
            try:
                shutil.rmtree(entry["path"])
            except OSError as error:
                pruned.failed[entry["key"]] = (f"{error.filename or entry['path']}: "
                                               f"{error.strerror or error}")
                continue
            total -= entry["bytes"]
            pruned.removed.append(entry["key"])
        return pruned


@dataclass
class Pruned:
    removed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # key -> the path and why


def first_os_error(error: OSError) -> OSError:
    """``shutil.copytree``'s ``shutil.Error`` holds a list of (source, target, reason)
    with no errno of its own; the first reason's errno says what happened (ENOSPC...)."""
    if isinstance(error, shutil.Error) and error.args and isinstance(error.args[0], list):
        for _source, target, reason in error.args[0]:
            code = next((c for c, text in _ERRNO_TEXTS.items() if text in str(reason)), None)
            if code is not None:
                return OSError(code, os.strerror(code), target)
    return error


_ERRNO_TEXTS = {code: os.strerror(code) for code in (
    errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM)}


def relocate(manifest: Mapping[str, Any], old: str, new: str) -> dict[str, Any]:
    """A manifest's absolute paths moved from folder ``old`` to ``new``."""

    def move(value: Any) -> Any:
        if isinstance(value, str) and (value == old or value.startswith(old + os.sep)):
            return new + value[len(old):]
        if isinstance(value, dict):
            return {k: move(v) for k, v in value.items()}
        if isinstance(value, list):
            return [move(v) for v in value]
        return value

    return move(dict(manifest))
