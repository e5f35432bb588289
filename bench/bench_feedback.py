"""Simulated shoppers: does learning from feedback rank what each shopper likes higher?

Each simulated shopper has a hidden taste ("same colour matters most", "same category matters
most", "same pattern matters most", or "default": the configured blend itself, plus noise).
On 30 training queries the shopper sees the top 10 of the default ranking and likes (+1) or
dislikes (-1) every one of them; the learned blend weights and the item prior are fitted from
those events exactly as the recommender does (``fashion.feedback.adaptation``); then on 30 *other*
queries precision@5 under the shopper's own taste is measured before (default weights) and
after adaptation.

The simulation works on arrays, so it is independent of how candidates are produced:
:class:`CandidateSet` holds, per query, the candidates' component scores as the recommender
computes them and the ground truth the shoppers judge by. :func:`synthetic_candidates` makes
such a set; a set built from the sample catalog through the recommender is the intended input
(see :func:`main`).

    python -m bench feedback            # (or --quick)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fashion.feedback.adaptation import fit_blend_weights, item_prior, prior_adjustments
from fashion.config import FeedbackConfig, load_config

TASTES = ("colour", "category", "pattern", "default")
TASTE_DESCRIPTIONS = {
    "colour": "same colour matters most",
    "category": "same category matters most",
    "pattern": "same pattern/attribute matters most",
    "default": "taste equals the default blend (+ noise)",
}


@dataclass(frozen=True)
class CandidateSet:
    """Per-query candidates: what the recommender scores and what shoppers judge by.

    ``components`` (Q, N, 3): visual, category, colour scores of each candidate for each query
    (as the recommender computes them); ``same_colour``, ``same_category``, ``same_pattern``
    (Q, N) bool: whether the candidate truly shares that with the query; ``items`` (Q, N) str:
    catalog item ids (for the item prior).
    """

    components: np.ndarray
    same_colour: np.ndarray
    same_category: np.ndarray
    same_pattern: np.ndarray
    items: np.ndarray

    def __post_init__(self) -> None:
        q, n, c = self.components.shape
        if c != 3:
            raise ValueError(f"components must be (Q, N, 3), got {self.components.shape}")
        for name in ("same_colour", "same_category", "same_pattern", "items"):
            if getattr(self, name).shape != (q, n):
                raise ValueError(f"{name} must be ({q}, {n}), got {getattr(self, name).shape}")

    @property
    def n_queries(self) -> int:
        """Number of queries (Q)."""
        return self.components.shape[0]


@dataclass
class ShopperResult:
    """One simulated shopper: precision@k on unseen queries before and after adaptation."""

    taste: str
    before: float
    after_weights: float
    after_all: float
    weights: np.ndarray
    n_events: int
    likes: int
    adjusted_items: int = 0
    extra: dict = field(default_factory=dict)


def synthetic_candidates(n_queries: int = 60, n_candidates: int = 50, n_items: int = 300,
                         seed: int = 0) -> CandidateSet:
    """Candidates whose component scores relate to the truth as a trained recommender's do.

    The visual cosine rises with a shared pattern most (the embedding sees texture), a little
    with category and colour; the category score mostly follows the true category; the colour
    score the true colour; all with noise, so no single component is the truth.
    """
    rng = np.random.default_rng(seed)
    shape = (n_queries, n_candidates)
    category = rng.random(shape) < 0.35
    colour = rng.random(shape) < 0.25
    pattern = rng.random(shape) < 0.3
    visual = 0.55 + 0.05 * category + 0.05 * colour + 0.10 * pattern + rng.normal(0, 0.05, shape)
    category_score = np.clip(0.2 + 0.45 * category + rng.normal(0, 0.2, shape), 0, 1)
    colour_score = np.clip(0.2 + 0.5 * colour + rng.normal(0, 0.15, shape), 0, 1)
    items = np.array([f"item{i:04d}" for i in range(n_items)])[rng.integers(0, n_items, shape)]
    return CandidateSet(np.stack([visual, category_score, colour_score], axis=-1), colour, category, pattern, items)


def relevance(candidates: CandidateSet, taste: str, prior: np.ndarray, seed: int = 0,
              default_top_share: float = 0.25, default_noise: float = 0.05) -> np.ndarray:
    """(Q, N) bool: what a shopper with ``taste`` likes.

    "default" likes the top ``default_top_share`` of each query's candidates by the default
    blend plus a little noise (so adaptation has nothing to gain and must not lose).
    """
    if taste == "colour":
        return candidates.same_colour.copy()
    if taste == "category":
        return candidates.same_category.copy()
    if taste == "pattern":
        return candidates.same_pattern.copy()
    if taste == "default":
        rng = np.random.default_rng(seed)
        utility = candidates.components @ prior + rng.normal(0, default_noise, candidates.items.shape)
        threshold = np.quantile(utility, 1 - default_top_share, axis=1, keepdims=True)
        return utility >= threshold
    raise ValueError(f"unknown taste {taste!r}; choose from {', '.join(TASTES)}")


def rank(scores: np.ndarray) -> np.ndarray:
    """(Q, N) candidate indices, best first (stable, so ties keep candidate order)."""
    return np.argsort(-scores, axis=1, kind="stable")


def precision_at_k(scores: np.ndarray, relevant: np.ndarray, k: int = 5) -> float:
    """Mean over queries of the share of the top ``k`` by ``scores`` that is relevant."""
    top = rank(scores)[:, :k]
    return float(np.take_along_axis(relevant, top, axis=1).mean())


def shown_events(candidates: CandidateSet, relevant: np.ndarray, queries: np.ndarray, weights: np.ndarray,
                 shown: int = 10) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The feedback a shopper gives on the top ``shown`` of each query under ``weights``.

    Returns ``(component_scores (n, 3), labels (n,) +1/-1, groups (n,) query index, items (n,))``.
    """
    scores = candidates.components[queries] @ weights
    top = rank(scores)[:, :shown]
    components = np.take_along_axis(candidates.components[queries], top[..., None], axis=1)
    labels = np.where(np.take_along_axis(relevant[queries], top, axis=1), 1, -1)
    items = np.take_along_axis(candidates.items[queries], top, axis=1)
    groups = np.repeat(queries, top.shape[1])
    return components.reshape(-1, 3), labels.ravel(), groups, items.ravel()


