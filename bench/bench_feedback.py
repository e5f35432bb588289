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
    adjustments = item_prior(likes, dislikes, config.item_prior_strength, config.item_prior_pseudo_count,
                             config.item_prior_z)
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


def synthetic_section(quick: bool = False) -> str:
    """The simulation on synthetic candidate sets (learned weights and item prior only), as Markdown."""
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
        "(The shoppers on real catalogs, with Rocchio, are in the next sections.)",
        "",
        results_table(results),
        "",
        f"Default weights {' / '.join(f'{v:.2f}' for v in prior)}; "
        f"feedback.weight_regularisation={config.feedback.weight_regularisation:g}, "
        f"item_prior_strength={config.feedback.item_prior_strength:g}.",
        "",
    ])


# ---------------------------------------------------------------------------------------------
# Shoppers on a real catalog (issue 15): a trained model's catalog index, the recommender itself,
# the adaptation functions the CLI applies (fashion.feedback.session.FeedbackSession.adapt).

#: How the ranking adapts to a shopper's feedback: nothing; the session refinement only (Rocchio on the
#: query's embedding and palette, disliked items hidden, a bonus for items like the liked ones:
#: fashion.feedback.refinement); blend weights learned from the events only; or all of them plus the
#: item prior (what ``recommend.py --like/--dislike`` and the web page apply).
SHOPPER_MODES = ("none", "session", "weights", "all")
TASTE_KINDS = ("category", "colour", "category+colour", "noise", "noise likes")
#: The noise shoppers: random likes and a dislike for the rest; random likes only (the rest unjudged).
NOISE_KINDS = ("noise", "noise likes")
#: Clothing-dataset-small runs, first found wins (see bench/RESULTS.md for how they were trained).
CLOTHING_RUNS = ("real-clothing-cutmix40", "real-clothing-e30", "clothing-small64-e6", "clothing-small64")
SAMPLE_RUNS = ("sample112-e24", "sample112-e12", "sample64", "sample")


