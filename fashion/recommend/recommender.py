"""Recommendations from a catalog: search, blended score, filters, one item per product, explanations.

No network and no training here: a :class:`Recommender` works on a loaded
:class:`~fashion.index.catalog.Catalog` and the model's :class:`~fashion.model.checkpoint.Labels`; queries
come in as :class:`Query` (made by :class:`fashion.recommend.engine.Engine.describe`).

The score of a catalog item for a query is the weighted sum of the registered score components
(:mod:`fashion.recommend.components`; weights normalised to sum to 1). The built-in three::

    total = w_visual * cosine(query embedding, item embedding)            (exact or FAISS search)
          + w_category * sum_c sqrt(p_query(c) * p_item(c))                (Bhattacharyya coefficient
                                                                            of the category distributions)
          + w_colour * palette_similarity(query palette, item palette)     (fashion.colour.palette, CIEDE2000)

Candidates are the ``top_k * candidate_multiple`` visually nearest allowed items (filters are
applied before the search, so they never starve it); they are re-ranked by ``total``, and of
several views of one item (same ``item_id``) only the best is kept.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import math
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np

from fashion.errors import FashionError
from fashion.index.catalog import Catalog
from fashion.model.labels import Labels
from fashion.config import ColourConfig, RecommendConfig
from fashion.data.datasets import ATTRIBUTE_TYPE_NAMES, CATEGORY_TYPE_NAMES
from fashion.index.search import SearchIndex, build_index
from fashion.recommend.components import (
    ItemArrays,
    component_names,
    default_weights,
    score_matrix,
)



class RecommendError(FashionError, ValueError):
    """A request cannot be served (unknown category or colour name, bad weights); the message says why."""


# ------------------------------------------------------------------------------ weights, filters


def _check_weight_texts(texts: Mapping[str, str], option: str = "--weights") -> None:
    """Each value of ``option`` as typed must be a finite number >= 0; the error echoes it."""
    for name, text in texts.items():
        try:
            value = float(text)
        except ValueError:
            raise RecommendError(f"{option}: {name}={text!r} is not a number") from None
        if not math.isfinite(value) or value < 0:
            raise RecommendError(f"{option}: {name}={text!r} must be a finite number >= 0")


class Weights(Mapping[str, float]):
    """Blend weights: a name -> weight mapping over the registered score components
    (:mod:`fashion.recommend.components`), normalised to sum to 1 when used.

    ``Weights(visual=1, colour=0.5)`` names components (the others weigh 0); ``Weights(0.6, 0.25,
    0.15)`` gives them in registry order. Every weight is finite and non-negative, not all are
    zero, and an unknown name is a :class:`RecommendError` listing the registered ones. Iterating
    yields every registered component's name (registry order).
    """

    __slots__ = ("_values",)

    def __init__(self, *values: float, **named: float) -> None:
        names = component_names()
        if len(values) > len(names):
            raise RecommendError(f"{len(values)} weights given but only {len(names)} score components are "
                                 f"registered ({', '.join(names)})")
        unknown = sorted(set(named) - set(names))
        if unknown:
            raise RecommendError(f"unknown score component {', '.join(map(repr, unknown))}; "
                                 f"registered: {', '.join(names)}")
        given = dict(zip(names, values))
        clash = sorted(set(given) & set(named))
        if clash:
            raise RecommendError(f"weight of {', '.join(clash)} given twice")
        given.update(named)
        try:
            self._values = {name: float(given.get(name, 0.0)) for name in names}
        except (TypeError, ValueError):
            raise RecommendError(f"weights must be numbers, got {given}") from None
        bad = [f"{name}={given[name]!r}" for name, value in self._values.items()
               if not math.isfinite(value) or value < 0]
        if bad:
            raise RecommendError(f"weights must be finite, non-negative and not all zero; bad: {', '.join(bad)}")
        if sum(self._values.values()) <= 0:
            raise RecommendError("weights must be finite, non-negative and not all zero; all are zero (" + ", ".join(
                f"{name}={given.get(name, 0.0)!r}" for name in names) + ")")

    # -- the mapping

    def __getitem__(self, name: str) -> float:
        try:
            return self._values[name]
        except KeyError:
            raise KeyError(f"no score component {name!r}; registered: {', '.join(self._values)}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Weights):
            return self._values == other._values
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self._values.items()))

    def __repr__(self) -> str:
        return f"Weights({', '.join(f'{k}={v:g}' for k, v in self._values.items())})"

    # -- building

    @classmethod
    def from_mapping(cls, values: Mapping[str, float], what: str = "weights") -> "Weights":
        """Weights from ``{name: value}``; components it does not name take their registered
        ``default_weight``; an unknown name is an error naming ``what`` and the registered ones."""
        unknown = sorted(set(values) - set(component_names()))
        if unknown:
            raise RecommendError(f"{what}: unknown score component {', '.join(map(repr, unknown))}; "
                                 f"registered: {', '.join(component_names())}")
        return cls(**{**default_weights(), **{k: float(v) for k, v in values.items()}})

    @classmethod
    def from_config(cls, config: RecommendConfig) -> "Weights":
        """``recommend.weights`` (components it does not name: their registered default weight)."""
        return cls.from_mapping(config.weights, "recommend.weights")

    @classmethod
    def parse(cls, text: str, base: "Weights", option: str = "--weights") -> "Weights":
        """``"0.6,0.25,0.15"`` (one number per component, registry order) or ``"colour=1,visual=0.5"``
        (the components not named keep their weight in ``base``). ``option`` names the input in errors."""
        names = component_names()
        parts = [p.strip() for p in text.split(",") if p.strip()]
        try:
            if parts and all("=" not in p for p in parts):
                if len(parts) != len(names):
                    raise RecommendError(f"{option} needs {len(names)} numbers ({','.join(names)}) or "
                                         f"name=value pairs, got {text!r}")
                _check_weight_texts(dict(zip(names, parts)), option)
                return cls(*(float(p) for p in parts))
            values = {}
            for part in parts:
                name, _, value = part.partition("=")
                name = name.strip().lower()
                if name not in names:
                    raise RecommendError(f"{option}: unknown component {name!r} (registered: {', '.join(names)})")
                if name in values:  # which of two values was meant cannot be told
                    raise RecommendError(f"{option}: {name} is given twice in {text!r}")
                _check_weight_texts({name: value.strip()}, option)
                values[name] = float(value)
        except ValueError as error:
            if isinstance(error, RecommendError):
                raise
            raise RecommendError(f"{option}: not a number in {text!r}") from None
        return base.with_overrides(**values)

    def with_overrides(self, **values: float | None) -> "Weights":
        """A copy with the named components replaced (None keeps the current value)."""
        return Weights(**{**self._values, **{k: v for k, v in values.items() if v is not None}})

    def checked(self) -> "Weights":
        """Itself (weights are checked when made: finite, non-negative, not all zero)."""
        return self

    def normalised(self) -> "Weights":
        """The weights scaled to sum to 1 (so totals stay comparable across weightings)."""
        values = self.as_array()
        values = values / values.max()  # first: 1e308 three times would overflow the sum to inf
        return Weights(*(values / values.sum()).tolist())

    def as_array(self) -> np.ndarray:
        """The weights in registry order, float64."""
        return np.array(list(self._values.values()), dtype=np.float64)

    def as_dict(self) -> dict[str, float]:
        return dict(self._values)


@dataclass(frozen=True)
class Filters:
    """Restrictions on the results. ``category``/``colour`` are names; see :meth:`Recommender.allowed`."""

    category: str | None = None
    colour: str | None = None
    same_category: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"category": self.category, "colour": self.colour, "same_category": self.same_category}


@dataclass(frozen=True)
class Rerank:
    """What a shopper's session adds to one ranking (built by :mod:`fashion.feedback.refinement`).

    ``near``: (M, D) unit embeddings whose visual neighbours join the candidates (the liked
    items), so that items like them are ranked even when they are far from the photo;
    ``bonus``: catalog rows (n,) -> (n,) scores added to ``total`` (how alike each row is to the
    liked items, minus how alike to the disliked ones).
    """

    near: np.ndarray | None = None
    bonus: Any = None  # Callable[[np.ndarray], np.ndarray] | None


# ------------------------------------------------------------------------------ score parts


def blend(components: np.ndarray, weights: Weights) -> np.ndarray:
    """Total scores (N,) from component scores (N, K) (columns in registry order, as
    :func:`fashion.recommend.components.score_matrix` makes them) and weights (normalised)."""
    return np.asarray(components, dtype=np.float64) @ weights.normalised().as_array()


def dedupe_by_item(order: Sequence[int], item_ids: Sequence[str]) -> list[int]:
    """Rows of ``order`` (best first), keeping only the first row of each non-empty item id."""
    seen: set[str] = set()
    kept = []
    for row in order:
        item = item_ids[row]
        if item:
            if item in seen:
                continue
            seen.add(item)
        kept.append(row)
    return kept


def normalise_name(name: str) -> str:
    """Case, spaces, ``_`` and ``-`` ignored: ``"T-Shirt"`` and ``"t shirt"`` compare equal."""
    return re.sub(r"[\s_\-]+", " ", name.strip().casefold())


MEMO_SIZE = 4096  # searches and score components a Recommender keeps (two per query: a web server re-ranks up to web.query_cache queries)


class _Memo:
    """A thread-safe LRU of values computed for a query object: an entry only answers for the very
    object it was computed for (keys hold ``id(query)``; the entry keeps the query alive)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[tuple, tuple[Any, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple, owner: Any) -> Any:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] is not owner:
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, key: tuple, owner: Any, value: Any) -> None:
        with self._lock:
            self._entries[key] = (owner, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)


