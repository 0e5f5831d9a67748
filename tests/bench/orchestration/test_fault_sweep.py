"""Issue 33's fault sweep at the orchestration layer, kept as tests: a stale build cache
(a builder's imported module changed), a full disk under the build cache, and the git
worktrees of a bisection that was killed or stopped. The command-level cases (exit 2
naming what is wrong) are in ``tests/bench/test_fault_sweep.py``.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from qatbench.atomic import UnwritableOutput
from qatbench.bench.orchestration.ab import AbSettings
from qatbench.bench.orchestration.bisect import BisectError, bisect
from qatbench.bench.orchestration.build_cache import BuildCache, BuildKey, build_key

# -- the cache key of ``build = "file.py:fn"`` covers the user's modules it imports -------

BUDGET = {"float_epochs": 1, "seed": 0}


def key_of(builder: Path) -> str:
    return build_key("mine", ["float32"], BUDGET, {"build": f"{builder}:net"}, None).key


# import style -> (files of the user's tree, the file whose edit must change the key)
TREES: dict[str, tuple[dict[str, str], str]] = {
    "import-module": ({"model.py": "import widths\ndef net(): return widths.WIDTH\n",
                       "widths.py": "WIDTH = 4\n"}, "widths.py"),
    "from-module-import-name": ({"model.py": "from widths import WIDTH\n",
                                 "widths.py": "WIDTH = 4\n"}, "widths.py"),
    "from-package-import-submodule": ({"model.py": "from parts import widths\n",
                                       "parts/__init__.py": "",
                                       "parts/widths.py": "WIDTH = 4\n"}, "parts/widths.py"),
    "dotted-import": ({"model.py": "import parts.widths\n", "parts/__init__.py": "",
                       "parts/widths.py": "WIDTH = 4\n"}, "parts/widths.py"),
    "package-init": ({"model.py": "import parts\n", "parts/__init__.py": "WIDTH = 4\n"},
                     "parts/__init__.py"),
    "imported-twice-removed": ({"model.py": "import layers\n", "layers.py": "import widths\n",
                                "widths.py": "WIDTH = 4\n"}, "widths.py"),
    "relative-inside-a-package": ({"model.py": "from parts import blocks\n",
                                   "parts/__init__.py": "",
                                   "parts/blocks.py": "from .widths import WIDTH\n",
                                   "parts/widths.py": "WIDTH = 4\n"}, "parts/widths.py"),
}


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root / "model.py"


@pytest.mark.parametrize("style", list(TREES))
def test_a_change_to_a_module_the_builder_imports_is_a_new_build(
        tmp_path: Path, style: str) -> None:
    """A width constant 4 -> 64 in an imported module gave "build cache hit" and timed
    the old model."""
    files, edited = TREES[style]
    builder = _tree(tmp_path, files)
    before = key_of(builder)
    assert key_of(builder) == before  # the same tree: the same key
    (tmp_path / edited).write_text((tmp_path / edited).read_text().replace("4", "64"))
    assert key_of(builder) != before


def test_a_file_the_builder_does_not_import_leaves_the_key_alone(tmp_path: Path) -> None:
    """The key is what the build runs, not the whole folder (notes, data, other scripts)."""
    builder = _tree(tmp_path, {"model.py": "import os\nimport widths\n",
                               "widths.py": "WIDTH = 4\n", "notes.py": "X = 1\n"})
    before = key_of(builder)
    (tmp_path / "notes.py").write_text("X = 2\n")
    (tmp_path / "README.md").write_text("changed\n")
    assert key_of(builder) == before


# -- a full disk under the build cache: the place named, nothing half-written -------------

def _full_under(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """Copying a file into ``folder`` fails with ENOSPC, as on a full disk (``copytree``
    collects it into a ``shutil.Error`` with no errno of its own)."""
    real = shutil.copyfile

    def copyfile(source, target, *args, **kwargs):
        if Path(target).resolve().is_relative_to(folder.resolve()):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(target))
        return real(source, target, *args, **kwargs)

    monkeypatch.setattr(shutil, "copyfile", copyfile)


def _built(tmp_path: Path) -> Path:
    built = tmp_path / "built"
    built.mkdir()
    (built / "float32.tflite").write_bytes(b"TFL3 a model")
    return built


def test_storing_a_build_on_a_full_disk_names_the_cache_and_leaves_no_half_entry(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = BuildCache(tmp_path / "cache")
    built = _built(tmp_path)
    _full_under(monkeypatch, cache.root)
    with pytest.raises(UnwritableOutput) as raised:
        cache.store(BuildKey("k" * 16, {"model": "m"}), built)
    assert raised.value.errno == errno.ENOSPC
    assert str(cache.root) in str(raised.value)
    assert list(cache.root.iterdir()) == []  # no staging folder, no entry
    assert (built / "float32.tflite").read_bytes() == b"TFL3 a model"  # the build is kept


def test_a_cache_hit_into_a_full_disk_names_the_run_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from qatbench.bench.orchestration.runner import restore_build
    from qatbench.qat.artifacts import ModelBuild, VariantArtifact

    built = _built(tmp_path)
    ModelBuild("m", "random", None, "", {"float32": VariantArtifact(
        "float32", str(built / "float32.tflite"), 12)}).save(built)
    entry = BuildCache(tmp_path / "cache").store(BuildKey("k" * 16, {"model": "m"}), built)
    out = tmp_path / "run" / "artifacts" / "m"
    _full_under(monkeypatch, out.parent)
    with pytest.raises(UnwritableOutput) as raised:
        restore_build(entry, out, "k" * 16)
    assert raised.value.errno == errno.ENOSPC and str(out) in str(raised.value)


# -- bisect: worktrees never left registered in the user's repository ---------------------

def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def repository(root: Path, works: list[str]) -> tuple[Path, list[str]]:
    """A repository whose commit i holds ``work.txt`` = ``works[i]`` (a model's cost)."""
    repo = root / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "lab@example.com")
    git(repo, "config", "user.name", "Lab")
    shas = []
    for index, work in enumerate(works):
        (repo / "work.txt").write_text(work)
        (repo / "README").write_text(str(index))
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", f"commit {index + 1}")
        shas.append(git(repo, "rev-parse", "HEAD"))
    return repo, shas


