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

With ``feedback.session_consistency_z`` > 0 the likes count in proportion to how consistent the
judgements are (:func:`consistency_gate`): a shopper whose likes are no more alike to each other
than to their dislikes (random clicks) gives no direction to learn, so the bonus, the liked items'
neighbours and Rocchio's step are scaled by a gate ``g`` in [0, 1] from a two-sample test of the
liked against the disliked items with the ranking's own blended similarity; the disliked items
stay hidden whatever ``g`` (the shopper said no to those items themselves). It is off by default:
on clothing-dataset-small's validation split it cost the simulated noise shopper about a point of
precision@5 rather than saving any (its random likes are mostly what the photo's results already
were, so pulling toward them acts as pseudo-relevance feedback; what costs it is the hiding) and
the category tastes some of their gain (bench/results/feedback.md).
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
    """What one session's judgements change: the moved query, the keys to hide, the rerank, and
    ``gate``: the share of the likes' pull applied (:func:`consistency_gate`; 1 = all of it)."""

    query: Query
    exclude: list[str]
    rerank: Rerank | None
    liked: int
    disliked: int
    gate: float = 1.0


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
    liked, disliked = list(liked), list(disliked)
    use_liked = liked if like_weight > 0 else []
    use_disliked = disliked if dislike_weight > 0 else []
    if not use_liked and not use_disliked:
        return None
    catalog = recommender.catalog
    judged = np.asarray(use_liked + use_disliked, dtype=np.int64)
    queries = row_queries(catalog, judged.tolist()) if pair_components is None else None
    signs = np.array([like_weight / max(1, len(use_liked))] * len(use_liked)
                     + [-dislike_weight / max(1, len(use_disliked))] * len(use_disliked))

    def bonus(rows: np.ndarray) -> np.ndarray:
        return signs @ blended_similarity(catalog, judged, rows, weights, pair_components, queries)

    return bonus


def blended_similarity(catalog: Any, judged: np.ndarray, rows: np.ndarray, weights: Weights,
                       pair_components: Any = None, queries: list[QueryArrays] | None = None) -> np.ndarray:
    """(Q, n): the blended similarity (the ranking's ``weights``) of catalog rows ``judged``, each as
    the query, to catalog rows ``rows`` (``pair_components``: see :func:`judged_bonus`; ``queries``:
    ``row_queries`` of ``judged`` when the caller already has them)."""
    from fashion.recommend.components import ItemArrays, component_names

    judged, rows = np.asarray(judged, dtype=np.int64), np.asarray(rows, dtype=np.int64)
    if pair_components is None:
        queries = row_queries(catalog, judged.tolist()) if queries is None else queries
        parts = score_matrices(queries, ItemArrays.of_catalog(catalog, rows))
    else:
        parts = pair_components(judged, rows)  # (K, Q, n)
    used = weights.normalised()
    w = np.array([used[name] for name in component_names()], dtype=np.float64)
    return np.tensordot(w, np.asarray(parts, dtype=np.float64), axes=1)