def _digest(array: np.ndarray) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(array).tobytes(), digest_size=16).digest()


FACTS_CACHE = 100_000  # catalog rows whose explanation facts a Recommender keeps (then starts afresh)


def row_colours(catalog: Catalog, row: int) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """A catalog row's palette: its Lab colours (padding dropped) and, for each, name, family, hex
    and share (the explanation of a result, whether found by a photo or by words)."""
    from fashion.colour.names import colour_families, colour_names
    from fashion.colour.spaces import lab_to_rgb

    shares = np.asarray(catalog.palette_shares[row], dtype=np.float32)
    used = shares > 0
    lab = np.asarray(catalog.palette_lab[row], dtype=np.float64)[used]
    rgb = np.asarray(catalog.palette_rgb[row])[used]
    if not rgb.any() and len(lab):
        rgb = lab_to_rgb(lab)
    colours = [{"name": n, "family": str(f), "hex": "#{:02x}{:02x}{:02x}".format(*map(int, c)),
                "share": round(float(s), 4)}
               for n, f, c, s in zip(colour_names(lab), colour_families(lab), rgb, shares[used])]
    return lab, colours


def predicted_attributes(indices: np.ndarray, probs: np.ndarray, threshold: float, top_n: int,
                         limit: int | None = None) -> list[int]:
    """An image's predicted attributes: those with probability >= ``threshold``, best first (at
    most ``limit``), or the ``top_n`` most likely when none reaches it (a weak model still gets
    an explanation).
    """
    probs = np.asarray(probs, dtype=np.float32)
    order = np.argsort(-probs, kind="stable")
    above = [int(indices[i]) for i in order if probs[i] >= threshold]
    return above[:limit] if above else [int(indices[i]) for i in order[:top_n]]


