"""The order tune keeps ops float in: most int8 error per millisecond saved first."""

from __future__ import annotations

import math

import pandas as pd

from qatbench.bench.statistics.keep_float import FloatFileOp, rank_ops

OPS = [FloatFileOp(0, "CONV_2D", "m/first/Relu;m/first/Conv2D;"),
       FloatFileOp(1, "CONV_2D", "m/second/Relu;m/second/Conv2D;"),
       FloatFileOp(2, "CONV_2D", "m/third/Relu;m/third/Conv2D;"),
       FloatFileOp(3, "MAX_POOL_2D", "m/pool/MaxPool;"),
       FloatFileOp(4, "FULLY_CONNECTED", "StatefulPartitionedCall:0;")]


def errors() -> pd.DataFrame:
    """rmse in quantization steps; the int8 file's tensors carry the float file's names
    for first/second/pool, and a QAT-style name (quant_ prefix) for third."""
    return pd.DataFrame({
        "layer": ["first", "second", "third", "pool", "(model output)"],
        "tensor": ["m/first/Relu;m/first/Conv2D", "m/second/Relu;m/second/Conv2D",
                   "m/quant_third/Relu", "m/pool/MaxPool", "StatefulPartitionedCall:0"],
        "rmse_over_scale": [2.0, 4.0, 3.0, 0.2, 1.0]})


def profile(times: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame({"name": list(times), "p50_ms": list(times.values())})


def test_error_per_millisecond_saved_orders_the_ops() -> None:
    float_times = profile({"m/first/Relu;m/first/Conv2D": 0.010,
                           "m/second/Relu;m/second/Conv2D": 0.100,
                           "m/third/Relu;m/third/Conv2D": 0.050,
                           "m/pool/MaxPool": 0.001, "StatefulPartitionedCall:0": 0.002})
    int8_times = profile({"m/first/Relu;m/first/Conv2D": 0.012,  # int8 slower: saves nothing
                          "m/second/Relu;m/second/Conv2D": 0.020,  # saves 0.080
                          "m/quant_third/Relu": 0.040,  # saves 0.010
                          "m/pool/MaxPool": 0.0005, "StatefulPartitionedCall:0": 0.001})
    ranked = rank_ops(OPS, errors(), float_times, int8_times)
    # first: error 2 at no saving (inf); third: 3 / 0.010 = 300; (model output): 1 / 0.001
    # = 1000; second: 4 / 0.080 = 50; pool: 0.2 steps is rounding noise, last
    assert [op.layer for op in ranked] == ["first", "(model output)", "third", "second",
                                           "pool"]
    assert math.isinf(ranked[0].score)
    assert ranked[2].saved_ms is not None and abs(ranked[2].saved_ms - 0.010) < 1e-12
    assert "int8 2 µs slower" in ranked[0].describe()


def test_without_a_profile_the_error_alone_orders_them() -> None:
    ranked = rank_ops(OPS, errors())
    assert [op.layer for op in ranked] == ["second", "third", "first", "(model output)",
                                           "pool"]
    assert ranked[0].saved_ms is None
