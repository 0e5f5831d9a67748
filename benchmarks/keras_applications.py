"""Coverage, measured: every ``keras.applications`` architecture through ``qatbench run``.

Each architecture is made with Keras 3 as a user makes one (random weights, the smallest
input it allows, 10 classes, logits), its BatchNorm statistics set from one forward pass
over synthetic inputs (random weights with fresh statistics shrink activations to ~1e-11
at the output, where any two models agree; see benchmarks/user_models.py), saved as
``.keras``, and run through ``qatbench run --quick`` as a ``[models.NAME]`` source:
rebuild -> float32 / ptq_int8 / qat_int8 (distillation on synthetic inputs in [0, 255])
-> fidelity against float on ``cpu-ref``. Each architecture runs in its own process
(a converter crash costs one line, not the run).

Prints one line per architecture (rebuilt?, each variant ok or its reason, QAT output SNR
against PTQ's), then the totals, with the date, host, CPU flags and how many independent
processes the figures rest on. Asserts nothing.

    python benchmarks/keras_applications.py [--only MobileNetV3Small,ConvNeXtTiny]
                                            [--keep DIR] [--merge EARLIER_OUTPUT ...]

``--merge`` takes what earlier runs printed (saved with ``> file``): those architectures
are not run again and count in the totals, so the hours-long whole run can be resumed,
or split over two processes on a host with cores to spare.

About 5 minutes per architecture on 2 shared cores (most of it TensorFlow starting in
the build and timing children); all of them take hours.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VARIANTS = ("float32", "ptq_int8", "qat_int8")
# the smallest input each architecture builds at without weights; 32 where not listed
MIN_SIZE = {"InceptionV3": 75, "InceptionResNetV2": 75, "Xception": 71}


def architectures() -> list[str]:
    import keras

    return sorted(name for name in dir(keras.applications)
                  if name[0].isupper() and callable(getattr(keras.applications, name)))


def make_model(name: str, path: Path, samples: int = 16) -> int:
    """The Keras 3 model saved at ``path``; returns its input size."""
    import keras
    import numpy as np

    size = MIN_SIZE.get(name, 32)
    keras.utils.set_random_seed(0)
    builder = getattr(keras.applications, name)
    try:
        model = builder(input_shape=(size, size, 3), weights=None, classes=10,
                        classifier_activation=None)
    except TypeError:  # an architecture without classifier_activation
        model = builder(input_shape=(size, size, 3), weights=None, classes=10)
    norms = [layer for layer in model.layers
             if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in norms:
        layer.momentum = 0.0
    x = np.random.default_rng(0).uniform(0, 255, (samples, size, size, 3)).astype("float32")
    model(x, training=True)  # moving statistics := this batch's
    for layer in norms:
        layer.momentum = 0.99
    model.save(path)
    return size


def run_one(name: str, work: Path) -> dict[str, object]:
    """Make, save and ``qatbench run`` one architecture; its rows, as plain values."""
    import pandas as pd

    work.mkdir(parents=True, exist_ok=True)
    model_path = work / f"{name}.keras"
    maker = subprocess.run(
        [sys.executable, __file__, "--make", name, "--keep", str(work)],
        capture_output=True, text=True, timeout=3600)
    if maker.returncode != 0:
        return {"name": name, "made": False,
                "reason": _last_line(maker.stderr or maker.stdout)}
    config = work / "qatbench.toml"
    config.write_text(textwrap.dedent(f"""
        [run]
        models = ["{name}"]
        variants = {list(VARIANTS)!r}
        targets = ["cpu-ref"]

        [models.{name}]
        keras = "{model_path.name}"
        input_range = [0.0, 255.0]
    """).replace("'", '"'))
    out = work / "results"
    started = datetime.datetime.now(datetime.UTC)
    done = subprocess.run(
        [sys.executable, "-m", "qatbench", "run", "--config", str(config), "--quick",
         "--out", str(out), "--min-runs", "5", "--min-secs", "0.05", "--max-secs", "5"],
        capture_output=True, text=True, cwd=work, timeout=7200)
    seconds = (datetime.datetime.now(datetime.UTC) - started).total_seconds()
    runs = sorted(p for p in out.glob("*") if p.is_dir()) if out.exists() else []
    if not runs or not (runs[-1] / "results.parquet").exists():
        return {"name": name, "made": True, "size": maker.stdout.strip(),
                "reason": _last_line(done.stderr or done.stdout), "seconds": seconds}
    rows = pd.read_parquet(runs[-1] / "results.parquet")
    variants = {}
    for _, row in rows.iterrows():
        variants[row["variant"]] = {
            "status": row["status"], "snr": _number(row.get("output_snr_db")),
            "error": _text(row.get("error")), "note": _text(row.get("note"))}
    return {"name": name, "made": True, "size": maker.stdout.strip(), "variants": variants,
            "seconds": seconds, "exit": done.returncode,
            "reason": _last_line(done.stderr) if done.returncode else ""}


def _number(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if number != number else number


def _text(value: object) -> str:
    """A string cell as text: missing (None, NaN, pandas' NA) is empty."""
    import pandas as pd

    return "" if value is None or pd.isna(value) else str(value)  # type: ignore[arg-type]


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines()
             if line.strip() and not line.startswith(("WARNING", "I0000", "E0000", "W0000"))]
    return lines[-1][:300] if lines else "(no output)"