def consistency_z(similarity: np.ndarray, liked: np.ndarray, permutations: int = 200) -> float | None:
    """How far the liked items stand apart from the disliked ones, in standard deviations of chance.

    ``similarity`` (Q, Q): the judged items' similarities to each other (made symmetric here, the
    diagonal ignored); ``liked`` (Q,) bool. The statistic is the kernel two-sample statistic
    (maximum mean discrepancy, Gretton et al. 2012) with the similarity as kernel::

        T = mean sim(liked, liked) + mean sim(disliked, disliked) - 2 mean sim(liked, disliked)

    (a mean over no pair, e.g. liked-liked with a single like, is left out). If the labels were
    exchangeable -- likes and dislikes drawn from one distribution, as a shopper clicking at random
    gives -- T is as large for any relabelling with the same counts, so z = (T - mean) / std over
    relabellings (all of them when there are at most ``permutations``, else that many drawn with
    a fixed seed, so the answer is reproducible). None when no relabelling differs (no like, no
    dislike, or one of each): the test cannot tell.
    """
    from itertools import combinations
    from math import comb

    sim = np.asarray(similarity, dtype=np.float64)
    sim = (sim + sim.T) / 2.0
    np.fill_diagonal(sim, 0.0)
    observed = np.asarray(liked, dtype=bool)
    q, n_liked = len(observed), int(observed.sum())
    if n_liked == 0 or n_liked == q:
        return None
    if comb(q, n_liked) <= permutations:
        labels = np.zeros((comb(q, n_liked), q))
        for i, chosen in enumerate(combinations(range(q), n_liked)):
            labels[i, list(chosen)] = 1.0
    else:
        rng = np.random.default_rng(0)
        labels = np.array([rng.permutation(observed) for _ in range(permutations)], dtype=np.float64)
    labels = np.vstack([observed.astype(np.float64)[None], labels])
    other = 1.0 - labels
    n_disliked = q - n_liked

    def mean_pairs(a: np.ndarray, b: np.ndarray, pairs: int) -> np.ndarray:
        return np.einsum("bi,ij,bj->b", a, sim, b) / pairs if pairs else np.zeros(len(a))

    stat = (mean_pairs(labels, labels, n_liked * (n_liked - 1))
            + mean_pairs(other, other, n_disliked * (n_disliked - 1))
            - 2.0 * mean_pairs(labels, other, n_liked * n_disliked))
    null = stat[1:]
    spread = float(null.std())
    if spread <= 1e-12 * max(1.0, float(np.abs(null).max())):
        return None
    return float((stat[0] - null.mean()) / spread)


def consistency_gate(similarity: np.ndarray, liked: np.ndarray, full_z: float) -> float:
    """The share in [0, 1] of the likes' pull a session gets: ``clip(z / full_z, 0, 1)`` with ``z``
    from :func:`consistency_z`.

    Likes that stand apart from the dislikes by ``full_z`` standard deviations of chance count in
    full; likes no more apart than chance (z <= 0: a shopper liking at random) not at all. When the
    test cannot tell -- only likes, only dislikes, or one of each -- nothing contradicts the
    judgements and they count in full (as a shopper's first like does). ``full_z`` <= 0: no gate (1).
    """
    if full_z <= 0:
        return 1.0
    z = consistency_z(similarity, liked)
    return 1.0 if z is None else float(np.clip(z / full_z, 0.0, 1.0))


def refine_session(recommender: Recommender, query: Query, liked: Sequence[int], disliked: Sequence[int],
                   config: FeedbackConfig, match_delta_e: float, weights: Weights,
                   pair_components: Any = None) -> SessionRefinement:
    """The session refinement of ``query`` from the catalog rows liked / disliked for it
    (``pair_components``: see :func:`judged_bonus`). The likes' pull -- the bonus, the liked items'
    neighbours, Rocchio's step -- is scaled by :func:`consistency_gate` of the judged items when
    ``feedback.session_consistency_z`` > 0 (off by default; see the module docstring)."""
    from fashion.colour.similarity import unpack_palette

    liked = [int(r) for r in liked]
    disliked = [int(r) for r in disliked]
    if not config.enabled or not (liked or disliked):
        return SessionRefinement(query, [], None, len(liked), len(disliked))
    catalog = recommender.catalog
    gate = 1.0
    if config.session_consistency_z > 0 and liked and disliked:
        judged = np.asarray(liked + disliked, dtype=np.int64)
        similarity = blended_similarity(catalog, judged, judged, weights, pair_components)
        gate = consistency_gate(similarity, np.arange(len(liked) + len(disliked)) < len(liked),
                                config.session_consistency_z)
    if gate < 1.0:
        config = dataclasses.replace(config, rocchio_beta=config.rocchio_beta * gate,
                                     rocchio_gamma=config.rocchio_gamma * gate,
                                     session_like_weight=config.session_like_weight * gate,
                                     session_dislike_weight=config.session_dislike_weight * gate)
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
    return SessionRefinement(moved, exclude, rerank, len(liked), len(disliked), gate)
