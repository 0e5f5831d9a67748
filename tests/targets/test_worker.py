"""The timing child: its own memory figure, and evaluation that never costs a latency row."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from qatbench.targets.base import (
    Availability,
    EvalSet,
    JobId,
    Measurement,
    MeasureSpec,
    Prepared,
    Status,
)
from qatbench.targets.child import read_record, save_request
from qatbench.targets.host.interpreter_target import RU_MAXRSS_SOURCE, VMHWM_SOURCE, peak_memory_mb
from qatbench.targets.worker import JobRequest, JobResult, run_job

QUICK = {"warmup_runs": 1, "warmup_min_s": 0, "min_runs": 5, "min_s": 0}


def request(tmp_path: Path, target: str, model: Path, **extra) -> JobRequest:
    work = tmp_path / "job"
    return JobRequest(target=target, model=str(model), work_dir=str(work),
                      result_path=str(work / "result.json"), spec=QUICK, **extra)


def test_a_child_reports_its_own_peak_memory_not_its_parents(int8_tflite: Path,
                                                            tmp_path: Path) -> None:
    ballast = np.ones(400 * 1024 * 1024 // 8)  # 400 MiB touched: the parent's high-water mark
    parent_peak, source = peak_memory_mb()
    assert source == VMHWM_SOURCE and parent_peak > 400
    job = request(tmp_path, "cpu-ref", int8_tflite)
    Path(job.work_dir).mkdir(parents=True)
    save_request(Path(job.work_dir) / "job.json", job)
    done = subprocess.run([sys.executable, "-m", "qatbench.targets.child",
                           str(Path(job.work_dir) / "job.json")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = read_record(JobResult, Path(job.result_path).read_text())
    assert result.measurement.status is Status.OK
    child_peak = result.measurement.peak_memory_mb
    assert child_peak is not None and 10 < child_peak < 250  # a tiny model: tens of MB
    assert child_peak < parent_peak - 300
    assert result.measurement.extra["peak_memory_source"] == VMHWM_SOURCE
    del ballast


def test_without_proc_the_fallback_says_what_it_measured(tmp_path: Path) -> None:
    value, source = peak_memory_mb(tmp_path / "no-proc" / "status")
    assert value > 0 and source == RU_MAXRSS_SOURCE and "started the measurement" in source


def test_an_eval_set_that_fails_to_load_keeps_the_latency_row(int8_tflite: Path,
                                                             tmp_path: Path) -> None:
    broken = tmp_path / "eval.npz"
    broken.write_bytes(b"not a zip")
    result = run_job(request(tmp_path, "cpu-xnnpack", int8_tflite, eval_path=str(broken)))
    assert result.measurement.status is Status.OK and len(result.measurement.samples_ms) >= 5
    assert result.accuracy_top1 is None and result.eval_samples is None
    assert result.accuracy_note.startswith("evaluation failed:")


def test_slow_evaluation_stops_at_its_budget_and_keeps_the_latency_row(tmp_path: Path) -> None:
    data = tmp_path / "eval.npz"
    EvalSet(np.zeros((1000, 4), np.float32), np.zeros(1000, np.int64)).save(data)  # ~50 s
    model = tmp_path / "m.tflite"
    model.write_bytes(b"")
    start = time.monotonic()
    result = run_job(request(tmp_path, "tests.targets.misbehaving:slow_eval", model,
                             eval_path=str(data), eval_timeout_s=0.5))
    assert time.monotonic() - start < 10
    assert result.measurement.status is Status.OK
    assert result.measurement.samples_ms == (1.0, 1.1, 0.9)
    assert result.accuracy_top1 is None
    assert "evaluation stopped at eval_timeout_s=0.5 s" in result.accuracy_note


@pytest.mark.parametrize("target", ["cpu-xnnpack", "tests.targets.misbehaving:slow_eval"])
def test_the_accuracy_source_is_the_targets_own(target: str, int8_tflite: Path,
                                                tmp_path: Path) -> None:
    data = tmp_path / "eval.npz"
    EvalSet(np.zeros((3, 8, 8, 1), np.float32), np.zeros(3, np.int64)).save(data)
    result = run_job(request(tmp_path, target, int8_tflite, eval_path=str(data)))
    expected = {"cpu-xnnpack": "cpu-xnnpack interpreter",
                "tests.targets.misbehaving:slow_eval": "nowhere (test-only)"}[target]
    assert result.accuracy_source == expected


def test_a_plug_in_returning_a_bare_top1_still_works(int8_tflite: Path, tmp_path: Path) -> None:
    """Targets written before ``Evaluation``: a float is read as top-1, with no agreement."""
    data = tmp_path / "eval.npz"
    EvalSet(np.zeros((3, 4), np.float32), np.zeros(3, np.int64),
            reference=np.eye(3, dtype=np.float32)).save(data)
    result = run_job(request(tmp_path, "tests.targets.misbehaving:bare_float", int8_tflite,
                             eval_path=str(data)))
    assert result.accuracy_top1 == 0.5 and result.eval_samples == 3
    assert result.agreement_top1 is None and result.predictions is None
    assert "returns top-1 only" in result.accuracy_note


class _JobEcho:
    """A test-only target that says which job ``measure`` was handed (``Prepared.job``)."""

    name = "job-echo"
    description = "test-only"
    takes_device = False
    accuracy_source = "nowhere (test-only)"

    def probe(self) -> Availability:
        return Availability(True)

    def prepare(self, model: Path, work: Path) -> Prepared:
        return Prepared(model=model, source=model)

    def measure(self, prepared: Prepared, spec: MeasureSpec) -> Measurement:
        return Measurement(samples_ms=(1.0,), extra={"job": prepared.job})

    def evaluate(self, prepared: Prepared, data: EvalSet) -> None:
        return None


def job_echo(**options: object) -> _JobEcho:
    return _JobEcho()


def test_the_target_is_told_which_run_job_and_repeat_it_serves(int8_tflite: Path,
                                                              tmp_path: Path) -> None:
    named = run_job(request(tmp_path, "tests.targets.test_worker:job_echo", int8_tflite,
                            run_id="20261203T080000Z-abc123", job="m-qat_int8-nnapi-t1",
                            repeat=2))
    assert named.measurement.extra["job"] == JobId("20261203T080000Z-abc123",
                                                   "m-qat_int8-nnapi-t1", 2)
    # a request that does not say (a caller outside the runner): a name of its work dir,
    # so two such requests never share a name
    one = run_job(request(tmp_path / "a", "tests.targets.test_worker:job_echo", int8_tflite))
    other = run_job(request(tmp_path / "b", "tests.targets.test_worker:job_echo", int8_tflite))
    unnamed = [one.measurement.extra["job"], other.measurement.extra["job"]]
    assert [job.run_id for job in unnamed] == ["unnamed", "unnamed"]
    assert unnamed[0].job != unnamed[1].job and unnamed[0].job.startswith("job-")


def test_snr_below_one_int8_step_is_no_figure() -> None:
    """A random-weight ImageNet model's softmax is 0.001 for every class; int8 softmax's
    step is 1/256, so PTQ and QAT files both answer 0 everywhere and "0 dB" would
    describe the output format, not the model: SNR is left empty with the reason."""
    from qatbench.targets.base import NO_LABEL, EvalSet, Evaluation
    from qatbench.targets.worker import _outcome

    uniform = np.full((20, 1000), 0.001)
    data = EvalSet(x=np.zeros((20, 4), np.float32), y=np.full(20, NO_LABEL),
                   reference=uniform)
    outcome = _outcome(Evaluation(top1=None, outputs=np.zeros_like(uniform)), data,
                       step=1 / 256)
    assert outcome.output_snr_db is None
    assert "agreement with float not reported" in outcome.note  # one class for all
    assert "output SNR not reported: every float output is below one step" in outcome.note
    assert "fidelity signal here" not in outcome.note
    # a reference the file can represent keeps its SNR, as does a file with no int8 step
    varied = uniform.copy()
    varied[::2, 3] = 0.9
    data = EvalSet(x=data.x, y=data.y, reference=varied)
    assert _outcome(Evaluation(top1=None, outputs=varied), data,
                    step=1 / 256).output_snr_db is not None
    assert _outcome(Evaluation(top1=None, outputs=np.zeros_like(uniform)),
                    EvalSet(x=data.x, y=data.y, reference=uniform)).output_snr_db == 0.0


def test_a_negative_valued_output_above_one_step_keeps_its_snr() -> None:
    """The below-one-step rule compares the output's *magnitude* with the step: logits of
    -5 to -1 are far above a step of 1/20 in size although every one is below it in value,
    so the file can represent them and their SNR is reported -- the textbook
    10·log10(Σ ref² / Σ err²), here with every output 0.01 off."""
    from qatbench.targets.base import NO_LABEL, EvalSet, Evaluation
    from qatbench.targets.worker import _outcome

    reference = -np.tile(np.linspace(1.0, 5.0, 10), (20, 1))
    reference[np.arange(20), np.arange(20) % 10] += 0.5  # a class per input, not one for all
    outputs = reference + 0.01
    data = EvalSet(x=np.zeros((20, 4), np.float32), y=np.full(20, NO_LABEL),
                   reference=reference)
    outcome = _outcome(Evaluation(top1=None, outputs=outputs), data, step=1 / 20)
    expected = 10 * np.log10(np.sum(reference ** 2) / (reference.size * 0.01 ** 2))
    assert outcome.output_snr_db == pytest.approx(expected, rel=1e-6)
    assert "below one step" not in outcome.note


def test_the_output_step_is_read_from_an_int8_file_only(int8_tflite: Path,
                                                          float_tflite: Path,
                                                          tmp_path: Path) -> None:
    from qatbench.targets.worker import output_step

    step = output_step(int8_tflite)
    assert step is not None and 0 < step < 1
    assert output_step(float_tflite) is None
    (tmp_path / "broken.tflite").write_bytes(b"not a flatbuffer")
    assert output_step(tmp_path / "broken.tflite") is None
