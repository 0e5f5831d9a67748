"""``qatbench tune`` on a model built so that one op must stay float: its input carries
a few huge outliers, so per-tensor int8 crushes every image pixel to one step and top-1
collapses, while float and every later tensor quantize well
(``tests/models/outlier_model.py``). The search must keep exactly that op float, meet
the accuracy goal, and compare its latency with float32 from the measured intervals.
Whether it is faster is measured by ``benchmarks/tune_search.py``, not asserted here
(a busy host guarantees no speed)."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pandas as pd
import pytest

from qatbench.models.sources import ModelSource
from tests.bench.cli_in_process import keep_sigterm, run_qatbench  # noqa: F401
from tests.models.outlier_model import FIRST_LAYER, write_data

pytest.importorskip("tensorflow", reason="allowed on CI: the qat extra is installed on every "
                                         "CI host; a timing-only host has no TensorFlow")
pytest.importorskip("litert_quantizer", reason="allowed on CI: the qat extra installs it on "
                                               "every CI host")

pytestmark = pytest.mark.slow
OUTLIER_MODEL = Path(__file__).resolve().parents[2] / "models" / "outlier_model.py"


def qatbench(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "qatbench", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=900)


@pytest.fixture(scope="module")
def outlier_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """float32 and ptq_int8 of the outlier model on cpu-xnnpack, profiled (the ranking
    reads the per-op profiles) with the per-layer error tables the build writes."""
    work = tmp_path_factory.mktemp("outlier")
    write_data(work / "data.npz")
    (work / "run.toml").write_text(f"""
[run]
models = ["outlier"]
variants = ["float32", "ptq_int8"]
targets = ["cpu-xnnpack"]
profile = true
profile_op_s = 0.01

[measure]
min_runs = 10
min_s = 0.2
warmup_runs = 2

[models.outlier]
build = "{OUTLIER_MODEL}:outlier_cnn"
data = "data.npz"

