"""Search backends against brute force: exact float16 scan, the IVF index, its storage and growth."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fashion.index.search import (ExactIndex, IVFIndex, build_index, exact_top_k, faiss_available,
                                  normalise_rows, open_ivf_index, rows_digest)

needs_faiss = pytest.mark.skipif(not faiss_available(), reason="faiss-cpu is not installed")


def clustered(n: int, dim: int = 32, clusters: int = 20, seed: int = 0) -> np.ndarray:
    """Unit rows around a few centres (the structure IVF relies on, as real embeddings have)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    rows = centres[rng.integers(0, clusters, n)] + 0.4 * rng.standard_normal((n, dim)).astype(np.float32)
    return normalise_rows(rows)


def brute_force(vectors: np.ndarray, queries: np.ndarray, k: int, allowed: np.ndarray | None = None):
    sims = normalise_rows(queries) @ vectors.astype(np.float32).T
    if allowed is not None:
        sims[:, ~allowed] = -np.inf
    order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(sims, order, 1), order


@pytest.mark.parametrize("k", [1, 5, 40])
def test_exact_float16_matches_brute_force_over_the_stored_values(k):
    vectors = clustered(300).astype(np.float16)
    queries = clustered(6, seed=1)
    scores, indices = ExactIndex(vectors, normalise=False, storage="float16").search(queries, k)
    want_scores, want_indices = brute_force(vectors, queries, k)
    np.testing.assert_allclose(scores, want_scores, atol=1e-3)
    assert (indices == want_indices).mean() > 0.97  # float16 rounding may swap near-ties
    assert scores.dtype == np.float32 and indices.dtype == np.int64 and scores.shape == (6, k)


def test_exact_float16_applies_filters_before_the_top_k():
    vectors = clustered(200)
    allowed = np.zeros(200, bool)
    allowed[::7] = True
    scores, indices = ExactIndex(vectors, storage="float16").search(vectors[3], 50, allowed=allowed)
    assert set(indices[0][indices[0] >= 0]) == set(np.flatnonzero(allowed))  # all 29 allowed, none else
    assert np.isneginf(scores[0][29:]).all() and (indices[0][29:] == -1).all()


def test_exact_top_k_in_blocks_matches_argsort():
    vectors = clustered(500).astype(np.float16)
    queries = clustered(4, seed=2)
    _, want = brute_force(vectors, queries, 10)
    assert (exact_top_k(vectors, queries, 10) == want).all()


@needs_faiss
@pytest.mark.parametrize("pca_dim", [16, 32])
def test_ivf_reaches_its_tuned_recall_and_returns_exact_scores(pca_dim):
    vectors = clustered(3000)
    index = IVFIndex.train(vectors, nlist=32, pca_dim=pca_dim)
    reached = index.tune(target=0.95, queries=50)
    assert reached >= 0.95 and 1 <= index.nprobe <= 32
    queries = normalise_rows(vectors[:40] + 0.05 * np.random.default_rng(3).standard_normal((40, 32)).astype(np.float32))
    scores, indices = index.search(queries, 10)
    want_scores, want_indices = brute_force(vectors, queries, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(indices, want_indices)])
    assert recall >= 0.9
    # the scores are the exact cosines of the rows returned, best first
    np.testing.assert_allclose(scores, np.einsum("qd,qkd->qk", queries, vectors[indices]), atol=1e-5)
    assert (np.diff(scores, axis=1) <= 1e-7).all()
    index.nprobe = index.nlist  # every list scanned: without PCA, exact
    _, all_lists = index.search(queries, 10)
    all_recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(all_lists, want_indices)])
    assert all_recall == 1.0 if pca_dim == 32 else all_recall >= 0.9


@needs_faiss
@pytest.mark.parametrize("keep_every", [2, 500])
def test_ivf_filters_apply_before_the_top_k(keep_every):
    """A broad filter goes into the scan (ID selector), a narrow one is answered exactly."""
    vectors = clustered(3000)
    index = IVFIndex.train(vectors, nlist=32, pca_dim=16)
    index.nprobe = 32
    index.exact_below = 100
    allowed = np.zeros(3000, bool)
    allowed[::keep_every] = True
    queries = vectors[[1, 3, 5]]
    scores, indices = index.search(queries, 10, allowed=allowed)
    valid = indices >= 0
    assert allowed[indices[valid]].all()
    _, want = brute_force(vectors, queries, 10, allowed)
    want_valid = want[np.isfinite(brute_force(vectors, queries, 10, allowed)[0])]
    assert valid.sum() == min(10, allowed.sum()) * 3
    assert set(indices[valid]) == set(want_valid) or keep_every == 2  # exact when narrow
    if keep_every == 2:  # 1,500 allowed rows, scanned through the selector with nprobe widened
        assert np.mean([len(set(a) & set(b)) / 10 for a, b in zip(indices, want)]) >= 0.9


@needs_faiss
def test_ivf_is_stored_beside_the_catalog_and_grows_without_retraining(tmp_path):
    vectors = clustered(2000)
    first = open_ivf_index(tmp_path, vectors[:1500], target_recall=0.9)
    meta = json.loads((tmp_path / "search" / "ivf.json").read_text())
    assert meta["rows"] == 1500 and meta["digest"] == rows_digest(vectors, 1500)
    centroids = first.ivf.quantizer.reconstruct_n(0, first.nlist)

    messages: list[str] = []
    again = open_ivf_index(tmp_path, vectors[:1500], log=messages.append)
    assert messages == [] and len(again) == 1500 and again.nprobe == first.nprobe  # loaded, nothing redone

    grown = open_ivf_index(tmp_path, vectors, log=messages.append)  # 500 items appended
    assert "adding 500 new items" in messages[-1] and len(grown) == 2000
    np.testing.assert_array_equal(grown.ivf.quantizer.reconstruct_n(0, grown.nlist), centroids)
    assert json.loads((tmp_path / "search" / "ivf.json").read_text())["rows"] == 2000
    grown.nprobe = grown.nlist
    _, indices = grown.search(vectors[1990:1995], 1)
    assert (indices[:, 0] == np.arange(1990, 1995)).all()  # new rows are found

    reordered = open_ivf_index(tmp_path, vectors[::-1].copy(), log=messages.append)
    assert "rows changed" in messages[-1] and len(reordered) == 2000
    np.testing.assert_array_equal(reordered.ivf.quantizer.reconstruct_n(0, reordered.nlist), centroids)


@needs_faiss
def test_build_index_picks_the_backend_by_size(tmp_path):
    vectors = clustered(400)
    assert build_index(vectors, faiss_min_items=1000).name == "exact"
    assert build_index(vectors, faiss_min_items=10).name == "faiss-flat"
    assert build_index(vectors.astype(np.float16), faiss_min_items=10).name == "faiss-fp16"
    assert build_index(vectors, faiss_min_items=10, directory=tmp_path, ann_min_items=300).name == "ivf"
    assert (tmp_path / "search" / "ivf.faiss").is_file()
