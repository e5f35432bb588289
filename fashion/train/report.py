"""Human-readable training reports, with the published DeepFashion numbers alongside."""

from __future__ import annotations

from typing import Any

from fashion.train.metrics import PUBLISHED


def _pct(value: Any) -> str:
    return "  n/a" if value is None or value != value else f"{100 * value:5.2f}"


def format_final_report(metrics: dict[str, Any]) -> str:
    """The end-of-training summary: test metrics, per type, and published anchors for DeepFashion."""
    test = metrics["test"]
    lines = [f"test split: {test.get('images', 0)} images"]
    lines.append(f"  category top-1 {_pct(test.get('category_top1'))} | top-3 {_pct(test.get('category_top3'))}"
                 f" | top-5 {_pct(test.get('category_top5'))}   (majority-class guess: "
                 f"{_pct(metrics.get('majority_class_test_accuracy'))})")
    if "attribute_top3_recall" in test:
        lines.append(f"  attribute recall top-3 {_pct(test['attribute_top3_recall'])} | top-5 "
                     f"{_pct(test['attribute_top5_recall'])}  (paper protocol; true negatives not counted)")
        for group in ("texture", "fabric", "shape", "part", "style"):
            if f"attribute_top3_recall_{group}" in test:
                lines.append(f"    {group:<8} top-3 {_pct(test[f'attribute_top3_recall_{group}'])} | top-5 "
                             f"{_pct(test[f'attribute_top5_recall_{group}'])}")
    # The published anchors only mean something on the real DeepFashion benchmark, not on the sample.
    if metrics.get("layout") == "deepfashion" and not metrics.get("builtin_sample"):
        lines.append("  DeepFashion coarse benchmark, top-3 | top-5 (%):")
        lines.append(f"    {'this run':<30} category {_pct(test.get('category_top3'))} | "
                     f"{_pct(test.get('category_top5'))}   attributes {_pct(test.get('attribute_top3_recall'))} | "
                     f"{_pct(test.get('attribute_top5_recall'))}")
        for name in ("FashionNet (Liu et al. 2016)", "Liu & Lu 2018"):
            published = PUBLISHED[name]
            lines.append(f"    {name:<30} category {published['category'][0]:5.2f} | {published['category'][1]:5.2f}"
                         f"   attributes {published['attribute'][0]:5.2f} | {published['attribute'][1]:5.2f}")
    per_class = test.get("per_class_accuracy") or []
    names = metrics.get("category_names") or []
    shown = [(names[i] if i < len(names) else str(i), acc) for i, acc in enumerate(per_class) if acc is not None]
    if shown:
        lines.append("  per-class top-1: " + ", ".join(f"{name} {_pct(acc).strip()}" for name, acc in shown))
    return "\n".join(lines)
