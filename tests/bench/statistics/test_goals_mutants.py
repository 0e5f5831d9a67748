"""The one line that states a run's goals (``Goals.describe``: the tune and what-to-ship
reports print it), in process: `nox -s mutation` found no test telling a preference the
user chose from the default one. Expectations written out by hand."""

from __future__ import annotations

from qatbench.bench.statistics.goals import Goals


def test_the_goals_line_says_which_choices_are_defaults_and_which_the_users() -> None:
    assert Goals().describe() == ("no measurable top-1 drop against float32 (McNemar, the "
                                  "default); prefer = latency (the default)")
    assert Goals(max_top1_drop=1, max_size_mb=4, prefer="size").describe() == (
        "max_top1_drop = 1; max_size_mb = 4; prefer = size")
    # latency chosen explicitly is the user's choice, though it equals the default
    assert Goals(prefer="latency").describe().endswith("; prefer = latency")
