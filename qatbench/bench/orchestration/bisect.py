"""``qatbench bisect --good REV --bad REV``: the first commit that made a model slower.

Each probed revision of the user's repository is checked out in its own git worktree and
built there (``qatbench build`` with the revision's own config, through the build cache:
a commit that did not touch the model, its data or its recipe costs a cache hit), then
timed against GOOD's build with the interleaved A/B (``orchestration/ab.py``) on this
host. Binary search over the commits between GOOD and BAD (first-parent history): a
probe that fails the A/B gate against GOOD (a series SLOWER: the one exit rule of
``compare`` and ``ab``, ``checks.gate_exit_code``, on the same pairs) moves the upper
end, one that passes it the lower end. An UNKNOWN probe (one that would fail only with
``--fail-on-unknown``) gets more pairs (up to the A/B cap); still UNKNOWN, the bisection
stops and says so -- it never guesses.

Its worktrees are removed when a probe ends, on Ctrl-C and SIGTERM (the CLI turns SIGTERM
into an interrupt); a SIGKILL runs no cleanup, so the next bisection of the repository
removes the worktrees a dead one left (``remove_abandoned_worktrees``).
"""

from __future__ import annotations

import contextlib
import filecmp
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from qatbench.bench.orchestration.ab import (
    AbSettings,
    SeriesOutcome,
    Timer,
    comparison_pairs,
    pair_series,
    run_series,
    verdict_frame,
)
from qatbench.bench.statistics.checks import Pair, gate_exit_code
from qatbench.errors import UserError


class BisectError(UserError, RuntimeError):
    """The bisection cannot go on (a revision that does not build, BAD not slower, ...)."""


def git(repo: Path, *args: str) -> str:
    result = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise BisectError(f"git {' '.join(args)}: {result.stderr.strip() or result.stdout}")
    return result.stdout.strip()


def commits_between(repo: Path, good: str, bad: str) -> list[str]:
    """GOOD, the first-parent commits after it, up to BAD (full hashes, oldest first)."""
    good_sha = git(repo, "rev-parse", "--verify", f"{good}^{{commit}}")
    bad_sha = git(repo, "rev-parse", "--verify", f"{bad}^{{commit}}")
    check = subprocess.run(["git", "-C", str(repo), "merge-base", "--is-ancestor", good_sha,
                            bad_sha])
    if check.returncode != 0:
        raise BisectError(f"--good {good} is not an ancestor of --bad {bad}")
    between = git(repo, "rev-list", "--first-parent", "--reverse", f"{good_sha}..{bad_sha}")
    return [good_sha, *between.split()]


# in a bisection's working folder, with its process id: the worktrees under its trees/
# belong to that bisection, and once that process is gone (killed) to nobody
OWNER_FILE = ".qatbench-bisect"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_abandoned_worktrees(repo: Path) -> list[Path]:
    """The worktrees a killed bisection left registered in ``repo`` (a folder whose
    owner file names a process that is gone) removed, then ``git worktree prune``; the
    paths removed. A running bisection's worktrees are left alone."""
    removed = []
    listing = git(repo, "worktree", "list", "--porcelain")
    for line in listing.splitlines():
        if not line.startswith("worktree "):
            continue
        path = Path(line.removeprefix("worktree "))
        owner = path.parent.parent / OWNER_FILE
        try:
            pid = int(owner.read_text().strip())
        except (OSError, ValueError):
            continue
        if pid != os.getpid() and _alive(pid):
            continue
        subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(path)],
                       capture_output=True)
        removed.append(path)
    subprocess.run(["git", "-C", str(repo), "worktree", "prune"], capture_output=True)
    return removed


@contextlib.contextmanager
def worktree(repo: Path, revision: str, where: Path) -> Iterator[Path]:
    git(repo, "worktree", "add", "--detach", "--force", str(where), revision)
    try:
        yield where
    finally:
        subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(where)],
                       capture_output=True)


Builder = Callable[[Path, Path], None]  # (checked-out tree, artifacts out) -> built


