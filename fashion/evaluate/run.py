"""The evaluate job: how good are a checkpoint's predictions and recommendations, against baselines.

For a checkpoint and a labelled dataset (by default the data it was trained on, split the same way):

1. every image of the query, gallery and tuning splits is embedded ONCE (the catalog's own path:
   decode, crop to the box, eval transform, network, palette; :class:`fashion.model.encoder.Encoder`);
2. classification metrics of the query split (:func:`fashion.train.metrics.classification_report`, the
   same figures ``train.py`` reports);
3. the registered score components (:mod:`fashion.recommend.components`: cosine, Bhattacharyya
   category agreement, palette similarity) of every query against every gallery image, as
   matrices (in chunks of queries), ranked by each method: ``random``, each component alone
   (``visual``, ``category``, ``colour``), the configured ``blend`` (``recommend.weights``) and ``tuned`` (the best weights of a grid search on the
   validation split; the test split is never used to choose them);
4. recommendation metrics of each ranking at k = 1, 5, 10 (:mod:`fashion.evaluate.metrics`).

Protocol choices (documented in the README):

* queries = gallery = the test split by default; a query's own image is excluded from its results
  (and, for same-item recall, another view of the same item is what counts as a hit);
* rankings are raw image rankings: several views of one item are NOT collapsed as the recommender
  does for display, so same-item Recall@k follows the In-shop protocol;
* the blends (``blend``, ``tuned``) re-rank the visual top ``max(k) * recommend.candidate_multiple``
  like :class:`fashion.recommend.recommender.Recommender`; the single-component baselines rank the whole gallery;
* colour agreement compares dominant colours extracted by :func:`fashion.colour.palette.extract_palette`
  (the colour a shopper sees), with ``colour.match_delta_e`` as the CIEDE2000 threshold.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from fashion.errors import FashionError
from fashion.config import MAX_SEED, Config
from fashion.data.datasets import LabelledData
from fashion.recommend.components import ItemArrays, QueryArrays, component_names, score_matrices
from fashion.recommend.recommender import Weights
from fashion.evaluate.metrics import (
    attribute_overlap_at_k,
    category_precision_at_k,
    colour_agreement_at_k,
    mean_delta_e_at_k,
    rank,
    same_item_recall_at_k,
)

SPLITS = ("train", "val", "test")
MAX_K = 10_000  # cut-offs past any gallery this tool ranks (a larger one overflowed an array size)
MAX_WEIGHTINGS = 20_000  # the grid search's size (0.01 with 3 components: 5,151)
# Baselines: a random order, then each registered score component alone (named after it).
BASELINES = ("random",)
# Metrics in [0, 1] where higher is better; their mean is the grid search's default objective.
QUALITY_METRICS = ("category_precision", "colour_agreement", "attribute_overlap", "same_item_recall")
METRICS = ("category_precision", "colour_agreement", "mean_delta_e", "attribute_overlap", "same_item_recall", "mean")

Log = Callable[[str], None]


class EvaluationError(FashionError, ValueError):
    """The evaluation cannot run as asked (unknown split, empty query set ...); the message says why."""


@dataclass(frozen=True)
class EvalOptions:
    """What to evaluate and how (CLI options of ``python -m fashion.cli.evaluate``)."""

    queries: tuple[str, ...] = ("test",)
    gallery: tuple[str, ...] = ("test",)
    tune: str | None = "val"  # split for the weight grid search; None skips it
    ks: tuple[int, ...] = (1, 5, 10)
    grid_step: float = 0.1  # weights on the simplex in steps of this (0.1: 66 triples)
    objective: str = "mean"  # "mean" of the quality metrics, or one of QUALITY_METRICS; at max(ks)
    seed: int = 0  # of the random baseline
    pool: bool = True  # blends re-rank the visual top max(ks) * candidate_multiple, as the recommender does
    chunk: int = 512  # queries scored at once (bounds memory to chunk x gallery matrices)

    def check(self) -> "EvalOptions":
        for split in (*self.queries, *self.gallery, *([self.tune] if self.tune else [])):
            if split not in SPLITS:
                raise EvaluationError(f"unknown split {split!r} (choose from {', '.join(SPLITS)})")
        if not self.queries or not self.gallery:
            raise EvaluationError("at least one query split and one gallery split are needed")
        if not self.ks or min(self.ks) < 1 or max(self.ks) > MAX_K:
            raise EvaluationError(f"k values must be integers from 1 to {MAX_K:,}, got {list(self.ks)}")
        if not 0 < self.grid_step <= 1 or abs(round(1 / self.grid_step) * self.grid_step - 1) > 1e-6:
            raise EvaluationError(f"grid step must divide 1 (e.g. 0.1, 0.2, 0.25), got {self.grid_step}")
        weightings = grid_size(self.grid_step)
        if weightings > MAX_WEIGHTINGS:  # 1e-9 divides 1, but its grid would never be searched
            raise EvaluationError(f"grid step {self.grid_step} gives {weightings:,} weightings to "
                                  f"search; at most {MAX_WEIGHTINGS:,} are searched (0.01 gives "
                                  f"{grid_size(0.01):,} with {len(component_names())} components)")
        if not 0 <= self.seed <= MAX_SEED:
            raise EvaluationError(f"the seed must be an integer from 0 to {MAX_SEED}, got {self.seed}")
        if self.objective not in ("mean", *QUALITY_METRICS):
            raise EvaluationError(f"unknown objective {self.objective!r} (mean, {', '.join(QUALITY_METRICS)})")
        return self


# ------------------------------------------------------------------------------ features


@dataclass
class Features:
    """What the network and the colour extractor say about a set of dataset rows, aligned."""

    rows: np.ndarray  # (N,) dataset frame index of each embedded image
    embeddings: np.ndarray  # (N, D) float32, unit length
    category_probs: np.ndarray  # (N, C) float32
    attribute_probs: np.ndarray  # (N, A) float32
    palette_lab: np.ndarray  # (N, k, 3) float32, colours by share, padding share 0
    palette_shares: np.ndarray  # (N, k) float32
    skipped: dict[str, str] = field(default_factory=dict)  # path -> why it could not be read

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def dominant_lab(self) -> np.ndarray:
        """(N, 3) Lab of each image's largest palette colour (NaN where no palette was found)."""
        lab = self.palette_lab[:, 0, :].astype(np.float64)
        lab[self.palette_shares[:, 0] <= 0] = np.nan
        return lab


