"""The report's "Where the time goes" sections: per-op profiles of float and int8 side by
side for every model whose int8 speedup is below ``SLOW_SPEEDUP``, the coverage of every
profile (an unreliable one is marked, never hidden), and the measured outcome of the
``mixed_int8`` variant the profiles proposed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from qatbench.bench.presentation.sections import Section
from qatbench.bench.statistics.op_profiles import (
    RELIABLE_COVERAGE,
    ProfilePair,
    grown,
    is_reliable,
    outside_delegate,
    profile_pairs,
    side_by_side,
)
from qatbench.bench.storage.layout import PROFILE_NOTES_FILE, artifacts_dir
from qatbench.bench.storage.profiles import PROFILE_KEY, load_profiles
from qatbench.qat.artifacts import MANIFEST, MixedProposal, ModelBuild

SLOW_SPEEDUP = 1.5  # int8 below this speedup over float gets its "where the time goes"
MIXED = "mixed_int8"
LOW, HIGH = RELIABLE_COVERAGE


def _ms(value: object) -> str:
    return "" if value is None or pd.isna(value) else f"{float(value):.3g}"


def _coverage_text(value: object) -> str:
    verdict = is_reliable(value)
    if verdict is None:
        return "coverage unknown"
    text = f"coverage {float(value):.2f}"
    return text if verdict else f"{text} -- UNRELIABLE (outside {LOW}–{HIGH})"


def coverage_frame(profiles: pd.DataFrame) -> pd.DataFrame:
    """One line per profile: how many ops, their sum, the whole model, the coverage."""
    rows = []
    for key, lines in profiles.groupby(PROFILE_KEY, sort=False, dropna=False):
        record = dict(zip(PROFILE_KEY, key, strict=True))
        coverage = lines["coverage"].iloc[0]
        verdict = is_reliable(coverage)
        rows.append({
            "model": record["model"], "variant": record["variant"],
            "target": record["target"], "thr": record["threads"], "source": record["source"],
            "ops": len(lines), "timed": int(lines["p50_ms"].notna().sum()),
            "sum of ops ms": _ms(lines["p50_ms"].astype("Float64").sum(min_count=1)),
            "whole model ms": _ms(lines["whole_p50_ms"].iloc[0]),
            "coverage": "" if pd.isna(coverage) else f"{float(coverage):.2f}",
            "reliable": {True: "yes", False: "UNRELIABLE", None: "unknown"}[verdict]})
    return pd.DataFrame(rows)


def _speedup(results: pd.DataFrame, pair: ProfilePair) -> float | None:
    """The int8 row's speedup over float (results), else the profiles' whole models."""
    if not results.empty and "speedup_vs_float" in results:
        k = pair.key
        match = results[(results["model"] == k["model"]) & (results["target"] == k["target"])
                        & (results["variant"] == pair.int8_variant)
                        & (results["threads"] == k["threads"])
                        & (results["fingerprint"] == k["fingerprint"])]
        values = match["speedup_vs_float"].dropna()
        if not values.empty:
            return float(values.iloc[0])
    whole_float = pair.float_lines["whole_p50_ms"].iloc[0]
    whole_int8 = pair.int8_lines["whole_p50_ms"].iloc[0]
    if pd.notna(whole_float) and pd.notna(whole_int8) and whole_int8:
        return float(whole_float) / float(whole_int8)
    return None


def _op_list(frame: pd.DataFrame, limit: int = 6) -> str:
    by_type = frame.groupby("op_type", sort=False)["p50_ms"].agg(
        ms=lambda s: s.astype("Float64").sum(min_count=1), n="size").sort_values(
        "ms", ascending=False)
    parts = [f"{op}×{int(r.n)} {_ms(r.ms)} ms" for op, r in by_type.head(limit).iterrows()]
    more = len(by_type) - limit
    return ", ".join(parts) + (f" and {more} more types" if more > 0 else "") or "none"


def _table(pair: ProfilePair) -> pd.DataFrame:
    table = side_by_side(pair.float_lines, pair.int8_lines)
    return pd.DataFrame({
        "op type": table["op_type"],
        "float32 ms (ops)": [f"{_ms(m)} ({n})" if n else "" for m, n in
                             zip(table["float_ms"], table["float_ops"], strict=True)],
        f"{pair.int8_variant} ms (ops)": [f"{_ms(m)} ({n})" if n else "" for m, n in
                                          zip(table["int8_ms"], table["int8_ops"],
                                              strict=True)],
        "change ms": [f"{v:+.3g}" for v in table["change_ms"].astype(float)],
        "int8 / float": [_ms(v) for v in table["ratio"]]})


def _slug(*parts: object) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", "_".join(str(p) for p in parts))[:120]


def pair_section(pair: ProfilePair, speedup: float | None, plots_dir: Path) -> Section:
    from qatbench.bench.presentation.plots import plot_op_types

    k = pair.key
    table = side_by_side(pair.float_lines, pair.int8_lines)
    growth = grown(table)
    grew = ", ".join(f"{r.op_type} {r.change_ms:+.3g} ms" for r in growth.head(6).itertuples())
    speed = f"{speedup:.2f}x" if speedup is not None else "an unknown speedup"
    lines = [
        f"{k['model']}: {pair.int8_variant} runs at {speed} float32 on {k['target']} "
        f"x{k['threads']} (profile: {k['source']}).",
        f"Sum of the ops: float32 {_ms(pair.float_lines['p50_ms'].sum())} ms, "
        f"{_coverage_text(pair.float_lines['coverage'].iloc[0])}; {pair.int8_variant} "
        f"{_ms(pair.int8_lines['p50_ms'].sum())} ms, "
        f"{_coverage_text(pair.int8_lines['coverage'].iloc[0])}.",
        f"Time grew in int8: {grew or 'no op type'}.",
        f"Left outside the delegate in int8: {_op_list(outside_delegate(pair.int8_lines))}; "
        f"in float32: {_op_list(outside_delegate(pair.float_lines))}."]
    name = _slug(k["model"], k["target"], k["threads"], pair.int8_variant)
    plot = plot_op_types(table, f"{k['model']} on {k['target']} x{k['threads']}: "
                                f"float32 vs {pair.int8_variant} by op type",
                         plots_dir / f"op_types_{name}.png")
    return Section(f"Where the time goes: {k['model']} on {k['target']} x{k['threads']}",
                   "\n".join(lines), table=_table(pair), image=plot)


def _row(results: pd.DataFrame, mixed: pd.Series, variant: str) -> pd.Series | None:
    match = results[(results["model"] == mixed["model"]) & (results["variant"] == variant)
                    & (results["target"] == mixed["target"])
                    & (results["threads"] == mixed["threads"])
                    & (results["device"].fillna("") == ("" if pd.isna(mixed["device"])
                                                        else mixed["device"]))]
    if pd.notna(mixed["fingerprint"]):
        match = match[match["fingerprint"] == mixed["fingerprint"]]
    return match.iloc[0] if not match.empty else None


def _verdict(mixed: pd.Series, int8: pd.Series | None) -> str:
    """Faster, slower or indistinguishable from int8 by the rows' p50 CIs."""
    if int8 is None or pd.isna(int8["latency_ms_p50"]) or pd.isna(mixed["latency_ms_p50"]):
        return "not comparable (no int8 p50)"
    lo_m, hi_m = mixed["latency_ms_p50_ci_low"], mixed["latency_ms_p50_ci_high"]
    lo_q, hi_q = int8["latency_ms_p50_ci_low"], int8["latency_ms_p50_ci_high"]
    ratio = float(int8["latency_ms_p50"]) / float(mixed["latency_ms_p50"])
    if any(pd.isna(v) for v in (lo_m, hi_m, lo_q, hi_q)):
        return f"{ratio:.2f}x int8's speed (no CI to judge it)"
    if hi_m < lo_q:
        return f"faster than int8: {ratio:.2f}x (95% CIs apart)"
    if lo_m > hi_q:
        return f"slower than int8: {ratio:.2f}x (95% CIs apart)"
    return f"no measurable difference from int8 ({ratio:.2f}x; 95% CIs overlap)"