def qatbench_builder(config: str, extra: list[str] | None = None) -> Builder:
    """Build with this qatbench, in the checked-out tree, with the tree's own config."""

    def build(tree: Path, out: Path) -> None:
        result = subprocess.run([sys.executable, "-m", "qatbench", "build", "--config",
                                 str(tree / config), "--out", str(out), *(extra or [])],
                                cwd=tree, capture_output=True, text=True)
        if result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-8:])
            raise BisectError(f"building {tree.name} failed (exit {result.returncode}):\n"
                              f"{tail}")

    return build


def probe_verdict(pairs: list[Pair], settings: AbSettings) -> str:
    """A probe's side of the bisection from its pairs against GOOD, by the gate's one
    exit rule: "slower" if the A/B gate fails, "unknown" if it fails only when an
    undecided series fails it too, else "not slower"."""
    if gate_exit_code(verdict_frame(pairs, settings)):
        return "slower"
    if gate_exit_code(verdict_frame(pairs, settings, fail_on_unknown=True)):
        return "unknown"
    return "not slower"


@dataclass
class Probe:
    commit: str
    subject: str
    verdict: str
    change: float | None
    pairs: int
    series: list[SeriesOutcome] = field(default_factory=list)


@dataclass
class BisectResult:
    culprit: Probe | None
    probes: list[Probe]
    stopped: str  # "found", or why it could not finish


def bisect(repo: Path, good: str, bad: str, builder: Builder, settings: AbSettings,
           timer: Timer, work: Path, on_status: Callable[[str], None] | None = None
           ) -> BisectResult:
    commits = commits_between(repo, good, bad)
    if len(commits) < 2:
        raise BisectError(f"nothing between --good {good} and --bad {bad}")
    remove_abandoned_worktrees(repo)  # a bisection killed before (SIGKILL runs no finally)
    work.mkdir(parents=True, exist_ok=True)
    (work / OWNER_FILE).write_text(f"{os.getpid()}\n")
    built: dict[str, Path] = {}

    def artifacts(commit: str) -> Path:
        if commit not in built:
            if on_status:
                on_status(f"building {commit[:9]}")
            out = work / "artifacts" / commit[:12]
            with worktree(repo, commit, work / "trees" / commit[:12]) as tree:
                builder(tree, out)
            built[commit] = out
        return built[commit]

    probes: list[Probe] = []

    def probe(commit: str) -> Probe:
        if on_status:
            on_status(f"timing {commit[:9]} against GOOD")
        base, current = artifacts(commits[0]), artifacts(commit)
        series = pair_series(base, current)
        if all(filecmp.cmp(one.base, one.current, shallow=False) for one in series):
            # the same bytes as GOOD's (the build cache gave the same key): nothing to time
            same = Probe(commit, git(repo, "log", "-1", "--format=%s", commit),
                         "not slower", 0.0, 0, [])
            same.subject += "  [same model bytes as GOOD: not timed]"
            probes.append(same)
            return same
        outcomes = [run_series(one, settings, timer, work / "ab" / commit[:12] /
                               one.name.replace("/", "-")) for one in series]
        verdict = probe_verdict(comparison_pairs(outcomes, settings), settings)
        worst = max(outcomes, key=lambda o: o.decision.change or 0.0)
        found = Probe(commit, git(repo, "log", "-1", "--format=%s", commit), verdict,
                      worst.decision.change, sum(o.decision.pairs for o in outcomes),
                      outcomes)
        probes.append(found)
        return found

    last = probe(commits[-1])
    if last.verdict == "unknown":
        return BisectResult(None, probes, "BAD is UNKNOWN against GOOD even at the pair "
                                          "cap: raise --max-pairs, or the change is below "
                                          "the threshold")
    if last.verdict != "slower":
        return BisectResult(None, probes, f"BAD {bad} is not SLOWER than GOOD {good} here")
    low, high = 0, len(commits) - 1  # low: not slower (GOOD); high: slower
    while high - low > 1:
        middle = (low + high) // 2
        found = probe(commits[middle])
        if found.verdict == "unknown":
            return BisectResult(None, probes, f"{commits[middle][:9]} is UNKNOWN against "
                                              "GOOD at the pair cap: no guess; raise "
                                              "--max-pairs or --budget")
        if found.verdict == "slower":
            high = middle
        else:
            low = middle
    culprit = next(p for p in probes if p.commit == commits[high])
    return BisectResult(culprit, probes, "found")