def extract_features(loaded: Any, data: LabelledData, rows: np.ndarray, config: Config,
                     progress: bool = True, cache_dir: Path | None = None) -> Features:
    """Embed and describe dataset rows in batches, exactly as the catalog indexer does.

    Unreadable images are left out and listed in ``skipped`` rather than stopping the run. With
    ``cache_dir``, finished rows are saved there every few seconds and on Ctrl-C or SIGTERM
    (:mod:`fashion.evaluate.cache`), an interrupted run resumes from them, and the folder is
    removed once every row is done.
    """
    from tqdm.auto import tqdm

    from fashion.data.loaders import bbox_of
    from fashion.data.workers import default_workers
    from fashion.evaluate.cache import ARRAYS, FeatureCache, file_signature
    from fashion.index.builder import _sigterm_as_interrupt, extraction_settings
    from fashion.model.encoder import Encoder

    frame = data.frame.loc[rows].reset_index(drop=True)
    paths = frame["path"].tolist()
    bboxes = [bbox_of(frame, i) if config.data.use_bbox else None for i in range(len(frame))]
    cache = FeatureCache(cache_dir, extraction_settings(loaded, config)) if cache_dir is not None else None
    signatures = [file_signature(p, b) for p, b in zip(paths, bboxes)] if cache is not None else []
    cached = cache.load(dict(zip(paths, signatures))) if cache is not None else {}
    done: dict[int, dict[str, np.ndarray]] = {i: cached[p] for i, p in enumerate(paths) if p in cached}
    todo = [i for i in range(len(paths)) if i not in done]
    batch_size = config.catalog.batch_size
    # Worker processes only pay off beyond a couple of batches (each costs a fork and a warm-up).
    workers = default_workers(config.catalog.workers) if len(todo) > 2 * batch_size else 0
    skipped: dict[str, str] = {}
    restore = _sigterm_as_interrupt() if cache is not None else (lambda: None)
    try:
        with tqdm(total=len(frame), initial=len(done), desc="embedding", unit="img", disable=not progress,
                  leave=False) as bar:
            if todo:
                batches = Encoder.from_config(loaded, config).encode_files(
                    [paths[i] for i in todo], [bboxes[i] for i in todo], batch_size=batch_size, workers=workers)
                for batch in batches:
                    for index, error in batch.bad:
                        skipped[paths[todo[index]]] = error
                    if batch.features is not None:
                        f = batch.features
                        arrays = {"embeddings": f.embeddings, "category_probs": f.category_probs,
                                  "attribute_probs": f.attribute_probs, "palette_lab": f.palette_lab,
                                  "palette_shares": f.palette_shares}
                        positions = [todo[i] for i in batch.index]
                        for row, i in enumerate(positions):
                            done[i] = {name: arrays[name][row] for name in ARRAYS}
                        if cache is not None:
                            cache.add([paths[i] for i in positions], [signatures[i] for i in positions], arrays)
                    bar.update(len(batch.index) + len(batch.bad))
    finally:
        # On Ctrl-C and SIGTERM too: every finished row is on disk for the next run.
        if cache is not None:
            cache.flush()
        restore()
    if not done:
        raise EvaluationError(f"none of the {len(frame)} images could be read (first: {next(iter(skipped.values()))})")
    kept = sorted(done)
    stacked = {name: np.stack([done[i][name] for i in kept]).astype(np.float32) for name in ARRAYS}
    if cache is not None:
        cache.remove()
    return Features(rows=np.asarray(rows)[kept], skipped=skipped, **stacked)