def worktrees(repo: Path) -> list[str]:
    return [line.removeprefix("worktree ") for line in
            git(repo, "worktree", "list", "--porcelain").splitlines()
            if line.startswith("worktree ")]


def fake_build(tree: Path, out: Path) -> None:
    """A build whose model file holds its cost; the manifest by the product's writer."""
    from qatbench.qat.artifacts import ModelBuild, VariantArtifact

    folder = out / "net"
    folder.mkdir(parents=True)
    model = folder / "float32.tflite"
    model.write_text((tree / "work.txt").read_text())
    ModelBuild("net", "random", None, "", {"float32": VariantArtifact(
        "float32", str(model), model.stat().st_size)}).save(folder)


def noisy_timer(sigma: float) -> Callable[[str, Path, Path], float]:
    """The model's cost times log-normal noise seeded by the measurement's folder
    (``zlib.crc32``: the same on every run, unlike ``hash``)."""

    def time_once(side: str, model: Path, work: Path) -> float:
        rng = np.random.default_rng(zlib.crc32(str(work.name).encode()))
        return float(model.read_text()) * float(np.exp(rng.normal(0, sigma)))

    return time_once


SETTINGS = AbSettings(target="cpu-ref", pairs=4, max_pairs=8, threshold=0.02)

HANGING_BISECT = """
import sys, time
from pathlib import Path
from qatbench.bench.orchestration.ab import AbSettings
from qatbench.bench.orchestration.bisect import bisect

def build(tree, out):
    print("building", flush=True)
    time.sleep(600)

bisect(Path(sys.argv[1]), sys.argv[2], sys.argv[3], build, AbSettings(target="cpu-ref"),
       lambda side, model, work: 1.0, Path(sys.argv[4]))
"""


