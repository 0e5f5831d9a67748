"""`qatbench run --imagenet-dir` evaluates an ImageNet-shaped model on a local folder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from qatbench.bench.storage.key import RowKey
from qatbench.bench.storage.predictions import load_predictions

pytestmark = pytest.mark.slow


def test_top1_is_measured_on_the_folder(tmp_path: Path) -> None:
    pytest.importorskip("tensorflow")
    root = tmp_path / "val"
    for label in ("0", "1", "2"):
        (root / label).mkdir(parents=True)
        for i in range(2):
            Image.new("RGB", (64, 48), (40 * i, 80, 120)).save(root / label / f"{i}.jpg")
    out = tmp_path / "results"
    result = subprocess.run(
        [sys.executable, "-m", "qatbench", "run", "--models", "mobilenet_v1", "--variants",
         "float32,ptq_int8", "--targets", "cpu-ref", "--imagenet-dir", str(root), "--out",
         str(out), "--min-runs", "2", "--min-secs", "0", "--warmup-runs", "1"],
        capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    (run_dir,) = out.iterdir()
    frame = pd.read_parquet(run_dir / "results.parquet").set_index("variant")
    assert len(frame) == 2
    # nullable columns: NA compares to NA, which .all() skips -- so NA must count as False
    samples = frame["eval_samples"]
    assert samples.notna().all() and samples.nunique() == 1  # both variants, the same images
    # the folder splits disjointly into eval and calibration; at least one image per class
    # is evaluated (how many calibrate is the split's choice, see models/image_folder.py)
    assert int(samples.iloc[0]) == 3  # 3 classes x 2 images: 1 evaluates, 1 calibrates
    assert frame["accuracy_top1"].notna().all()  # measured (random weights: ~chance)
    # scored on the folder's own labels (numbered folders keep their number), one image a
    # class, and the top-1 is what the row's kept predictions say
    for variant, row in frame.reset_index().iterrows():
        kept = load_predictions(run_dir, RowKey.of(row))
        assert kept is not None, variant
        assert sorted(kept.labels.tolist()) == [0, 1, 2]
        assert row["accuracy_top1"] == pytest.approx(kept.correct.mean())
    assert frame["weights"].eq("random").fillna(False).all()