# ------------------------------------------------------------------------------ ranking


@dataclass(frozen=True)
class Method:
    """A ranking method: blend weights (None: random order) and whether it re-ranks a visual pool."""

    name: str
    weights: Weights | None
    pooled: bool = False


def baseline_methods(configured: Weights, tuned: Weights | None = None) -> list[Method]:
    """random, each registered score component alone (visual, category, colour), the configured
    blend (and the tuned one)."""
    methods = [Method("random", None)]
    methods += [Method(name, Weights(**{name: 1.0})) for name in component_names()]
    methods.append(Method("blend", configured.normalised(), pooled=True))
    if tuned is not None:
        methods.append(Method("tuned", tuned.normalised(), pooled=True))
    return methods


def self_columns(queries: np.ndarray, gallery: np.ndarray) -> np.ndarray:
    """(Q,) the gallery column holding each query's own image, -1 when it is not in the gallery."""
    column = {int(position): c for c, position in enumerate(gallery)}
    return np.array([column.get(int(q), -1) for q in queries], dtype=np.int64)


def query_features(features: Features, positions: np.ndarray) -> list[QueryArrays]:
    """The embedded images at ``positions`` as queries of the score components (an image whose
    garment had no colour gets no palette: colour-similar to nothing)."""
    from fashion.colour.similarity import unpack_palette

    queries = []
    for q in positions:
        try:
            palette = unpack_palette(features.palette_lab[q], features.palette_shares[q])
        except ValueError:
            palette = None
        queries.append(QueryArrays(features.embeddings[q], features.category_probs[q],
                                   features.attribute_probs[q], palette))
    return queries


def gallery_items(features: Features, gallery: np.ndarray) -> ItemArrays:
    """The gallery images as the catalog side of the score components (palette self-match cached)."""
    from fashion.colour.similarity import palette_self_match

    labs, shares = features.palette_lab[gallery], features.palette_shares[gallery]
    return ItemArrays(embeddings=features.embeddings[gallery], category_probs=features.category_probs[gallery],
                      palette_lab=labs, palette_shares=shares, palette_self_match=palette_self_match(labs, shares))


