"""`qatbench ab`'s promises that `nox -s mutation` found no fast test holding: the
instruction ratio (CURRENT / BASE instructions per inference, the median over the pairs:
hand-made pairs, hand-computed medians), the exit code and the verdict table; what BASE
and CURRENT may be (the two build archives of CI's pull-request A/B, build folders, one
file each) and which of their files are paired; what each pair written to ``ab.parquet``
holds; and how a series stops (decided, doubled to its cap, out of its time budget)."""

from __future__ import annotations

import json
import tarfile
import time
import types
from pathlib import Path

import numpy as np
import pytest

from qatbench.bench.orchestration import ab
from qatbench.bench.orchestration.ab import (
    AbInputError,
    AbSettings,
    Series,
    instructions_of,
    pair_series,
    run_series,
)
from qatbench.qat.artifacts import MANIFEST, ModelBuild, VariantArtifact


def test_the_ratio_is_the_median_of_the_pairs_that_counted_both_sides() -> None:
    pairs = [{"a_instructions": 100.0, "b_instructions": 300.0},   # 3.0
             {"a_instructions": 200.0, "b_instructions": 400.0},   # 2.0
             {"a_instructions": 100.0, "b_instructions": 500.0},   # 5.0
             {"a_instructions": 100.0, "b_instructions": 150.0},   # 1.5
             {"a_instructions": None, "b_instructions": 900.0},    # A not counted
             {"a_instructions": 100.0, "b_instructions": 0},       # B not counted
             {"instructions_note": "perf: no permission"}]
    ratio, note = instructions_of(pairs)
    assert ratio == pytest.approx(2.5)  # median of 1.5, 2.0, 3.0, 5.0
    assert note == "median of 4 pairs"


def test_without_a_counted_pair_the_reasons_are_named_once_each_in_order() -> None:
    pairs = [{"a_instructions": None, "b_instructions": None,
              "instructions_note": "perf not installed"},
             {"instructions_note": "no cycle counter in this VM"},
             {"instructions_note": "perf not installed"},
             {"instructions_note": ""}]
    assert instructions_of(pairs) == (None, "no cycle counter in this VM; perf not installed")
    assert instructions_of([{}, {"a_instructions": 5}]) == (None, "instructions not counted")
    assert instructions_of([]) == (None, "instructions not counted")


def _outcome(base_ms: list[float], current_ms: list[float], name: str = "m/qat_int8"):
    from qatbench.bench.orchestration.ab import SeriesOutcome
    from qatbench.bench.statistics.paired import decide_paired

    decision = decide_paired(np.array(base_ms), np.array(current_ms), threshold=0.02)
    pairs = [{"pair": i, "a_ms": a, "b_ms": b, "a_instructions": 100.0,
              "b_instructions": 150.0} for i, (a, b) in enumerate(zip(base_ms, current_ms,
                                                                        strict=True))]
    return SeriesOutcome(Series(name, Path("/b.tflite"), Path("/c.tflite")), decision,
                         pairs, 12.5, "decided")


def test_the_exit_code_fails_on_slower_and_on_unknown_only_when_asked() -> None:
    """`qatbench ab` exits 1 when any series is slower; an undecided series fails it only
    with --fail-on-unknown; faster and same never do."""
    from qatbench.bench.orchestration.ab import outcome_frame
    from qatbench.bench.statistics.checks import gate_exit_code

    slower = _outcome([1.0, 1.0, 1.0, 1.0], [1.10, 1.11, 1.09, 1.10])
    faster = _outcome([1.10, 1.11, 1.09, 1.10], [1.0, 1.0, 1.0, 1.0])
    same = _outcome([1.0, 1.0, 1.0, 1.0], [1.001, 0.999, 1.0, 1.0005])
    unknown = _outcome([1.0, 1.0], [1.5, 1.5])  # two pairs: too few to decide
    assert [str(o.decision.verdict) for o in (slower, faster, same, unknown)] == [
        "slower", "faster", "same", "unknown"]

    def code(outcomes: list, fail_on_unknown: bool) -> int:
        return gate_exit_code(outcome_frame(outcomes, AbSettings(), fail_on_unknown))

    assert code([faster, slower], fail_on_unknown=False) == 1
    assert code([faster, same], fail_on_unknown=True) == 0
    assert code([same, unknown], fail_on_unknown=False) == 0
    assert code([same, unknown], fail_on_unknown=True) == 1


