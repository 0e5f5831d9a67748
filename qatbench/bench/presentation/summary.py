"""The table a user reads first: per model and target, float -> int8 size, latency, top-1.

Derived from the results table only; every figure in it was measured in the run.
"""

from __future__ import annotations

import math

import pandas as pd

from qatbench.bench.storage.fingerprint import parse_parts
from qatbench.bench.storage.relative import GROUP, with_shared_device

SETUP_DIGITS = 8  # of a fingerprint, enough to tell the setups of one report apart


def with_shared_fingerprint(results: pd.DataFrame) -> pd.DataFrame:
    """``fingerprint`` as text on every row ("" for rows that have none).

    Rows that never reached the device (skipped, unavailable) carry no fingerprint; they
    belong with the rows that did, for the same model, target, device and threads, so a
    float32 row skipped on an Edge TPU still shares its int8 sibling's line.
    """
    out = with_shared_device(results)
    column = out["fingerprint"]
    named = column.astype("string").where(column.fillna("") != "")
    shared = named.groupby([out[c] for c in GROUP], dropna=False).transform("first")
    out["fingerprint"] = named.fillna(shared).fillna("").astype(str)
    return out


def targets_with_several_setups(results: pd.DataFrame) -> set[str]:
    """Targets measured under more than one fingerprint (a merge of two hosts, a runtime
    upgrade between shards): their rows must be shown apart, never compared."""
    shared = with_shared_fingerprint(results)
    named = shared[shared["fingerprint"] != ""]
    counts = named.groupby(named["target"].astype(str))["fingerprint"].nunique()
    return {str(t) for t, n in counts.items() if n > 1}


def setup_labels(results: pd.DataFrame) -> pd.Series:
    """A short fingerprint for rows of targets with several setups, "" for the others."""
    shared = with_shared_fingerprint(results)
    several = shared["target"].astype(str).isin(targets_with_several_setups(results))
    return shared["fingerprint"].str.slice(0, SETUP_DIGITS).where(several, "")


def setup_differences(results: pd.DataFrame) -> list[str]:
    """One sentence per target with several fingerprints, naming the parts that differ."""
    shared = with_shared_fingerprint(results)
    lines = []
    for target in sorted(targets_with_several_setups(results)):
        rows = shared[(shared["target"].astype(str) == target) & (shared["fingerprint"] != "")]
        parts = {str(row["fingerprint"])[:SETUP_DIGITS]:
                 parse_parts(row.get("fingerprint_parts"))
                 for row in rows.drop_duplicates("fingerprint").to_dict("records")}
        names = sorted({name for p in parts.values() for name in p
                        if len({q.get(name, "(absent)") for q in parts.values()}) > 1})
        detail = "; ".join(
            f"{name}: " + " vs ".join(f"{_short(p.get(name, '(absent)'))} ({fp})"
                                      for fp, p in parts.items()) for name in names)
        how = f"which differ in {detail}" if detail else \
            "whose recorded parts do not say how they differ (no fingerprint_parts)"
        lines.append(
            f"- `{target}` was measured on {len(parts)} setups ({', '.join(parts)}), {how}. "
            "Their rows are shown apart (column `setup`) and no ratio or comparison "
            "crosses them.")
    return lines


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# the variants a summary line compares with float32, in this order, and their short
# labels: PTQ and QAT always, the others (LiteRT Quantizer, selective QAT, mixed int8)
# where the results hold them
SUMMARY_VARIANTS = {"ptq_int8": "PTQ", "qat_int8": "QAT", "qat_selective": "selQAT",
                    "mixed_int8": "mixed", "dynamic_int8": "dyn8", "int8_weights": "w8",
                    "int4_weights": "w4", "fp16": "fp16"}
ALWAYS_SHOWN = ("ptq_int8", "qat_int8")


def size_unit(sizes: object) -> tuple[str, float]:
    """One unit for every size of a table (kB below 1 MB, else MB; decimal, as file
    managers and ``ls -h --si`` print), so two sizes side by side never differ in unit."""
    values = pd.to_numeric(pd.Series(sizes, dtype="object"), errors="coerce").dropna()
    largest = float(values.max()) if len(values) else 0.0
    return ("MB", 1e6) if largest >= 1e6 else ("kB", 1e3)


