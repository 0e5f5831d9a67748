"""One row key for the runner, the store, the gate and the history."""

from __future__ import annotations

import pandas as pd

from qatbench.bench.storage.key import KEY_COLUMNS, SERIES_COLUMNS, RowKey


def test_a_row_and_its_samples_have_one_key() -> None:
    row = pd.Series({"model": "m", "variant": "qat_int8", "target": "cpu-ref",
                     "device": pd.NA, "threads": 2, "fingerprint": "f00"})
    key = RowKey.of(row)
    assert key == RowKey("m", "qat_int8", "cpu-ref", "", 2, "f00")
    assert key.series == ("m", "qat_int8", "cpu-ref", "", 2)
    assert key.job == ("m", "qat_int8", "cpu-ref", 2)
    assert [*SERIES_COLUMNS, "fingerprint"] == KEY_COLUMNS
    assert RowKey.of({**row.to_dict(), "fingerprint": "other"}).series == key.series
