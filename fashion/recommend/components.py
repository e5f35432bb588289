"""Score components: the parts of a recommendation's score, each one function in a registry.

A component scores one query against many catalog items::

    @score_component("colour", default_weight=0.15, label="Colour",
                     describe="palette similarity (CIEDE2000 between the garments' colours)")
    def colour(query: QueryFeatures, items: ItemArrays) -> np.ndarray:
        ...  # (N,) float scores in [0, 1], one per item row

Everything that blends, stores, shows or tunes scores iterates over :func:`components` in
registration order: the recommender's blend (:class:`fashion.recommend.recommender.Weights` is
a name -> weight mapping checked against this registry), the evaluation's matrices and grid
search, the feedback store (scores and weights stored by name), the web API and page sliders,
``recommend.py --weights name=value`` and the explanations.

Adding a component is one decorated function here (or anywhere imported before use) plus, when
its default weight should differ from ``default_weight``, one key under ``recommend.weights`` in
``hyper_parameters.yaml``. Names come from this registry only: configuration never names code.

Numpy only: no torch here (components run on features the encoder already computed).
"""

from __future__ import annotations

import contextlib
import math
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping, Protocol, Sequence

import numpy as np

from fashion.errors import FashionError

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


class ComponentError(FashionError, ValueError):
    """A score component is registered or named wrongly; the message names the registered ones."""


class QueryFeatures(Protocol):
    """What a component may read of the query (:class:`fashion.recommend.recommender.Query` has it)."""

    embedding: np.ndarray  # (D,) float32, unit length
    category_probs: np.ndarray  # (C,)
    attribute_probs: np.ndarray  # (A,)
    palette: Any  # fashion.colour.palette.Palette, or None when the garment had no colour


@dataclass(frozen=True)
class QueryArrays:
    """A plain :class:`QueryFeatures` (for callers without a ``Query``, e.g. the evaluation)."""

    embedding: np.ndarray
    category_probs: np.ndarray
    attribute_probs: np.ndarray
    palette: Any = None


@dataclass(frozen=True)
class ItemArrays:
    """The catalog side: N items' arrays, rows aligned (all numpy).

    ``attribute_index``/``attribute_probs`` are the catalog's sparse top attributes (N, T);
    ``palette_self_match`` optionally caches :func:`fashion.colour.similarity.palette_self_match`
    of the palettes (half the colour component's work when many queries share one gallery).
    """

    embeddings: np.ndarray  # (N, D)
    category_probs: np.ndarray  # (N, C)
    palette_lab: np.ndarray  # (N, k, 3)
    palette_shares: np.ndarray  # (N, k)
    attribute_index: np.ndarray | None = None  # (N, T) int
    attribute_probs: np.ndarray | None = None  # (N, T)
    palette_self_match: np.ndarray | None = None  # (N,)

    def __len__(self) -> int:
        return len(self.category_probs)

    @classmethod
    def of_catalog(cls, catalog: Any, rows: np.ndarray) -> "ItemArrays":
        """The given rows of a :class:`fashion.index.catalog.Catalog` (its arrays may be memory-mapped)."""
        rows = np.asarray(rows, dtype=np.int64)
        return cls(embeddings=catalog.embeddings[rows], category_probs=catalog.category_probs[rows],
                   palette_lab=catalog.palette_lab[rows], palette_shares=catalog.palette_shares[rows],
                   attribute_index=catalog.attribute_index[rows], attribute_probs=catalog.attribute_probs[rows])


ScoreFunction = Callable[[QueryFeatures, ItemArrays], np.ndarray]


@dataclass(frozen=True)
class ScoreComponent:
    """One registered component: its name, scoring function, default weight and descriptions."""

    name: str
    function: ScoreFunction
    default_weight: float
    describe: str  # one line: what the score measures (API, help, docs)
    label: str  # short human name (the page's slider)

    def score(self, query: QueryFeatures, items: ItemArrays) -> np.ndarray:
        """(N,) float64 scores of the items for the query (shape checked)."""
        values = np.asarray(self.function(query, items), dtype=np.float64).reshape(-1)
        if values.shape != (len(items),):
            raise ComponentError(f"score component {self.name!r} returned {values.shape[0]} scores "
                                 f"for {len(items)} items")
        return values

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready description (no function)."""
        return {"name": self.name, "label": self.label, "describe": self.describe,
                "default_weight": self.default_weight}


_REGISTRY: dict[str, ScoreComponent] = {}


def register(component: ScoreComponent) -> ScoreComponent:
    """Add a component (its name must be new, lower-case ``[a-z][a-z0-9_]*``); returns it."""
    if not _NAME.match(component.name):
        raise ComponentError(f"score component name {component.name!r} must be lower-case letters, digits, _")
    if component.name in _REGISTRY:
        raise ComponentError(f"score component {component.name!r} is already registered")
    weight = float(component.default_weight)
    if not math.isfinite(weight) or weight < 0:
        raise ComponentError(f"score component {component.name!r}: default_weight must be finite and >= 0")
    _REGISTRY[component.name] = component
    return component


def unregister(name: str) -> None:
    """Remove a component (tests and plug-ins that add one temporarily)."""
    _REGISTRY.pop(name, None)


def score_component(name: str, *, default_weight: float, describe: str,
                    label: str | None = None) -> Callable[[ScoreFunction], ScoreFunction]:
    """Decorator registering ``function(query, items) -> (N,) scores in [0, 1]`` under ``name``."""

    def decorator(function: ScoreFunction) -> ScoreFunction:
        register(ScoreComponent(name, function, float(default_weight), describe, label or name.capitalize()))
        return function

    return decorator


@contextlib.contextmanager
def temporary_component(name: str, function: ScoreFunction, *, default_weight: float, describe: str = "",
                        label: str | None = None) -> Iterator[ScoreComponent]:
    """Register a component for the duration of a ``with`` block (then unregister it)."""
    component = register(ScoreComponent(name, function, float(default_weight), describe or name,
                                         label or name.capitalize()))
    try:
        yield component
    finally:
        unregister(name)


def components() -> tuple[ScoreComponent, ...]:
    """The registered components, in registration order."""
    return tuple(_REGISTRY.values())


def component_names() -> tuple[str, ...]:
    """The registered components' names, in registration order."""
    return tuple(_REGISTRY)