def rank_methods(features: Features, queries: np.ndarray, gallery: np.ndarray, methods: Sequence[Method],
                 k: int, pool_size: int, seed: int = 0, chunk: int = 512) -> dict[str, np.ndarray]:
    """``{method: (Q, k) ranked gallery columns}`` for every method, from one set of features.

    The score component matrices (one per registered component, registry order) of a chunk of
    queries are computed once and blended per method (one matrix product each); the visual one
    is one matrix product, which also gives the blends' candidate pool. A query's own image is
    excluded from its results.
    """
    exclude = self_columns(queries, gallery)
    g_embeddings = features.embeddings[gallery]
    items = gallery_items(features, gallery)
    rng = np.random.default_rng(seed)
    ranked = {m.name: np.full((len(queries), k), -1, dtype=np.int64) for m in methods}
    for start in range(0, len(queries), chunk):
        part = queries[start:start + chunk]
        stop = start + len(part)
        visual = features.embeddings[part] @ g_embeddings.T
        precomputed = {"visual": visual} if "visual" in component_names() else {}
        components = score_matrices(query_features(features, part), items, precomputed=precomputed)  # (K, q, N)
        pool = None
        if any(m.pooled for m in methods) and pool_size < len(gallery):
            candidates = rank(visual, pool_size, exclude[start:stop])
            pool = np.zeros(visual.shape, dtype=bool)
            rows = np.repeat(np.arange(len(part)), pool_size)
            valid = candidates.ravel() >= 0
            pool[rows[valid], candidates.ravel()[valid]] = True
        for method in methods:
            if method.weights is None:
                scores = rng.random(visual.shape)
            else:
                scores = np.tensordot(method.weights.normalised().as_array(), components, axes=1)
                if method.pooled and pool is not None:
                    scores = np.where(pool, scores, -np.inf)
            ranked[method.name][start:stop] = rank(scores, k, exclude[start:stop])
    return ranked


# ------------------------------------------------------------------------------ metrics


@dataclass
class Truth:
    """Ground truth of embedded images: true category, attributes, item id, dominant colour."""

    categories: np.ndarray  # (N,) int, -1 unknown
    attributes: np.ndarray | None  # (N, A) int8 or None
    items: np.ndarray  # (N,) object, "" when none
    dominant_lab: np.ndarray  # (N, 3)

    @classmethod
    def of(cls, data: LabelledData, features: Features) -> "Truth":
        frame = data.frame.loc[features.rows]
        attributes = None
        if data.attributes is not None and data.attributes.shape[1] and (data.attributes == 1).any():
            attributes = data.attributes[features.rows]
        items = np.array(["" if pd.isna(v) else str(v) for v in frame["item_id"]], dtype=object)
        return cls(frame["category"].to_numpy(dtype=np.int64), attributes, items, features.dominant_lab)

    def take(self, positions: np.ndarray) -> "Truth":
        return Truth(self.categories[positions], None if self.attributes is None else self.attributes[positions],
                     self.items[positions], self.dominant_lab[positions])


def retrieval_metrics(ranked: np.ndarray, queries: Truth, gallery: Truth, query_columns: np.ndarray,
                      ks: Sequence[int], match_delta_e: float) -> tuple[dict[str, dict[int, float]], dict[str, int]]:
    """All recommendation metrics of one ranking, ``{metric: {k: value}}``, and the item-recall counts."""
    ks = tuple(ks)
    recall = same_item_recall_at_k(ranked, queries.items, gallery.items, query_columns, ks)
    metrics = {
        "category_precision": category_precision_at_k(ranked, queries.categories, gallery.categories, ks),
        "colour_agreement": colour_agreement_at_k(ranked, queries.dominant_lab, gallery.dominant_lab, ks,
                                                  match_delta_e),
        "mean_delta_e": mean_delta_e_at_k(ranked, queries.dominant_lab, gallery.dominant_lab, ks),
        "attribute_overlap": attribute_overlap_at_k(ranked, queries.attributes, gallery.attributes, ks),
        "same_item_recall": recall.recall,
    }
    metrics["mean"] = {k: _nanmean([metrics[m][k] for m in QUALITY_METRICS]) for k in ks}
    counts = {"queries": len(ranked), "item_recall_queries": recall.counted,
              "single_view_skipped": recall.single_view, "no_item_skipped": recall.no_item}
    return metrics, counts


