"""Shop the look: one query per garment of a photo, and the body part as a soft category hint.

Numpy only. The segmenter (:mod:`fashion.segment`) says which body part a garment covers (upper,
lower, full body, other); DeepFashion's categories have a type (1 upper, 2 lower, 3 full body).
The hint multiplies the probability of the categories worn on that part by ``strength`` and
renormalises: a confident network keeps its answer, an unsure one leans towards the part it sees.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

#: Body part of a garment → DeepFashion category type.
PART_CATEGORY_TYPE = {"upper": 1, "lower": 2, "full": 3}
#: The parts a user may ask for (``--garment``); ``other`` is shoes, bags, hats, accessories.
GARMENT_PARTS = ("upper", "lower", "full", "other")


def body_part_hint(category_probs: np.ndarray, category_types: Sequence[int], part: str,
                   strength: float) -> np.ndarray:
    """``category_probs`` leaning towards the categories of ``part`` (unchanged for other parts,
    for ``strength`` 1, or when the model has no category of that type)."""
    wanted = PART_CATEGORY_TYPE.get(part)
    probs = np.asarray(category_probs, dtype=np.float64)
    types = np.asarray(category_types)
    if wanted is None or strength == 1.0 or len(types) != len(probs) or not np.any(types == wanted):
        return np.asarray(category_probs, dtype=np.float32)
    leaned = probs * np.where(types == wanted, strength, 1.0)
    total = leaned.sum()
    return (leaned / total).astype(np.float32) if total > 0 else np.asarray(category_probs, dtype=np.float32)


@dataclass
class GarmentQuery:
    """One garment of a photo as a query: its body part, box and share of the garment pixels."""

    part: str
    box: tuple[int, int, int, int]
    share: float
    query: Any  # fashion.recommend.recommender.Query

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"part", "box", "share"}`` (the query is serialised beside it)."""
        return {"part": self.part, "box": [int(v) for v in self.box], "share": round(float(self.share), 4)}
