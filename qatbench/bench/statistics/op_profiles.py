"""Reading per-op profiles: op-type totals, float beside int8, what grew, what the delegate
left out, whether a profile can be trusted, and which op types to keep float.

A profile's lines are ``profile.parquet`` rows of one key (model, variant, target,
device, threads, fingerprint, source). Nothing here measures: it compares what was
measured, and a proposal made here is only a proposal until ``mixed_int8`` is timed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import pandas as pd

# sum of the ops over the whole model outside this band: the profile is unreliable. The
# profiler's own band (targets/op_profile.py), restated because statistics imports
# nothing above storage; tests/bench/statistics/test_op_profiles.py keeps them equal
RELIABLE_COVERAGE = (0.8, 1.2)
# ops that only exist at int8's float boundaries, and a phone's delegate partitions:
# neither can be "kept float"
NOT_PROPOSABLE = frozenset({"QUANTIZE", "DEQUANTIZE"})
# an op type must be this much slower in int8 to be proposed (timing noise of small ops)
MIN_SLOWDOWN = 1.10
# ... and the time it adds must be this share of the int8 ops' sum (a 2 µs SOFTMAX that
# doubled is not worth a float island)
MIN_SHARE = 0.01
SERIES = ["model", "target", "device", "threads", "fingerprint", "source"]
INT8_VARIANTS = ("ptq_int8", "qat_int8", "int8")  # "int8": a file's kind (qatbench profile)


def is_reliable(coverage: object) -> bool | None:
    """Whether the ops' sum is within the band of the whole model (None: unknown)."""
    if coverage is None or pd.isna(coverage):
        return None
    low, high = RELIABLE_COVERAGE
    return bool(low <= float(coverage) <= high)


def is_delegate_row(op_type: str) -> bool:
    return "delegate" in op_type.lower()


def op_type_totals(lines: pd.DataFrame) -> pd.DataFrame:
    """Milliseconds and op count per op type, largest first."""
    if lines.empty:
        return pd.DataFrame(columns=["op_type", "ms", "ops"])
    grouped = lines.groupby("op_type", sort=False).agg(
        ms=("p50_ms", lambda s: s.astype("Float64").sum(min_count=1)),
        ops=("op_index", "size"))
    return grouped.reset_index().sort_values("ms", ascending=False, na_position="last")


def side_by_side(float_lines: pd.DataFrame, int8_lines: pd.DataFrame) -> pd.DataFrame:
    """Op-type totals of float and int8 in one table, by int8 time; ``change_ms`` > 0
    is time int8 added."""
    f = op_type_totals(float_lines).rename(columns={"ms": "float_ms", "ops": "float_ops"})
    q = op_type_totals(int8_lines).rename(columns={"ms": "int8_ms", "ops": "int8_ops"})
    table = q.merge(f, on="op_type", how="outer")
    for column in ("float_ms", "int8_ms"):
        table[column] = table[column].astype("Float64")
    for column in ("float_ops", "int8_ops"):
        table[column] = table[column].astype("Int64").fillna(0)
    table["change_ms"] = table["int8_ms"].fillna(0) - table["float_ms"].fillna(0)
    table["ratio"] = table["int8_ms"] / table["float_ms"].where(table["float_ms"] > 0)
    order = table["int8_ms"].fillna(0).combine(table["float_ms"].fillna(0), max)
    return table.assign(_order=order).sort_values("_order", ascending=False).drop(
        columns="_order").reset_index(drop=True)


def grown(table: pd.DataFrame) -> pd.DataFrame:
    """The op types whose time grew from float to int8, by how much."""
    return table[table["change_ms"] > 0].sort_values("change_ms", ascending=False)


def outside_delegate(lines: pd.DataFrame) -> pd.DataFrame:
    """Ops a delegate target left to the builtin kernels, slowest first (none on a
    target without a delegate: there is nothing to be left outside of)."""
    delegated = lines["delegated"].astype("boolean")
    if not delegated.fillna(False).any() and not (lines["delegate"].fillna("") != "none").any():
        return lines.iloc[0:0]
    left = lines[(delegated == False).fillna(False)]  # noqa: E712 (nullable boolean)
    return left.sort_values("p50_ms", ascending=False)


@dataclass(frozen=True)
class ProfilePair:
    """The float32 and int8 profiles of one model on one series (target, device, ...)."""

    key: dict[str, object]
    int8_variant: str
    float_lines: pd.DataFrame = field(repr=False)
    int8_lines: pd.DataFrame = field(repr=False)


def profile_pairs(profiles: pd.DataFrame, int8_variants: Sequence[str] = INT8_VARIANTS
                  ) -> Iterator[ProfilePair]:
    """Every (float32, int8) pair of profiles measured on the same series."""
    if profiles.empty:
        return
    for key, lines in profiles.groupby(SERIES, sort=False, dropna=False):
        by_variant = {str(v): g for v, g in lines.groupby("variant", sort=False)}
        if "float32" not in by_variant:
            continue
        for variant in int8_variants:
            if variant in by_variant:
                yield ProfilePair(dict(zip(SERIES, key, strict=True)), variant,
                                  by_variant["float32"], by_variant[variant])


def propose_keep_float(pair: ProfilePair, min_slowdown: float = MIN_SLOWDOWN
                       ) -> dict[str, str]:
    """Op types to keep float, each with what the profiles showed: slower in int8 than
    in float (by ``min_slowdown``), or left outside the delegate in int8 while the
    delegate took them in float (each such op cuts a partition)."""
    table = side_by_side(pair.float_lines, pair.int8_lines)
    int8_total = float(pair.int8_lines["p50_ms"].astype("Float64").sum())
    reasons: dict[str, str] = {}
    for row in table.itertuples():
        op = str(row.op_type)
        if op in NOT_PROPOSABLE or is_delegate_row(op) or pd.isna(row.float_ms) \
                or pd.isna(row.int8_ms) or not row.float_ms:
            continue
        if row.int8_ms > min_slowdown * row.float_ms and \
                row.change_ms >= MIN_SHARE * int8_total:
            reasons[op] = (f"{row.int8_ms:.3g} ms in int8 vs {row.float_ms:.3g} ms in float "
                           f"({row.int8_ops} ops)")
    left_int8 = outside_delegate(pair.int8_lines)
    left_float = outside_delegate(pair.float_lines)
    for op, group in left_int8.groupby("op_type", sort=False):
        op = str(op)
        taken_in_float = (pair.float_lines["op_type"] == op).sum() - (
            left_float["op_type"] == op).sum()
        if op in NOT_PROPOSABLE or op in reasons or taken_in_float <= 0:
            continue
        reasons[op] = (f"{len(group)} ops left outside the delegate in int8 "
                       f"({group['p50_ms'].astype('Float64').sum():.3g} ms), taken in float")
    return reasons