def _nanmean(values: Sequence[float]) -> float:
    known = [v for v in values if v == v]
    return float(np.mean(known)) if known else float("nan")


# ------------------------------------------------------------------------------ grid search


def grid_size(step: float, names: Sequence[str] | None = None) -> int:
    """How many weightings :func:`weight_grid` lists for ``step`` (counted, not listed)."""
    parts = len(component_names() if names is None else names)
    return math.comb(round(1 / step) + parts - 1, parts - 1)


def weight_grid(step: float, names: Sequence[str] | None = None) -> list[Weights]:
    """Every weighting of the registered components (or ``names``) on the simplex in steps of
    ``step``, earlier components heavier first (so that among equally good weights the search
    keeps the more visual one)."""
    names = tuple(component_names() if names is None else names)
    n = round(1 / step)

    def splits(total: int, parts: int) -> list[tuple[int, ...]]:
        if parts == 1:
            return [(total,)]
        return [(first, *rest) for first in range(total, -1, -1) for rest in splits(total - first, parts - 1)]

    return [Weights(**{name: v / n for name, v in zip(names, point)}) for point in splits(n, len(names))]


@dataclass
class GridResult:
    """The grid search's outcome on the tuning split."""

    split: str
    objective: str
    k: int
    queries: int
    best: Weights
    best_value: float
    configured_value: float
    table: list[tuple[Weights, float]]


def grid_search(features: Features, truth: Truth, positions: np.ndarray, split: str, configured: Weights,
                options: EvalOptions, pool_size: int, match_delta_e: float) -> GridResult:
    """The blend weights that maximise the objective at max(ks) on ``split`` (queries = gallery = that
    split, each query's own image excluded). Only ``split`` is ranked: the test split is never seen."""
    k = max(options.ks)
    grid = weight_grid(options.grid_step)
    methods = [Method(f"w{i}", w, pooled=True) for i, w in enumerate(grid)]
    methods.append(Method("configured", configured.normalised(), pooled=True))
    ranked = rank_methods(features, positions, positions, methods, k, pool_size, options.seed, options.chunk)
    sub = truth.take(positions)
    columns = self_columns(positions, positions)

    def value(name: str) -> float:
        metrics, _ = retrieval_metrics(ranked[name], sub, sub, columns, (k,), match_delta_e)
        return metrics[options.objective][k]

    table = [(w, value(f"w{i}")) for i, w in enumerate(grid)]
    known = [i for i, (_, v) in enumerate(table) if v == v]
    if not known:
        raise EvaluationError(f"the objective {options.objective}@{k} cannot be computed on the {split} split "
                              "(no qualifying queries); choose another with --objective")
    best = max(known, key=lambda i: table[i][1])  # the first (most visual) of equal values
    return GridResult(split, options.objective, k, len(positions), table[best][0], table[best][1],
                      value("configured"), table)


# ------------------------------------------------------------------------------ the job


def split_positions(data: LabelledData, features: Features, splits: Sequence[str]) -> np.ndarray:
    """Positions (into ``features``) of the embedded images of the given splits, in dataset order."""
    split_of = data.frame["split"].to_numpy()[features.rows]
    return np.flatnonzero(np.isin(split_of, list(splits)))


def classification_metrics(loaded: Any, data: LabelledData, features: Features,
                           positions: np.ndarray) -> dict[str, Any]:
    """The training issue's classification metrics on the query images (when the label sets match)."""
    from fashion.train.metrics import classification_report

    labels = loaded.labels
    if list(labels.category_names) != list(data.category_names):
        return {"skipped": f"the model predicts {len(labels.category_names)} categories, the data has "
                           f"{len(data.category_names)} others"}
    truth_attributes = None
    if data.attributes is not None and list(labels.attribute_names) == list(data.attribute_names):
        candidate = data.attributes[features.rows[positions]]
        truth_attributes = candidate if (candidate == 1).any() else None
    report = classification_report(
        features.category_probs[positions], data.frame["category"].to_numpy(dtype=np.int64)[features.rows[positions]],
        features.attribute_probs[positions] if truth_attributes is not None else None, truth_attributes,
        list(labels.attribute_types), len(labels.category_names))
    report["images"] = int(len(positions))
    return report