def test_the_verdict_table_holds_one_line_per_series_with_its_figures() -> None:
    from qatbench.bench.orchestration.ab import outcome_frame

    outcome = _outcome([1.0, 1.0, 1.0, 1.0], [1.10, 1.11, 1.09, 1.10], name="a/b")
    frame = outcome_frame([outcome], AbSettings())
    assert len(frame) == 1
    line = frame.iloc[0].to_dict()
    decision = outcome.decision
    expected = {
        "series": "a/b", "verdict": "slower", "change": decision.change,
        "ci_low": decision.ci_low, "ci_high": decision.ci_high, "pairs": 4,
        "stopped": "decided", "seconds": 12.5, "reason": decision.reason,
        "instructions_ratio": 1.5, "instructions_note": "median of 4 pairs",
        "base": "/b.tflite", "current": "/c.tflite"}
    assert {key: line[key] for key in expected} == expected


def test_each_row_is_keyed_by_model_variant_target_and_threads() -> None:
    """``ab_verdicts.parquet``'s key columns: ``model/variant`` split at the slash (a
    file's stem is a model with no variant) on the A/B target and threads, no device."""
    from qatbench.bench.orchestration.ab import outcome_frame

    outcomes = [_outcome([1.0] * 4, [1.1] * 4, name="mobilenet/qat_int8"),
                _outcome([1.0] * 4, [1.1] * 4, name="net")]
    frame = outcome_frame(outcomes, AbSettings(target="cpu-ref", threads=2))
    keys = frame[["model", "variant", "target", "device", "threads"]].to_dict("records")
    assert keys == [
        {"model": "mobilenet", "variant": "qat_int8", "target": "cpu-ref", "device": "",
         "threads": 2},
        {"model": "net", "variant": "", "target": "cpu-ref", "device": "", "threads": 2}]


def test_by_default_an_undecided_series_passes_the_ab_gate() -> None:
    """The A/B gate's default (``outcome_frame``, ``gate_checks``) is not to fail an
    UNKNOWN series: only --fail-on-unknown does."""
    from qatbench.bench.orchestration.ab import comparison_pairs, gate_checks, outcome_frame
    from qatbench.bench.statistics.checks import gate_exit_code, gate_frame

    unknown = _outcome([1.0, 1.0], [1.5, 1.5])  # two pairs: too few to decide
    assert str(unknown.decision.verdict) == "unknown"
    assert gate_exit_code(outcome_frame([unknown], AbSettings())) == 0
    pairs = comparison_pairs([unknown], AbSettings())
    assert gate_exit_code(gate_frame(pairs, gate_checks(AbSettings()))) == 0
    assert gate_exit_code(gate_frame(pairs, gate_checks(AbSettings(), True))) == 1


# -- what BASE and CURRENT may be, and which files are paired ----------------------------


def _build(root: Path, model: str, built: dict[str, bytes],
           not_built: dict[str, VariantArtifact] | None = None,
           stale: dict[str, bytes] | None = None) -> Path:
    """One model's folder as ``qatbench build`` writes it: each built variant's .tflite
    and the manifest (written by the product's own ``ModelBuild``); ``not_built``
    variants are in the manifest with their error, ``stale`` files lie beside them."""
    folder = root / model
    folder.mkdir(parents=True)
    variants = {}
    for variant, data in built.items():
        (folder / f"{variant}.tflite").write_bytes(data)
        variants[variant] = VariantArtifact(variant, str(folder / f"{variant}.tflite"),
                                            len(data))
    variants.update(not_built or {})
    for name, data in (stale or {}).items():
        (folder / name).write_bytes(data)
    ModelBuild(model, "random", None, "", variants).save(folder)
    return folder


def _archive(tmp_path: Path, side: str, payload: bytes, suffix: str) -> Path:
    """A ``qatbench build --archive`` of one target: the folder ``cpu-xnnpack`` (the
    same name on both sides, as CI's two archives of a target) with its index and two
    models, packed as ``<side><suffix>``."""
    out = tmp_path / side / "cpu-xnnpack"
    _build(out, "net", {"float32": b"float " + payload, "qat_int8": b"int8 " + payload})
    _build(out, "tiny", {"float32": b"tiny " + payload})
    (out / "artifacts.json").write_text(json.dumps({"models": {"net": {}, "tiny": {}}}))
    archive = tmp_path / f"{side}{suffix}"
    with tarfile.open(archive, "w:gz") as bundle:
        bundle.add(out, arcname=out.name)
    return archive


