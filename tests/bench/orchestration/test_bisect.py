"""Bisect names the first commit whose model is SLOWER, on a throwaway git repository."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pytest

from qatbench.bench.orchestration.ab import AbSettings
from qatbench.bench.orchestration.bisect import BisectError, bisect


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def repository(tmp_path: Path, files_per_commit: list[dict[str, str]]) -> tuple[Path, list[str]]:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "lab@example.com")
    git(repo, "config", "user.name", "Lab")
    shas = []
    for index, files in enumerate(files_per_commit):
        for name, text in files.items():
            (repo / name).write_text(text)
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", f"commit {index + 1}")
        shas.append(git(repo, "rev-parse", "HEAD"))
    return repo, shas


def fake_build(tree: Path, out: Path) -> None:
    """A build whose 'model file' holds the work its model does; its manifest written by
    the product's own ``ModelBuild``."""
    from qatbench.qat.artifacts import ModelBuild, VariantArtifact

    folder = out / "net"
    folder.mkdir(parents=True)
    model = folder / "float32.tflite"
    model.write_text((tree / "work.txt").read_text())
    ModelBuild("net", "random", None, "", {"float32": VariantArtifact(
        "float32", str(model), model.stat().st_size)}).save(folder)


def work_timer(side: str, model: Path, work: Path) -> float:
    """The model's work with 0.3% noise seeded by the pair's work directory: the same in
    every process (``zlib.crc32``; ``hash`` of a str is salted per process)."""
    units = float(model.read_text())
    seed = zlib.crc32(f"{work.parent.name}/{work.name}".encode())  # series, pair, side
    return units * float(np.exp(np.random.default_rng(seed).normal(0, 0.003)))


SETTINGS = AbSettings(target="cpu-ref", pairs=4, max_pairs=16, threshold=0.02)


def test_the_third_commit_that_doubles_the_work_is_named(tmp_path: Path) -> None:
    history = [{"work.txt": "10", "README": "a"}, {"README": "b"}, {"work.txt": "20"},
               {"README": "c"}, {"README": "d"}, {"README": "e"}]
    repo, shas = repository(tmp_path, history)
    result = bisect(repo, shas[0], shas[-1], fake_build, SETTINGS, work_timer,
                    tmp_path / "work")
    assert result.stopped == "found"
    assert result.culprit is not None and result.culprit.commit == shas[2]
    assert result.culprit.subject == "commit 3"
    assert 0.9 < result.culprit.change < 1.1  # twice the work
    # binary search: BAD first (slower), then the middle of 0..5 (commit 3: slower), then
    # of 0..2 (commit 2: not slower) -- and it stops, commit 3 named
    assert [(p.commit, p.verdict) for p in result.probes] == [
        (shas[5], "slower"), (shas[2], "slower"), (shas[1], "not slower")]
    assert git(repo, "worktree", "list").count("\n") == 0  # worktrees cleaned up


def test_bad_that_is_not_slower_names_no_culprit(tmp_path: Path) -> None:
    repo, shas = repository(tmp_path, [{"work.txt": "10"}, {"README": "x"},
                                       {"README": "y"}])
    result = bisect(repo, shas[0], shas[-1], fake_build, SETTINGS, work_timer,
                    tmp_path / "work")
    assert result.culprit is None and "not SLOWER" in result.stopped


def test_a_commit_with_the_same_model_bytes_is_not_timed(tmp_path: Path) -> None:
    repo, shas = repository(tmp_path, [{"work.txt": "10"}, {"README": "x"},
                                       {"work.txt": "30"}])
    calls: list[str] = []

    def timer(side: str, model: Path, work: Path) -> float:
        calls.append(str(model))
        return work_timer(side, model, work)

    result = bisect(repo, shas[0], shas[-1], fake_build, SETTINGS, timer, tmp_path / "w")
    assert result.culprit is not None and result.culprit.commit == shas[2]
    middle = next(p for p in result.probes if p.commit == shas[1])
    assert middle.pairs == 0 and "not timed" in middle.subject
    assert not any(shas[1][:12] in call for call in calls)


def test_unknown_probes_get_more_pairs_and_never_a_guess(tmp_path: Path) -> None:
    repo, shas = repository(tmp_path, [{"work.txt": "10"}, {"work.txt": "10.2"},
                                       {"work.txt": "20"}])
    noisy = iter(np.exp(np.random.default_rng(5).normal(0, 0.08, 10_000)))

    def timer(side: str, model: Path, work: Path) -> float:
        return float(model.read_text()) * float(next(noisy))

    result = bisect(repo, shas[0], shas[-1], fake_build, SETTINGS, timer, tmp_path / "w")
    # +2% at the 2% threshold under 8% noise per figure: 16 pairs cannot tell (the
    # noise is a fixed sequence: the branch is always this one)
    assert [(p.commit, p.verdict) for p in result.probes] == [
        (shas[2], "slower"), (shas[1], "unknown")]
    middle = result.probes[1]
    assert middle.pairs == SETTINGS.max_pairs  # doubled to the cap first: 4, 8, 16
    assert result.culprit is None and "no guess" in result.stopped


def test_good_must_come_before_bad(tmp_path: Path) -> None:
    repo, shas = repository(tmp_path, [{"work.txt": "10"}, {"work.txt": "20"}])
    with pytest.raises(BisectError, match="not an ancestor"):
        bisect(repo, shas[1], shas[0], fake_build, SETTINGS, work_timer, tmp_path / "w")


MODEL = '''
import tf_keras as keras


def net():
    inputs = keras.Input((8, 8, 1), name="image")
    x = inputs
    for _ in range({layers}):
        x = keras.layers.Conv2D({filters}, 3, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(10)(x), name="net")
'''

CONFIG = '''
[run]
variants = ["float32"]
targets = ["cpu-ref"]
[models.net]
build = "model.py:net"
'''


@pytest.mark.slow
def test_qatbench_bisect_finds_the_commit_that_made_the_model_larger(tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    small = textwrap.dedent(MODEL.format(layers=1, filters=4))
    large = textwrap.dedent(MODEL.format(layers=3, filters=48))
    history = [{"model.py": small, "qatbench.toml": CONFIG}, {"README": "docs"},
               {"model.py": large}, {"README": "more docs"}, {"README": "even more"}]
    repo, shas = repository(tmp_path, history)
    result = subprocess.run(
        [sys.executable, "-m", "qatbench", "bisect", "--good", shas[0], "--bad", shas[-1],
         "--repo", str(repo), "--target", "cpu-ref", "--max-pairs", "8", "--min-secs",
         "0.05", "--out", str(tmp_path / "bisect")],
        capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    printed = " ".join(result.stdout.split())
    assert f"first SLOWER commit: {shas[2]} commit 3" in printed
    assert "same model bytes as GOOD: not timed" in printed  # commit 2: a cache hit
