"""Outputs of the evaluate job: the table on screen, ``metrics.json``, ``metrics.csv``,
``grid_search.csv`` and ``metrics_vs_k.png`` (see :mod:`fashion.evaluate.run`)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from fashion.io_utils import atomic_path
from fashion.train.run_files import write_json

# Column titles of the metrics in the table and the plot.
TITLES = {
    "category_precision": "cat P@k",
    "colour_agreement": "colour@k",
    "mean_delta_e": "mean dE",
    "attribute_overlap": "attr J@k",
    "same_item_recall": "item R@k",
    "mean": "mean",
}
LONG_TITLES = {
    "category_precision": "category precision@k",
    "colour_agreement": "colour agreement@k (dominant dE2000 <= threshold)",
    "mean_delta_e": "mean dE2000 of dominant colours (lower is closer)",
    "attribute_overlap": "attribute overlap@k (Jaccard of true attributes)",
    "same_item_recall": "same-item Recall@k (In-shop)",
    "mean": "mean of the quality metrics",
}


def _number(value: Any, width: int = 8) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a".rjust(width)
    return f"{value:.3f}".rjust(width)


def available_metrics(report: dict[str, Any]) -> list[str]:
    """Metrics with a value for at least one method and k (a dataset without items has no item recall)."""
    retrieval = report["retrieval"]
    names = []
    for metric in TITLES:
        values = [v for method in retrieval.values() for v in method[metric].values()]
        if any(v is not None and math.isfinite(v) for v in values):
            names.append(metric)
    return names


def component_names_of(report: dict[str, Any]) -> list[str]:
    """The score components a report's weights name, in the order they first appear (a report is
    read on its own: the components registered now may differ from those it was made with)."""
    names: list[str] = []
    for weights in report.get("weights", {}).values():
        names += [name for name in weights if name not in names]
    return names


def _weights_cell(weights: dict[str, float] | None, names: list[str]) -> str:
    return "/".join(f"{weights.get(n, 0.0):.2f}" for n in names) if weights else "-"


def rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per (method, k): the long form written to ``metrics.csv``."""
    out = []
    weights = report.get("weights", {})
    names = component_names_of(report)
    for method, metrics in report["retrieval"].items():
        for k in report["protocol"]["ks"]:
            row: dict[str, Any] = {"method": method, "k": k}
            for component in names:
                row[f"w_{component}"] = weights.get(method, {}).get(component)
            for metric, by_k in metrics.items():
                row[metric] = by_k.get(k)
            out.append(row)
    return out


def format_table(report: dict[str, Any]) -> str:
    """The human-readable summary: classification, then every method's metrics at each k."""
    protocol, images = report["protocol"], report["images"]
    lines = []
    cls = report.get("classification", {})
    if "skipped" in cls:
        lines.append(f"classification: skipped ({cls['skipped']})")
    elif cls:
        parts = [f"category top-1 {_number(cls.get('category_top1'), 0)}",
                 f"top-3 {_number(cls.get('category_top3'), 0)}", f"top-5 {_number(cls.get('category_top5'), 0)}"]
        if "attribute_top3_recall" in cls:
            parts += [f"attribute recall@3 {_number(cls['attribute_top3_recall'], 0)}",
                      f"@5 {_number(cls['attribute_top5_recall'], 0)}"]
        lines.append(f"classification ({protocol['queries']}, {cls.get('images', 0)} images): " + " | ".join(parts))
    lines.append(f"recommendation: {images['queries']} queries ({protocol['queries']}) against "
                 f"{images['gallery']} gallery images ({protocol['gallery']}), own image excluded; colour agreement "
                 f"at dE2000 <= {protocol['match_delta_e']:g}")
    metrics = available_metrics(report)
    header = f"{'method':<10}{'k':>4}" + "".join(TITLES[m].rjust(10) for m in metrics)
    lines += [header, "-" * len(header)]
    for k in protocol["ks"]:
        for method, values in report["retrieval"].items():
            lines.append(f"{method:<10}{k:>4}" + "".join(_number(values[m].get(k), 10) for m in metrics))
        lines.append("")
    weights = report.get("weights", {})
    names = component_names_of(report)
    lines.append(f"weights ({', '.join(names)}): " + "; ".join(
        f"{name} {_weights_cell(w, names)}" for name, w in weights.items()))
    grid = report.get("grid_search", {})
    if "best_weights" in grid:
        lines.append(f"tuned = grid search on the {grid['split']} split ({grid['queries']} images, step "
                     f"{grid['step']:g}, objective {grid['objective']}): {grid['best_value']:.4f} vs configured "
                     f"{grid['configured_value']:.4f} there")
    elif grid:
        lines.append(f"grid search: {grid.get('skipped')}")
    counts = report.get("counts", {})
    if "same_item_recall" in metrics:
        lines.append(f"same-item recall over {counts.get('item_recall_queries')} queries; "
                     f"{counts.get('single_view_skipped')} skipped (no other view of their item in the gallery)")
    return "\n".join(lines).rstrip()


