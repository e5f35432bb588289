"""Nearest-neighbour search over L2-normalised embeddings: exact, or approximate for large catalogs.

Every backend answers ``search(queries, k, allowed=None) -> (scores, indices)`` (faiss's
convention): ``scores`` (Q, k) float32 cosine similarities, best first, and ``indices`` (Q, k)
int64 catalog rows; ``allowed`` (N,) bool restricts the rows *before* the top-k is taken. Ties are
broken by the lower row, so the exact backend returns exactly the first ``k`` of a stable
``argsort`` of ``-scores`` (what the tests compare against). When ``k`` exceeds the (allowed)
catalog size, the missing places hold score ``-inf`` and index ``-1``.

* :class:`ExactIndex`: one matrix product (float32), or a float16 scan (FAISS ``SQfp16``: half
  the memory traffic, and search at this size is bound by memory bandwidth: ~1.8x faster).
* :class:`FaissIndex`: FAISS flat / fp16 / HNSW (kept for comparison and small tools).
* :class:`IVFIndex`: the approximate index for catalogs of millions: PCA to ``pca_dim``
  dimensions, an inverted file of ``nlist`` k-means lists over float16 codes, then an exact
  re-rank of the ``k * refine`` best candidates against the catalog's own embeddings. Its
  ``nprobe`` and ``refine`` are tuned at build time to reach a recall@10 target against exact search. It is
  stored beside the catalog (:func:`open_ivf_index`) and grows incrementally: new rows are added
  without retraining; only a changed row order re-adds (still without retraining).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Callable, Protocol

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
    """Exact cosine search over unit vectors.

    ``storage="float32"``: one BLAS matrix product, then ``top_k`` per query. ``storage="float16"``:
    the vectors are kept in float16 and scanned by FAISS's ``SQfp16`` kernel (exact over the stored
    float16 values; half the memory and about half the time of a float32 scan); without FAISS the
    float16 rows are widened block by block.
    """

    def __init__(self, vectors: np.ndarray, normalise: bool = True, storage: str = "float32") -> None:
        vectors = np.asarray(vectors)
        if vectors.ndim != 2:
            raise ValueError(f"vectors must be (N, D), got {vectors.shape}")
        if storage not in ("float32", "float16"):
            raise ValueError(f"unknown storage {storage!r} (float32 | float16)")
        self.dim = int(vectors.shape[1])
        self.storage = storage
        self.name = "exact" if storage == "float32" else "exact-fp16"
        self._fp16 = None
        if storage == "float32":
            # float16 catalogs are widened once here: BLAS has no fast float16 product on CPUs.
            self.vectors = normalise_rows(vectors) if normalise else np.ascontiguousarray(vectors, dtype=np.float32)
            return
        if normalise or vectors.dtype != np.float16:
            stored = np.empty(vectors.shape, np.float16)
            for start in range(0, len(vectors), 65536):  # no float32 copy of the whole catalog
                block = vectors[start:start + 65536]
                stored[start:start + len(block)] = normalise_rows(block) if normalise else block
            vectors = stored
        self.vectors = vectors  # float16 unit rows (the caller's own array when it already was)
        if faiss_available():
            import faiss

            self._fp16 = faiss.IndexScalarQuantizer(self.dim, faiss.ScalarQuantizer.QT_fp16,
                                                    faiss.METRIC_INNER_PRODUCT)
            for start in range(0, len(self.vectors), 65536):
                self._fp16.add(np.ascontiguousarray(self.vectors[start:start + 65536], dtype=np.float32))

    def __len__(self) -> int:
        return int(self.vectors.shape[0])

    def scores(self, queries: np.ndarray) -> np.ndarray:
        """Cosine similarity of every query (Q, D) to every item: (Q, N) float32."""
        queries = _as_queries(queries, self.dim)
        if self.vectors.dtype == np.float32:
            return queries @ self.vectors.T
        out = np.empty((len(queries), len(self)), np.float32)
        for start in range(0, len(self), 65536):
            block = self.vectors[start:start + 65536].astype(np.float32)
            out[:, start:start + len(block)] = queries @ block.T
        return out

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """(scores, indices), each (Q, k), best first; ``allowed`` (N,) bool restricts the rows."""
        if self._fp16 is not None:
            return _faiss_search(self._fp16, _as_queries(queries, self.dim), k, allowed)
        sims = self.scores(queries)
        if allowed is not None:
            sims[:, ~np.asarray(allowed, dtype=bool)] = -np.inf
        out_s = np.empty((sims.shape[0], min(k, len(self))), np.float32)
        out_i = np.empty(out_s.shape, np.int64)
        for row, values in enumerate(sims):
            out_s[row], out_i[row] = top_k(values, k)
        out_i[np.isneginf(out_s)] = -1  # fewer allowed rows than k
        return _padded(out_s, out_i, k)


def _faiss_search(index: object, queries: np.ndarray, k: int, allowed: np.ndarray | None,
                  params: object = None) -> tuple[np.ndarray, np.ndarray]:
    """``index.search`` with ``allowed`` as an ID selector; (scores, indices) padded to (Q, k)."""
    import faiss

    n = min(k, int(index.ntotal))
    if allowed is not None:
        # A bitmap over the rows: O(N/8) to build, O(1) a test (an ID batch costs O(allowed) a query).
        bits = np.packbits(np.asarray(allowed, dtype=bool), bitorder="little")
        selector = faiss.IDSelectorBitmap(len(allowed), faiss.swig_ptr(bits))
        if params is None:
            params = faiss.SearchParameters(sel=selector)
        else:
            params.sel = selector
    if n <= 0:
        return _padded(np.empty((len(queries), 0), np.float32), np.empty((len(queries), 0), np.int64), k)
    scores, indices = index.search(queries, n, params=params)
    scores = np.where(indices < 0, -np.inf, scores).astype(np.float32)
    return _padded(scores, indices.astype(np.int64), k)


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


# ------------------------------------------------------------------------------ approximate


def _rows_f32(vectors: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Rows of a (possibly float16, memory-mapped) matrix as float32, read in row order."""
    order = np.argsort(rows, kind="stable")
    out = np.empty((len(rows), vectors.shape[1]), np.float32)
    out[order] = vectors[rows[order]]
    return out