def three_digits(value: float) -> str:
    """Three significant digits, never in exponent form: 0.00412, 4.12, 412, 4,120."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    decimals = max(0, 2 - math.floor(math.log10(abs(value))))
    return f"{value:,.{decimals}f}"


def size_text(size: object, divisor: float) -> str:
    """A size in the table's unit (``size_unit``), three significant digits."""
    return "" if pd.isna(size) else three_digits(float(size) / divisor)


def _ms(value: object) -> str:
    """Milliseconds with three significant digits: 0.00123 and 123 both read well."""
    return "" if pd.isna(value) else f"{float(value):.3g}"


def _ratio(value: object) -> str:
    return "" if pd.isna(value) else f"{float(value):.2f}x"


def _pct(value: object) -> str:
    return "–" if pd.isna(value) else f"{100 * float(value):.1f}%"


def _half_width(row: dict, column: str) -> float | None:
    """Half the Wilson interval in points (the larger side: the interval is skewed)."""
    value, low, high = (row.get(c) for c in (column, f"{column}_ci_low",
                                             f"{column}_ci_high"))
    if any(v is None or pd.isna(v) for v in (value, low, high)):
        return None
    return 100 * max(float(value) - float(low), float(high) - float(value))


def _figures(rows: list[dict], column: str) -> str:
    """``96.3% / 96.2% / 96.9% ±1.2``: the figures and the widest 95% half-interval among
    them, so a difference smaller than it reads as what it is."""
    if all(r.get(column) is None or pd.isna(r.get(column)) for r in rows):
        return " / ".join("–" for _ in rows)
    text = " / ".join(_pct(r.get(column)) for r in rows)
    widths = [w for r in rows if (w := _half_width(r, column)) is not None]
    return text + (f" ±{max(widths):.1f}" if widths else "")


def _errors(rows: list[dict], column: str = "mae") -> str:
    """``0.0412 / 0.0415 / – ±0.0031``: an error against the truth per variant and the
    widest half of their 95% bootstrap intervals."""
    def text(row: dict) -> str:
        value = row.get(column)
        return "–" if value is None or pd.isna(value) else three_digits(float(value))

    widths = []
    for row in rows:
        value, low, high = (row.get(c) for c in (column, f"{column}_ci_low",
                                                 f"{column}_ci_high"))
        if not any(v is None or pd.isna(v) for v in (value, low, high)):
            widths.append(max(float(value) - float(low), float(high) - float(value)))
    return " / ".join(text(r) for r in rows) + (
        f" ±{three_digits(max(widths))}" if widths else "")


def _db(value: object) -> str:
    if value is None or pd.isna(value):
        return "–"
    return "inf" if math.isinf(float(value)) else f"{float(value):.1f}"


def has_truth_errors(results: pd.DataFrame) -> bool:
    """Rows with an error against the truth (a labelled regression output)."""
    return "mae" in results and bool(results["mae"].notna().any())


def has_outputs_without_classes(results: pd.DataFrame) -> bool:
    """int8 rows judged by SNR against float alone: no top-1 (no class output with
    labels) but an output SNR -- regression heads, detectors, embeddings."""
    if "output_snr_db" not in results or "accuracy_top1" not in results:
        return False
    int8 = results["variant"].astype(str) != "float32"
    return bool((int8 & results["accuracy_top1"].isna()
                 & results["output_snr_db"].notna()).any())


def _arrow(before: str, after: str, ratio: str) -> str:
    if not before and not after:
        return ""
    return f"{before or '?'}→{after or '?'}" + (f" {ratio}" if ratio else "")


def shown_variants(results: pd.DataFrame) -> list[str]:
    """PTQ and QAT, then every other variant the results hold, in ``SUMMARY_VARIANTS``
    order (a variant unknown here comes last, under its own name)."""
    present = {str(v) for v in results["variant"]} - {"float32"}
    known = [v for v in SUMMARY_VARIANTS if v in ALWAYS_SHOWN or v in present]
    return known + sorted(present - set(SUMMARY_VARIANTS))


