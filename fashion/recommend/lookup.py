"""The label lookups (``recommend.py --categories`` / ``--attributes``): names, types and catalog
counts from the labels and a catalog index, numpy only (no torch: they run without the model)."""

from __future__ import annotations

from typing import Any

import numpy as np

from fashion.data.datasets import ATTRIBUTE_TYPE_NAMES, CATEGORY_TYPE_NAMES
from fashion.index.catalog import Catalog
from fashion.model.labels import Labels


def category_rows(labels: Labels, catalog: Catalog, text: str = "") -> list[dict[str, Any]]:
    """Categories whose name contains ``text`` (case-insensitive): id, name, body part, catalog items.

    An item counts under its catalog label, or its predicted category where it has none (or
    a label the model does not know).
    """
    known = set(labels.category_names)
    predicted = np.asarray(labels.category_names, dtype=object)[catalog.predicted_category]
    counts: dict[str, int] = {}
    # A label from another vocabulary (a shop's metadata.csv) counts under the predicted category.
    for label, guess in zip(catalog.items["label"], predicted):
        name = label if label in known else guess
        counts[name] = counts.get(name, 0) + 1
    needle = text.casefold().strip()
    return [{"id": i, "name": name, "type": CATEGORY_TYPE_NAMES.get(labels.category_types[i], "unknown"),
             "items": counts.get(name, 0)}
            for i, name in enumerate(labels.category_names) if needle in name.casefold()]


def attribute_rows(labels: Labels, catalog: Catalog, threshold: float, text: str = "") -> list[dict[str, Any]]:
    """Attributes whose name or type contains ``text``: id, name, type, catalog items predicting it."""
    hits = np.asarray(catalog.attribute_probs, dtype=np.float32) >= threshold
    counts = np.bincount(np.asarray(catalog.attribute_index)[hits].ravel(), minlength=len(labels.attribute_names))
    needle = text.casefold().strip()
    rows = []
    for i, name in enumerate(labels.attribute_names):
        kind = ATTRIBUTE_TYPE_NAMES.get(labels.attribute_types[i], "other")
        if needle in name.casefold() or needle == kind:
            rows.append({"id": i, "name": name, "type": kind, "items": int(counts[i])})
    return rows