@pytest.mark.parametrize("suffix", [".tar.gz", ".tgz"])
def test_two_build_archives_pair_each_model_with_its_own_sides_file(
        tmp_path: Path, suffix: str) -> None:
    """CI's pull-request A/B times ``prebuilt-base/T.tar.gz`` against ``prebuilt/T.tar.gz``:
    each archive is unpacked apart (both hold a folder of one name), and every series
    pairs BASE's bytes with CURRENT's."""
    base = _archive(tmp_path, "base", b"BASE", suffix)
    current = _archive(tmp_path, "current", b"CURRENT", suffix)
    scratch = tmp_path / "ab" / "unpacked"
    series = pair_series(base, current, scratch)
    assert [one.name for one in series] == ["net/float32", "net/qat_int8", "tiny/float32"]
    assert [(one.base.read_bytes(), one.current.read_bytes()) for one in series] == [
        (b"float BASE", b"float CURRENT"), (b"int8 BASE", b"int8 CURRENT"),
        (b"tiny BASE", b"tiny CURRENT")]
    assert all(scratch in one.base.parents and scratch in one.current.parents
               for one in series)  # unpacked where asked, not beside the archive


def test_inputs_that_cannot_be_read_are_refused_naming_the_path(tmp_path: Path) -> None:
    garbage = tmp_path / "base.tar.gz"
    garbage.write_bytes(b"not a gzip stream")
    missing, empty = tmp_path / "no-such-run", tmp_path / "empty"
    empty.mkdir()
    model = tmp_path / "net.tflite"
    model.write_bytes(b"TFL3")
    for base in (garbage, missing, empty):
        with pytest.raises(AbInputError) as refused:
            pair_series(base, model, tmp_path / "scratch")
        assert str(base) in str(refused.value)


def test_a_damaged_manifest_is_refused_naming_it_and_what_is_wrong(tmp_path: Path) -> None:
    folder = _build(tmp_path / "base", "net", {"float32": b"TFL3"})
    (folder / MANIFEST).write_text('{"model": "net", "variants": ')  # cut short
    with pytest.raises(AbInputError) as refused:
        pair_series(tmp_path / "base", tmp_path / "base")
    assert str(folder / MANIFEST) in str(refused.value)
    assert "JSONDecodeError" in str(refused.value)


def test_only_variants_the_build_made_are_paired(tmp_path: Path) -> None:
    """A variant the manifest records as failed is not timed, even with a .tflite of an
    older build beside it, nor one whose file is gone."""
    for side in ("base", "current"):
        _build(tmp_path / side, "net", {"float32": b"TFL3 " + side.encode()}, not_built={
            # written, then refused (path and error both set)
            "qat_int8": VariantArtifact("qat_int8", str(tmp_path / "x.tflite"), 10,
                                        error="the int8 file failed its check"),
            "ptq_int8": VariantArtifact("ptq_int8", None, error="conversion failed"),
            "fp16": VariantArtifact("fp16", str(tmp_path / side / "net" / "fp16.tflite"),
                                    10)},  # recorded, then deleted
            stale={"qat_int8.tflite": b"old", "ptq_int8.tflite": b"old"})
    series = pair_series(tmp_path / "base", tmp_path / "current")
    assert [one.name for one in series] == ["net/float32"]


def test_only_series_both_sides_have_are_paired_and_none_in_common_is_refused(
        tmp_path: Path) -> None:
    """Two single files pair with each other; folders pair by ``model/variant``: a series
    on one side only is left out, and no series in common is refused naming each side's
    (a folder against a file, or two folders with one different series each, too)."""
    both = _build(tmp_path / "both", "net", {"float32": b"f", "qat_int8": b"q"}).parent
    int8 = _build(tmp_path / "int8", "net", {"qat_int8": b"q2"}).parent
    other = _build(tmp_path / "other", "cnn", {"float32": b"c"}).parent
    file = tmp_path / "net.tflite"
    file.write_bytes(b"TFL3")
    assert [(s.name, s.current) for s in pair_series(int8, both)] == [
        ("net/qat_int8", both / "net" / "qat_int8.tflite")]
    refusals = {(both, file): "BASE has net/float32, net/qat_int8 and CURRENT has net",
                (file, both): "BASE has net and CURRENT has net/float32, net/qat_int8",
                (other, int8): "BASE has cnn/float32 and CURRENT has net/qat_int8"}
    for (base, current), named in refusals.items():
        with pytest.raises(AbInputError) as refused:
            pair_series(base, current)
        assert named in str(refused.value)


# -- what each pair holds, and how a series stops -------------------------------------------


class Undecided:
    """A timer: CURRENT +10% and -5% in turn, +2% on average in ±8% noise: never decided
    (at 2%) in the pair counts used here."""

    def __init__(self) -> None:
        self.current_runs = 0

    def __call__(self, side: str, model: Path, work: Path) -> float:
        if side == "A":
            return 1.0
        self.current_runs += 1
        return 1.10 if self.current_runs % 2 else 0.95