def rebuilt(result: dict[str, object]) -> bool:
    variants = result.get("variants") or {}
    return any(v["status"] == "ok" for v in variants.values())  # type: ignore[union-attr]


def line(result: dict[str, object]) -> str:
    name = result["name"]
    if not result.get("made"):
        return f"{name:20s} not made by Keras 3: {result['reason']}"
    variants = result.get("variants")
    if not variants:
        return f"{name:20s} {result.get('size', '?')}px  refused: {result['reason']}"
    parts = []
    for variant in VARIANTS:
        row = variants.get(variant)  # type: ignore[union-attr]
        if row is None:
            parts.append(f"{variant} missing")
        elif row["status"] == "ok":
            parts.append(f"{variant} ok")
        else:
            parts.append(f"{variant} {row['status']}: {' '.join(row['error'].split())[:160]}")
    ptq = (variants.get("ptq_int8") or {}).get("snr")  # type: ignore[union-attr]
    qat = (variants.get("qat_int8") or {}).get("snr")  # type: ignore[union-attr]
    fidelity = f"SNR vs float: PTQ {ptq:.1f} dB, QAT {qat:.1f} dB" \
        if ptq is not None and qat is not None else "SNR: -"
    return (f"{name:20s} {result.get('size', '?')}px  rebuilt: {'yes' if rebuilt(result) else 'no'}"
            f"  {'; '.join(parts)}  {fidelity}  ({result.get('seconds', 0):.0f} s)")


_NOT_MADE = re.compile(r"^(?P<name>\S+)\s+not made by Keras 3: (?P<reason>.*)$")
_REFUSED = re.compile(r"^(?P<name>\S+)\s+(?P<size>\d+)px  refused: (?P<reason>.*)$")
_RAN = re.compile(r"^(?P<name>\S+)\s+(?P<size>\d+)px  rebuilt: (?:yes|no)  (?P<variants>.*)  "
                  r"(?:SNR vs float: PTQ (?P<ptq>-?[\d.]+) dB, QAT (?P<qat>-?[\d.]+) dB|SNR: -)"
                  r"  \((?P<seconds>\d+) s\)$")
_VARIANT = re.compile(rf"(?:^|; )(?P<variant>{'|'.join(VARIANTS)}) ")


def results_from_output(text: str) -> dict[str, dict[str, object]]:
    """The results an earlier run of this script printed, one per architecture line, as
    ``line`` wrote them (``--merge``: a long run resumed, or split over processes, and the
    totals taken over all of it). The reasons are the printed ones: at most 160
    characters of each variant's error."""
    results: dict[str, dict[str, object]] = {}
    for raw in text.splitlines():
        for pattern in (_NOT_MADE, _REFUSED):
            match = pattern.match(raw)
            if match:
                fields = match.groupdict()
                results[fields["name"]] = {"name": fields["name"], "made": pattern is _REFUSED,
                                           "size": fields.get("size"), "reason": fields["reason"]}
                break
        else:
            match = _RAN.match(raw)
            if match:
                results[match["name"]] = {
                    "name": match["name"], "made": True, "size": match["size"],
                    "seconds": float(match["seconds"]),
                    "variants": _variants_from(match["variants"], match["ptq"], match["qat"])}
    return results


