"""Search latency per query on one core: ours vs numpy argsort vs scikit-learn vs FAISS (flat, HNSW).

Random 512-d unit vectors (10k / 100k / 1M items), one query at a time, top-10. "ours" is
:class:`fashion.index.search.ExactIndex` (one matrix product + argpartition); "numpy sort" is the same
product with a full ``argsort``; scikit-learn is ``NearestNeighbors(metric="cosine",
algorithm="brute")``; FAISS ``IndexFlatIP`` is exact, ``IndexHNSWFlat`` (M=32, efSearch=64) is
approximate: its recall@10 against the exact answer is reported. Random vectors are the hard
case for HNSW (no low-dimensional structure), so its recall here is a lower bound.

    python -m bench search            # (or --quick: 10k and 100k only)
"""

from __future__ import annotations

import os
import time

import numpy as np

from bench.common import machine_info, median
from fashion.index.search import ExactIndex, FaissIndex, faiss_available

DIM = 512
K = 10
TARGET_MS = 10.0


def _env() -> str:
    """The command's environment prefix: OpenMP's wait policy matters on shared cores."""
    policy = os.environ.get("OMP_WAIT_POLICY")
    return f"OMP_WAIT_POLICY={policy} " if policy else ""


def _limit_threads() -> object:
    """One core for every library (BLAS, OpenMP in FAISS)."""
    from threadpoolctl import threadpool_limits

    limits = threadpool_limits(1)
    if faiss_available():
        import faiss

        faiss.omp_set_num_threads(1)
    return limits


def _per_query_ms(search, queries: np.ndarray) -> float:
    search(queries[0])  # warm-up
    times = []
    for query in queries:
        start = time.perf_counter()
        search(query)
        times.append(time.perf_counter() - start)
    return median(times) * 1000