def evaluate(loaded: Any, data: LabelledData, config: Config, options: EvalOptions = EvalOptions(), *,
             progress: bool = True, log: Log = print, cache_dir: Path | None = None) -> dict[str, Any]:
    """Run the whole evaluation; returns the ``metrics.json`` content (see the module docstring).

    ``cache_dir``: where finished feature rows are kept while they are extracted, so an
    interrupted evaluation resumes (see :func:`extract_features`).

    ``config`` supplies the configured blend (``recommend.weights``), the candidate pool
    (``recommend.candidate_multiple``), the colour settings and the batch size.
    """
    options = options.check()
    configured = Weights.from_config(config.recommend).normalised()  # bad weights fail before the slow part
    started = time.perf_counter()
    frame = data.frame
    wanted = set(options.queries) | set(options.gallery) | ({options.tune} if options.tune else set())
    rows = frame.index[frame["split"].isin(wanted)].to_numpy()
    if not np.isin(frame["split"].to_numpy()[rows], list(options.queries)).any():
        raise EvaluationError(f"{data.root}: the query split ({'+'.join(options.queries)}) is empty")
    log(f"embedding {len(rows)} images ({', '.join(sorted(wanted))} splits) once for every method")
    features = extract_features(loaded, data, rows, config, progress, cache_dir=cache_dir)
    embedded = time.perf_counter()
    if features.skipped:
        log(f"warning: {len(features.skipped)} unreadable images left out")
    truth = Truth.of(data, features)
    queries = split_positions(data, features, options.queries)
    gallery = split_positions(data, features, options.gallery)
    if len(queries) == 0 or len(gallery) == 0:
        raise EvaluationError("no readable image in the query or gallery split")
    k = max(options.ks)
    pool_size = k * config.recommend.candidate_multiple if options.pool else len(features)
    match_delta_e = config.colour.match_delta_e

    grid: GridResult | None = None
    grid_note = ""
    if options.tune:
        tune = split_positions(data, features, [options.tune])
        if len(tune) < 2:
            grid_note = f"the {options.tune} split has fewer than 2 images: no grid search"
            log(f"warning: {grid_note}")
        else:
            grid = grid_search(features, truth, tune, options.tune, configured, options, pool_size, match_delta_e)
            log(f"grid search on {options.tune} ({len(tune)} images, {len(grid.table)} weightings): best "
                f"{_weights_text(grid.best)} with {grid.objective}@{grid.k} = {grid.best_value:.4f} "
                f"(configured {_weights_text(configured.normalised())}: {grid.configured_value:.4f})")

    methods = baseline_methods(configured, grid.best if grid else None)
    ranked = rank_methods(features, queries, gallery, methods, k, pool_size, options.seed, options.chunk)
    columns = self_columns(queries, gallery)
    q_truth, g_truth = truth.take(queries), truth.take(gallery)
    retrieval: dict[str, dict[str, dict[int, float]]] = {}
    counts: dict[str, int] = {}
    for method in methods:
        retrieval[method.name], counts = retrieval_metrics(ranked[method.name], q_truth, g_truth, columns,
                                                           options.ks, match_delta_e)
    finished = time.perf_counter()
    return {
        "protocol": {
            "queries": "+".join(options.queries), "gallery": "+".join(options.gallery),
            "query_excluded_from_own_results": True, "views_collapsed": False,
            "blend_candidate_pool": pool_size if options.pool else None, "ks": list(options.ks),
            "match_delta_e": match_delta_e, "random_seed": options.seed,
        },
        "images": {"queries": int(len(queries)), "gallery": int(len(gallery)), "embedded": int(len(features)),
                   "unreadable": len(features.skipped)},
        "counts": counts,
        "classification": classification_metrics(loaded, data, features, queries),
        "weights": {m.name: m.weights.normalised().as_dict() for m in methods if m.weights is not None},
        "retrieval": retrieval,
        "grid_search": _grid_json(grid, grid_note, options),
        "seconds": {"embedding": round(embedded - started, 2), "ranking_and_metrics": round(finished - embedded, 2),
                    "total": round(finished - started, 2)},
        "dataset": {"root": str(data.root), "layout": data.layout, "images": int(len(frame)),
                    "categories": len(data.category_names)},
    }