def simulate_shopper(candidates: CandidateSet, relevant: np.ndarray, train: np.ndarray, test: np.ndarray,
                     prior: np.ndarray, config: FeedbackConfig, taste: str = "", shown: int = 10,
                     k: int = 5) -> ShopperResult:
    """Feedback on ``train`` queries, then precision@k on ``test`` queries before/after adaptation."""
    prior = np.asarray(prior, dtype=np.float64)
    scores, labels, groups, items = shown_events(candidates, relevant, train, prior, shown)
    weights = fit_blend_weights(scores, labels, prior, strength=config.weight_regularisation,
                                min_events=config.min_events, groups=groups)
    likes: dict[str, int] = {}
    dislikes: dict[str, int] = {}
    for item, label in zip(items, labels):
        counts = likes if label > 0 else dislikes
        counts[item] = counts.get(item, 0) + 1
    adjustments = item_prior(likes, dislikes, config.item_prior_strength, config.item_prior_pseudo_count)
    test_components = candidates.components[test]
    test_relevant = relevant[test]
    prior_term = np.stack([prior_adjustments(row, adjustments) for row in candidates.items[test]])
    return ShopperResult(
        taste=taste,
        before=precision_at_k(test_components @ prior, test_relevant, k),
        after_weights=precision_at_k(test_components @ weights, test_relevant, k),
        after_all=precision_at_k(test_components @ weights + prior_term, test_relevant, k),
        weights=weights, n_events=len(labels), likes=int((labels > 0).sum()),
        adjusted_items=len(adjustments),
    )