def _blocks(vectors: np.ndarray, size: int = 131072):
    for start in range(0, len(vectors), size):
        yield start, np.ascontiguousarray(vectors[start:start + size], dtype=np.float32)


def rows_digest(vectors: np.ndarray, n: int) -> str:
    """A cheap fingerprint of the first ``n`` rows: their count and 256 evenly spread rows (float16)."""
    digest = hashlib.sha256(f"{n} {vectors.shape[1]}".encode())
    if n:
        picks = np.unique(np.linspace(0, n - 1, num=min(n, 256)).astype(np.int64))
        digest.update(np.ascontiguousarray(vectors[picks], dtype=np.float16).tobytes())
    return digest.hexdigest()


#: Recall@10 the IVF index's ``nprobe`` is tuned for on noisy catalog rows. 0.995, not the 0.99
#: that the search must reach: tuned at 0.99, new queries got 0.985 at 1M items in one build (the
#: tuning probes are easier than new photos); 0.995 gave 1.000 on a separate validation draw of
#: queries at 1.2 ms a query (``bench/bench_search.py``, 1M items).
TUNE_RECALL = 0.995
#: Re-rank depths (exactly scored candidates per result) the tuner tries.
REFINE_CHOICES = (10, 25, 60)


class IVFIndex:
    """Approximate cosine search: PCA → inverted file of k-means lists (float16 codes) → exact re-rank.

    ``nprobe`` lists are scanned for the ``k * refine`` best candidates in the reduced space; their
    exact cosine against ``vectors`` (the catalog's own embeddings, float16 or float32, memory
    mapped is fine) picks the top ``k``. Filters are applied inside the scan (a FAISS ID
    selector, with ``nprobe`` widened by the share of rows allowed), and a filter that leaves
    few rows is answered exactly over those rows: either way the top-k is taken *after* filtering.
    """

    name = "ivf"

    def __init__(self, index: object, vectors: np.ndarray, nprobe: int = 16, refine: int = 10) -> None:
        import faiss

        self.index = index
        self.ivf = faiss.extract_index_ivf(index)
        self.vectors = vectors
        self.dim = int(vectors.shape[1])
        self.nprobe = int(nprobe)
        self.refine = int(refine)
        self.exact_below = 5_000  # allowed rows at or under this: exact search over them

    @classmethod
    def train(cls, vectors: np.ndarray, nlist: int | None = None, pca_dim: int = 128, refine: int = 10,
              train_size: int | None = None, seed: int = 0, codes: str = "fp16") -> "IVFIndex":
        """Train PCA and the k-means lists on a sample of ``vectors`` (unit rows), then add them all."""
        import faiss

        n, dim = vectors.shape
        nlist = nlist or default_nlist(n)
        pca_dim = min(pca_dim, dim)
        size = min(n, train_size or max(40 * nlist, 10_000))
        sample = np.random.default_rng(seed).choice(n, size=size, replace=False) if size < n else np.arange(n)
        train = _rows_f32(vectors, np.sort(sample))
        # Codes: the reduced vectors in float16 (default), or 8 bits a dimension (sq8: half the
        # memory, faster scans, but at 1M items its tuned recall@10 of 0.9955 on the tuning probes
        # gave 0.987 on new queries, against float16's 0.995 -> 0.993).
        if codes in ("fp16", "sq8"):
            kind = faiss.ScalarQuantizer.QT_fp16 if codes == "fp16" else faiss.ScalarQuantizer.QT_8bit
            ivf = faiss.IndexIVFScalarQuantizer(faiss.IndexFlatIP(pca_dim), pca_dim, nlist, kind,
                                                faiss.METRIC_INNER_PRODUCT, False)
        else:  # 4-bit product codes (IVF-PQ fast scan) were measured: recall@10 < 0.81 even re-ranking 400
            raise ValueError(f"unknown codes {codes!r} (fp16 or sq8)")
        ivf.cp.niter = 10  # k-means iterations: past ~10 the lists barely move, the cost keeps growing
        if pca_dim < dim:
            # An orthogonal projection onto the top eigenvectors of the *uncentred* second moment:
            # inner products are kept (faiss's PCAMatrix subtracts the mean, which reorders them).
            _, eigenvectors = np.linalg.eigh(train.T.astype(np.float64) @ train / len(train))
            projection = np.ascontiguousarray(eigenvectors[:, ::-1][:, :pca_dim].T, dtype=np.float32)
            transform = faiss.LinearTransform(dim, pca_dim, False)
            faiss.copy_array_to_vector(projection.ravel(), transform.A)
            transform.is_trained = True
            index = faiss.IndexPreTransform(transform, ivf)
        else:
            index = ivf
        index.train(train)
        built = cls(index, vectors, refine=refine)
        built.add_rows(0)
        return built

    def add_rows(self, start: int) -> None:
        """Add ``vectors[start:]`` (new catalog rows) to the lists: no retraining."""
        if start != int(self.index.ntotal):
            raise ValueError(f"the index holds {self.index.ntotal} rows; cannot add from row {start}")
        for offset, block in _blocks(self.vectors[start:]):
            self.index.add(block)

    def __len__(self) -> int:
        return int(self.index.ntotal)

    @property
    def nlist(self) -> int:
        return int(self.ivf.nlist)

    def _candidates(self, queries: np.ndarray, wanted: int, allowed: np.ndarray | None,
                    share: float) -> tuple[np.ndarray, np.ndarray]:
        import faiss

        nprobe = min(self.nlist, math.ceil(self.nprobe / max(share, 1e-9)))
        params = faiss.SearchParametersIVF(nprobe=nprobe)
        scores, indices = _faiss_search(self.index, queries, wanted, allowed, params)
        return scores, indices

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """(scores, indices), each (Q, k), best first: exact cosine of the re-ranked candidates."""
        queries = _as_queries(queries, self.dim)
        share = 1.0
        if allowed is not None:
            allowed = np.asarray(allowed, dtype=bool)
            rows = np.flatnonzero(allowed)
            if len(rows) <= max(self.exact_below, k * self.refine):
                return self._exact_over(queries, rows, k)
            share = len(rows) / len(self)
        _, candidates = self._candidates(queries, max(k, k * self.refine), allowed, share)
        out_s = np.full((len(queries), k), -np.inf, np.float32)
        out_i = np.full((len(queries), k), -1, np.int64)
        for q, (query, rows) in enumerate(zip(queries, candidates)):
            rows = rows[rows >= 0]
            if len(rows) == 0:
                continue
            exact = _rows_f32(self.vectors, rows) @ query
            best_s, best = top_k(exact, k)
            out_s[q, :len(best)], out_i[q, :len(best)] = best_s, rows[best]
            # equal scores: lower row first, as the exact backend does
            order = np.lexsort((out_i[q, :len(best)], -out_s[q, :len(best)]))
            out_s[q, :len(best)], out_i[q, :len(best)] = out_s[q, order], out_i[q, order]
        return out_s, out_i

    def _exact_over(self, queries: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        out_s = np.full((len(queries), k), -np.inf, np.float32)
        out_i = np.full((len(queries), k), -1, np.int64)
        if len(rows) == 0:
            return out_s, out_i
        sims = queries @ _rows_f32(self.vectors, rows).T
        for q, values in enumerate(sims):
            best_s, best = top_k(values, k)
            out_s[q, :len(best)], out_i[q, :len(best)] = best_s, rows[best]
        return out_s, out_i

    def recall(self, queries: np.ndarray, exact: np.ndarray, k: int = 10) -> float:
        """Mean recall@k of this index's answers against ``exact`` (Q, k) rows."""
        _, found = self.search(queries, k)
        return float(np.mean([len(set(a[a >= 0]) & set(e[e >= 0])) / max(1, int((e >= 0).sum()))
                              for a, e in zip(found, exact)]))

    def tune(self, target: float = TUNE_RECALL, queries: int = 200, k: int = 10, noise: float = 0.5,
             seed: int = 0, refines: tuple[int, ...] = REFINE_CHOICES) -> float:
        """The fastest (``refine``, ``nprobe``) whose recall@k reaches ``target``; returns that recall.

        For each re-rank depth in ``refines`` (candidates per result), the smallest ``nprobe``
        (doubling, then bisecting) that reaches ``target``; then the pair whose probe queries ran
        fastest. A deeper re-rank needs fewer lists: in a dense catalog the reduced (PCA) scores
        misorder near-equal neighbours, which no number of lists repairs but re-ranking more
        candidates exactly does (5M items: refine 10 missed 0.995 below a full scan). Queries are
        catalog rows moved by noise of norm ~``noise`` (0.5: cosine ~0.9 to the row, about as far
        as a new photo is from its nearest catalogued item; probes closer than that were measured
        to under-tune: 0.991 on them, 0.985 on new queries); the truth is exact search over the
        same ``vectors``. When no pair reaches ``target`` the deepest re-rank over every list is kept.
        """
        rng = np.random.default_rng(seed)
        picks = np.sort(rng.choice(len(self), size=min(queries, len(self)), replace=False))
        probes = _rows_f32(self.vectors, picks)
        probes = normalise_rows(probes + noise * rng.standard_normal(probes.shape).astype(np.float32)
                                / math.sqrt(self.dim))
        truth = exact_top_k(self.vectors, probes, k)
        best: tuple[float, int, int, float] | None = None  # (seconds, refine, nprobe, recall)
        ceiling = self.nlist
        for refine in sorted(refines):
            self.refine = refine
            nprobe, reached = self._least_nprobe(probes, truth, k, target, ceiling)
            if reached < target:
                continue
            self.nprobe = nprobe
            started = time.perf_counter()
            self.recall(probes, truth, k)
            seconds = time.perf_counter() - started
            if best is None or seconds < best[0]:
                best = (seconds, refine, nprobe, reached)
            ceiling = nprobe  # a deeper re-rank never needs more lists
        if best is None:
            self.refine, self.nprobe = max(refines), self.nlist
            return self.recall(probes, truth, k)
        _, self.refine, self.nprobe, reached = best
        return reached

    def _least_nprobe(self, probes: np.ndarray, truth: np.ndarray, k: int, target: float,
                      ceiling: int) -> tuple[int, float]:
        """Smallest ``nprobe`` <= ``ceiling`` reaching ``target`` (within ~12%), and its recall."""
        low, high = 0, 1
        while True:
            self.nprobe = high
            reached = self.recall(probes, truth, k)
            if reached >= target or high >= ceiling:
                break
            low, high = high, min(ceiling, high * 2)
        if reached < target:
            return high, reached
        while high - low > max(1, high // 8):  # bisect to within ~12%
            middle = (low + high) // 2
            self.nprobe = middle
            value = self.recall(probes, truth, k)
            if value >= target:
                high, reached = middle, value
            else:
                low = middle
        return high, reached


def default_nlist(n: int) -> int:
    """k-means lists for ``n`` items: the power of two at or above 2*sqrt(n), between 16 and 8192.

    At or above, not the nearest: at 5M items (2*sqrt(n) = 4472) 4096 lists needed nprobe 32 and a
    re-rank of 250 for recall@10 0.998 at 2.22 ms a query; 8192 lists 0.997 at 1.01 ms.
    """
    return int(2 ** math.ceil(math.log2(min(8192, max(16, 2 * math.sqrt(n))))))


def exact_top_k(vectors: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """(Q, k) rows of the exact top-k for unit ``queries``, in blocks (float16 catalogs widened per block)."""
    best_s = np.full((len(queries), 0), -np.inf, np.float32)
    best_i = np.empty((len(queries), 0), np.int64)
    for start, block in _blocks(vectors):
        sims = queries @ block.T
        part = np.argpartition(-sims, min(k, sims.shape[1]) - 1, axis=1)[:, :k]
        best_s = np.concatenate([best_s, np.take_along_axis(sims, part, 1)], axis=1)
        best_i = np.concatenate([best_i, part + start], axis=1)
        keep = np.argsort(-best_s, axis=1, kind="stable")[:, :k]
        best_s, best_i = np.take_along_axis(best_s, keep, 1), np.take_along_axis(best_i, keep, 1)
    return best_i


IVF_FORMAT = "fashion-ivf/1"


def open_ivf_index(directory: Path, vectors: np.ndarray, *, target_recall: float = TUNE_RECALL,
                   log: Callable[[str], None] | None = None) -> IVFIndex:
    """The catalog's approximate index, stored in ``<directory>/search/`` and kept up to date.

    * stored and matching the rows: loaded (no work);
    * stored for a prefix of the rows (items were appended): the new rows are added, nothing retrained;
    * stored for other rows (a rebuild reordered or removed items): the trained PCA and lists
      are kept, the rows are added again;
    * nothing usable stored: trained, filled and tuned (``nprobe`` for ``target_recall``).
    """
    import faiss

    say = log or (lambda message: print(message, file=sys.stderr, flush=True))
    folder = Path(directory) / "search"
    index_path, meta_path = folder / "ivf.faiss", folder / "ivf.json"
    n, dim = vectors.shape
    meta: dict = {}
    built: IVFIndex | None = None
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("format") == IVF_FORMAT and meta.get("dim") == dim and index_path.is_file():
            stored = faiss.read_index(str(index_path))
            if int(stored.ntotal) == int(meta["rows"]):
                built = IVFIndex(stored, vectors, nprobe=int(meta["nprobe"]), refine=int(meta["refine"]))
    except (OSError, ValueError, KeyError, TypeError, RuntimeError):
        built = None
    started = time.perf_counter()
    changed = True
    if built is not None:
        rows = len(built)
        if rows == n and meta.get("digest") == rows_digest(vectors, n):
            changed = False
        elif rows < n and meta.get("digest") == rows_digest(vectors, rows):
            say(f"search index: adding {n - rows} new items to the {rows} indexed (no retraining)")
            built.add_rows(rows)
        else:
            say(f"search index: catalog rows changed; re-adding {n} items (trained lists kept)")
            built.index.reset()
            built.add_rows(0)
    else:
        say(f"search index: training an IVF index for {n} items (once; later additions are incremental)")
        built = IVFIndex.train(vectors)
        built.tune(target_recall)
        meta = {"trained_seconds": round(time.perf_counter() - started, 1)}
    if changed:
        folder.mkdir(parents=True, exist_ok=True)
        meta.update({"format": IVF_FORMAT, "dim": dim, "rows": len(built), "digest": rows_digest(vectors, n),
                     "nlist": built.nlist, "nprobe": built.nprobe, "refine": built.refine,
                     "target_recall": target_recall, "updated_seconds": round(time.perf_counter() - started, 1)})
        temporary = folder / f".ivf.{os.getpid()}.tmp"
        faiss.write_index(built.index, str(temporary))
        os.replace(temporary, index_path)
        meta_temporary = folder / f".ivf.{os.getpid()}.json.tmp"
        meta_temporary.write_text(json.dumps(meta, indent=1), encoding="utf-8")
        os.replace(meta_temporary, meta_path)
    return built


# Catalogs of at least this many items are searched approximately (IVFIndex), when the catalog
# folder is known (the index is stored there); below it exact search is fast enough (~25 ms a
# query at 500,000 float16 items on one core).
ANN_MIN_ITEMS = 500_000


def build_index(vectors: np.ndarray, faiss_min_items: int, directory: Path | None = None,
                ann_min_items: int = ANN_MIN_ITEMS, log: Callable[[str], None] | None = None) -> SearchIndex:
    """The backend for a catalog.

    * under ``faiss_min_items`` (or without FAISS): exact, numpy (fast enough, no extra package);
    * from there: exact FAISS, in float16 for float16 catalogs (half the memory traffic);
    * from ``ann_min_items``, with the catalog ``directory`` to keep it in: :class:`IVFIndex`
      (recall@10 >= 0.99 against exact search, tuned at build time).
    """
    n = len(vectors)
    if n >= faiss_min_items and faiss_available():
        if directory is not None and n >= ann_min_items:
            return open_ivf_index(Path(directory), vectors, log=log)
        return FaissIndex(vectors, kind="fp16" if np.asarray(vectors).dtype == np.float16 else "flat")
    return ExactIndex(vectors)
