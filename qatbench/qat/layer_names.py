"""Keep tfmot's new layers from taking names a loaded model already uses.

tfmot's layout transforms create layers without names (``SeparableConv2D`` becomes a
``DepthwiseConv2D`` and a ``Conv2D``), so tf_keras names them from its per-graph counter:
``conv2d``, ``conv2d_1``, ... That counter only counts layers built without a name in
this process. A model loaded from a file, or rebuilt from Keras 3, brings its own
``conv2d``, ``batch_normalization_3``... as explicit names, which the counter does not
see. The new layer then shares a name with an old one, and tf_keras's
``Model.from_config`` inside the transform either calls a layer on the wrong input (a
shape error naming ``conv2d``) or waits forever for a node that never comes (Keras 3
Xception rebuilt under tf_keras: over 30 minutes, never returned).
"""

from __future__ import annotations

import re
from typing import Any

_NUMBERED = re.compile(r"(?P<base>.+?)(?:_(?P<number>\d+))?")


def reserve_layer_names(model: Any) -> None:
    """Move tf_keras's name counters past every layer name ``model`` uses."""
    from tf_keras.src import backend

    counters = backend.get_default_graph_uid_map()
    for layer in model.layers:
        match = _NUMBERED.fullmatch(layer.name)
        if match is None:
            continue
        key = ("", match["base"])  # layers name themselves in the blank namespace
        counters[key] = max(counters[key], int(match["number"] or 0) + 1)