def _pct(value: object) -> str:
    return "–" if value is None or pd.isna(value) else f"{100 * float(value):.1f}%"


def _ratio(numerator: object, denominator: object) -> str:
    if any(v is None or pd.isna(v) for v in (numerator, denominator)) or not denominator:
        return ""
    return f"{float(numerator) / float(denominator):.2f}x"


def mixed_frame(results: pd.DataFrame, run_dirs: list[Path]) -> pd.DataFrame:
    """Every mixed_int8 row with its float32 and int8 siblings: measured, never proposed."""
    if results.empty:
        return pd.DataFrame()
    rows = []
    builds = {}
    for run_dir in run_dirs:
        for manifest in artifacts_dir(run_dir).glob(f"*/{MANIFEST}"):
            build = ModelBuild.load(manifest.parent)
            if build is not None:
                builds.setdefault(build.model, (build, MixedProposal.load(manifest.parent)))
    has_agreement = "agreement_top1" in results
    for _, mixed in results[results["variant"] == MIXED].iterrows():
        build, proposal = builds.get(str(mixed["model"]), (None, None))
        artifact = build.variants.get(MIXED) if build else None
        float_row = _row(results, mixed, "float32")
        int8 = _row(results, mixed, "ptq_int8")
        int8 = int8 if int8 is not None else _row(results, mixed, "qat_int8")
        kept = ", ".join(artifact.keep_float_ops) if artifact and artifact.keep_float_ops \
            else ", ".join(proposal.ops) if proposal else ""
        in_file = ", ".join(artifact.float_ops_in_file) if artifact else ""
        measured = mixed["status"] == "ok" and pd.notna(mixed["latency_ms_p50"])
        record = {
            "model": mixed["model"], "target": mixed["target"], "thr": mixed["threads"],
            "kept float (asked)": kept, "float in file": in_file,
            "p50 ms float / int8 / mixed": " / ".join(
                _ms(r["latency_ms_p50"]) if r is not None else "–"
                for r in (float_row, int8, mixed)),
            "mixed vs int8": _ratio(int8["latency_ms_p50"], mixed["latency_ms_p50"])
            if int8 is not None and measured else "",
            "mixed vs float": _ratio(float_row["latency_ms_p50"], mixed["latency_ms_p50"])
            if float_row is not None and measured else "",
            "outcome": _verdict(mixed, int8) if measured else
            f"{mixed['status']}: {mixed['error']}",
            "top-1 float / int8 / mixed": " / ".join(
                _pct(r["accuracy_top1"]) if r is not None else "–"
                for r in (float_row, int8, mixed)),
        }
        if has_agreement:
            record["agreement int8 / mixed"] = " / ".join(
                _pct(r["agreement_top1"]) if r is not None else "–" for r in (int8, mixed))
        rows.append(record)
    return pd.DataFrame(rows)


