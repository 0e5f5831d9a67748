"""qatbench: does quantization-aware training give float accuracy at int8 size and speed,
on the hardware you deploy to -- and did today's change make it slower?

Parts: ``models`` (the zoo), ``qat`` (train, quantize, export), ``targets`` (deploy and
time on hardware), ``bench`` (the matrix runner, results, reports, CLI).
"""

import os

# tfmot works only with the legacy tf_keras; the switch must be set before TensorFlow is
# first imported anywhere in the process, so it is set as early as the package loads.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
# TensorFlow's C++ INFO chatter drowns the progress display; warnings still show.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")

__version__ = "0.1.0"
