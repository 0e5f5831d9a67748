"""Why int8 is slower here: causes named only from measurements of this run.

A user whose int8 model runs slower than float on their host needs the reason, not a
guess. Each cause below is stated with the figure that supports it, most time first,
and only when this run measured it:

- **the host**: its int8-relevant instructions, read from the row's fingerprint (the
  CPU flags the run recorded). XNNPACK's fast int8 paths on x86 use AVX-VNNI,
  AVX512-VNNI or AMX-INT8; on Arm, the dot-product (``asimddp``) and i8mm extensions.
  A host without any of them is named as a cause; a host with them is not, and the
  other causes then carry the explanation;
- **op types that lose time in int8**, from the per-op profiles of the float32 and
  int8 files on the same series (``[run] profile = true``): each type's added time and
  its share of the gap between the two profiles' sums;
- **placement**: ops the delegate left to the builtin kernels only in int8 (each cuts a
  partition and runs on slower kernels);
- **quantize/dequantize boundaries**: the QUANTIZE/DEQUANTIZE ops of the int8 profile
  and their time.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from qatbench.bench.statistics.op_profiles import NOT_PROPOSABLE, side_by_side

X86_INT8 = ("avx512_vnni", "avx_vnni", "amx_int8")
ARM_INT8 = ("asimddp", "i8mm", "sme")


@dataclass(frozen=True)
class Cause:
    kind: str  # "host", "op type", "placement", "boundaries"
    text: str
    ms: float | None = None  # time it explains, where measured (sorts the list)


def _flags(row: Mapping[str, Any]) -> list[str] | None:
    try:
        parts = json.loads(row.get("fingerprint_parts") or "{}")
    except (TypeError, ValueError):
        return None
    flags = parts.get("cpu_flags")
    return str(flags).split() if flags else None


def host_cause(row: Mapping[str, Any]) -> Cause | None:
    """The host as a cause, when its recorded flags show no int8 dot-product instruction."""
    flags = _flags(row)
    if not flags:
        return None  # not a host target, or flags not recorded: say nothing
    arm = any(flag.startswith("asimd") for flag in flags)
    wanted = ARM_INT8 if arm else X86_INT8
    present = [flag for flag in wanted if flag in flags]
    if present:
        return None
    return Cause("host", f"no int8 dot-product instructions on this host (CPU flags "
                         f"recorded: {' '.join(flags)}; int8 kernels are fast with "
                         f"{', '.join(wanted)})")


def profile_causes(float_lines: pd.DataFrame, int8_lines: pd.DataFrame) -> list[Cause]:
    """Op types that added time in int8, and the quantize/dequantize boundaries."""
    if float_lines.empty or int8_lines.empty:
        return []
    table = side_by_side(float_lines, int8_lines)
    gap = float(int8_lines["p50_ms"].astype("Float64").sum()
                - float_lines["p50_ms"].astype("Float64").sum())
    causes = []
    for row in table.itertuples():
        added = row.change_ms
        if pd.isna(added) or added <= 0:
            continue
        share = f"{added / gap:.0%} of the gap" if gap > 0 else "while the sum fell"
        op = str(row.op_type)
        if op in NOT_PROPOSABLE:
            causes.append(Cause("boundaries", f"{op}: {int(row.int8_ops)} op(s), "
                                              f"{added:.3g} ms ({share})", float(added)))
        else:
            was = "" if pd.isna(row.float_ms) else f" ({row.float_ms:.3g} → " \
                                                    f"{row.int8_ms:.3g} ms)"
            causes.append(Cause("op type", f"{op} +{added:.3g} ms in int8{was}, {share}",
                                float(added)))
    return causes


def placement_cause(left_only_in_int8: Mapping[str, int]) -> Cause | None:
    if not left_only_in_int8:
        return None
    ops = ", ".join(f"{op}×{n}" for op, n in sorted(left_only_in_int8.items(),
                                                     key=lambda kv: -kv[1]))
    return Cause("placement", f"left to the builtin kernels only in int8: {ops}")


def explain(row: Mapping[str, Any], left_only_in_int8: Mapping[str, int],
            float_lines: pd.DataFrame | None = None, int8_lines: pd.DataFrame | None = None
            ) -> list[Cause]:
    """Every measured cause, the ones with a time first (largest first)."""
    causes = profile_causes(float_lines if float_lines is not None else pd.DataFrame(),
                            int8_lines if int8_lines is not None else pd.DataFrame())
    causes.sort(key=lambda c: -(c.ms or 0.0))
    for extra in (placement_cause(left_only_in_int8), host_cause(row)):
        if extra is not None:
            causes.append(extra)
    return causes