def test_a_killed_bisection_leaves_no_worktree_once_the_next_one_starts(
        tmp_path: Path) -> None:
    """SIGKILL runs no cleanup: the worktree stays registered (git refuses to check that
    revision out elsewhere) until the next bisection of the repository removes it."""
    repo, shas = repository(tmp_path, ["10", "10", "20"])
    script = tmp_path / "hang.py"
    script.write_text(HANGING_BISECT)
    process = subprocess.Popen([sys.executable, str(script), str(repo), shas[0], shas[-1],
                                str(tmp_path / "killed")], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None and process.stdout.readline() == "building\n"
        assert len(worktrees(repo)) == 2  # the probe's worktree is registered
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert len(worktrees(repo)) == 2  # what the sweep found: left behind
    result = bisect(repo, shas[0], shas[-1], fake_build, SETTINGS, noisy_timer(0.003),
                    tmp_path / "next")
    assert result.culprit is not None and result.culprit.commit == shas[2]
    assert worktrees(repo) == [str(repo)]
    assert not (tmp_path / "killed" / "trees" / shas[-1][:12]).exists()


def test_a_running_bisection_keeps_its_worktrees_when_another_starts(tmp_path: Path) -> None:
    from qatbench.bench.orchestration.bisect import OWNER_FILE, remove_abandoned_worktrees

    repo, shas = repository(tmp_path, ["10", "20"])
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        work = tmp_path / "other"
        (work / "trees").mkdir(parents=True)
        (work / OWNER_FILE).write_text(f"{alive.pid}\n")
        git(repo, "worktree", "add", "--detach", str(work / "trees" / "x"), shas[0])
        assert remove_abandoned_worktrees(repo) == []
        assert len(worktrees(repo)) == 2
    finally:
        alive.kill()
        alive.wait()
    assert remove_abandoned_worktrees(repo) == [work / "trees" / "x"]
    assert worktrees(repo) == [str(repo)]


@pytest.mark.parametrize("stop", ["build-fails", "interrupt"])
def test_a_bisection_stopped_in_a_build_removes_its_worktree(
        tmp_path: Path, stop: str) -> None:
    """A revision that does not build is named (exit 2 from the CLI); Ctrl-C (and SIGTERM,
    which the CLI turns into one) leaves through the worktree's cleanup too."""
    repo, shas = repository(tmp_path, ["10", "10", "20"])

    def build(tree: Path, out: Path) -> None:
        if stop == "interrupt":
            raise KeyboardInterrupt
        raise BisectError(f"building {tree.name} failed (exit 1):\nSyntaxError")

    expected = KeyboardInterrupt if stop == "interrupt" else BisectError
    with pytest.raises(expected) as raised:
        bisect(repo, shas[0], shas[-1], build, SETTINGS, noisy_timer(0.003), tmp_path / "w")
    if stop == "build-fails":
        assert shas[0][:12] in str(raised.value) and "SyntaxError" in str(raised.value)
    assert worktrees(repo) == [str(repo)]


def test_bad_unknown_at_the_cap_names_no_culprit(tmp_path: Path) -> None:
    """BAD 1% slower than GOOD under 30% noise: UNKNOWN after doubling to the cap, and
    the bisection says so instead of guessing."""
    repo, shas = repository(tmp_path, ["100", "100", "101"])
    calls = []
    timer = noisy_timer(0.3)

    def counted(side: str, model: Path, work: Path) -> float:
        calls.append(work)
        return timer(side, model, work)

    started = time.monotonic()
    result = bisect(repo, shas[0], shas[-1], fake_build, SETTINGS, counted, tmp_path / "w")
    assert result.culprit is None
    assert "UNKNOWN" in result.stopped and "max-pairs" in result.stopped
    (probe,) = result.probes  # BAD only: nothing is bisected on an undecided end
    assert probe.commit == shas[-1] and probe.verdict == "unknown"
    assert probe.pairs == SETTINGS.max_pairs == len(calls) // 2
    assert time.monotonic() - started < 120
    assert worktrees(repo) == [str(repo)]



def test_a_cache_entry_whose_manifest_was_edited_consistently_is_rebuilt(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Its digests match (entry.json was redone too), its manifest is not one a build
    wrote: it is removed and built again -- never a crash after the build (exit 70)."""
    import json

    from qatbench.bench.orchestration import runner
    from qatbench.bench.orchestration.config import build_config
    from qatbench.qat.artifacts import ModelBuild, VariantArtifact

    config = build_config({"run": {"models": ["digits_cnn"], "variants": ["float32"]}})
    out = tmp_path / "run" / "artifacts" / "digits_cnn"
    request = runner.build_request(config, "digits_cnn", ["float32"], out)
    key = build_key("digits_cnn", request.variants, request.budget, request.source,
                    request.imagenet_dir)
    tampered = tmp_path / "tampered"
    tampered.mkdir()
    (tampered / "manifest.json").write_text(json.dumps({"model": "digits_cnn",
                                                        "variants": 5}))
    cache = BuildCache(tmp_path / "cache")
    cache.store(key, tampered)  # the store digests it: every check of lookup passes
    assert cache.lookup(key.key) is not None
    built = []

    def build_in_child(request, timeout):
        folder = Path(request.out_dir)
        (folder / "float32.tflite").write_bytes(b"TFL3 rebuilt")
        built.append(request.model)
        return ModelBuild("digits_cnn", "trained", None, "", {"float32": VariantArtifact(
            "float32", str(folder / "float32.tflite"), 12)})

    monkeypatch.setattr(runner, "build_in_child", build_in_child)
    result = runner.obtain_build(config, "digits_cnn", ["float32"], out, cache)
    assert built == ["digits_cnn"] and result.cache == "built"
    entry = cache.lookup(key.key)
    assert entry is not None
    stored = json.loads((entry / "manifest.json").read_text())
    assert stored["variants"]["float32"]["size_bytes"] == 12  # the rebuilt one
