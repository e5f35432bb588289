"""Recommendation-quality metrics on ranked result lists (pure numpy functions).

Every metric takes ``ranked``: a ``(Q, K)`` int array of gallery indices, best first, one row per
query, padded with ``-1`` where fewer than ``K`` results exist (see :func:`rank`). Each returns
``{k: value}`` for the requested ``ks``, averaged over the queries it applies to; ``NaN`` when no
query qualifies (e.g. a dataset without attributes).

Precision-like metrics divide by the number of results actually returned in the top ``k``
(``min(k, gallery size)``), not by ``k``: a tiny gallery should not look worse just for being
small.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fashion.colour.spaces import ciede2000

Ks = tuple[int, ...]
DEFAULT_KS: Ks = (1, 5, 10)


# ----------------------------------------------------------------------------------- ranking


def rank(scores: np.ndarray, k: int, exclude: np.ndarray | None = None) -> np.ndarray:
    """The ``k`` best gallery indices per query row of ``scores (Q, N)``: ``(Q, k)`` int64.

    Ties rank the lower gallery index first (a stable sort), so results are deterministic.
    ``exclude (Q,)`` holds, per query, a gallery column never to return (the query image itself
    when it is in the gallery) or -1. Entries that are ``-inf`` or NaN are never returned either;
    missing places are padded with -1.
    """
    scores = np.array(scores, dtype=np.float64, copy=True)
    if scores.ndim != 2:
        raise ValueError(f"scores must be (Q, N), got shape {scores.shape}")
    scores[np.isnan(scores)] = -np.inf
    if exclude is not None:
        exclude = np.asarray(exclude, dtype=np.int64)
        rows = np.flatnonzero(exclude >= 0)
        scores[rows, exclude[rows]] = -np.inf
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    ranked = np.where(np.take_along_axis(scores, order, axis=1) > -np.inf, order, -1)
    if ranked.shape[1] < k:  # fewer gallery images than k
        ranked = np.pad(ranked, ((0, 0), (0, k - ranked.shape[1])), constant_values=-1)
    return ranked


def _checked(ranked: np.ndarray, ks: Ks) -> np.ndarray:
    ranked = np.asarray(ranked, dtype=np.int64)
    if ranked.ndim != 2:
        raise ValueError(f"ranked must be (Q, K), got shape {ranked.shape}")
    if ks and max(ks) > ranked.shape[1]:
        raise ValueError(f"k={max(ks)} needs at least {max(ks)} ranked columns, got {ranked.shape[1]}")
    return ranked


def _mean_at_k(values: np.ndarray, valid: np.ndarray, counted: np.ndarray, ks: Ks) -> dict[int, float]:
    """Per k: mean over ``counted`` queries of the mean of ``values`` over their valid top-k places.

    A counted query with no valid result in its top k is left out at that k.
    """
    result = {}
    for k in ks:
        n = valid[:, :k].sum(axis=1)
        use = counted & (n > 0)
        if not use.any():
            result[k] = float("nan")
            continue
        totals = np.where(valid[:, :k], values[:, :k], 0.0).sum(axis=1)
        result[k] = float((totals[use] / n[use]).mean())
    return result


# ----------------------------------------------------------------------------------- metrics


def category_precision_at_k(ranked: np.ndarray, query_categories: np.ndarray, gallery_categories: np.ndarray,
                            ks: Ks = DEFAULT_KS) -> dict[int, float]:
    """Share of the top-k results whose true category is the query's.

    Queries with an unknown category (-1) are skipped; a result with an unknown category never
    counts as a match.
    """
    ranked = _checked(ranked, ks)
    query_categories = np.asarray(query_categories)
    gallery_categories = np.asarray(gallery_categories)
    valid = ranked >= 0
    result_categories = np.where(valid, gallery_categories[np.where(valid, ranked, 0)], -1)
    hits = (result_categories == query_categories[:, None]) & (result_categories >= 0)
    return _mean_at_k(hits.astype(np.float64), valid, query_categories >= 0, ks)


def result_delta_e(ranked: np.ndarray, query_lab: np.ndarray, gallery_lab: np.ndarray) -> np.ndarray:
    """CIEDE2000 between each query's dominant colour and each ranked result's: ``(Q, K)``, NaN
    for padding and for rows whose colour is unknown (NaN Lab)."""
    ranked = np.asarray(ranked, dtype=np.int64)
    query_lab = np.asarray(query_lab, dtype=np.float64).reshape(-1, 3)
    gallery_lab = np.asarray(gallery_lab, dtype=np.float64).reshape(-1, 3)
    valid = ranked >= 0
    results = gallery_lab[np.where(valid, ranked, 0)]  # (Q, K, 3)
    with np.errstate(invalid="ignore"):
        delta = np.asarray(ciede2000(query_lab[:, None, :], results), dtype=np.float64)
    delta[~valid] = np.nan
    return delta


def colour_agreement_at_k(ranked: np.ndarray, query_lab: np.ndarray, gallery_lab: np.ndarray, ks: Ks = DEFAULT_KS,
                          max_delta_e: float = 10.0) -> dict[int, float]:
    """Share of the top-k results whose dominant colour is within ``max_delta_e`` (CIEDE2000,
    inclusive) of the query's dominant colour. A result of unknown colour counts as disagreeing;
    a query of unknown colour is skipped."""
    ranked = _checked(ranked, ks)
    delta = result_delta_e(ranked, query_lab, gallery_lab)
    agree = np.nan_to_num(delta, nan=np.inf) <= max_delta_e
    counted = np.isfinite(np.asarray(query_lab, dtype=np.float64).reshape(-1, 3)).all(axis=1)
    return _mean_at_k(agree.astype(np.float64), ranked >= 0, counted, ks)


def mean_delta_e_at_k(ranked: np.ndarray, query_lab: np.ndarray, gallery_lab: np.ndarray,
                      ks: Ks = DEFAULT_KS) -> dict[int, float]:
    """Mean CIEDE2000 between the query's dominant colour and its top-k results' (lower is closer);
    results of unknown colour are left out."""
    ranked = _checked(ranked, ks)
    delta = result_delta_e(ranked, query_lab, gallery_lab)
    known = np.isfinite(delta)
    return _mean_at_k(np.nan_to_num(delta), known, np.ones(len(ranked), dtype=bool), ks)


def attribute_overlap_at_k(ranked: np.ndarray, query_attributes: np.ndarray | None,
                           gallery_attributes: np.ndarray | None, ks: Ks = DEFAULT_KS) -> dict[int, float]:
    """Mean Jaccard index of the TRUE positive attributes (label 1; -1 and 0 are not positives)
    of the query and each top-k result. Queries without a positive attribute are skipped (their
    Jaccard index would be undefined or meaningless); NaN everywhere when there are no attributes.
    """
    ranked = _checked(ranked, ks)
    if query_attributes is None or gallery_attributes is None or np.asarray(query_attributes).shape[1] == 0:
        return {k: float("nan") for k in ks}
    query_pos = np.asarray(query_attributes) == 1  # (Q, A)
    gallery_pos = np.asarray(gallery_attributes) == 1  # (N, A)
    valid = ranked >= 0
    result_pos = gallery_pos[np.where(valid, ranked, 0)]  # (Q, K, A)
    inter = (result_pos & query_pos[:, None, :]).sum(axis=2)
    union = (result_pos | query_pos[:, None, :]).sum(axis=2)
    jaccard = np.where(union > 0, inter / np.maximum(union, 1), 0.0)
    return _mean_at_k(jaccard, valid, query_pos.any(axis=1), ks)


@dataclass(frozen=True)
class ItemRecall:
    """Same-item Recall@k and how many queries it was computed on."""

    recall: dict[int, float]
    counted: int  # queries whose item has at least one other image in the gallery
    single_view: int  # queries skipped: their item has no other image in the gallery
    no_item: int  # queries skipped: no item id


def same_item_recall_at_k(ranked: np.ndarray, query_items: np.ndarray, gallery_items: np.ndarray,
                          query_columns: np.ndarray | None = None, ks: Ks = DEFAULT_KS) -> ItemRecall:
    """In-shop retrieval protocol: a query is a hit at k when any of its top-k results is ANOTHER
    image of the query's item (same non-empty item id).

    ``query_columns (Q,)`` gives each query's own gallery column (-1 when the query image is not in
    the gallery): that image is never a hit and does not count as "another image". Queries whose
    item has no other image in the gallery cannot be hit and are skipped (``single_view``), as are
    queries without an item id (``no_item``).
    """
    ranked = _checked(ranked, ks)
    query_items = np.asarray([_item(x) for x in query_items], dtype=object)
    gallery_items = np.asarray([_item(x) for x in gallery_items], dtype=object)
    if query_columns is None:
        query_columns = np.full(len(ranked), -1, dtype=np.int64)
    query_columns = np.asarray(query_columns, dtype=np.int64)
    # Integer codes make the comparisons vectorised; "" (no item) gets code -1 in both arrays.
    vocabulary = {item: code for code, item in enumerate(sorted(set(gallery_items) | set(query_items)))}
    vocabulary[""] = -1
    q_codes = np.array([vocabulary[x] for x in query_items], dtype=np.int64)
    g_codes = np.array([vocabulary[x] for x in gallery_items], dtype=np.int64)
    counts = np.bincount(g_codes[g_codes >= 0], minlength=len(vocabulary))
    own = np.zeros(len(ranked), dtype=np.int64)
    in_gallery = query_columns >= 0
    own[in_gallery] = (g_codes[query_columns[in_gallery]] == q_codes[in_gallery]).astype(np.int64)
    has_item = q_codes >= 0
    others = np.where(has_item, counts[np.maximum(q_codes, 0)] - own, 0)
    counted = has_item & (others > 0)
    valid = ranked >= 0
    result_codes = np.where(valid, g_codes[np.where(valid, ranked, 0)], -1)
    hits = (result_codes == q_codes[:, None]) & valid & (ranked != query_columns[:, None]) & has_item[:, None]
    recall = {k: float(hits[counted, :k].any(axis=1).mean()) if counted.any() else float("nan") for k in ks}
    return ItemRecall(recall, int(counted.sum()), int((has_item & ~counted).sum()), int((~has_item).sum()))


def _item(value: object) -> str:
    """An item id as a string; None, NaN and "" mean no item."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return str(value)