def split_queries(n_queries: int, n_train: int = 30, n_test: int = 30, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint random training and test query indices."""
    if n_train + n_test > n_queries:
        raise ValueError(f"need {n_train + n_test} queries, have {n_queries}")
    order = np.random.default_rng(seed).permutation(n_queries)
    return np.sort(order[:n_train]), np.sort(order[n_train:n_train + n_test])


def simulate_all(candidates: CandidateSet, prior: np.ndarray, config: FeedbackConfig, seed: int = 0,
                 tastes: tuple[str, ...] = TASTES, n_train: int = 30, n_test: int = 30) -> list[ShopperResult]:
    """One shopper per taste on the same query split; see :func:`simulate_shopper`."""
    train, test = split_queries(candidates.n_queries, n_train, n_test, seed)
    return [simulate_shopper(candidates, relevance(candidates, taste, prior, seed), train, test, prior, config, taste)
            for taste in tastes]


def average_results(runs: list[list[ShopperResult]]) -> list[ShopperResult]:
    """Mean over repeated simulations (same tastes in the same order)."""
    averaged = []
    for per_taste in zip(*runs):
        averaged.append(ShopperResult(
            taste=per_taste[0].taste,
            before=float(np.mean([r.before for r in per_taste])),
            after_weights=float(np.mean([r.after_weights for r in per_taste])),
            after_all=float(np.mean([r.after_all for r in per_taste])),
            weights=np.mean([r.weights for r in per_taste], axis=0),
            n_events=int(np.mean([r.n_events for r in per_taste])),
            likes=int(round(np.mean([r.likes for r in per_taste]))),
            adjusted_items=int(round(np.mean([r.adjusted_items for r in per_taste]))),
            extra={"runs": len(per_taste),
                   "after_all_min_gain": float(min(r.after_all - r.before for r in per_taste))},
        ))
    return averaged


def results_table(results: list[ShopperResult], k: int = 5) -> str:
    """Markdown table of shoppers' precision@k before/after and the learned weights."""
    lines = [
        f"| shopper's hidden taste | events (likes) | P@{k} before | after (weights) | after (weights + item prior) "
        "| learned weights visual / category / colour |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        w = " / ".join(f"{v:.2f}" for v in r.weights)
        lines.append(f"| {TASTE_DESCRIPTIONS.get(r.taste, r.taste)} | {r.n_events} ({r.likes}) | {r.before:.3f} "
                     f"| {r.after_weights:.3f} | {r.after_all:.3f} | {w} |")
    return "\n".join(lines)


def main(quick: bool = False) -> str:
    """Run the simulation and return a Markdown section.

    For now the candidates are synthetic (:func:`synthetic_candidates`): the recommender's
    Engine (issue 4) is needed to score the sample catalog's candidates. Wiring it means
    building a :class:`CandidateSet` from the engine's per-candidate component scores and the
    sample's recorded truth (colour names, categories, texture attributes) and passing it to
    :func:`simulate_all` instead.
    """
    from bench.common import machine_info

    config = load_config()
    from fashion.recommend.recommender import Weights

    # The simulation's candidates have the three built-in components, in registry order.
    prior = Weights.from_config(config.recommend).as_array()[:3]
    seeds = range(2 if quick else 10)
    runs = [simulate_all(synthetic_candidates(seed=seed), prior, config.feedback, seed=seed) for seed in seeds]
    results = average_results(runs)
    return "\n".join([
        "## Feedback: simulated shoppers (synthetic candidates)",
        "",
        f"`python -m bench feedback{' --quick' if quick else ''}` · {machine_info()}",
        "",
        f"Synthetic candidate sets (60 queries x 50 candidates, mean of {len(runs)} seeds); each shopper gives "
        "like/dislike on the top 10 of 30 training queries, precision@5 is measured on 30 other queries. "
        "Not yet the sample catalog: that needs the recommender's engine (issue 4).",
        "",
        results_table(results),
        "",
        f"Default weights {' / '.join(f'{v:.2f}' for v in prior)}; "
        f"feedback.weight_regularisation={config.feedback.weight_regularisation:g}, "
        f"item_prior_strength={config.feedback.item_prior_strength:g}.",
        "",
    ])