def _notes(run_dirs: list[Path]) -> list[str]:
    notes = []
    for run_dir in run_dirs:
        path = Path(run_dir) / PROFILE_NOTES_FILE
        if path.exists():
            notes += [f"{n['job']}: {n['note']}" for n in json.loads(path.read_text())]
    return notes


def profile_sections(results: pd.DataFrame, run_dirs: list[Path], plots: list[Path]
                     ) -> list[Section]:
    """The profile sections of a report (none when nothing was profiled or mixed).

    Plots go beside the report's other plots (``plots``' folder), else into the first
    run's ``plots/``.
    """
    if not run_dirs:  # tables built in memory: nothing was profiled
        return []
    profiles = load_profiles(run_dirs)
    plots_dir = plots[0].parent if plots else Path(run_dirs[0]) / "plots"
    sections = []
    notes = _notes(run_dirs)
    if not profiles.empty or notes:
        text = (
            "Per-op profiles: on the host, each op cut out as a one-op model fed the real "
            "tensors it sees in the model and timed with the whole model's rules, on the "
            "kernels the whole model gave it (host-cut); on a phone, benchmark_model's "
            "own op tables (--enable_op_profiling), from a run apart from the timed one. "
            f"Coverage is the sum of the ops over the whole model's p50; outside "
            f"{LOW}–{HIGH} the profile is marked UNRELIABLE (fusion, caches and per-call "
            "overhead are what cutting changes).")
        if notes:
            text += "\n" + "\n".join(f"- {n}" for n in notes)
        sections.append(Section("Per-op profiles", text,
                                table=coverage_frame(profiles) if not profiles.empty else None))
    for pair in profile_pairs(profiles):
        speedup = _speedup(results, pair)
        if speedup is not None and speedup >= SLOW_SPEEDUP:
            continue
        sections.append(pair_section(pair, speedup, plots_dir))
    mixed = mixed_frame(results, run_dirs)
    if not mixed.empty:
        sections.append(Section(
            "Made faster? mixed_int8, measured",
            "mixed_int8 is post-training int8 with the op types the profiles found slower "
            "in int8 (or left outside the delegate only in int8) kept float, timed in the "
            "same run. The outcome is the measurement, judged by the 95% CIs of the p50s; "
            "the top-1 (and agreement with float) columns are its accuracy cost.",
            table=mixed))
    return sections