@dataclass
class CatalogCase:
    """A catalog to simulate on: the engine's recommender, the run, and each item's real labels."""

    name: str
    checkpoint: object  # Path
    recommender: object  # fashion.recommend.recommender.Recommender
    config: object  # fashion.config.Config
    category: np.ndarray  # (N,) str: the catalog's own labels
    family: np.ndarray  # (N,) str: colour family of the dominant extracted palette colour
    true_family: np.ndarray | None  # (N,) str: from recorded true colours (the sample), else None
    top1: float | None  # the model's own test top-1
    pairs: np.ndarray | None = None  # (K, N, N) score components of every row as a query against every row

    def pair_components(self, judged: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """(K, Q, n): the components of catalog rows ``judged`` as queries against ``rows``, from a cache
        of the whole catalog built on first use (what :func:`fashion.feedback.refinement.judged_bonus`
        computes itself in the CLI and the web page)."""
        if self.pairs is None:
            from fashion.feedback.refinement import row_queries
            from fashion.recommend.components import ItemArrays, score_matrices

            catalog = self.recommender.catalog
            every = np.arange(len(catalog))
            items = ItemArrays.of_catalog(catalog, every)
            self.pairs = np.concatenate([score_matrices(row_queries(catalog, chunk), items)
                                         for chunk in np.array_split(every, max(1, len(every) // 64))], axis=1)
        return self.pairs[:, judged][:, :, rows]


def open_case(name: str, run_names: tuple[str, ...], catalog_folder: str | None = None) -> CatalogCase | None:
    """Open the first existing run's catalog (building it on first use); None when no run exists.

    ``catalog_folder``: a folder of images instead of the run's test split (e.g. clothing-dataset-small's
    validation split, on which the settings are chosen); its items' labels are their folder names."""
    import json
    from pathlib import Path

    from bench.common import PROJECT_ROOT
    from fashion.colour.names import colour_families
    from fashion.colour.spaces import rgb_to_lab
    from fashion.recommend.engine import Engine

    for run in run_names:
        checkpoint = PROJECT_ROOT / "runs" / run / "best.pt"
        if checkpoint.is_file():
            break
    else:
        return None
    config = load_config()
    engine = Engine.open(checkpoint, catalog_folder, config, progress=False, log=lambda *a, **k: None)
    catalog = engine.catalog
    family = np.asarray(colour_families(np.asarray(catalog.palette_lab[:, 0], dtype=np.float64)), dtype=object)
    family[np.asarray(catalog.palette_shares)[:, 0] <= 0] = ""
    true_family = None
    root = Path(catalog.manifest.get("source", {}).get("root", ""))
    truth_file = root / "Anno" / "list_colour_truth.txt"
    if truth_file.is_file():
        truth = {}
        for line in truth_file.read_text().splitlines()[2:]:
            parts = line.split()
            if len(parts) >= 4:
                truth[parts[0]] = [int(v) for v in parts[1:4]]
        rgb = np.array([truth.get(key, [0, 0, 0]) for key in catalog.items["key"]], dtype=np.uint8)
        true_family = np.asarray(colour_families(rgb_to_lab(rgb)), dtype=object)
        true_family[[key not in truth for key in catalog.items["key"]]] = ""
    top1 = None
    metrics = checkpoint.parent / "metrics.json"
    if metrics.is_file():
        top1 = json.loads(metrics.read_text()).get("test", {}).get("category_top1")
    labels = np.asarray(catalog.items["label"].fillna("").astype(str), dtype=object)
    if catalog_folder is not None:
        labels = np.array([Path(path).parent.name for path in catalog.items["path"]], dtype=object)
    return CatalogCase(name, checkpoint, engine.recommender, config, labels, family, true_family, top1)


def query_of_row(recommender, row: int):
    """The query a catalog photo gives (what ``engine.describe`` returns for it, read from the index)."""
    from fashion.colour.similarity import unpack_palette
    from fashion.recommend.recommender import Query

    catalog = recommender.catalog
    attributes = np.zeros(len(recommender.labels.attribute_names), dtype=np.float32)
    if attributes.size:
        attributes[np.asarray(catalog.attribute_index[row])] = np.asarray(catalog.attribute_probs[row], np.float32)
    probs = np.asarray(catalog.category_probs[row], dtype=np.float32)
    top = int(np.argmax(probs)) if probs.size else 0
    categories = [{"id": top, "name": recommender.labels.category_names[top], "probability": float(probs[top])}] \
        if probs.size else []
    return Query(f"row {row}", f"row-{row}", np.asarray(catalog.embeddings[row], dtype=np.float32), probs,
                 attributes, unpack_palette(catalog.palette_lab[row], catalog.palette_shares[row]), categories, [],
                 key=str(catalog.items["key"].iloc[row]))


@dataclass(frozen=True)
class Taste:
    """A shopper's hidden taste: which catalog rows they like (``noise``: random likes)."""

    kind: str
    fits: np.ndarray  # (N,) bool: the rows that fit (noise: the rows judged relevant = the photo's category)
    describe: str


def draw_tastes(case: CatalogCase, kind: str, n: int, rng: np.random.Generator, min_items: int = 10) -> list[Taste]:
    """``n`` tastes of one kind, each a target drawn uniformly among those with ``min_items`` items."""
    category, family = case.category, case.family
    if kind == "category":
        options = [(c, None) for c in sorted(set(category) - {""}) if (category == c).sum() >= min_items]
    elif kind == "colour":
        options = [(None, f) for f in sorted(set(family) - {""}) if (family == f).sum() >= min_items]
    elif kind == "category+colour":
        options = [(c, f) for c in sorted(set(category) - {""}) for f in sorted(set(family) - {""})
                   if ((category == c) & (family == f)).sum() >= max(5, min_items // 2)]
    elif kind == "noise":
        return [Taste(kind, np.zeros(len(category), bool), "random likes (p = 0.5), dislikes the rest")
                for _ in range(n)]
    else:
        return [Taste(kind, np.zeros(len(category), bool), "random likes (p = 0.5), the rest unjudged")
                for _ in range(n)]
    if not options:  # no target has that many items in this catalog
        return []
    tastes = []
    for index in rng.integers(0, len(options), n):
        c, f = options[index]
        fits = np.ones(len(category), bool)
        if c is not None:
            fits &= category == c
        if f is not None:
            fits &= family == f
        tastes.append(Taste(kind, fits, " ".join(x for x in (f, c) if x)))
    return tastes


@dataclass
class FeedbackPool:
    """The feedback a catalog's store holds: all shoppers' events so far (learned weights and the
    item prior are fitted from all of them, as ``recommend.py``'s store does per catalog)."""

    scores: list = field(default_factory=list)  # component scores of each judged item, registry order
    labels: list = field(default_factory=list)  # +1 like / -1 dislike
    groups: list = field(default_factory=list)  # shopper (= query) of each event
    likes: dict = field(default_factory=dict)  # item key -> likes
    dislikes: dict = field(default_factory=dict)  # item key -> dislikes
    learned: np.ndarray | None = None  # the weights last fitted
    fitted_at: int = 0  # events when they were fitted

    def weights(self, prior: np.ndarray, config: FeedbackConfig) -> np.ndarray | None:
        """The learned weights (None below ``min_events``). The CLI refits after every record; here
        the fit is redone once the pool has grown by 5% since the last fit (at least one event), which
        keeps thousands of simulated rounds affordable (a fit costs ~50 ms) and changes little."""
        if len(self.labels) < config.min_events:
            return None
        if self.learned is None or len(self.labels) - self.fitted_at >= max(1, self.fitted_at // 20):
            self.learned = fit_blend_weights(np.array(self.scores), np.array(self.labels), prior,
                                             strength=config.weight_regularisation, min_events=config.min_events,
                                             groups=np.array(self.groups))
            self.fitted_at = len(self.labels)
        return self.learned


def simulate_catalog_shopper(case: CatalogCase, taste: Taste, start: int, mode: str, rng: np.random.Generator,
                             pool: FeedbackPool | None = None, shopper: int = 0, rounds: int = 5,
                             k: int = 5, feedback: FeedbackConfig | None = None) -> list[float]:
    """Taste-precision@k of what the shopper is shown in round 0 (no feedback yet) .. ``rounds``.

    Each round the shopper judges the shown items they have not judged before (like when the item
    fits the taste, else dislike; the noise shopper likes at random with p = 0.5 and is measured
    against the photo's own category); the next ranking applies ``mode``'s adaptation with the
    functions and settings ``recommend.py --like`` uses: the session refinement from this
    shopper's judgements (:func:`fashion.feedback.refinement.refine_session`), learned weights and
    item prior from every event in ``pool`` (all shoppers so far, this one's included, as the
    CLI's per-catalog store). ``feedback`` overrides the configured feedback settings.
    """
    from fashion.feedback.adaptation import item_prior
    from fashion.feedback.refinement import refine_session
    from fashion.recommend.recommender import Weights

    recommender, config = case.recommender, case.config
    feedback = feedback or config.feedback
    pool = pool if pool is not None else FeedbackPool()
    start_query = query_of_row(recommender, start)
    relevant = taste.fits if taste.kind not in NOISE_KINDS else (case.category == case.category[start])
    prior = Weights.from_config(config.recommend).normalised()
    names = list(prior)
    judged: dict[int, int] = {}
    keys = recommender.keys
    precisions = []
    for _ in range(rounds + 1):
        query, weights, adjustments, exclude, rerank = start_query, prior, None, [start_query.key], None
        learned = pool.weights(prior.as_array(), feedback) if mode in ("weights", "all") else None
        if learned is not None:
            weights = Weights(**dict(zip(names, learned.tolist())))
        if mode in ("session", "all") and judged:
            refined = refine_session(recommender, query, [r for r, v in judged.items() if v > 0],
                                     [r for r, v in judged.items() if v < 0], feedback,
                                     config.colour.match_delta_e, weights, case.pair_components)
            query, rerank = refined.query, refined.rerank
            exclude = exclude + refined.exclude
        if mode == "all" and pool.labels:
            adjustments = item_prior(pool.likes, pool.dislikes, feedback.item_prior_strength,
                                     feedback.item_prior_pseudo_count, feedback.item_prior_z)
        rows, parts, _ = recommender.rank(query, top_k=k, weights=weights, exclude=exclude,
                                          adjustments=adjustments, rerank=rerank)
        precisions.append(float(np.mean(relevant[rows])) if len(rows) else 0.0)
        # Events carry the scores the shopper saw (those of the ranking they judged).
        for row, part in zip(rows.tolist(), parts):
            if row in judged:
                continue
            if taste.kind in NOISE_KINDS:  # the likes-only shopper leaves the rest unjudged (0)
                label = 1 if rng.random() < 0.5 else (-1 if taste.kind == "noise" else 0)
            else:
                label = 1 if taste.fits[row] else -1
            judged[row] = label
            if label == 0:  # seen, not judged: nothing recorded
                continue
            pool.scores.append(part)
            pool.labels.append(label)
            pool.groups.append(shopper)
            counts = pool.likes if label > 0 else pool.dislikes
            counts[keys[row]] = counts.get(keys[row], 0) + 1
    return precisions


def simulate_catalog(case: CatalogCase, shoppers: int, seed: int = 0, rounds: int = 5, k: int = 5,
                     modes: tuple[str, ...] = SHOPPER_MODES, kinds: tuple[str, ...] = TASTE_KINDS,
                     feedback: FeedbackConfig | None = None) -> dict[str, dict[str, np.ndarray]]:
    """``{taste kind: {mode: (shoppers, rounds + 1) precisions}}``; every mode sees the same shoppers
    in the same order, and each (taste kind, mode) has its own store (:class:`FeedbackPool`)."""
    rng = np.random.default_rng(seed)
    out: dict[str, dict[str, np.ndarray]] = {}
    for kind in TASTE_KINDS:
        tastes = draw_tastes(case, kind, shoppers, rng)
        starts = rng.integers(0, len(case.category), shoppers)
        if kind not in kinds:
            continue
        out[kind] = {}
        for mode in modes:
            pool = FeedbackPool()
            runs = [simulate_catalog_shopper(case, taste, int(start), mode, np.random.default_rng([seed, i]),
                                             pool, i, rounds, k, feedback)
                    for i, (taste, start) in enumerate(zip(tastes, starts))]
            out[kind][mode] = np.array(runs)
    return out


def shopper_table(results: dict[str, dict[str, np.ndarray]], k: int = 5) -> str:
    """Markdown: mean taste-precision@k per round, one row per taste kind and mode."""
    rounds = max(v.shape[1] for modes in results.values() for v in modes.values() if v.ndim == 2)
    lines = ["| taste | adaptation | " + " | ".join(f"round {r}" for r in range(rounds))
             + " | round 3 / round 0 |", "| --- | --- |" + " ---: |" * (rounds + 1)]
    for kind, modes in results.items():
        for mode, values in modes.items():
            if values.size == 0:
                lines.append(f"| {kind} | {mode} | " + " | ".join("—" for _ in range(rounds))
                             + " | no target with enough items |")
                continue
            mean = values.mean(axis=0)
            ratio = f"{mean[3] / mean[0]:.2f}x" if rounds > 3 and mean[0] > 0 else "—"
            lines.append(f"| {kind} | {mode} | " + " | ".join(f"{v:.3f}" for v in mean) + f" | {ratio} |")
    return "\n".join(lines)


def ratio_standard_error(values: np.ndarray, resamples: int = 1000) -> float:
    """Bootstrap standard error (shoppers resampled, fixed seed) of mean round 3 / mean round 0."""
    rng = np.random.default_rng(0)
    ratios = []
    for _ in range(resamples):
        mean = values[rng.integers(0, len(values), len(values))].mean(axis=0)
        ratios.append(mean[3] / mean[0] if mean[0] > 0 else np.nan)
    return float(np.nanstd(ratios))


def target_lines(results: dict[str, dict[str, np.ndarray]], gain: float = 1.5, noise_points: float = 0.02) -> str:
    """Issue 15's targets for the simulation: with everything on (``all``), round 3 >= ``gain`` x round 0
    for the category and colour tastes; the noise shopper's round 3 not below round 0 by more than
    ``noise_points``."""
    lines = []
    for kind in ("category", "colour"):
        values = results.get(kind, {}).get("all")
        if values is None or values.size == 0:
            lines.append(f"- {kind}: no shoppers")
            continue
        mean = values.mean(axis=0)
        ratio = mean[3] / mean[0] if mean[0] > 0 else float("inf")
        verdict = "met" if ratio >= gain else "missed"
        lines.append(f"- {kind} taste, `all`: round 3 / round 0 = {mean[3]:.3f} / {mean[0]:.3f} = {ratio:.2f}x "
                     f"+- {ratio_standard_error(values):.2f} over {len(values)} shoppers (target >= {gain:g}x: {verdict})")
    for kind, who in (("noise", "noise shopper (random likes, dislikes the rest)"),
                      ("noise likes", "noise shopper (random likes only)")):
        for mode in ("all", "session"):
            values = results.get(kind, {}).get(mode)
            if values is None or not values.size:
                continue
            change = values[:, 3] - values[:, 0]
            error = change.std(ddof=1) / np.sqrt(len(change)) if len(change) > 1 else float("nan")
            verdict = ("met" if change.mean() >= -noise_points else "missed") if mode == "all" else "for comparison"
            lines.append(f"- {who}, `{mode}`: round 3 - round 0 = {change.mean():+.3f} +- {error:.3f} "
                         f"(standard error over {len(change)} shoppers; target >= -{noise_points:g}: {verdict})")
    return "Targets:\n\n" + "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Word search (issue 15): precision@10 of "<colour> <category>" against the real labels.


def item_identities(recommender) -> np.ndarray:
    """(N,) object: each row's item (its item id; its key where there is none, as in folder datasets)."""
    ids = np.asarray(recommender.item_ids, dtype=object)
    return np.where(ids == "", np.asarray(recommender.keys, dtype=object), ids)


def word_precision(case: CatalogCase, text: str, relevant: np.ndarray, k: int = 10) -> tuple[float, int, int]:
    """``(precision@n, n, relevant items)`` of the word search ``text``; n = min(k, relevant items)
    (distinct items: the search shows one view per item)."""
    from fashion.model.labels import Labels  # noqa: F401  (the vocabulary comes from the model's labels)
    from fashion.recommend.words import Vocabulary, search

    recommender = case.recommender
    items = set(item_identities(recommender)[relevant])
    n = min(k, len(items))
    if n == 0:
        return float("nan"), 0, 0
    words = Vocabulary(recommender.labels).parse(text)
    results = search(recommender, words, top_k=n)
    hits = sum(bool(relevant[r.result.row]) for r in results)
    return hits / n, n, len(items)


def judged_colours(case: CatalogCase) -> dict[str, str] | None:
    """``{split/category/file: family judged by eye}`` for the catalog's dataset, or None when none is on
    file. The extracted palette cannot be the truth for a colour search that ranks by that same
    palette: it measures the search's arithmetic, never whether the colour is right."""
    from bench.judged_colours import load_judged_colours

    return load_judged_colours(case.recommender.catalog.manifest.get("source", {}).get("root", ""))


def judged_colour_precision(case: CatalogCase, family: str, judged: dict[str, str], n: int
                            ) -> tuple[int, list[str]]:
    """``(hits, unjudged keys)`` among the top ``n`` of the word search ``family``."""
    from bench.judged_colours import judged_key
    from fashion.recommend.words import Vocabulary, search

    recommender = case.recommender
    results = search(recommender, Vocabulary(recommender.labels).parse(family), top_k=n)
    keys = [judged_key(r.result.path) for r in results]
    return sum(judged.get(key) == family for key in keys), [key for key in keys if key not in judged]


def judged_colour_lines(case: CatalogCase, judged: dict[str, str], k: int = 10
                        ) -> tuple[list[str], dict[str, float]]:
    """Markdown lines and ``{family: precision@k}`` (families with at least ``k`` judged items: the
    target's) of the colour words, against the families judged by eye."""
    from collections import Counter

    from bench.judged_colours import judged_key

    identities = item_identities(case.recommender)
    first_view = {}
    for row, identity in enumerate(identities):
        first_view.setdefault(identity, row)
    paths = case.recommender.catalog.items["path"]
    item_family = {identity: judged.get(judged_key(paths.iloc[row]), "") for identity, row in first_view.items()}
    counts = Counter(family for family in item_family.values() if family not in ("", "multi"))
    unjudged_items = sum(family == "" for family in item_family.values())
    lines = ["", f"Colour words (`--query \"<family>\"`), precision@{k} against the family a person names, "
             f"judged by eye (`bench/judged/`: {len(item_family) - unjudged_items} of {len(item_family)} items judged, "
             f"{counts.total()} of them one family, the rest `multi`; precision@n with n = the items there are "
             f"when fewer than {k}; a result not judged counts as a miss):", "",
             "| words | precision | n | items | not judged |", "| --- | ---: | ---: | ---: | --- |"]
    values = {}
    for family, items in sorted(counts.items()):
        n = min(k, items)
        hits, unjudged = judged_colour_precision(case, family, judged, n)
        if items >= k:
            values[family] = hits / n
        lines.append(f"| {family} | {hits / n:.2f} | {n} | {items} | {', '.join(unjudged) or '-'} |")
    return lines, values


def word_search_tables(case: CatalogCase, k: int = 10) -> str:
    """Markdown tables: per category name, per colour family, and per colour + category pair."""
    category = case.category
    family = case.true_family if case.true_family is not None else case.family
    lines = [f"Category words (`--query \"<category>\"`), precision@{k} against the catalog's labels "
             f"(precision@n with n = the items there are when fewer than {k}):", "",
             "| words | read as | precision | n | items |", "| --- | --- | ---: | ---: | ---: |"]
    from fashion.recommend.words import Vocabulary

    vocabulary = Vocabulary(case.recommender.labels)
    cat_values, every_category = [], {}
    for name in sorted(set(category) - {""}):
        precision, n, items = word_precision(case, name, category == name, k)
        read = ", ".join(t.target for t in vocabulary.parse(name).terms)
        lines.append(f"| {name} | {read} | {precision:.2f} | {n} | {items} |")
        every_category[name] = precision
        if n == k:
            cat_values.append(precision)
    source = ("recorded true colours" if case.true_family is not None else
              "the dominant extracted palette colour (the search ranks by that palette: this checks its "
              "arithmetic, not whether a colour is right)")
    lines += ["", f"Colour words (`--query \"<family>\"`), precision@{k} against {source}:", "",
              "| words | precision | n | items |", "| --- | ---: | ---: | ---: |"]
    col_values, big_colours = [], {}
    for name in sorted(set(family) - {""}):
        precision, n, items = word_precision(case, name, family == name, k)
        lines.append(f"| {name} | {precision:.2f} | {n} | {items} |")
        if n == k:
            col_values.append(precision)
            big_colours[name] = precision
    judged = judged_colours(case) if case.true_family is None else None
    if judged is not None:
        # The target's families: those a person finds on at least k items.
        judged_lines, judged_values = judged_colour_lines(case, judged, k)
        lines += judged_lines
        big_colours = judged_values  # the target is judged against what a person sees, not the palette
        col_values = list(judged_values.values())
    pairs = []
    if judged is not None:  # pairs by the families a person names too
        from bench.judged_colours import judged_key

        family = np.array([judged.get(judged_key(path), "") for path in case.recommender.catalog.items["path"]],
                          dtype=object)
        family[family == "multi"] = ""
    for c in sorted(set(category) - {""}):
        for f in sorted(set(family) - {""}):
            relevant = (category == c) & (family == f)
            if len(set(item_identities(case.recommender)[relevant])) >= k:
                precision, n, items = word_precision(case, f"{f} {c}", relevant, k)
                pairs.append((f"{f} {c}", precision, items))
    truth = "judged by eye" if judged is not None else "as above"
    lines += ["", f"Colour + category (`--query \"<family> <category>\"`), pairs with at least {k} items, "
              f"precision@{k} (both labels must hold; colours {truth}):", ""]
    if pairs:
        lines += ["| words | precision | items |", "| --- | ---: | ---: |"]
        lines += [f"| {w} | {p:.2f} | {i} |" for w, p, i in pairs]
    else:
        lines.append("(no colour + category pair has that many items in this catalog)")
    summary = (f"Mean precision@{k}: categories {np.mean(cat_values):.2f} over {len(cat_values)} with >= {k} items "
               f"(min {min(cat_values):.2f}); " if cat_values else "")
    summary += (f"colours{' (judged by eye)' if judged is not None else ''} {np.mean(col_values):.2f} "
                f"over {len(col_values)} (min {min(col_values):.2f})"
                if col_values else "")
    summary += (f"; pairs {np.mean([p for _, p, _ in pairs]):.2f} over {len(pairs)}." if pairs else ".")
    below = [f"{name} {v:.2f}" for name, v in every_category.items() if not v >= 0.9]
    targets = [f"- every category name >= 0.90: {'met' if not below else 'missed'}"
               + (f" (below: {', '.join(below)})" if below else ""),
               f"- every colour family with >= 10 items >= 0.80{' (judged by eye)' if judged is not None else ''}: "
               + ("no family has that many items" if not big_colours else
                  "met" if min(big_colours.values()) >= 0.8 else
                  "missed (" + ", ".join(f"{n} {v:.2f}" for n, v in big_colours.items() if v < 0.8) + ")")]
    return "\n".join(lines + ["", summary, "", "Targets:", ""] + targets)


def catalog_section(case: CatalogCase, shoppers: int, quick: bool) -> str:
    """One catalog's Markdown: the model, the shopper table, the word search."""
    import time

    catalog = case.recommender.catalog
    fb = case.config.feedback
    start = time.perf_counter()
    results = simulate_catalog(case, shoppers)
    seconds = time.perf_counter() - start
    top1 = f"{case.top1:.1%}" if case.top1 is not None else "unknown"
    source = catalog.manifest.get("source", {}).get("root", "?")
    from pathlib import Path

    marker = Path(source) / "sample.json"
    stale = (" Note: this sample was regenerated (a newer generator) after the model was trained, so the "
             "model sees a shifted distribution here." if marker.is_file()
             and marker.stat().st_mtime > Path(str(case.checkpoint)).stat().st_mtime else "")
    return "\n".join([
        f"### {case.name}",
        "",
        f"Model `{case.checkpoint}` (its own test top-1: {top1}); catalog: the test split of `{source}`, "
        f"{len(catalog)} images, {len(set(item_identities(case.recommender)))} items.{stale}",
        "",
        f"Taste-precision@5 per round, mean over {shoppers} shoppers per taste ({seconds:.0f} s). Each shopper "
        "starts from a random catalog photo (left out of its results), judges every newly shown item (like = "
        "fits the hidden taste, else dislike) and gets re-ranked results; tastes are drawn among categories / "
        "colour families (dominant extracted palette colour) with at least 10 items, pairs with at least 5. "
        "The noise shoppers like at random (p = 0.5) and are measured against the photo's own category: "
        "`noise` dislikes the items it does not like (so they are hidden), `noise likes` leaves them unjudged. "
        "`session`: the session refinement from the shopper's own judgements "
        "(`fashion/feedback/refinement.py`: Rocchio on the embedding and palette; the disliked items are not "
        "shown again; the liked items' visual neighbours join the candidates and every candidate gets "
        f"{fb.session_like_weight:g} x its mean blended similarity to the liked items minus "
        f"{fb.session_dislike_weight:g} x that to the disliked ones). Liked items stay in the list (the "
        "shopper liked them), so a round's precision counts them again. `weights`: blend weights learned from "
        "every event recorded so far by the shoppers of that taste kind (one store per taste kind and "
        "adaptation, as the CLI's store per catalog; refitted as the store grows once "
        f"`feedback.min_events` = {fb.min_events} events exist); `all`: both plus the item prior.",
        "",
        shopper_table(results),
        "",
        target_lines(results),
        "",
        word_search_tables(case),
        "",
    ])


def main(quick: bool = False) -> str:
    """The synthetic simulation, then shoppers and word search on the sample and clothing-dataset-small."""
    from bench.common import SHARED_DATA

    # The issue asks for >= 200 shoppers per taste. At 200 the round 3 / round 0 ratio's bootstrap
    # standard error is 0.12-0.28 (clothing-dataset-small, category tastes: seeds 0, 1, 2 gave 1.43x,
    # 1.72x, 1.91x), too coarse for a 1.5x bound, so the bench draws 600.
    shoppers = 20 if quick else 600
    parts = [synthetic_section(quick), "## Feedback and word search on real catalogs", "",
             f"`python -m bench feedback{' --quick' if quick else ''}`; the models (runs/ is not committed; the "
             "first run found of each list is used, the section below names it) were trained on 2 shared CPU "
             "cores, from random initialisation (no ImageNet weights offline), with:", "",
             "- sample, `sample112-e24` (the defaults but 24 epochs: `python train.py --run-name sample112-e24 "
             "--set train.epochs=24 --set train.workers=0 --set catalog.workers=0`, 15 min at 43 training "
             "images/s; chosen over `sample112-e12` on a sample it never saw, `python -m fashion.cli.sample "
             "--root /tmp/sample_s1 --seed 1`: image top-1 98.8% against 97.6%, and 'every category name >= 0.9' "
             "missed in 20% of 200 random 100-item catalogs against 47%); else `sample112-e12` (the defaults: "
             "112 px, 12 epochs): `python train.py --run-name "
             "sample112-e12 --set train.workers=0 --set catalog.workers=0` (18 min at 8-25 training images/s "
             "on busy cores); else `sample64`: `python train.py --run-name sample64 --set model.image_size=64 "
             "--set train.epochs=4 --set train.workers=0 --set catalog.workers=0` (about 4 min)",
             "- clothing-dataset-small, `real-clothing-cutmix40`: `real-clothing-e30` (112 px, 30 epochs from "
             "scratch: `python scripts/real_run.py --epochs 30 --run-name real-clothing-e30`, 77 min at 14-48 "
             "training images/s on busy cores; test top-1 79.3%), continued 8 epochs (`python train.py --data "
             "../shared/data/clothing-dataset-small --run-name real-clothing-ft8 --set "
             "model.weights=runs/real-clothing-e30/best.pt --set train.epochs=8 --set train.lr=0.001 --set "
             "train.warmup_epochs=0.5 --set train.batch_size=64 --set train.workers=0`; 81.7%), then 40 with "
             "CutMix (`python train.py --data ../shared/data/clothing-dataset-small --run-name "
             "real-clothing-cutmix40 --set model.weights=runs/real-clothing-ft8/best.pt --set train.cutmix=0.5 "
             "--set train.epochs=40 --set train.lr=0.002 --set train.batch_size=64 --set train.workers=0`: 67 min "
             "at 25-41 training images/s; validation top-1 85.9%, test 83.6%); else `real-clothing-e30`; else "
             "`clothing-small64-e6`: `python train.py --data ../shared/data/clothing-dataset-small --run-name "
             "clothing-small64-e6 --set model.image_size=64 --set train.batch_size=64 --set train.lr=0.003 "
             "--set train.epochs=6 --set train.workers=0 --set catalog.workers=0` (7-22 min; a weak model: test "
             "top-1 69.6%, hat 8%, shirt 15%).",
             "",
             "The settings below were chosen on clothing-dataset-small's validation split with "
             "`clothing-small64-e6`; the stronger models replaced the weak ones afterwards (chosen for their own "
             "validation top-1), without choosing any setting again.",
             "",
             "The session refinement's settings (`feedback.hide_disliked`, `session_like_weight`, "
             "`session_dislike_weight`) were chosen on clothing-dataset-small's validation split (100-200 shoppers per "
             "taste), never on the test split reported here: there, with everything on, round 3 / round 0 was "
             "1.94x for category and 2.66x for colour tastes and the noise shopper -1.0 +- 1.1 points (200 "
             "shoppers); a 0.25 dislike penalty gave 2.07x / 2.73x but -2.4 +- 1.2 points for the noise shopper, "
             "hiding the disliked items alone 1.73x / 2.07x (150 shoppers). The noise shopper's random dislikes "
             "hide items of the photo's own category, so some cost on that shopper is inherent.",
             "",
             ("A consistency gate (`feedback.session_consistency_z`, off: 0) scales the likes' pull (the bonus, "
              "the liked items' neighbours, Rocchio's step) by clip(z / that, 0, 1), z: how far the liked items "
              "stand apart from the disliked ones in blended similarity, in standard deviations of label "
              "permutations (`fashion/feedback/refinement.py`, `consistency_gate`). Measured on the validation "
              "split (200 shoppers per taste, seeds 0, 1, 2; `all`; the noise shopper's change paired against "
              "the gate off): off 1.86x / 2.19x / 1.87x for category and 2.32x / 2.57x / 2.90x for colour tastes, "
              "noise +0.1 / +1.6 / -0.8 points (+- 1.1-1.2); gated at z = 2 1.79x / 2.07x / 1.77x, 2.22x / 2.48x "
              "/ 2.68x, noise 0.0 +- 0.9, -1.3 +- 0.8, -1.7 +- 0.8 against off (mean gate 0.25 for the noise "
              "shopper, 0.83-0.87 for category and 0.66-0.77 for colour tastes: the test tells them apart); "
              "z = 1 (seeds 1, 2) -0.7 +- 0.8 and -0.9 +- 0.8; the bonus and neighbours gated but not Rocchio "
              "-0.8 +- 0.7, -1.4 +- 0.7, -1.2 +- 0.7. The noise shopper's random likes are mostly what the "
              "photo's results already were, so the pull toward them acts as pseudo-relevance feedback and "
              "gating it costs that shopper; hiding the disliked items alone (no bonus, no Rocchio) cost it "
              "2.0 +- 1.0 and 1.1 +- 0.9 against everything on (seeds 1, 2). Hiding only when the gate is at "
              "least 0.5 (the pull ungated): noise +1.5 +- 0.9, -0.8 +- 0.9, +0.5 +- 0.9, but category "
              "1.66x / 1.86x / 1.56x and colour 2.11x / 2.14x / 2.49x (a taste's first like among dislikes "
              "cannot show much consistency). So the gate stays off."),
             "",
             ("The item prior (`fashion/feedback/adaptation.py`, `item_prior`) compares an item's likes with the "
             "other items' like rate and lets it sink only by the shortfall beyond `feedback.item_prior_z` "
             "standard errors of chance. Chosen on the validation split (200 shoppers per taste, the bench's "
             "seeds 0 and 1; the noise shopper's change against the session refinement alone, paired by "
             "shopper): the earlier rule (sink by the dislike excess over a fixed 50/50) +0.7 and +0.1 +- 0.9 "
             "points (and -2.6 on the test split, with the palettes as first extracted: it moves by chance); against the other items' rate without "
             "the bound (z = 0) +0.9 +- 0.9 and -0.1 +- 0.9; z = 1 -0.5 +- 0.5; z = 1.5 -0.1 +- 0.2; z = 2 "
             "+0.1 +- 0.1 and 0.0 +- 0.0 (within 0.1 points of that with strength 0.1 or no pseudo-votes). The earlier rule and "
             "z = 0 raised the category tastes' round 3 / round 0 (seed 0: 1.98x and 1.95x against 1.86x with "
             "z = 2; seed 1: 2.24x and 2.31x against 2.05x) by sinking whatever a taste kind's shoppers had "
             "often been shown; the simulated tastes are drawn at random, so no item is liked more than another "
             "of its category or colour family, and with z = 2 the prior barely moves a ranking here."),
             "",
             "Word search by a category name ranks by the item's predicted probability of it. Alternatives were "
             "measured on the validation split (mean / lowest category precision@10 over its 10 categories): "
             "the probability 0.91 / 0.70; averaged over an item's views 0.91 / 0.70; log-ratio to the best other "
             "category 0.89 / 0.60; pseudo-relevance feedback (probability + 0.5-2 x cosine to the centroid of "
             "the 5 or 10 most probable items) 0.90 / 0.70; smoothing the probabilities over 5 or 10 embedding "
             "neighbours 0.90-0.92 / 0.70 (all with `clothing-small64-e6`, whose test hats were predicted hat "
             "for 1 of 12). None is clearly better, so the ranking stays the probability. With "
             "`real-clothing-e30` (validation 0.93 / 0.70): the category votes of the 5, 10 or 20 nearest "
             "training-split photos in embedding space 0.87-0.89 / 0.50-0.60, half probability and half votes "
             "0.93-0.95 / 0.70-0.80, the probability averaged with the mirrored photo's 0.95 / 0.80. None "
             "reaches 0.9 for every category, so none was adopted (the averaged probability would double the "
             "network's cost of a catalog build). The model itself misses: 6 of 12 test hats and 13 of 38 test "
             "outwear photos are predicted as their category; the category target needs a better model "
             "(issue 16), not a re-ranking. `real-clothing-cutmix40` (the e30 model continued, the last 40 epochs "
             "with CutMix) is that better model as far as 2 CPU cores go: validation 0.95 / 0.80 (outwear and "
             "skirt 0.80; averaged with the mirrored photo 0.96 / 0.80, so still not adopted).",
             "",
             "Word search by a colour family ranks by the learned family model's probability that a person "
             "names the garment so (`colour.family_model`, `fashion/colour/family_model.py`, fitted by "
             "`python scripts/train_colour_families.py` on clothing-dataset-small's training photos judged by "
             "eye, its strength chosen on the validation split). On clothing-dataset-small's validation split, "
             "against the judges, mean precision@10 over black, blue, brown, green, grey, pink, red and white: "
             "the rules' share of the palette 0.58 (textbook achromatic thresholds) and 0.55 (refitted), the "
             "model 0.68 (0.65-0.68 over strengths 0.01-3; a gradient-boosted model 0.68, adding the network's "
             "embedding 0.64-0.65, adding the white patch's gains and the backdrop's colour 0.69-0.70, not worth "
             "storing them). On product shots (where the segmenter finds no person) that probability is "
             "averaged with a small network's that sees the whole photo, the backdrop included "
             "(`colour.family_net`, `fashion/colour/family_net.py`, trained by "
             "`python scripts/train_colour_net.py` on the same judged training photos; the palette model's "
             "share, 0.25, chosen on the validation split among 0, 0.25, 0.5 and 0.75: validation 0.80, "
             "0.825, 0.775, 0.725, the palette model alone 0.675). The judged truth is in `bench/judged/`; "
             "the colour + category pairs count a person's families too.",
             ""]
    for name, runs, needs in (("Built-in sample", SAMPLE_RUNS, None),
                              ("clothing-dataset-small (test split)", CLOTHING_RUNS, SHARED_DATA)):
        if needs is not None and not needs.is_dir():
            parts += [f"### {name}", "", f"skipped: {needs} is absent", ""]
            continue
        case = open_case(name, runs)
        if case is None:
            parts += [f"### {name}", "", f"skipped: no trained run ({', '.join('runs/' + r for r in runs)})", ""]
            continue
        parts.append(catalog_section(case, shoppers, quick))
    return "\n".join(parts)
