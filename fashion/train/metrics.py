"""Classification metrics, comparable with the DeepFashion papers.

No metric here counts true negatives as hits: attribute quality is top-k *recall* of the positive
attributes (Liu et al. 2016 protocol), never per-attribute accuracy, which is ~99% for a model that
predicts "absent" everywhere.
"""

from __future__ import annotations

import numpy as np

# Published DeepFashion coarse results (top-3 | top-5), see DESIGN.md.
PUBLISHED = {
    "FashionNet (Liu et al. 2016)": {"category": (82.58, 90.17), "attribute": (45.52, 54.61)},
    "Wang et al. 2018": {"category": (90.99, 95.78), "attribute": (51.53, 60.95)},
    "Liu & Lu 2018": {"category": (91.16, 96.12), "attribute": (54.69, 63.74)},
}


def _topk_indices(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k highest scores per row; ties broken by the lower index (stable)."""
    k = min(k, scores.shape[1])
    # A stable sort on negated scores keeps the lower index first among equal scores.
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


def topk_accuracy(scores: np.ndarray, targets: np.ndarray, ks: tuple[int, ...] = (1, 3, 5)) -> dict[int, float]:
    """Share of rows whose target is among the k highest scores, for each k.

    Rows with target -1 (unknown category) are ignored. Returns NaN when no row has a target.
    """
    scores = np.asarray(scores, dtype=np.float64)
    targets = np.asarray(targets)
    known = targets >= 0
    if not known.any():
        return {k: float("nan") for k in ks}
    scores, targets = scores[known], targets[known]
    top = _topk_indices(scores, max(ks))
    hits = top == targets[:, None]
    return {k: float(hits[:, :k].any(axis=1).mean()) for k in ks}


def per_class_accuracy(scores: np.ndarray, targets: np.ndarray, num_classes: int) -> list[float | None]:
    """Top-1 accuracy of each class (None for classes without examples)."""
    predictions = np.asarray(scores).argmax(axis=1)
    targets = np.asarray(targets)
    result: list[float | None] = []
    for cls in range(num_classes):
        mask = targets == cls
        result.append(float((predictions[mask] == cls).mean()) if mask.any() else None)
    return result


def attribute_topk_recall(
    scores: np.ndarray,
    labels: np.ndarray,
    attribute_types: list[int] | np.ndarray,
    ks: tuple[int, ...] = (3, 5),
) -> dict[str, dict[int, float]]:
    """Attribute top-k recall by the DeepFashion paper protocol.

    For each image, all attributes are ranked by score; the image's positive attributes (label 1;
    -1 negative and 0 unknown are not positives) found among its top k are counted. Per attribute
    type, recall@k = (sum over images of positives of that type in the top k) / (sum over images
    of positives of that type). ``"all"`` pools every type. Ties rank the lower index first.

    Returns ``{"all": {3: r, 5: r}, "texture": {...}, ...}``; a type with no positives is omitted.
    """
    from fashion.data.datasets import ATTRIBUTE_TYPE_NAMES

    scores = np.asarray(scores, dtype=np.float64)
    positives = np.asarray(labels) == 1
    types = np.asarray(attribute_types)
    order = np.argsort(-scores, axis=1, kind="stable")
    # rank[i, a] = position of attribute a in image i's ranking (0 = best).
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(scores.shape[1])[None, :].repeat(len(scores), 0), axis=1)
    groups: dict[str, np.ndarray] = {"all": np.ones(len(types), dtype=bool)}
    for type_id in sorted(set(types.tolist())):
        groups[ATTRIBUTE_TYPE_NAMES.get(int(type_id), f"type{type_id}")] = types == type_id
    result: dict[str, dict[int, float]] = {}
    for name, columns in groups.items():
        pos = positives[:, columns]
        total = pos.sum()
        if total == 0:
            continue
        result[name] = {k: float((pos & (rank[:, columns] < k)).sum() / total) for k in ks}
    return result


def classification_report(
    category_scores: np.ndarray,
    category_targets: np.ndarray,
    attribute_scores: np.ndarray | None,
    attribute_labels: np.ndarray | None,
    attribute_types: list[int],
    num_categories: int,
) -> dict[str, float | list | dict]:
    """All classification metrics as a flat-ish dict (keys used by history, metrics.json, best_metric)."""
    report: dict[str, float | list | dict] = {}
    for k, value in topk_accuracy(category_scores, category_targets).items():
        report[f"category_top{k}"] = value
    report["per_class_accuracy"] = per_class_accuracy(category_scores, category_targets, num_categories)
    if attribute_scores is not None and attribute_labels is not None and attribute_scores.shape[1] > 0:
        recall = attribute_topk_recall(attribute_scores, attribute_labels, attribute_types)
        for group, by_k in recall.items():
            for k, value in by_k.items():
                key = f"attribute_top{k}_recall" if group == "all" else f"attribute_top{k}_recall_{group}"
                report[key] = value
    # One number for selecting checkpoints on both tasks (``train.best_metric``); with no
    # attribute labels it is the category top-1 alone.
    attribute_recall = report.get("attribute_top3_recall")
    report["category_attribute_mean"] = (
        report["category_top1"] if attribute_recall is None else (report["category_top1"] + attribute_recall) / 2
    )
    return report
