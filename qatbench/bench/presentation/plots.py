"""PNG plots of a run (or merged runs) and of the history across runs.

matplotlib with the Agg backend: no screen needed on a CI runner or device-lab host.
Each function returns the file it wrote, or None when the table holds nothing to draw
(a `compiled`-only Edge TPU run has no latency, for instance).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from qatbench.bench.presentation.summary import setup_labels

VARIANT_ORDER = ["float32", "ptq_int8", "qat_int8"]
COLOURS = {"float32": "#4c72b0", "ptq_int8": "#dd8452", "qat_int8": "#55a868"}
CLAIMED_SPEEDUP = (1.5, 4.0)  # the literature, on CPUs with int8 dot-product instructions


def _variants(frame: pd.DataFrame) -> list[str]:
    present = list(dict.fromkeys(frame["variant"].astype(str)))
    return [v for v in VARIANT_ORDER if v in present] + [v for v in present
                                                         if v not in VARIANT_ORDER]


def _label(row: pd.Series) -> str:
    """Where a bar was measured; with the setup when its target had several, so bars of
    two hosts never share a label (and one never hides the other)."""
    setup = row.get("setup", "")
    return f"{row['target']} x{row['threads']}" + (f" @{setup}" if setup else "")


def _save(fig: plt.Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _measured(results: pd.DataFrame) -> pd.DataFrame:
    return results[(results["status"] == "ok") & results["latency_ms_p50"].notna()]


def plot_latency(results: pd.DataFrame, path: Path) -> Path | None:
    """p50 per model × variant × target, the bootstrap 95% CI as error bars."""
    data = _measured(results)
    if data.empty:
        return None
    models = list(dict.fromkeys(data["model"].astype(str)))
    fig, axes = plt.subplots(len(models), 1, figsize=(8, 3.2 * len(models)), squeeze=False)
    for ax, model in zip(axes[:, 0], models, strict=True):
        rows = data[data["model"] == model]
        groups = list(dict.fromkeys(_label(r) for _, r in rows.iterrows()))
        variants = _variants(rows)
        width = 0.8 / len(variants)
        for i, variant in enumerate(variants):
            for j, group in enumerate(groups):
                match = [r for _, r in rows.iterrows()
                         if r["variant"] == variant and _label(r) == group]
                if not match:
                    continue
                row = match[0]
                p50 = float(row["latency_ms_p50"])
                low = p50 - float(row["latency_ms_p50_ci_low"]) \
                    if pd.notna(row["latency_ms_p50_ci_low"]) else 0.0
                high = float(row["latency_ms_p50_ci_high"]) - p50 \
                    if pd.notna(row["latency_ms_p50_ci_high"]) else 0.0
                ax.bar(j + i * width, p50, width, color=COLOURS.get(variant, "grey"),
                       yerr=[[max(low, 0)], [max(high, 0)]], capsize=3,
                       label=variant if j == 0 or variant not in
                       ax.get_legend_handles_labels()[1] else None)
        ax.set_xticks([j + width * (len(variants) - 1) / 2 for j in range(len(groups))],
                      groups)
        ax.set_ylabel("p50 latency (ms)")
        ax.set_title(f"{model}: latency (95% CI of the median)")
        ax.legend(fontsize=8)
    return _save(fig, path)


def plot_speedup(results: pd.DataFrame, path: Path) -> Path | None:
    """int8 speedup over float32, beside the 1.5–4x band the literature reports.

    The band is labelled with where it holds -- CPUs with int8 dot-product instructions
    (x86 VNNI/AMX-INT8, Arm dotprod/i8mm) -- because on an AVX2-only host int8 can be
    slower than float (README, "int8 speed depends on the CPU"): the band is a
    reference, never a promise for the host the bars were measured on."""
    data = results[results["speedup_vs_float"].notna() & (results["variant"] != "float32")]
    if data.empty:
        return None
    labels = [f"{r['model']}\n{r['variant']}\n{_label(r)}" for _, r in data.iterrows()]
    values = data["speedup_vs_float"].astype(float).to_numpy()
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(values) + 2), 4.5))
    ax.axhspan(*CLAIMED_SPEEDUP, color="#55a868", alpha=0.12,
               label=f"literature {CLAIMED_SPEEDUP[0]}–{CLAIMED_SPEEDUP[1]:.0f}x (CPUs with "
               "int8 dot-product instructions)")
    ax.axhline(1.0, color="black", linewidth=0.8)
    colours = [COLOURS.get(str(v), "grey") if s >= 1 else "#c44e52"
               for v, s in zip(data["variant"], values, strict=True)]
    ax.bar(range(len(values)), values, color=colours)
    for x, value in enumerate(values):
        ax.text(x, value, f"{value:.2f}x", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(len(values)), labels, fontsize=7)
    ax.set_ylabel("speedup over float32 (×)")
    ax.set_title("int8 speedup (red: slower than float)")
    ax.legend(fontsize=8)
    return _save(fig, path)


def pareto_front(latency: np.ndarray, accuracy: np.ndarray) -> np.ndarray:
    """Indices of points no other point beats on both lower latency and higher accuracy."""
    order = np.lexsort((-accuracy, latency))
    front, best = [], -np.inf
    for index in order:
        if accuracy[index] > best:
            front.append(index)
            best = accuracy[index]
    return np.array(front, dtype=int)


def resolvable_front(latency: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """The Pareto front when accuracy is known only to an interval.

    The fastest point is on the front; a slower one joins only when its interval lies
    wholly above the interval of *every* faster point. Two models whose intervals overlap
    are a tie, and the tie goes to the faster one: a 0.7-point "win" on 1,000 images is
    not drawn as a win.
    """
    front = []
    for index in np.argsort(latency, kind="stable"):
        faster = latency < latency[index]
        if not faster.any() or bool(np.all(low[index] > high[faster])):
            front.append(index)
    return np.array(front, dtype=int)


def _interval(rows: pd.DataFrame, value: np.ndarray, column: str) -> np.ndarray:
    """The stored Wilson bound in %, or the figure itself where none was stored."""
    if column not in rows:
        return value
    bound = 100 * rows[column].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
    return np.where(np.isnan(bound), value, bound)


def plot_accuracy_latency(results: pd.DataFrame, path: Path) -> Path | None:
    """Top-1 against p50, a point per variant with its Wilson 95% interval as error bar;
    the front joins only points whose accuracy is resolvably better (``resolvable_front``)."""
    data = _measured(results)
    data = data[data["accuracy_top1"].notna()]
    if data.empty:
        return None
    if "setup" not in data:  # called without write_run_plots: one setup per target
        data = data.assign(setup="")
    groups = list(data.groupby(["model", "target", "threads", "setup"], sort=False))
    fig, axes = plt.subplots(1, len(groups), figsize=(4.5 * len(groups), 4), squeeze=False)
    for ax, ((model, target, threads, setup), rows) in zip(axes[0], groups, strict=True):
        latency = rows["latency_ms_p50"].astype(float).to_numpy()
        accuracy = 100 * rows["accuracy_top1"].astype(float).to_numpy()
        low = _interval(rows, accuracy, "accuracy_top1_ci_low")
        high = _interval(rows, accuracy, "accuracy_top1_ci_high")
        for x, y, lo, hi, variant in zip(latency, accuracy, low, high,
                                         rows["variant"].astype(str), strict=True):
            ax.errorbar(x, y, yerr=[[max(y - lo, 0)], [max(hi - y, 0)]], fmt="o",
                        color=COLOURS.get(variant, "grey"), label=variant, capsize=3,
                        zorder=3)
        front = resolvable_front(latency, low, high)
        ax.plot(latency[front], accuracy[front], "--", color="black", linewidth=0.8,
                label="Pareto front")
        ax.scatter(latency[front], accuracy[front], s=160, facecolors="none",
                   edgecolors="black")
        ax.set_xlabel("p50 latency (ms)")
        ax.set_ylabel("top-1 (%), Wilson 95% interval")
        ax.set_title(f"{model} on {target} x{threads}" + (f" @{setup}" if setup else "")
                     + "\nfront: only resolvable accuracy gains", fontsize=9)
        ax.legend(fontsize=7)
    return _save(fig, path)


def plot_size(results: pd.DataFrame, path: Path) -> Path | None:
    """Model file size per variant, the shrink factor over float32 written on each bar."""
    data = results[results["size_bytes"].notna()].drop_duplicates(["model", "variant"])
    if data.empty:
        return None
    models = list(dict.fromkeys(data["model"].astype(str)))
    variants = _variants(data)
    width = 0.8 / len(variants)
    fig, ax = plt.subplots(figsize=(max(5, 1.8 * len(models) + 2), 4))
    for i, variant in enumerate(variants):
        for j, model in enumerate(models):
            row = data[(data["model"] == model) & (data["variant"] == variant)]
            if row.empty:
                continue
            size_mb = float(row["size_bytes"].iloc[0]) / 1e6
            ax.bar(j + i * width, size_mb, width, color=COLOURS.get(variant, "grey"),
                   label=variant if j == 0 else None)
            shrink = row["size_ratio_vs_float"].iloc[0]
            if pd.notna(shrink) and variant != "float32":
                ax.text(j + i * width, size_mb, f"{shrink:.1f}x", ha="center", va="bottom",
                        fontsize=8)
    ax.set_yscale("log")
    ax.set_xticks([j + width * (len(variants) - 1) / 2 for j in range(len(models))], models)
    ax.set_ylabel("file size (MB, log)")
    ax.set_title("model size (shrink over float32)")
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_op_types(table: pd.DataFrame, title: str, path: Path, top: int = 8) -> Path | None:
    """Stacked bars, float beside int8: each op type's total time (``side_by_side``'s
    ``op_type``, ``float_ms``, ``int8_ms``); the ``top`` largest named, the rest summed."""
    if table.empty:
        return None
    data = table[["op_type", "float_ms", "int8_ms"]].copy()
    data[["float_ms", "int8_ms"]] = data[["float_ms", "int8_ms"]].astype(float).fillna(0.0)
    data = data.assign(_size=data[["float_ms", "int8_ms"]].max(axis=1)).sort_values(
        "_size", ascending=False)
    shown, rest = data.iloc[:top], data.iloc[top:]
    if not rest.empty:
        shown = pd.concat([shown, pd.DataFrame([{"op_type": f"other ({len(rest)} types)",
                                                 "float_ms": rest["float_ms"].sum(),
                                                 "int8_ms": rest["int8_ms"].sum()}])])
    fig, ax = plt.subplots(figsize=(6, 4.5))
    colours = plt.get_cmap("tab20").colors
    bottoms = np.zeros(2)
    for i, row in enumerate(shown.itertuples()):
        heights = np.array([row.float_ms, row.int8_ms])
        ax.bar([0, 1], heights, 0.6, bottom=bottoms, color=colours[i % len(colours)],
               label=str(row.op_type))
        bottoms += heights
    for x, total in enumerate(bottoms):
        ax.text(x, total, f"{total:.3g} ms", ha="center", va="bottom", fontsize=8)
    ax.set_xticks([0, 1], ["float32", "int8"])
    ax.set_ylabel("sum of op p50s (ms)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, bbox_to_anchor=(1.02, 1), loc="upper left")
    return _save(fig, path)


def write_run_plots(results: pd.DataFrame, plots_dir: Path) -> list[Path]:
    results = results.assign(setup=setup_labels(results).to_numpy())
    written = [
        plot_latency(results, plots_dir / "latency.png"),
        plot_speedup(results, plots_dir / "speedup.png"),
        plot_accuracy_latency(results, plots_dir / "accuracy_vs_latency.png"),
        plot_size(results, plots_dir / "size.png"),
    ]
    return [p for p in written if p is not None]