[models.outlier.training]
representative_samples = 64
""")
    result = qatbench("run", "--config", "run.toml", "--out", "results", cwd=work)
    assert result.returncode == 0, result.stdout + result.stderr
    (run_dir,) = (work / "results").iterdir()
    return run_dir


def test_tune_keeps_exactly_the_outlier_op_float_and_meets_the_goal(outlier_run: Path
                                                                    ) -> None:
    results = pd.read_parquet(outlier_run / "results.parquet")
    by_variant = results.set_index("variant")
    # the premise: per-tensor int8 crushes the model, float does not
    assert by_variant.loc["float32", "accuracy_top1"] > 0.9
    assert by_variant.loc["ptq_int8", "accuracy_top1"] < 0.3
    assert by_variant.loc["ptq_int8", "decision"].startswith("misses")

    out = outlier_run.parent / "tune"
    result = qatbench("tune", "outlier", "--target", "cpu-xnnpack", "--run", str(outlier_run),
                      "--goal", "max_top1_drop=2", "--out", str(out), cwd=outlier_run.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    state = json.loads((out / "tune.json").read_text())
    assert state["start"]["variant"] == "ptq_int8" and state["start"]["outcome"] == "misses"
    assert state["ranking"][0]["layer"] == FIRST_LAYER
    chosen = next(c for c in state["candidates"] if c["name"] == state["chosen"])
    assert chosen["kept"] == [FIRST_LAYER] and chosen["outcome"] == "meets"
    assert any("top-1 drop (paired)" in check and "≤ 2 pt" in check
               for check in chosen["checks"])

    # the chosen file, read by the runtime: exactly one op float (the outlier's
    # convolution, reading the float input), every other op int8
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=chosen["file"])
    details = {t["index"]: t for t in interpreter.get_tensor_details()}
    float_compute = [op for op in interpreter._get_ops_details()
                     if op["op_name"] not in ("QUANTIZE", "DEQUANTIZE")
                     and details[op["outputs"][0]]["dtype"].__name__ == "float32"]
    assert len(float_compute) == 1
    assert FIRST_LAYER in details[float_compute[0]["outputs"][0]]["name"]

    # the latency verdict is the one the two measured intervals give
    candidates = pd.read_parquet(out / "candidates" / "results.parquet")
    rows = candidates[candidates["model"] == chosen["name"]].set_index("variant")
    mixed, float32 = rows.loc["mixed_int8"], rows.loc["float32"]
    apart_faster = mixed["latency_ms_p50_ci_high"] < float32["latency_ms_p50_ci_low"]
    apart_slower = mixed["latency_ms_p50_ci_low"] > float32["latency_ms_p50_ci_high"]
    expected = "faster" if apart_faster else "slower" if apart_slower else "not resolved"
    assert chosen["faster_than_float32"].startswith(expected)

    # the recipe is a [models.NAME] table a run config takes as it is
    recipe = tomllib.loads((out / "recipe.toml").read_text())
    (table,) = recipe["models"].values()
    source = ModelSource.model_validate(table)
    assert source.quantize == ["mixed_int8"]
    assert len(source.training["keep_float_ops"]) == 3  # INPUT, OUTPUT, the one op
    assert (out / "pareto_tune.png").stat().st_size > 0
    assert "## Search path" in (out / "tune.md").read_text()

    # running it again continues the finished tune: nothing is built or timed again
    again = qatbench("tune", "outlier", "--target", "cpu-xnnpack", "--run", str(outlier_run),
                     "--goal", "max_top1_drop=2", "--out", str(out), cwd=outlier_run.parent)
    assert again.returncode == 0, again.stdout + again.stderr
    assert json.loads((out / "tune.json").read_text())["candidates"] == state["candidates"]


@pytest.mark.parametrize(("args", "words"), [
    (["nope", "--target", "cpu-xnnpack"], "has no rows of nope on cpu-xnnpack x1"),
    (["outlier", "--target", "cpu-ref"], "has no rows of outlier on cpu-ref x1"),
    (["outlier", "--target", "cpu-xnnpack", "--goal", "max_latency_ms=fast"],
     "--goal max_latency_ms: give a number in milliseconds"),
    (["outlier", "--target", "cpu-xnnpack", "--goal", "max_drop=1"],
     "--goal max_drop: unknown goal"),
])
@pytest.mark.usefixtures("keep_sigterm")
def test_bad_input_exits_2_before_anything_is_built(
        outlier_run: Path, args: list[str], words: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    out = outlier_run.parent / "refused"
    code, output = run_qatbench(monkeypatch, capsys, "tune", *args, "--run", str(outlier_run),
                                "--out", str(out))
    assert code == 2, output
    assert words in " ".join(output.split()) and "Traceback" not in output
    assert not out.exists()


def test_run_prints_what_to_ship_and_fail_on_goals_passes_when_a_variant_meets(
        outlier_run: Path) -> None:
    """No [goals]: the default (no measurable top-1 drop by McNemar, then latency) is
    stated; float32 meets it and ptq_int8 does not, so --fail-on-goals exits 0."""
    result = qatbench("run", "--resume", str(outlier_run), "--fail-on-goals",
                      cwd=outlier_run.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "what to ship" in result.stdout and "ship float32" in result.stdout
    report = (outlier_run / "report.md").read_text()
    assert "no measurable top-1 drop against float32 (McNemar, the default)" in report


def test_a_candidate_missing_a_size_goal_ends_the_search_with_exit_1(outlier_run: Path
                                                                     ) -> None:
    """More float ops only make a file larger: the first candidate over max_size_mb ends
    the search, and no file meeting the goals is exit 1."""
    out = outlier_run.parent / "too_small"
    result = qatbench("tune", "outlier", "--target", "cpu-xnnpack", "--run", str(outlier_run),
                      "--goal", "max_top1_drop=2", "--goal", "max_size_mb=0.01", "--out",
                      str(out), cwd=outlier_run.parent)
    assert result.returncode == 1, result.stdout + result.stderr
    state = json.loads((out / "tune.json").read_text())
    assert [c["kept"] for c in state["candidates"]] == [[FIRST_LAYER]]
    assert state["candidates"][0]["missed_costs"] == ["max_size_mb"]
    assert state["chosen"] is None and "misses max_size_mb" in state["stopped"]
    assert "no candidate met the goals" in (out / "recipe.toml").read_text()