def _weights_text(weights: Weights) -> str:
    return "(" + ", ".join(f"{name} {value:.2f}" for name, value in weights.items()) + ")"


def _grid_json(grid: GridResult | None, note: str, options: EvalOptions) -> dict[str, Any]:
    if grid is None:
        return {"split": options.tune, "skipped": note or "disabled (--tune none)"}
    return {
        "split": grid.split, "objective": f"{grid.objective}@{grid.k}", "queries": grid.queries,
        "step": options.grid_step, "best_weights": grid.best.as_dict(), "best_value": grid.best_value,
        "configured_value": grid.configured_value,
        "table": [{**w.as_dict(), "value": v} for w, v in grid.table],
    }


# ------------------------------------------------------------------------------ entry point


def resolve_data_config(checkpoint_config: Config, overrides: Sequence[str], data: Path | None) -> Config:
    """The checkpoint's own configuration (its data, split the same way) with ``--set``/``--data`` applied."""
    from fashion.config import command_line_overrides, config_from_dict, merge

    literal = {"data.root": str(data), "data.sample": False} if data is not None else {}
    return config_from_dict(merge(checkpoint_config.to_dict(), command_line_overrides(overrides, literal)))


def run_evaluation(checkpoint: Path, *, data: Path | None = None, out: Path | None = None,
                   overrides: Sequence[str] = (), config_path: Path | None = None,
                   options: EvalOptions = EvalOptions(), device: str = "auto", progress: bool = True,
                   log: Log = print) -> tuple[dict[str, Any], Path]:
    """Load, evaluate, print the table and write ``metrics.json``, ``metrics.csv`` and the plot.

    The configured blend and colour settings come from ``hyper_parameters.yaml`` (or
    ``config_path``) with ``overrides``; the data from the checkpoint's configuration unless
    ``data`` names another dataset. Returns the report and the output folder
    (default ``<run>/evaluation/``).
    """
    from fashion.model.checkpoint import load_model
    from fashion.config import load_config
    from fashion.evaluate.report import available_metrics, format_table, write_outputs
    from fashion.data.load import load_training_data

    options = options.check()
    if out is not None:  # before the slow part: a file or read-only place in the way is one line now
        from fashion.io_utils import check_output_folder

        check_output_folder(out, "--out")
    settings = load_config(config_path, overrides)
    loaded = load_model(checkpoint, device=device)
    data_config = resolve_data_config(loaded.config, overrides, data)
    dataset = load_training_data(data_config)
    log(f"data: {dataset.root} ({dataset.layout}, {len(dataset.frame)} images); model: {checkpoint}")
    # Data-shaping settings follow the data's config; the rest (blend, colour, batching) the settings.
    config = settings.replace(data=data_config.data)
    out = Path(out) if out is not None else Path(checkpoint).resolve().parent / "evaluation"
    report = evaluate(loaded, dataset, config, options, progress=progress, log=log,
                      cache_dir=out / "features-cache")
    report["checkpoint"] = str(checkpoint)
    if not available_metrics(report):  # e.g. a gallery of one image: a query's own image is excluded
        images = report.get("images", {})
        raise EvaluationError(f"nothing to measure: no query has a result in the gallery ({images.get('queries')} "
                              f"query and {images.get('gallery')} gallery images; a query's own image is never "
                              f"its result); give a dataset with more images per split")
    write_outputs(report, out)
    log(format_table(report))
    log(f"saved: {out}/metrics.json, metrics.csv, metrics_vs_k.png")
    return report, out
