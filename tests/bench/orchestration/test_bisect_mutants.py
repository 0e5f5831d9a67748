"""`qatbench bisect`'s promises that `nox -s mutation` found no fast test holding: which
commits are bisected (first-parent history, GOOD and BAD adjacent), what a refused
revision's error names, which abandoned worktrees are removed, what each probe records
(its subject, change, pairs and series), when two builds count as the same bytes, and
the progress it reports. Throwaway git repositories; the 'model file' holds the work its
model does (``test_bisect.fake_build``), so every verdict is known beforehand."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from qatbench.bench.orchestration import ab
from qatbench.bench.orchestration.ab import AbSettings
from qatbench.bench.orchestration.bisect import (
    OWNER_FILE,
    BisectError,
    bisect,
    commits_between,
    remove_abandoned_worktrees,
)
from tests.bench.orchestration.test_bisect import (
    SETTINGS,
    fake_build,
    git,
    repository,
    work_timer,
)


def _worktrees(repo: Path) -> list[str]:
    return [line.removeprefix("worktree ") for line in git(
        repo, "worktree", "list", "--porcelain").splitlines() if line.startswith("worktree ")]


# -- which commits, and what a refused revision names -------------------------------------


def test_only_the_first_parent_history_is_bisected(tmp_path: Path) -> None:
    """A merged branch's own commits are not probes: the merge is (README's 'first-parent
    history'; a side commit can be older than the merge base's successors)."""
    repo, (good, main_2) = repository(tmp_path, [{"work.txt": "10"}, {"README": "main"}])
    git(repo, "checkout", "-q", "-b", "side", good)
    (repo / "side.txt").write_text("side")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "side work")
    git(repo, "checkout", "-q", "main")
    git(repo, "merge", "-q", "--no-ff", "-m", "merge side", "side")
    merge = git(repo, "rev-parse", "HEAD")
    assert commits_between(repo, good, merge) == [good, main_2, merge]


def test_a_revision_git_cannot_resolve_is_named_with_what_git_said(tmp_path: Path) -> None:
    repo, shas = repository(tmp_path, [{"work.txt": "10"}, {"work.txt": "20"}])
    with pytest.raises(BisectError) as refused:
        commits_between(repo, "no-such-tag", shas[1])
    assert "no-such-tag" in str(refused.value) and "fatal:" in str(refused.value)


@pytest.mark.parametrize("side", ["good", "bad"])
def test_a_range_is_refused_as_not_one_revision(tmp_path: Path, side: str) -> None:
    """``--good A..B`` is not a revision: refused as such, not reported as an ancestry
    problem of whatever ``rev-parse A..B`` prints."""
    repo, shas = repository(tmp_path, [{"work.txt": "10"}, {"README": "a"},
                                       {"work.txt": "20"}])
    span = f"{shas[0]}..{shas[1]}"
    good, bad = (span, shas[2]) if side == "good" else (shas[0], span)
    with pytest.raises(BisectError) as refused:
        commits_between(repo, good, bad)
    assert "single revision" in str(refused.value) and span in str(refused.value)
    assert "not an ancestor" not in str(refused.value)


def test_good_and_bad_the_same_commit_is_refused_naming_both(tmp_path: Path) -> None:
    repo, shas = repository(tmp_path, [{"work.txt": "10"}])
    with pytest.raises(BisectError) as refused:
        bisect(repo, "main", shas[0], fake_build, SETTINGS, work_timer, tmp_path / "w")
    assert "--good main" in str(refused.value) and f"--bad {shas[0]}" in str(refused.value)


@pytest.mark.parametrize("out", ["new/nested/folder", "existing"])
def test_bad_right_after_good_is_the_culprit_when_slower(tmp_path: Path, out: str) -> None:
    """Nothing between GOOD and BAD: BAD is the culprit. The working folder may be a new
    nested folder or one that exists already (``--out`` made beforehand)."""
    repo, shas = repository(tmp_path, [{"work.txt": "10"}, {"work.txt": "20"}])
    (tmp_path / "existing").mkdir()
    result = bisect(repo, shas[0], shas[1], fake_build, SETTINGS, work_timer, tmp_path / out)
    assert result.stopped == "found"
    assert result.culprit is not None and result.culprit.commit == shas[1]
    assert (tmp_path / out / OWNER_FILE).read_text() == f"{os.getpid()}\n"


# -- a bisection's record: each probe, the progress -------------------------------------


@pytest.fixture
def same_bytes_bisection(tmp_path: Path):
    """GOOD 10, a README-only commit (GOOD's bytes), BAD 20; the progress recorded. Run
    per test: mutmut runs, for a mutant, only the tests that called its function, and a
    module-scoped bisection is called in the first test's set-up alone."""
    repo, shas = repository(tmp_path, [{"work.txt": "10"}, {"README": "docs"},
                                       {"work.txt": "20"}])
    status: list[str] = []
    result = bisect(repo, shas[0], shas[-1], fake_build, SETTINGS, work_timer,
                    tmp_path / "w", status.append)
    return shas, result, status


def test_a_probe_with_goods_bytes_is_recorded_untimed_under_its_own_subject(
        same_bytes_bisection) -> None:
    shas, result, _ = same_bytes_bisection
    assert result.culprit is not None and result.culprit.commit == shas[2]
    same = next(p for p in result.probes if p.commit == shas[1])
    assert same.subject == "commit 2  [same model bytes as GOOD: not timed]"
    assert (same.verdict, same.change, same.pairs, same.series) == ("not slower", 0.0, 0, [])


def test_the_progress_names_each_commit_as_it_is_timed_and_built_goods_once(
        same_bytes_bisection) -> None:
    shas, _, status = same_bytes_bisection
    good, middle, bad = (sha[:9] for sha in shas)
    assert status == [f"timing {bad} against GOOD", f"building {good}", f"building {bad}",
                      f"timing {middle} against GOOD", f"building {middle}"]


def test_bad_not_slower_keeps_its_probe(tmp_path: Path) -> None:
    repo, shas = repository(tmp_path, [{"work.txt": "10"}, {"README": "docs"}])
    result = bisect(repo, shas[0], shas[1], fake_build, SETTINGS, work_timer, tmp_path / "w")
    assert result.culprit is None
    assert [(p.commit, p.verdict) for p in result.probes] == [(shas[1], "not slower")]


def two_variant_build(tree: Path, out: Path) -> None:
    """``net/float32`` holds work.txt's work, ``net/qat_int8`` int8.txt's."""
    from qatbench.qat.artifacts import ModelBuild, VariantArtifact

    folder = out / "net"
    folder.mkdir(parents=True)
    variants = {}
    for variant, source in (("float32", "work.txt"), ("qat_int8", "int8.txt")):
        model = folder / f"{variant}.tflite"
        model.write_text((tree / source).read_text())
        variants[variant] = VariantArtifact(variant, str(model), model.stat().st_size)
    ModelBuild("net", "random", None, "", variants).save(folder)


def test_a_probe_reports_its_worst_series_and_keeps_every_series(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """BAD adds half to the int8 model's work; the float model takes 1 s a measurement against
    a 1.5 s budget (a fake clock), so it stops after two pairs with no figure. The probe's
    change is the int8 model's +50% (the culprit line prints it), not the float one's
    missing figure, and the probe keeps both series' outcomes and counts both's pairs."""
    repo, shas = repository(tmp_path, [{"work.txt": "10", "int8.txt": "10"},
                                       {"int8.txt": "15"}])
    now = [0.0]
    monkeypatch.setattr(ab, "time", types.SimpleNamespace(monotonic=lambda: now[0],
                                                          time=lambda: now[0]))

    def timer(side: str, model: Path, work: Path) -> float:
        if model.name == "float32.tflite":
            now[0] += 1.0
        return work_timer(side, model, work)

    settings = AbSettings(target="cpu-ref", pairs=4, max_pairs=16, budget_s=1.5)
    result = bisect(repo, shas[0], shas[1], two_variant_build, settings, timer,
                    tmp_path / "w")
    (probe,) = result.probes
    assert [(o.series.name, o.stopped) for o in probe.series] == [
        ("net/float32", "time budget"), ("net/qat_int8", "decided")]
    assert probe.series[0].decision.change is None
    assert probe.verdict == "slower" and 0.45 < probe.change < 0.55
    assert probe.pairs == 2 + len(probe.series[1].pairs)


def test_builds_of_equal_size_and_time_with_different_bytes_are_timed(tmp_path: Path) -> None:
    """Two builds whose files have one size and one modification time (a tar archive
    keeps whole seconds; a cache copy keeps the original's) but different bytes are
    different models: compared by content, BAD is timed and found slower."""
    repo, shas = repository(tmp_path, [{"work.txt": "10"}, {"work.txt": "20"}])

    def build(tree: Path, out: Path) -> None:
        fake_build(tree, out)
        os.utime(out / "net" / "float32.tflite", (1_700_000_000, 1_700_000_000))

    result = bisect(repo, shas[0], shas[1], build, SETTINGS, work_timer, tmp_path / "w")
    assert [(p.commit, p.verdict) for p in result.probes] == [(shas[1], "slower")]


# -- abandoned worktrees ---------------------------------------------------------------------


def _abandoned(repo: Path, work: Path, owner: int, revision: str) -> Path:
    """A bisection's worktree as ``bisect`` registers it, owned by process ``owner``."""
    (work / "trees").mkdir(parents=True)
    (work / OWNER_FILE).write_text(f"{owner}\n")
    git(repo, "worktree", "add", "--detach", str(work / "trees" / "t"), revision)
    return work / "trees" / "t"


def _gone_pid() -> int:
    """The id of a process that has ended (a bisection killed outright)."""
    finished = subprocess.Popen([sys.executable, "-c", ""])
    finished.wait()
    return finished.pid


def test_a_running_bisection_does_not_stop_the_removal_of_dead_ones(tmp_path: Path) -> None:
    """The worktree of a running bisection (listed first) is kept; a killed one's after it
    is removed."""
    repo, shas = repository(tmp_path, [{"work.txt": "10"}, {"work.txt": "20"}])
    alive = _abandoned(repo, tmp_path / "a-running", os.getppid(), shas[0])
    dead = _abandoned(repo, tmp_path / "b-killed", _gone_pid(), shas[1])
    assert remove_abandoned_worktrees(repo) == [dead]
    assert _worktrees(repo) == [str(repo), str(alive)]


def test_a_bisection_of_another_user_is_alive(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Signalling another user's process is refused (EPERM): it runs, and its worktrees
    are kept (root, as here, never sees EPERM: the refusal is simulated)."""
    repo, shas = repository(tmp_path, [{"work.txt": "10"}])
    theirs = _abandoned(repo, tmp_path / "theirs", 4_000_000, shas[0])
    real_kill = os.kill

    def kill(pid: int, signum: int) -> None:
        if pid == 4_000_000 and signum == 0:
            raise PermissionError(1, "Operation not permitted")
        real_kill(pid, signum)

    monkeypatch.setattr(os, "kill", kill)
    assert remove_abandoned_worktrees(repo) == []
    assert _worktrees(repo) == [str(repo), str(theirs)]


def test_the_registration_of_a_deleted_bisection_folder_is_pruned(tmp_path: Path) -> None:
    """A bisection folder deleted outright (owner file and worktrees with it) leaves
    registrations pointing nowhere: they are pruned."""
    import shutil

    repo, shas = repository(tmp_path, [{"work.txt": "10"}])
    _abandoned(repo, tmp_path / "deleted", _gone_pid(), shas[0])
    shutil.rmtree(tmp_path / "deleted")
    assert len(_worktrees(repo)) == 2
    assert remove_abandoned_worktrees(repo) == []
    assert _worktrees(repo) == [str(repo)]