def test_the_same_seed_gives_the_same_randomised_order(tmp_path: Path) -> None:
    settings = AbSettings(pairs=32, max_pairs=32, seed=7)
    first = run_series(Series("m/v", Path("a"), Path("b")), settings, Undecided(), tmp_path)
    again = run_series(Series("m/v", Path("a"), Path("b")), settings, Undecided(), tmp_path)
    orders = [p["order"] for p in first.pairs]
    assert len(orders) == 32 and set(orders) == {"AB", "BA"}
    assert [p["order"] for p in again.pairs] == orders


def test_a_pair_holds_both_figures_instruction_counts_note_and_when(tmp_path: Path) -> None:
    """A timer's (ms, instructions, note) go into the pair's line (``ab.parquet``); a
    timer of figures alone leaves the counts empty and the note blank."""
    def counted(side: str, model: Path, work: Path) -> tuple[float, float | None, str]:
        return (1.0, 1000.0, "perf stat") if side == "A" else (1.5, 1600.0, "perf stat")

    before = time.time()
    lines = run_series(Series("m/v", Path("a"), Path("b")), AbSettings(), counted,
                       tmp_path).pairs
    after = time.time()
    assert [{key: line[key] for key in ("a_ms", "b_ms", "a_instructions", "b_instructions",
                                        "instructions_note")} for line in lines] == [
        {"a_ms": 1.0, "b_ms": 1.5, "a_instructions": 1000.0, "b_instructions": 1600.0,
         "instructions_note": "perf stat"}] * 4
    assert all(before <= line["at"] <= after for line in lines)
    assert [line["at"] for line in lines] == sorted(line["at"] for line in lines)
    plain = run_series(Series("m/v", Path("a"), Path("b")), AbSettings(),
                       lambda side, model, work: 1.0, tmp_path).pairs
    assert {(p["a_instructions"], p["b_instructions"], p["instructions_note"])
            for p in plain} == {(None, None, "")}


def test_the_verdict_is_taken_at_the_series_threshold(tmp_path: Path) -> None:
    """CURRENT 5% slower with no noise: SLOWER at a 2% threshold, SAME at 10%."""
    def five_percent(side: str, model: Path, work: Path) -> float:
        return 1.05 if side == "B" else 1.0

    series = Series("m/v", Path("a"), Path("b"))
    verdicts = [str(run_series(series, AbSettings(threshold=t), five_percent,
                               tmp_path).decision.verdict) for t in (0.02, 0.10)]
    assert verdicts == ["slower", "same"]


def test_an_undecided_series_is_judged_at_doubling_pair_counts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    judged: list[int] = []
    decide = ab.decide_paired

    def counting(a_ms, b_ms, *args, **kwargs):
        if len(a_ms):
            judged.append(len(a_ms))
        return decide(a_ms, b_ms, *args, **kwargs)

    monkeypatch.setattr(ab, "decide_paired", counting)
    outcome = run_series(Series("m/v", Path("a"), Path("b")), AbSettings(pairs=4,
                         max_pairs=40), Undecided(), tmp_path)
    assert judged == [4, 8, 16, 32, 40] and outcome.stopped == "max pairs"


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """``ab``'s monotonic clock, moved by the test's timer only: a series' seconds and
    time budget do not depend on how busy the host is."""
    now = [100.0]
    monkeypatch.setattr(ab, "time", types.SimpleNamespace(monotonic=lambda: now[0],
                                                          time=time.time))
    return now


def test_a_series_out_of_its_time_budget_stops_after_two_pairs_and_says_so(
        tmp_path: Path, clock: list[float]) -> None:
    """Each measurement takes 1 s against a 1.5 s budget: the budget is spent after the
    first pair, but a series always gets the two pairs a paired figure needs."""
    undecided = Undecided()

    def slow(side: str, model: Path, work: Path) -> float:
        clock[0] += 1.0
        return undecided(side, model, work)

    outcome = run_series(Series("m/v", Path("a"), Path("b")),
                         AbSettings(pairs=4, max_pairs=64, budget_s=1.5), slow, tmp_path)
    assert len(outcome.pairs) == 2
    assert outcome.stopped == "time budget" and str(outcome.decision.verdict) == "unknown"
    assert outcome.seconds == 4.0  # four measurements of 1 s


def test_a_decided_series_reports_the_seconds_it_took(tmp_path: Path,
                                                      clock: list[float]) -> None:
    def quarter(side: str, model: Path, work: Path) -> float:
        clock[0] += 0.25
        return 1.2 if side == "B" else 1.0

    outcome = run_series(Series("m/v", Path("a"), Path("b")), AbSettings(), quarter,
                         tmp_path)
    assert (outcome.stopped, len(outcome.pairs), outcome.seconds) == ("decided", 4, 2.0)
