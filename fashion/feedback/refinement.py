"""A shopper's session refinement: what their likes and dislikes for one photo do to its next ranking.

One function, :func:`refine_session`, used alike by ``recommend.py --like/--dislike``
(:class:`fashion.feedback.session.FeedbackSession`), the web page's sessions and the shopper
simulation (``python -m bench feedback``). From the catalog rows the shopper liked and disliked
for a query it gives:

* the query moved by Rocchio (embedding and palette; :func:`fashion.feedback.adaptation.refine_query`);
* the disliked items to leave out (``feedback.hide_disliked``): a shopper is not shown again
  what they turned down for this photo;
* a :class:`~fashion.recommend.recommender.Rerank`: the liked items' visual neighbours join the
  candidates, and every candidate gets a bonus, Rocchio in score space::

      bonus(item) = like_weight    * mean over liked l    of blend(components(l as the query, item))
                  - dislike_weight * mean over disliked d of blend(components(d as the query, item))

  with the blend weights of the ranking itself. ``components`` are the recommender's own
  (visual cosine, agreement of the predicted category probabilities, palette similarity), so an
  item of the liked items' predicted category and palette rises even when it does not look like
  the photo, and items like the disliked ones sink. No label of any item is read.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from fashion.feedback.adaptation import refine_query
from fashion.recommend.components import QueryArrays, score_matrices
from fashion.recommend.recommender import Query, Rerank, Weights

if TYPE_CHECKING:
    from fashion.config import FeedbackConfig
    from fashion.recommend.recommender import Recommender


@dataclass(frozen=True)
class SessionRefinement:
    """What one session's judgements change: the moved query, the keys to hide, the rerank."""

    query: Query
    exclude: list[str]
    rerank: Rerank | None
    liked: int
    disliked: int


def row_queries(catalog: Any, rows: Sequence[int]) -> list[QueryArrays]:
    """Catalog rows as queries for the score components (their embedding, category
    probabilities and palette, as stored in the index)."""
    from fashion.colour.similarity import unpack_palette

    queries = []
    for r in rows:
        shares = np.asarray(catalog.palette_shares[r])
        palette = unpack_palette(catalog.palette_lab[r], shares) if (shares > 0).any() else None
        queries.append(QueryArrays(np.asarray(catalog.embeddings[r], dtype=np.float32),
                                   np.asarray(catalog.category_probs[r], dtype=np.float32),
                                   np.zeros(0, np.float32), palette))
    return queries


def judged_bonus(recommender: Recommender, liked: Sequence[int], disliked: Sequence[int],
                 weights: Weights, like_weight: float, dislike_weight: float, pair_components: Any = None):
    """``rows -> (n,)`` bonus of catalog rows (see the module docstring); None when it is 0.

    ``pair_components(judged rows (Q,), rows (n,)) -> (K, Q, n)``: the score components of
    catalog rows as queries against catalog rows, when the caller has them at hand (the shopper
    simulation caches them for its whole catalog); by default computed here.
    """
    from fashion.recommend.components import ItemArrays, component_names

    liked, disliked = list(liked), list(disliked)
    use_liked = liked if like_weight > 0 else []
    use_disliked = disliked if dislike_weight > 0 else []
    if not use_liked and not use_disliked:
        return None
    catalog = recommender.catalog
    judged = use_liked + use_disliked
    queries = row_queries(catalog, judged) if pair_components is None else None
    signs = np.array([like_weight / max(1, len(use_liked))] * len(use_liked)
                     + [-dislike_weight / max(1, len(use_disliked))] * len(use_disliked))
    used = weights.normalised()
    w = np.array([used[name] for name in component_names()], dtype=np.float64)

    def bonus(rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        parts = (score_matrices(queries, ItemArrays.of_catalog(catalog, rows)) if pair_components is None
                 else pair_components(np.asarray(judged, dtype=np.int64), rows))  # (K, Q, n)
        return signs @ np.tensordot(w, parts, axes=1)

    return bonus


def refine_session(recommender: Recommender, query: Query, liked: Sequence[int], disliked: Sequence[int],
                   config: FeedbackConfig, match_delta_e: float, weights: Weights,
                   pair_components: Any = None) -> SessionRefinement:
    """The session refinement of ``query`` from the catalog rows liked / disliked for it
    (``pair_components``: see :func:`judged_bonus`)."""
    from fashion.colour.similarity import unpack_palette

    liked = [int(r) for r in liked]
    disliked = [int(r) for r in disliked]
    if not config.enabled or not (liked or disliked):
        return SessionRefinement(query, [], None, len(liked), len(disliked))
    catalog = recommender.catalog
    refined = refine_query(query.embedding, query.palette.lab, query.palette.shares, liked, disliked,
                           np.asarray(catalog.embeddings, dtype=np.float32), catalog.palette_lab,
                           catalog.palette_shares, config, match_delta_e)
    moved = dataclasses.replace(query, embedding=refined.embedding, palette=unpack_palette(refined.lab, refined.shares))
    exclude = [recommender.keys[r] for r in disliked] if config.hide_disliked else []
    bonus = judged_bonus(recommender, liked, disliked, weights, config.session_like_weight,
                         config.session_dislike_weight, pair_components)
    near = np.asarray(catalog.embeddings[np.asarray(liked, dtype=np.int64)], dtype=np.float32) \
        if liked and config.session_like_weight > 0 else None
    rerank = Rerank(near, bonus) if bonus is not None or near is not None else None
    return SessionRefinement(moved, exclude, rerank, len(liked), len(disliked))