def _vectors(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    vectors = np.empty((n, DIM), np.float32)
    for start in range(0, n, 100_000):  # in blocks: no float64 temporaries of the whole matrix
        block = rng.standard_normal((min(100_000, n - start), DIM), dtype=np.float32)
        vectors[start:start + len(block)] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return vectors


def run_size(n: int, n_queries: int, with_hnsw: bool, with_sklearn: bool) -> dict[str, object]:
    """Timings (ms per query) and memory (bytes per item) for one catalog size."""
    vectors = _vectors(n, seed=n)
    queries = _vectors(n_queries, seed=1)
    row: dict[str, object] = {"n": n}
    ours = ExactIndex(vectors, normalise=False)
    row["ours"] = _per_query_ms(lambda q: ours.search(q, K), queries)
    row["numpy"] = _per_query_ms(lambda q: np.argsort(-(vectors @ q))[:K], queries)
    if with_sklearn:
        from sklearn.neighbors import NearestNeighbors

        knn = NearestNeighbors(n_neighbors=K, metric="cosine", algorithm="brute").fit(vectors)
        row["sklearn"] = _per_query_ms(lambda q: knn.kneighbors(q[None], return_distance=True), queries[:10])
    row["memory_ours"] = ours.vectors.nbytes / n
    if faiss_available():
        import faiss

        flat = FaissIndex(vectors, kind="flat", normalise=False)
        row["faiss_flat"] = _per_query_ms(lambda q: flat.search(q, K), queries)
        row["memory_flat"] = len(faiss.serialize_index(flat.index)) / n
        del flat
        half = FaissIndex(vectors.astype(np.float16), kind="fp16", normalise=False)
        row["faiss_fp16"] = _per_query_ms(lambda q: half.search(q, K), queries)
        del half
        if with_hnsw:
            start = time.perf_counter()
            hnsw = FaissIndex(vectors, kind="hnsw", hnsw_m=32, ef_search=64, normalise=False)
            row["hnsw_build_s"] = time.perf_counter() - start
            _, exact = ours.search(queries, K)
            for ef in (64, 512):
                hnsw.index.hnsw.efSearch = ef
                suffix = "" if ef == 64 else f"_ef{ef}"
                row["faiss_hnsw" + suffix] = _per_query_ms(lambda q: hnsw.search(q, K), queries)
                _, approx = hnsw.search(queries, K)
                row["hnsw_recall" + suffix] = float(np.mean([len(set(a) & set(e)) / K
                                                             for a, e in zip(approx, exact)]))
            row["memory_hnsw"] = len(faiss.serialize_index(hnsw.index)) / n
            del hnsw
    del vectors, ours
    return row


def _fmt(value: object, digits: int = 2) -> str:
    return f"{value:.{digits}f}" if isinstance(value, float) else ("—" if value is None else str(value))


def main(quick: bool = False) -> str:
    """Markdown section: latency table, speed-ups, memory, HNSW recall."""
    limits = _limit_threads()
    sizes = [(10_000, 50, True, True), (100_000, 30, True, True)]
    if not quick:
        sizes.append((1_000_000, 10, False, True))
    rows = [run_size(*size) for size in sizes]
    del limits
    lines = [
        "## Search latency (one core, 512-d, top-10, one query at a time)",
        "",
        f"`{_env()}python -m bench search{' --quick' if quick else ''}` · {machine_info()}",
        "",
        "| items | ours (ms) | numpy argsort (ms) | scikit-learn cosine (ms) | FAISS flat (ms) | FAISS HNSW (ms) "
        "| HNSW recall@10 | HNSW build (s) | ours vs sklearn | ours / FAISS flat |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        speedup = r["sklearn"] / r["ours"] if "sklearn" in r else None
        ratio = r["ours"] / r["faiss_flat"] if "faiss_flat" in r else None
        lines.append(
            f"| {r['n']:,} | {_fmt(r['ours'])} | {_fmt(r['numpy'])} | {_fmt(r.get('sklearn'))} "
            f"| {_fmt(r.get('faiss_flat'))} | {_fmt(r.get('faiss_hnsw'))} | {_fmt(r.get('hnsw_recall'), 3)} "
            f"| {_fmt(r.get('hnsw_build_s'), 1)} | {_fmt(speedup, 1)}× | {_fmt(ratio)} |")
    lines += ["", "A float16 catalog (`catalog.embedding_dtype=float16`, searched by FAISS in float16 at or "
              "above `recommend.faiss_min_items`; exact over the stored values): " + "; ".join(
                  f"{r['n']:,} items {r['faiss_fp16']:.2f} ms" for r in rows if "faiss_fp16" in r) + "."]
    lines += ["", "HNSW with efSearch=512: " + "; ".join(
        f"{r['n']:,} items {r['faiss_hnsw_ef512']:.2f} ms, recall@10 {r['hnsw_recall_ef512']:.3f}"
        for r in rows if "faiss_hnsw_ef512" in r) + "."]
    lines += ["", "Memory per item (bytes): "
              + "; ".join(f"{r['n']:,} items: ours {r['memory_ours']:.0f} (float16 on disk: {r['memory_ours'] / 2:.0f})"
                          + (f", FAISS flat {r['memory_flat']:.0f}" if "memory_flat" in r else "")
                          + (f", HNSW {r['memory_hnsw']:.0f}" if "memory_hnsw" in r else "") for r in rows)]
    hundred = next((r for r in rows if r["n"] == 100_000), None)
    if hundred:
        verdict = []
        verdict.append(f"{hundred['ours']:.2f} ms at 100k (target ≤ {TARGET_MS:.0f} ms: "
                       f"{'met' if hundred['ours'] <= TARGET_MS else 'missed'})")
        if "sklearn" in hundred:
            s = hundred["sklearn"] / hundred["ours"]
            verdict.append(f"{s:.1f}× faster than scikit-learn (target ≥ 5×: {'met' if s >= 5 else 'missed'})")
        if "faiss_flat" in hundred:
            f = hundred["ours"] / hundred["faiss_flat"]
            verdict.append(f"{f:.2f}× FAISS flat's time (target ≤ 1.3×: {'met' if f <= 1.3 else 'missed'})")
        lines += ["", "Targets: " + "; ".join(verdict) + "."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(main())
