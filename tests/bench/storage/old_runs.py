"""The old run directories under ``fixtures/old_runs/`` (see ``make_old_runs.py`` there),
copied for a test to read, with the files they timed in place."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

OLD_RUNS = Path(__file__).parent / "fixtures" / "old_runs"
LAB_MODELS = "/lab/models"  # where the fixtures' bench and profile runs found their files


def copy_old_run(name: str, tmp_path: Path) -> Path:
    """The fixture ``name`` copied under ``tmp_path/results``; the files its jobs'
    requests name (a bench or profile run times files in place) are put where the
    copy says they are: ``/lab/models`` becomes ``tmp_path/lab-models``."""
    run_dir = tmp_path / "results" / name
    shutil.copytree(OLD_RUNS / name, run_dir)
    models = tmp_path / "lab-models"
    models.mkdir(exist_ok=True)
    for request in run_dir.glob("jobs/**/request.json"):
        text = request.read_text().replace(LAB_MODELS, str(models))
        request.write_text(text)
        data = json.loads(text)
        model = Path((data["request"] if "kind" in data else data)["model"])
        model.write_bytes(b"TFL3 placeholder")
    return run_dir
