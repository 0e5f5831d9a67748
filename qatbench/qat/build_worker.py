"""The child process that builds one zoo model's variants.

Run as ``python -m qatbench.qat.build_worker REQUEST.json``.

Building in a child keeps TensorFlow out of the process that schedules timing jobs,
keeps TF's logging out of the progress display (it goes to ``build.log``), and turns a
converter crash into failed rows for that model only.
"""

from __future__ import annotations

import sys
from pathlib import Path

from qatbench.models.zoo import get_model_spec
from qatbench.qat.artifacts import BuildRequest
from qatbench.qat.budget import TrainingBudget
from qatbench.qat.pipeline import build_variants


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    request = BuildRequest.load(Path(args[0]))
    build_variants(get_model_spec(request.model), request.variants, Path(request.out_dir),
                   TrainingBudget(**request.budget),
                   Path(request.imagenet_dir) if request.imagenet_dir else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
