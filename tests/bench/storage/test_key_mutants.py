"""What a row key prints and reads from a table, as `nox -s mutation` found no selected
test holding (only whole commands -- ``explore --row``, ``compare``'s host-change note --
used them): the label users type back into ``--row``, one key per row in order."""

from __future__ import annotations

import pandas as pd

from qatbench.bench.storage.key import RowKey, keys_of


def test_a_label_names_the_device_only_when_the_row_has_one() -> None:
    assert RowKey("m", "qat_int8", "nnapi", "usb:1", 4, "f").label() == \
        "m/qat_int8 on nnapi [usb:1] x4"
    assert RowKey("m", "float32", "cpu-xnnpack", "", 1).label() == "m/float32 on cpu-xnnpack x1"


def test_keys_of_a_table_are_its_rows_keys_in_order() -> None:
    frame = pd.DataFrame({"model": ["b", "a"], "variant": ["float32", "ptq_int8"],
                          "target": ["cpu-ref", "cpu-xnnpack"], "device": [pd.NA, "host"],
                          "threads": [2, 1], "fingerprint": ["f1", pd.NA],
                          "latency_ms": [1.0, 2.0]})
    assert keys_of(frame) == [RowKey("b", "float32", "cpu-ref", "", 2, "f1"),
                              RowKey("a", "ptq_int8", "cpu-xnnpack", "host", 1, "")]
