"""Nearest-neighbour search over L2-normalised embeddings: exact (one matrix product) or FAISS.

Both backends answer ``search(queries, k) -> (scores, indices)`` (faiss's convention): ``scores``
(Q, k) float32 cosine similarities, best first, and ``indices`` (Q, k) int64 catalog rows. Ties are
broken by the lower row, so the exact backend returns exactly the first ``k`` of a stable
``argsort`` of ``-scores`` (what the tests compare against). When ``k`` exceeds the catalog size,
the missing places hold score ``-inf`` and index ``-1``.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np


class SearchIndex(Protocol):
    """What the recommender needs from a search backend."""

    name: str

    def __len__(self) -> int: ...

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray]: ...


def normalise_rows(vectors: np.ndarray) -> np.ndarray:
    """float32 copy of ``vectors`` (N, D) with unit L2 rows (zero rows stay zero)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0).astype(np.float32)


def _as_queries(queries: np.ndarray, dim: int) -> np.ndarray:
    queries = np.asarray(queries, dtype=np.float32)
    if queries.ndim == 1:
        queries = queries[None, :]
    if queries.ndim != 2 or queries.shape[1] != dim:
        raise ValueError(f"queries must have shape (Q, {dim}) or ({dim},), got {queries.shape}")
    return np.ascontiguousarray(normalise_rows(queries))  # cosine: queries are unit vectors too


def _padded(scores: np.ndarray, indices: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Pad (Q, m) results with m < k to (Q, k) using -inf / -1."""
    missing = k - scores.shape[1]
    if missing <= 0:
        return scores, indices
    q = scores.shape[0]
    return (np.concatenate([scores, np.full((q, missing), -np.inf, np.float32)], axis=1),
            np.concatenate([indices, np.full((q, missing), -1, np.int64)], axis=1))


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best of one row of scores, best first, ties by lower index (O(N), no full sort).

    ``argpartition`` finds the k-th best value ``t``; every score above ``t`` is in, and the lowest
    indices scoring exactly ``t`` fill the rest, so the choice at the boundary is deterministic.
    """
    n = scores.shape[0]
    k = min(k, n)
    if k <= 0:
        return np.empty(0, np.float32), np.empty(0, np.int64)
    if k < n:
        part = np.argpartition(-scores, k - 1)[:k]
        threshold = scores[part].min()
        above = np.flatnonzero(scores > threshold)
        tied = np.flatnonzero(scores == threshold)[: k - len(above)]
        chosen = np.concatenate([above, tied])
    else:
        chosen = np.arange(n)
    order = np.lexsort((chosen, -scores[chosen]))
    chosen = chosen[order]
    return scores[chosen].astype(np.float32, copy=False), chosen.astype(np.int64)


class ExactIndex:
    """Exact cosine search: one matrix product over unit float32 vectors, then ``top_k`` per query."""

    name = "exact"

    def __init__(self, vectors: np.ndarray, normalise: bool = True) -> None:
        vectors = np.asarray(vectors)
        if vectors.ndim != 2:
            raise ValueError(f"vectors must be (N, D), got {vectors.shape}")
        # float16 catalogs are widened once here: BLAS has no fast float16 product on CPUs.
        self.vectors = normalise_rows(vectors) if normalise else np.ascontiguousarray(vectors, dtype=np.float32)
        self.dim = int(vectors.shape[1])

    def __len__(self) -> int:
        return int(self.vectors.shape[0])

    def scores(self, queries: np.ndarray) -> np.ndarray:
        """Cosine similarity of every query (Q, D) to every item: (Q, N) float32."""
        return _as_queries(queries, self.dim) @ self.vectors.T

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """(scores, indices), each (Q, k), best first; ``allowed`` (N,) bool restricts the rows."""
        sims = self.scores(queries)
        if allowed is not None:
            sims[:, ~np.asarray(allowed, dtype=bool)] = -np.inf
        out_s = np.empty((sims.shape[0], min(k, len(self))), np.float32)
        out_i = np.empty(out_s.shape, np.int64)
        for row, values in enumerate(sims):
            out_s[row], out_i[row] = top_k(values, k)
        out_i[np.isneginf(out_s)] = -1  # fewer allowed rows than k
        return _padded(out_s, out_i, k)


def faiss_available() -> bool:
    """True when ``faiss`` (the optional ``faiss-cpu`` extra) imports."""
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


class FaissIndex:
    """FAISS search over unit vectors: ``IndexFlatIP`` (exact), ``fp16`` (exact over float16-stored
    vectors: half the memory traffic, for float16 catalogs) or ``IndexHNSWFlat`` (approximate).
    """

    def __init__(self, vectors: np.ndarray, kind: str = "flat", hnsw_m: int = 32, ef_search: int = 64,
                 normalise: bool = True) -> None:
        import faiss

        vectors = normalise_rows(vectors) if normalise else np.ascontiguousarray(vectors, dtype=np.float32)
        self.dim = int(vectors.shape[1])
        if kind == "flat":
            self.index = faiss.IndexFlatIP(self.dim)
        elif kind == "fp16":
            self.index = faiss.IndexScalarQuantizer(self.dim, faiss.ScalarQuantizer.QT_fp16,
                                                    faiss.METRIC_INNER_PRODUCT)
        elif kind == "hnsw":
            self.index = faiss.IndexHNSWFlat(self.dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
            self.index.hnsw.efSearch = ef_search
        else:
            raise ValueError(f"unknown FAISS index kind {kind!r} (flat | fp16 | hnsw)")
        self.index.add(vectors)
        self.name = f"faiss-{kind}"

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """(scores, indices), each (Q, k), best first (FAISS pads with -1 when k > N)."""
        import faiss

        queries = _as_queries(queries, self.dim)
        n = min(k, len(self))
        params = None
        if allowed is not None:
            ids = np.flatnonzero(np.asarray(allowed, dtype=bool)).astype(np.int64)
            selector = faiss.IDSelectorBatch(ids)
            if isinstance(self.index, faiss.IndexHNSW):
                params = faiss.SearchParametersHNSW(sel=selector, efSearch=self.index.hnsw.efSearch)
            else:
                params = faiss.SearchParameters(sel=selector)
        scores, indices = self.index.search(queries, n, params=params)
        scores = np.where(indices < 0, -np.inf, scores).astype(np.float32)
        return _padded(scores, indices.astype(np.int64), k)


def build_index(vectors: np.ndarray, faiss_min_items: int) -> SearchIndex:
    """The backend for a catalog: FAISS at or above ``faiss_min_items`` when installed, else exact.

    All are exact; FAISS pays off for large catalogs and multi-query batches, numpy's single
    product is as fast for one query and needs no extra package. A float16 catalog is searched
    by FAISS in float16 (about 3x faster: search is bound by memory bandwidth).
    """
    if len(vectors) >= faiss_min_items and faiss_available():
        return FaissIndex(vectors, kind="fp16" if np.asarray(vectors).dtype == np.float16 else "flat")
    return ExactIndex(vectors)