# ------------------------------------------------------------------------------ queries, results


@dataclass
class Query:
    """One query image (or a combination) described by the model and the colour extractor."""

    name: str
    checksum: str  # sha256 of the image file's bytes (of the embedding for combined queries)
    embedding: np.ndarray  # (D,) float32, unit length
    category_probs: np.ndarray  # (C,) float32
    attribute_probs: np.ndarray  # (A,) float32
    palette: Any  # fashion.colour.palette.Palette
    categories: list[dict[str, Any]] = field(default_factory=list)  # top 3: id, name, probability
    attributes: list[dict[str, Any]] = field(default_factory=list)  # predicted: id, name, type, probability
    key: str | None = None  # the catalog key when the query image is itself in the catalog

    @property
    def predicted_category(self) -> str:
        """Name of the most likely category ("" for a model without categories)."""
        return self.categories[0]["name"] if self.categories else ""

    def colours(self) -> list[dict[str, Any]]:
        """The palette as [{name, family, hex, share}]."""
        return [{"name": n, "family": f, "hex": h, "share": round(float(s), 4)}
                for n, f, h, s in zip(self.palette.names, self.palette.families, self.palette.hex, self.palette.shares)]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready description (no arrays)."""
        return {"name": self.name, "checksum": self.checksum, "catalog_key": self.key,
                "categories": self.categories, "attributes": self.attributes, "colours": self.colours()}


@dataclass
class Result:
    """One recommended catalog item with the reasons for its place."""

    rank: int
    row: int
    key: str
    path: str
    name: str
    item_id: str
    label: str  # the catalog's own category label ("" when unknown)
    predicted_category: str
    predicted_probability: float
    scores: dict[str, float]  # total, then one per registered score component
    weights: dict[str, float]  # the normalised weights that produced ``total``
    colours: list[dict[str, Any]]  # name, family, hex, share
    delta_e: float  # CIEDE2000 between the item's and the query's dominant colours
    shared_attributes: list[dict[str, Any]]  # name, type

    @property
    def category(self) -> str:
        """The catalog label when known, else the predicted category."""
        return self.label or self.predicted_category

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return {
            "rank": self.rank, "key": self.key, "path": self.path, "name": self.name, "item_id": self.item_id,
            "category": self.category, "label": self.label, "predicted_category": self.predicted_category,
            "predicted_probability": round(self.predicted_probability, 4),
            "score": {k: round(v, 4) for k, v in self.scores.items()},
            "weights": {k: round(v, 4) for k, v in self.weights.items()},
            "colours": self.colours, "delta_e": None if np.isnan(self.delta_e) else round(self.delta_e, 2),
            "shared_attributes": self.shared_attributes,
        }


# ------------------------------------------------------------------------------ the recommender


class Recommender:
    """Search + blend + filters + explanations over one catalog (thread-safe for reads)."""

    def __init__(self, catalog: Catalog, labels: Labels, config: RecommendConfig, colour: ColourConfig,
                 index: SearchIndex | None = None) -> None:
        self.catalog = catalog
        self.labels = labels
        self.config = config
        self.colour = colour
        # Large catalogs get an approximate index, kept in the catalog folder (see fashion.index.search).
        self.index = index if index is not None else build_index(
            np.asarray(catalog.embeddings), config.faiss_min_items, directory=catalog.directory)
        self.item_ids = catalog.items["item_id"].tolist()
        self.keys = catalog.items["key"].tolist()
        self._row_of_key = {key: row for row, key in enumerate(self.keys)}
        self._predicted = catalog.predicted_category
        names = np.asarray(labels.category_names or [""], dtype=object)
        self._predicted_names = np.array([normalise_name(n) for n in names], dtype=object)[self._predicted]
        self._labels_norm = np.array([normalise_name(n) for n in catalog.items["label"]], dtype=object)
        self._row_facts: dict[tuple[int, float, int], tuple[Any, ...]] = {}  # see _facts
        self._memo = _Memo(MEMO_SIZE)  # see _search and components

    @functools.cached_property
    def family_model(self) -> Any:
        """The colour family model ``colour.family_model`` names (loaded on first use), or None for
        the rules (:func:`fashion.colour.family_model.configured_family_model`)."""
        from fashion.colour.family_model import configured_family_model

        return configured_family_model(self.colour.family_model)

    def family_probability(self, family: str) -> np.ndarray:
        """``(N,)`` for every catalog row, the probability that a person names its main colour
        ``family`` (``gray`` counts as ``grey``): the learned family model on the stored palette,
        averaged with the stored colour family network's where it ran. Needs the learned model.
        Computed once per family: the catalog does not change under a recommender, and a filtered
        request asks on every call."""
        from fashion.colour.family_net import family_probability
        from fashion.colour.names import family_key

        family = family_key(family)
        if family not in self._family_probabilities:
            weight = self.family_net_weight
            self._family_probabilities[family] = family_probability(
                family, np.asarray(self.catalog.palette_lab), np.asarray(self.catalog.palette_shares),
                self.family_model, np.asarray(self.catalog.family_net_probs) if weight is not None else None, weight)
            self._family_probabilities[family].setflags(write=False)  # shared by every later call
        return self._family_probabilities[family]

    @functools.cached_property
    def _family_probabilities(self) -> dict[str, np.ndarray]:
        """:meth:`family_probability`'s answers so far, by family."""
        return {}

    @functools.cached_property
    def family_net_weight(self) -> float | None:
        """The palette model's share beside the colour family network's stored probabilities (the
        weight the network's file records, copied into the catalog's manifest at build), or None
        when the catalog holds no network output (``colour.family_net=none``)."""
        weight = self.catalog.manifest.get("family_net_palette_weight")
        if self.catalog.family_net_probs is None or isinstance(weight, bool) or not isinstance(weight, (int, float)):
            return None
        return float(weight) if 0.0 <= weight <= 1.0 else None

    def __len__(self) -> int:
        return len(self.catalog)

    def row_of(self, key: str) -> int | None:
        """The catalog row of an item key (None when it is not in the catalog)."""
        return self._row_of_key.get(key)

    # -- filters

    def _category_name(self, name: str) -> str:
        wanted = normalise_name(name)
        known = {normalise_name(n) for n in self.labels.category_names} | set(self._labels_norm) - {""}
        if wanted not in known:
            close = difflib.get_close_matches(wanted, sorted(known), n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise RecommendError(f"unknown category {name!r}{hint} (list them: python recommend.py --categories)")
        return wanted

    def allowed(self, query: Query | None, filters: Filters | None, exclude: Iterable[str] = ()) -> np.ndarray | None:
        """(N,) bool of rows the filters allow (None when nothing is filtered).

        * ``category``: the item's catalog label or its predicted top-1 category is that name;
        * ``same_category``: the same, with the query's predicted top-1 category;
        * ``colour``: a colour family (red, blue, ...) or any CSS4 name. A family, with the learned
          family model (``colour.family_model``): an item matches when a person names its main colour
          so with at least ``recommend.colour_filter_probability`` (:meth:`family_probability`);
          otherwise when its palette colours of that family, or within ``colour.match_delta_e``
          (CIEDE2000) of that colour, hold at least ``recommend.colour_filter_share`` of the garment;
        * ``exclude``: item keys left out (e.g. the query image itself).
        """
        mask = np.ones(len(self), dtype=bool)
        filtered = False
        filters = filters or Filters()
        for name in ([filters.category] if filters.category else []) + (
                [query.predicted_category] if filters.same_category and query is not None and query.categories else []):
            wanted = self._category_name(name)
            mask &= (self._labels_norm == wanted) | (self._predicted_names == wanted)
            filtered = True
        from fashion.colour.names import is_colour_family

        if filters.colour and self.family_model is not None and is_colour_family(filters.colour):
            mask &= self.family_probability(filters.colour) >= self.config.colour_filter_probability
            filtered = True
        elif filters.colour:
            from fashion.colour.similarity import palette_colour_mask

            try:
                mask &= palette_colour_mask(self.catalog.palette_lab, self.catalog.palette_shares, filters.colour,
                                            min_share=self.config.colour_filter_share,
                                            max_delta_e=self.colour.match_delta_e)
            except ValueError as error:
                raise RecommendError(str(error)) from None
            filtered = True
        for key in exclude:
            row = self._row_of_key.get(key)
            if row is not None:
                mask[row] = False
                filtered = True
        return mask if filtered else None

    # -- scoring

    def components(self, query: Query, rows: np.ndarray, visual: np.ndarray | None = None) -> np.ndarray:
        """(len(rows), K) scores of catalog rows for a query, one column per registered score
        component (registry order); ``visual``, when given, is the search's cosine for these rows."""
        rows = np.asarray(rows, dtype=np.int64)
        key = ("components", id(query), _digest(rows), None if visual is None else _digest(np.asarray(visual)))
        kept = self._memo.get(key, query)
        if kept is None:
            precomputed = {"visual": visual} if visual is not None and "visual" in component_names() else None
            kept = score_matrix(query, ItemArrays.of_catalog(self.catalog, rows), precomputed=precomputed)
            self._memo.put(key, query, kept)
        return kept.copy()

    def _search(self, query: Query, k: int, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """``self.index.search`` for the query's embedding, kept for the last ``MEMO_SIZE`` / 2 queries: a
        re-rank of the same photo with other weights searches the same candidates (issue 17)."""
        key = ("search", id(query), _digest(np.asarray(query.embedding)), k,
               None if allowed is None else _digest(np.packbits(np.asarray(allowed, dtype=bool))))
        kept = self._memo.get(key, query)
        if kept is None:
            kept = self.index.search(query.embedding, k, allowed=allowed)
            self._memo.put(key, query, kept)
        return kept[0].copy(), kept[1].copy()

    def recommend(self, query: Query, top_k: int | None = None, weights: Weights | None = None,
                  filters: Filters | None = None, exclude: Iterable[str] = (),
                  adjustments: dict[str, float] | None = None, rerank: Rerank | None = None) -> list[Result]:
        """The ``top_k`` best items for ``query``, explained.

        ``weights`` default to ``recommend.weights``; ``exclude`` holds item keys to leave out;
        ``adjustments`` maps item keys to a bonus added to ``total`` (the feedback item prior);
        ``rerank``: a shopper session's extra candidates and bonus (:class:`Rerank`).
        """
        weights = (weights or Weights.from_config(self.config)).normalised()
        rows, comps, totals = self.rank(query, top_k, weights, filters, exclude, adjustments, rerank)
        self.prepare_explanations(rows)  # the results' rows not explained before: one colour naming
        return [self.explain(query, int(row), comp, float(total), weights, rank)
                for rank, (row, comp, total) in enumerate(zip(rows, comps, totals), start=1)]

    def rank(self, query: Query, top_k: int | None = None, weights: Weights | None = None,
             filters: Filters | None = None, exclude: Iterable[str] = (),
             adjustments: dict[str, float] | None = None,
             rerank: Rerank | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`recommend` without the explanations: ``(rows (n,), components (n, K), totals (n,))``
        of the ``top_k`` best items, best first."""
        top_k = top_k or self.config.top_k
        weights = (weights or Weights.from_config(self.config)).normalised()
        allowed = self.allowed(query, filters, exclude)
        available = len(self) if allowed is None else int(allowed.sum())
        wanted = min(available, top_k * self.config.candidate_multiple)
        near = None if rerank is None or rerank.near is None or not len(rerank.near) else \
            np.asarray(rerank.near, dtype=np.float32).reshape(-1, np.size(query.embedding))
        while True:
            scores, indices = self._search(query, max(wanted, 1), allowed)
            valid = indices[0] >= 0
            rows, visual = indices[0][valid], scores[0][valid]
            if near is not None:  # the liked items' neighbours join the candidates (visual: exact cosine)
                _, extra = self.index.search(near, max(wanted, 1), allowed=allowed)
                extra = np.setdiff1d(extra[extra >= 0], rows)
                if len(extra):
                    more = np.asarray(self.catalog.embeddings[extra], dtype=np.float32) @ np.asarray(
                        query.embedding, dtype=np.float32)
                    rows, visual = np.concatenate([rows, extra]), np.concatenate([visual, more])
            comps = self.components(query, rows, visual)
            totals = blend(comps, weights)
            if adjustments:
                totals = totals + np.array([adjustments.get(self.keys[r], 0.0) for r in rows])
            if rerank is not None and rerank.bonus is not None and len(rows):
                totals = totals + np.asarray(rerank.bonus(rows), dtype=np.float64)
            order = np.lexsort((rows, -totals))  # ties: lower row first (deterministic)
            chosen = [int(i) for i in order]
            if self.config.dedupe_items:
                kept = dedupe_by_item([int(rows[i]) for i in chosen], self.item_ids)
                kept_set = set(kept)
                chosen = [i for i in chosen if int(rows[i]) in kept_set]
            # Many views of few items can leave too few distinct items: widen the candidate pool.
            if len(chosen) >= top_k or wanted >= available:
                break
            wanted = min(available, wanted * 4)
        chosen = np.asarray(chosen[:top_k], dtype=np.int64)
        return rows[chosen].astype(np.int64), comps[chosen], totals[chosen]

    # -- explanations

    def explain(self, query: Query, row: int, components: np.ndarray, total: float, weights: Weights,
                rank: int = 0) -> Result:
        """A :class:`Result` for one catalog row: scores, category, colours, ΔE, shared attributes."""
        from fashion.colour.spaces import ciede2000

        labels = self.labels
        fields, lab, colours, predicted, probability, item_attrs = self._facts(row)
        delta_e = float(ciede2000(lab[0], query.palette.dominant_lab)) if len(lab) else float("nan")
        query_attrs = [a["id"] for a in query.attributes]
        shared = [a for a in query_attrs if a in set(item_attrs)]
        return Result(
            rank=rank, row=row, **fields,
            predicted_category=labels.category_names[predicted] if predicted >= 0 else "",
            predicted_probability=probability,
            scores={"total": total, **{name: float(v) for name, v in zip(component_names(), components)}},
            weights=weights.as_dict(), colours=[dict(c) for c in colours], delta_e=delta_e,
            shared_attributes=[{"name": labels.attribute_names[a],
                                "type": ATTRIBUTE_TYPE_NAMES.get(labels.attribute_types[a], "other")} for a in shared],
        )

    def _facts(self, row: int) -> tuple[Any, ...]:
        """What an explanation says of a catalog row whatever the query: its item fields, palette
        (Lab and named colours), predicted category and attributes. Worked out once per row and
        kept (the colour names alone cost a CIEDE2000 per named colour, most of a re-rank's time;
        issue 17), at most ``FACTS_CACHE`` rows."""
        config = self.config
        facts = self._row_facts.get((row, config.attribute_threshold, config.explain_attributes))
        return facts if facts is not None else self._work_out_facts([row])[0]

    def prepare_explanations(self, rows: Iterable[int] | None = None, chunk: int = 1000) -> int:
        """Work out and keep the explanation facts (:meth:`_facts`) of ``rows`` (default: every row)
        not kept yet, ``chunk`` rows per colour naming; returns how many rows it added. A server
        calls it at start so that its first answers explain from memory."""
        config = self.config
        setting = (config.attribute_threshold, config.explain_attributes)
        wanted = range(len(self)) if rows is None else rows
        todo = list(dict.fromkeys(int(r) for r in wanted if (int(r), *setting) not in self._row_facts))
        for first in range(0, len(todo), chunk):
            self._work_out_facts(todo[first:first + chunk])
        return len(todo)

    def _work_out_facts(self, rows: list[int]) -> list[tuple[Any, ...]]:
        """The facts of ``rows`` (one colour naming for all their palettes), kept as they are made."""
        from fashion.colour.names import colour_families, colour_names
        from fashion.colour.spaces import lab_to_rgb

        catalog, config = self.catalog, self.config
        index = np.asarray(rows, dtype=np.int64)
        items = catalog.items
        columns = {c: items[c].to_numpy()[index] for c in ("key", "path", "name", "item_id", "label")}
        shares = np.asarray(catalog.palette_shares[index], dtype=np.float32)
        labs = np.asarray(catalog.palette_lab[index], dtype=np.float64)
        rgbs = np.asarray(catalog.palette_rgb[index])
        used = shares > 0
        names, families = colour_names(labs[used]), colour_families(labs[used])
        probs = np.asarray(catalog.category_probs[index], dtype=np.float32)
        attribute_index, attribute_probs = catalog.attribute_index[index], catalog.attribute_probs[index]
        made, offset = [], 0
        for i, row in enumerate(rows):
            lab, rgb, count = labs[i][used[i]], rgbs[i][used[i]], int(used[i].sum())
            if not rgb.any() and len(lab):
                rgb = lab_to_rgb(lab)
            colours = [{"name": n, "family": str(f), "hex": "#{:02x}{:02x}{:02x}".format(*map(int, c)),
                        "share": round(float(s), 4)}
                       for n, f, c, s in zip(names[offset:offset + count], families[offset:offset + count], rgb,
                                             shares[i][used[i]])]
            offset += count
            predicted = int(np.argmax(probs[i])) if probs.shape[1] else -1
            probability = float(probs[i, predicted]) if predicted >= 0 else 0.0
            item_attrs = predicted_attributes(attribute_index[i], attribute_probs[i], config.attribute_threshold,
                                              config.explain_attributes)
            fields = {name: str(values[i]) for name, values in columns.items()}
            facts = (fields, lab, colours, predicted, probability, item_attrs)
            if len(self._row_facts) >= FACTS_CACHE:
                self._row_facts.clear()
            self._row_facts[(row, config.attribute_threshold, config.explain_attributes)] = facts
            made.append(facts)
        return made


def describe_predictions(labels: Labels, category_probs: np.ndarray, attribute_probs: np.ndarray,
                         config: RecommendConfig, top_categories: int = 3) -> tuple[list[dict], list[dict]]:
    """A query's top categories [{id, name, type, probability}] and predicted attributes
    [{id, name, type, probability}] (see :func:`predicted_attributes`)."""
    order = np.argsort(-category_probs, kind="stable")[:top_categories]
    categories = [{"id": int(c), "name": labels.category_names[c],
                   "type": CATEGORY_TYPE_NAMES.get(labels.category_types[c], "unknown"),
                   "probability": round(float(category_probs[c]), 4)} for c in order]
    attribute_ids = predicted_attributes(np.arange(len(attribute_probs)), attribute_probs,
                                         config.attribute_threshold, config.explain_attributes,
                                         limit=config.explain_attributes)
    attributes = [{"id": a, "name": labels.attribute_names[a],
                   "type": ATTRIBUTE_TYPE_NAMES.get(labels.attribute_types[a], "other"),
                   "probability": round(float(attribute_probs[a]), 4)} for a in attribute_ids]
    return categories, attributes