def summary_frame(results: pd.DataFrame) -> pd.DataFrame:
    """One line per model x target x device x threads: float -> each int8 variant.

    Sizes in one unit for the whole table (named in the column) and p50 in ms, each
    ``float→variant ratio`` (shrink, speedup); PTQ and QAT always, the LiteRT Quantizer
    and other variants where the run built them. Outputs that are not a class vector get
    their own headline: MAE against the true values where they have labels, SNR
    against float. A target measured under several
    fingerprints gets one line per fingerprint (``setup``), so a float32 row of one
    host never stands next to an int8 row of another.
    """
    rows = []
    several = targets_with_several_setups(results)
    variants = shown_variants(results) if not results.empty else list(ALWAYS_SHOWN)
    unit, divisor = size_unit(results.get("size_bytes", []))
    labels = [SUMMARY_VARIANTS.get(v, v) for v in variants]
    truth, snr_only = has_truth_errors(results), has_outputs_without_classes(results)
    results = with_shared_fingerprint(results)
    for key, group in results.groupby([*GROUP, "fingerprint"], dropna=False, sort=False):
        by_variant = {str(v): r for v, r in zip(group["variant"], group.to_dict("records"),
                                                strict=True)}
        base = by_variant.get("float32", {})
        line = dict(zip(GROUP, key[:-1], strict=True))
        line["setup"] = key[-1][:SETUP_DIGITS] if str(line["target"]) in several else ""
        for label, variant in zip(labels, variants, strict=True):
            row = by_variant.get(variant, {})
            line[f"size {label} ({unit})"] = _arrow(
                size_text(base.get("size_bytes"), divisor),
                size_text(row.get("size_bytes"), divisor),
                _ratio(row.get("size_ratio_vs_float")))
            basis = row.get("speedup_basis")
            stat = "latency_ms_p50" if basis != "mean" else "latency_ms_mean"
            line[f"p50 ms {label}"] = _arrow(
                _ms(base.get(stat)), _ms(row.get(stat)),
                _ratio(row.get("speedup_vs_float")) + (" (mean)" if basis == "mean" else ""))
        shown = [by_variant.get(v, {}) for v in variants]
        line[f"top-1 f/{'/'.join(labels)}"] = _figures(
            [by_variant.get("float32", {}), *shown], "accuracy_top1")
        line[f"agree {'/'.join(labels)}"] = _figures(shown, "agreement_top1")
        if truth:  # a regression output's headline: error against the true values
            line[f"MAE f/{'/'.join(labels)}"] = _errors([base, *shown])
        if snr_only:  # and against float, for outputs no top-1 describes
            line[f"SNR dB {'/'.join(labels)}"] = " / ".join(
                _db(r.get("output_snr_db")) for r in shown)
        statuses = sorted({str(s) for s in group["status"]} - {"ok"})
        line["status"] = "ok" if not statuses else ", ".join(statuses)
        rows.append(line)
    frame = pd.DataFrame(rows).rename(columns={"threads": "thr"})
    if not frame.empty and frame["device"].astype(str).nunique() <= 1:
        frame = frame.drop(columns="device")  # one device: said once, in the environment
    if not frame.empty and not several:
        frame = frame.drop(columns="setup")  # one setup per target: nothing to tell apart
    return frame


def problems_frame(results: pd.DataFrame) -> pd.DataFrame:
    """Rows that are not ``ok``, with what went wrong: the whole error (its layer list
    and advice too; the console wraps it, report.md keeps it in one cell), else the note."""
    bad = results[results["status"] != "ok"]
    return pd.DataFrame({
        "model": bad["model"], "variant": bad["variant"], "target": bad["target"],
        "threads": bad["threads"], "status": bad["status"],
        "reason": bad["error"].fillna("").where(bad["error"].fillna("") != "", bad["note"])
        .fillna("").astype(str).str.strip(),
    })
