"""The keep-float order's promises that `nox -s mutation` found no test holding: what
``qatbench tune`` prints for each op (its error and the time int8 saves, in µs), ops the
error table or the profiles do not name, a layer found by the longest name, and the
order among ops int8 does not speed up. Expectations are worked out by hand here."""

from __future__ import annotations

import pandas as pd
import pytest

from qatbench.bench.statistics.keep_float import FloatFileOp, RankedOp, rank_ops


def _op(error: float | None, float_ms: float | None, int8_ms: float | None) -> RankedOp:
    return RankedOp(3, "CONV_2D", "m/conv/Relu;", "conv", error, float_ms, int8_ms)


@pytest.mark.parametrize(("op", "text"), [
    (_op(None, None, None), "conv (CONV_2D): no error figure"),
    (_op(1.234, None, None), "conv (CONV_2D): int8 error 1.23 steps"),
    (_op(2.0, 1.0, 0.1), "conv (CONV_2D): int8 error 2 steps, int8 saves 900 µs"),
    (_op(2.0, 0.5, 0.25), "conv (CONV_2D): int8 error 2 steps, int8 saves 250 µs"),
    (_op(2.0, 0.1, 1.0), "conv (CONV_2D): int8 error 2 steps, int8 900 µs slower"),
])
def test_each_op_is_described_with_its_error_and_the_time_int8_saves(op: RankedOp,
                                                                    text: str) -> None:
    assert op.describe() == text


def _errors(rows: dict[str, tuple[str, float]]) -> pd.DataFrame:
    return pd.DataFrame({"tensor": list(rows), "layer": [r[0] for r in rows.values()],
                         "rmse_over_scale": [r[1] for r in rows.values()]})


def _profile(times: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame({"name": list(times), "p50_ms": list(times.values())})


def test_ops_the_error_table_does_not_name_are_skipped_not_the_end_of_the_list() -> None:
    ops = [FloatFileOp(0, "RESHAPE", "m/flatten/Reshape;"),  # no error figure
           FloatFileOp(1, "CONV_2D", "m/conv/Relu;"),
           FloatFileOp(2, "FULLY_CONNECTED", "m/dense/MatMul;")]
    errors = _errors({"m/conv/Relu": ("conv", 3.0), "m/dense/MatMul": ("dense", 2.0)})
    ranked = rank_ops(ops, errors)
    assert [(r.index, r.op_type, r.scope, r.layer) for r in ranked] == [
        (1, "CONV_2D", "m/conv/Relu;", "conv"), (2, "FULLY_CONNECTED", "m/dense/MatMul;",
                                                 "dense")]


def test_an_op_named_after_nested_layers_belongs_to_the_longest_name() -> None:
    """``sequential/block_conv/conv/Relu`` names both ``block_conv`` and ``conv``: the
    longer one is the op's own layer (the error table has no tensor of that name)."""
    ops = [FloatFileOp(0, "CONV_2D", "sequential/block_conv/conv/Relu;")]
    errors = _errors({"other/conv/out": ("conv", 1.0),
                      "other/block_conv/out": ("block_conv", 5.0)})
    [ranked] = rank_ops(ops, errors)
    assert (ranked.layer, ranked.error_steps) == ("block_conv", 5.0)


def test_an_op_is_timed_by_its_layer_when_the_profile_names_it_otherwise() -> None:
    """The int8 profile names the op ``m/quant_conv/Relu`` (QAT's wrapper), the float one
    ``m/conv/BiasAdd``: both are ``conv``'s time. An op neither profile names has none."""
    ops = [FloatFileOp(0, "CONV_2D", "m/conv/Relu;"), FloatFileOp(1, "MEAN", "m/gap/Mean;")]
    errors = _errors({"x/conv/out": ("conv", 3.0), "x/gap/out": ("gap", 2.0)})
    ranked = {r.layer: r for r in rank_ops(ops, errors, _profile({"m/conv/BiasAdd": 0.4}),
                                           _profile({"m/quant_conv/Relu": 0.1}))}
    assert (ranked["conv"].float_ms, ranked["conv"].int8_ms) == (0.4, 0.1)
    assert (ranked["gap"].float_ms, ranked["gap"].int8_ms) == (None, None)
    assert ranked["gap"].describe() == "gap (MEAN): int8 error 2 steps"


def test_among_ops_int8_does_not_speed_up_the_larger_error_goes_first() -> None:
    ops = [FloatFileOp(0, "ADD", "m/add/Add;"), FloatFileOp(1, "MUL", "m/mul/Mul;")]
    errors = _errors({"m/add/Add": ("add", 2.0), "m/mul/Mul": ("mul", 5.0)})
    same = _profile({"m/add/Add": 0.1, "m/mul/Mul": 0.1})  # int8 saves nothing on either
    ranked = rank_ops(ops, errors, same, same)
    assert [r.layer for r in ranked] == ["mul", "add"]