def get_component(name: str) -> ScoreComponent:
    """The component called ``name``; :class:`ComponentError` naming the valid ones otherwise."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ComponentError(f"unknown score component {name!r}; registered: {', '.join(_REGISTRY)}") from None


def default_weights() -> dict[str, float]:
    """``{name: default_weight}`` of every registered component."""
    return {c.name: c.default_weight for c in _REGISTRY.values()}


def score_matrix(query: QueryFeatures, items: ItemArrays, names: Sequence[str] | None = None,
                 precomputed: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
    """(N, K) float64 scores of ``items`` for ``query``, one column per component (registry order,
    or ``names``). ``precomputed`` supplies columns already known (the search's cosine for
    ``visual``), which are then not computed again."""
    names = component_names() if names is None else tuple(names)
    precomputed = precomputed or {}
    columns = []
    for name in names:
        if name in precomputed:
            columns.append(np.asarray(precomputed[name], dtype=np.float64).reshape(-1))
        else:
            columns.append(get_component(name).score(query, items))
    if not columns:
        return np.zeros((len(items), 0))
    return np.stack(columns, axis=1)


def score_matrices(queries: Sequence[QueryFeatures], items: ItemArrays, names: Sequence[str] | None = None,
                   precomputed: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
    """(K, Q, N) float64: :func:`score_matrix` of many queries against one set of items (the
    evaluation's matrix form); ``precomputed`` maps names to (Q, N) matrices already known."""
    names = component_names() if names is None else tuple(names)
    precomputed = precomputed or {}
    out = np.empty((len(names), len(queries), len(items)), dtype=np.float64)
    for j, name in enumerate(names):
        if name in precomputed:
            out[j] = np.asarray(precomputed[name], dtype=np.float64)
            continue
        component = get_component(name)
        for i, query in enumerate(queries):
            out[j, i] = component.score(query, items)
    return out


# ------------------------------------------------------------------------------ the built-in three


@score_component("visual", default_weight=0.6, label="Looks",
                 describe="cosine similarity of the network's embeddings (how alike the garments look)")
def visual(query: QueryFeatures, items: ItemArrays) -> np.ndarray:
    """cos(query embedding, item embedding); embeddings are unit vectors."""
    embeddings = np.asarray(items.embeddings, dtype=np.float32)
    return embeddings @ np.asarray(query.embedding, dtype=np.float32)


def category_agreement(query_probs: np.ndarray, item_probs: np.ndarray) -> np.ndarray:
    """Bhattacharyya coefficient ``sum_c sqrt(p_c q_c)`` of a query's and each item's category
    distribution: (N,) in [0, 1], 1 for identical distributions, 0 for disjoint ones.
    """
    q = np.sqrt(np.clip(np.asarray(query_probs, dtype=np.float64), 0, None))
    p = np.sqrt(np.clip(np.asarray(item_probs, dtype=np.float64), 0, None))
    return np.clip(p @ q, 0.0, 1.0)


@score_component("category", default_weight=0.25, label="Category",
                 describe="agreement of the predicted category distributions (Bhattacharyya coefficient)")
def category(query: QueryFeatures, items: ItemArrays) -> np.ndarray:
    """``sum_c sqrt(p_query(c) * p_item(c))`` (0 for a model without categories)."""
    if np.shape(items.category_probs)[-1] == 0:
        return np.zeros(len(items))
    return category_agreement(query.category_probs, items.category_probs)


@score_component("colour", default_weight=0.15, label="Colour",
                 describe="palette similarity of the garments' colours (CIEDE2000 kernel)")
def colour(query: QueryFeatures, items: ItemArrays) -> np.ndarray:
    """:func:`fashion.colour.similarity.palette_similarity_many` (0 when the query has no palette)."""
    from fashion.colour.similarity import palette_similarity_many

    if query.palette is None:
        return np.zeros(len(items))
    return palette_similarity_many(query.palette, items.palette_lab, items.palette_shares,
                                   self_match=items.palette_self_match)