def _variants_from(text: str, ptq: str | None, qat: str | None) -> dict[str, dict[str, object]]:
    marks = list(_VARIANT.finditer(text))
    snr = {"ptq_int8": ptq, "qat_int8": qat}
    variants: dict[str, dict[str, object]] = {}
    for mark, after in zip(marks, [*marks[1:], None], strict=True):
        said = text[mark.end(): after.start() if after else len(text)]
        if said == "missing":
            continue
        status, _, error = said.partition(": ")
        value = snr.get(mark["variant"])
        variants[mark["variant"]] = {"status": status, "error": error, "note": "",
                                     "snr": float(value) if value is not None else None}
    return variants


def cpu_flags() -> str:
    wanted = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_int8", "fma", "f16c")
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "?"
    flags = next((row.split(":", 1)[1].split() for row in text.splitlines()
                  if row.startswith("flags")), [])
    model = next((row.split(":", 1)[1].strip() for row in text.splitlines()
                  if row.startswith("model name")), platform.processor())
    return f"{model}; {os.cpu_count()} cores; flags {' '.join(f for f in wanted if f in flags)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="Comma-separated architectures (default: all).")
    parser.add_argument("--keep", type=Path, help="Work folder kept after the run.")
    parser.add_argument("--merge", type=Path, nargs="+", default=[], metavar="OUTPUT",
                        help="Earlier outputs of this script: their architectures are not "
                             "run again, and count in the totals (a run resumed or split "
                             "over processes).")
    parser.add_argument("--make", help=argparse.SUPPRESS)  # the child that saves one model
    args = parser.parse_args()
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    if args.make:
        print(make_model(args.make, args.keep / f"{args.make}.keras"))
        return
    names = args.only.split(",") if args.only else architectures()
    print(f"keras.applications coverage, {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} "
          f"UTC, {platform.node()}: {cpu_flags()}")
    print(f"{len(names)} architecture(s), each made and run in its own processes "
          "(qatbench run --quick, cpu-ref, synthetic inputs in [0, 255], random weights)")
    earlier: dict[str, dict[str, object]] = {}
    for output in args.merge:
        earlier.update(results_from_output(output.read_text()))
    if earlier:
        print(f"{len(earlier)} of them from earlier output(s) ({', '.join(map(str, args.merge))}),"
              f" not run again: {', '.join(sorted(set(earlier) & set(names)))}")
    root = args.keep or Path(tempfile.mkdtemp(prefix="qatbench_apps_"))
    results = []
    for name in names:
        if name in earlier:
            results.append(earlier[name])
            print(line(earlier[name]), flush=True)
            continue
        result = run_one(name, root / name)
        results.append(result)
        print(line(result), flush=True)
        if not args.keep:  # the largest architectures leave gigabytes of models
            shutil.rmtree(root / name, ignore_errors=True)
    made = [r for r in results if r.get("made")]
    all_rows = [r for r in results if all(
        ((r.get("variants") or {}).get(v) or {}).get("status") == "ok"  # type: ignore[union-attr]
        for v in VARIANTS)]
    qat_better = [r for r in all_rows
                  if r["variants"]["qat_int8"]["snr"] is not None  # type: ignore[index]
                  and r["variants"]["ptq_int8"]["snr"] is not None  # type: ignore[index]
                  and r["variants"]["qat_int8"]["snr"] >= r["variants"]["ptq_int8"]["snr"] - 3]  # type: ignore[index]
    print(f"totals: {len(results)} architectures; {len(made)} made by Keras 3; "
          f"{sum(rebuilt(r) for r in results)} rebuilt under tf_keras; {len(all_rows)} with "
          f"float32, ptq_int8 and qat_int8 rows; {len(results) - len(all_rows)} missing a row "
          f"(each with its reason above); QAT SNR within 3 dB of PTQ's or better on "
          f"{len(qat_better)} of {len(all_rows)}")
    if args.keep:
        print(f"work folder: {root}")


if __name__ == "__main__":
    main()
