"""Shoppers' feedback in ``recommend.py``: record likes/dislikes, adapt the next ranking.

The store (``fashion.feedback.store``) lives in the catalog's index folder; the adaptation is the
session refinement of each query from its recorded likes and dislikes (``fashion.feedback.refinement``:
Rocchio on the query's embedding and palette, disliked items hidden, a bonus for items like the liked
ones), learned blend weights and a bounded item prior (``fashion.feedback.adaptation``), each
switchable in the ``feedback`` section of the configuration.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from fashion.feedback.adaptation import blend_weights, item_adjustments, refit_weights
from fashion.feedback.refinement import SessionRefinement, refine_session
from fashion.feedback.store import FeedbackError, FeedbackEvent, FeedbackStore, make_catalog_key
from fashion.recommend.recommender import Query, RecommendError, Weights, blend


@dataclass
class FeedbackSession:
    """The feedback store of one engine's catalog, and the adaptation it drives."""

    engine: Any  # fashion.recommend.engine.Engine
    store: FeedbackStore
    catalog_key: str
    rows_by_key: dict[str, int]

    @classmethod
    def open(cls, engine: Any, required: bool = False) -> "FeedbackSession | None":
        """Open the catalog's store; None when disabled, or (with one warning line) unusable.

        ``required`` (``--like``, ``--feedback`` ...): an unusable store (damaged, foreign, a
        folder in its place) raises its :class:`FeedbackError`, which names the file and the
        cause, rather than reading as "feedback is off".
        """
        config = engine.config.feedback
        if not config.enabled:
            return None
        path = Path(engine.catalog.directory) / config.filename
        try:
            store = FeedbackStore(path)
        except FeedbackError as error:
            if required:
                raise
            print(f"warning: feedback is off for this run: {error}", file=sys.stderr)
            return None
        keys = list(engine.catalog.items["key"])
        return cls(engine, store, make_catalog_key(engine.catalog.directory, engine.loaded.checksum),
                   {key: row for row, key in enumerate(keys)})

    def resolve_item(self, text: str) -> str:
        """The catalog key of an item given as shown in results: its key, name, path or path suffix."""
        items = self.engine.catalog.items
        if text in self.rows_by_key:
            return text
        for column in ("name", "path"):
            if column in items and text in set(items[column]):
                return str(items.loc[items[column] == text, "key"].iloc[0])
        resolved = str(Path(text).expanduser().resolve())
        matches = items.loc[items["path"] == resolved, "key"]
        if len(matches) == 0:
            suffix = "/" + text.lstrip("./")
            matches = items.loc[items["path"].str.endswith(suffix), "key"]
        if len(matches) == 1:
            return str(matches.iloc[0])
        raise RecommendError(f"--like/--dislike {text!r}: no single catalog item matches "
                             f"({len(matches)} found); use the item path shown in the results")

    def record(self, query: Query, weights: Weights, likes: Sequence[str], dislikes: Sequence[str]) -> int:
        """Store one event per liked/disliked item with the scores it had for this query; refit weights."""
        used = weights.normalised()
        events = []
        for label, texts in ((1, likes), (-1, dislikes)):
            for text in texts:
                key = self.resolve_item(text)
                parts = self.engine.recommender.components(query, np.array([self.rows_by_key[key]]))
                events.append(FeedbackEvent(
                    catalog_key=self.catalog_key, query_checksum=query.checksum, item=key, label=label,
                    query_embedding=query.embedding, query_name=query.name,
                    scores=dict(zip(used, parts[0].tolist())), score_total=float(blend(parts, used)[0]),
                    weights=used.as_dict()))
        written = self.store.record(events)
        refit_weights(self.store, self.catalog_key, self._prior(), self.engine.config.feedback)
        return written

    def adapt(self, query: Query, weights: Weights | None) -> tuple[Query, Weights, dict[str, float]]:
        """The query moved by this query's recorded feedback, the weights to use, the item prior
        (:meth:`adapt_session` without the hidden items and the rerank)."""
        refined, weights, adjustments = self.adapt_session(query, weights)
        return refined.query, weights, adjustments

    def adapt_session(self, query: Query, weights: Weights | None
                      ) -> tuple[SessionRefinement, Weights, dict[str, float]]:
        """This query's session refinement from its recorded likes and dislikes
        (:func:`fashion.feedback.refinement.refine_session`: Rocchio, disliked items hidden, a bonus
        for items like the liked ones), the weights to use and the item prior.

        Weights given explicitly (not None) win over learned ones.
        """
        config = self.engine.config.feedback
        if weights is None:
            weights = Weights(**blend_weights(self.store, self.catalog_key, self._prior(), config))
        labels = self.store.query_labels(self.catalog_key, query.checksum)
        liked = [self.rows_by_key[k] for k, v in labels.items() if v > 0 and k in self.rows_by_key]
        disliked = [self.rows_by_key[k] for k, v in labels.items() if v < 0 and k in self.rows_by_key]
        refined = refine_session(self.engine.recommender, query, liked, disliked, config,
                                 self.engine.config.colour.match_delta_e, weights)
        return refined, weights, item_adjustments(self.store, self.catalog_key, config)

    def _prior(self) -> Weights:
        """The configured blend weights, normalised: what learned weights are pulled towards."""
        return Weights.from_config(self.engine.config.recommend).normalised()

    def summary(self) -> dict[str, Any]:
        """What has been recorded for this catalog (counts, most liked/disliked, learned weights)."""
        return self.store.summary(self.catalog_key)