def write_outputs(report: dict[str, Any], out: Path) -> None:
    """``metrics.json``, ``metrics.csv``, ``grid_search.csv`` (when searched) and ``metrics_vs_k.png``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "metrics.json", report)
    with atomic_path(out / "metrics.csv") as tmp:
        pd.DataFrame(rows(report)).to_csv(tmp, index=False, float_format="%.6g")
    table = report.get("grid_search", {}).get("table")
    if table:
        with atomic_path(out / "grid_search.csv") as tmp:
            pd.DataFrame(table).to_csv(tmp, index=False, float_format="%.6g")
    plot_metrics(report, out / "metrics_vs_k.png")


def plot_metrics(report: dict[str, Any], path: Path) -> None:
    """One panel per metric, one line per method, metric against k."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = available_metrics(report)
    ks = report["protocol"]["ks"]
    columns = min(3, len(metrics))
    lines = math.ceil(len(metrics) / columns)
    figure, axes = plt.subplots(lines, columns, figsize=(4.2 * columns, 3.4 * lines), squeeze=False)
    for axis, metric in zip(axes.ravel(), metrics):
        for method, values in report["retrieval"].items():
            ys = [values[metric].get(k) for k in ks]
            ys = [float("nan") if y is None else y for y in ys]
            axis.plot(ks, ys, marker="o", label=method, linestyle="--" if method == "random" else "-")
        axis.set_title(LONG_TITLES[metric], fontsize=9)
        axis.set_xlabel("k")
        axis.set_xticks(ks)
        if metric != "mean_delta_e":
            axis.set_ylim(0, 1.02)
        axis.grid(alpha=0.3)
    for axis in axes.ravel()[len(metrics):]:
        axis.axis("off")
    axes.ravel()[0].legend(fontsize=8)
    figure.suptitle(f"{report['protocol']['queries']} queries vs {report['protocol']['gallery']} gallery", fontsize=10)
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=100)
    plt.close(figure)


def format_markdown(report: dict[str, Any], *, command: str, machine: str, seconds: dict[str, float] | None = None,
                    training: dict[str, Any] | None = None, ks: tuple[int, ...] = (5, 10)) -> str:
    """The figures of one evaluation as Markdown for a README's results section, with the command
    that produced them, the machine and the time it took."""
    import datetime as _dt

    protocol, images = report["protocol"], report["images"]
    lines = [f"Produced by `{command}` on {_dt.date.today().isoformat()} ({machine}).", ""]
    if training:
        lines.append("Training: " + ", ".join(f"{k} {v}" for k, v in training.items()) + ".")
    if seconds:
        lines.append("Wall clock: " + ", ".join(f"{k} {v / 60:.1f} min" for k, v in seconds.items()) + ".")
    cls = report.get("classification", {})
    if cls and "skipped" not in cls:
        lines += ["", f"Classification on the {protocol['queries']} split ({cls.get('images')} images): category "
                  f"top-1 {_number(cls.get('category_top1'), 0)}, top-3 {_number(cls.get('category_top3'), 0)}, "
                  f"top-5 {_number(cls.get('category_top5'), 0)}."]
    metrics = available_metrics(report)
    lines += ["", f"Recommendation: {images['queries']} query photos against {images['gallery']} gallery photos "
              f"({protocol['gallery']} split, each query's own photo excluded); colour agreement at "
              f"dE2000 <= {protocol['match_delta_e']:g}.", ""]
    shown = [k for k in ks if k in protocol["ks"]] or list(protocol["ks"])
    names = component_names_of(report)
    header = ["method", "weights " + "/".join(names)] + [f"{TITLES[m].replace('@k', '')}@{k}" for m in metrics for k in shown]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    weights = report.get("weights", {})
    for method, values in report["retrieval"].items():
        w = weights.get(method)
        cells = [method, _weights_cell(w, names)]
        cells += [_number(values[m].get(k), 0) for m in metrics for k in shown]
        lines.append("| " + " | ".join(cells) + " |")
    grid = report.get("grid_search", {})
    if "best_weights" in grid:
        lines += ["", f"`tuned`: best of a {len(grid['table'])}-point weight grid on the {grid['split']} split "
                  f"({grid['objective']} {grid['best_value']:.3f} there vs {grid['configured_value']:.3f} for the "
                  "configured blend); the test split was not used to choose it."]
    return "\n".join(lines) + "\n"
