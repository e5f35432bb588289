"""Search against brute force, the blend formula, filters, one item per product, explanations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fashion.index.catalog import Catalog
from fashion.model.labels import Labels
from fashion.colour.palette import Palette
from fashion.colour.spaces import rgb_to_lab
from fashion.config import load_config
from fashion.recommend.components import category_agreement
from fashion.recommend.recommender import (
    Filters,
    Query,
    Recommender,
    RecommendError,
    Weights,
    blend,
    dedupe_by_item,
    predicted_attributes,
)
from fashion.index.search import ExactIndex, FaissIndex, build_index, faiss_available, normalise_rows, top_k

# ----------------------------------------------------------------------------- search


def brute_force(vectors: np.ndarray, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Reference ranking: full stable sort of the cosine similarities (ties: lower index first)."""
    scores = normalise_rows(vectors) @ normalise_rows(query[None])[0]
    order = np.argsort(-scores, kind="stable")[:k]
    return scores[order], order


@pytest.mark.parametrize("n", [1, 7, 100, 2000])
@pytest.mark.parametrize("k", [1, 5, 64])
@pytest.mark.parametrize("ties", [False, True])
def test_exact_search_matches_brute_force(n, k, ties):
    rng = np.random.default_rng(n * 1000 + k)
    if ties:
        # Few distinct +-1 vectors, many copies: most scores tie, and exactly (unit vectors of +-1/4
        # entries have exact dot products whatever the summation order), so the order must match.
        vectors = rng.choice([-1.0, 1.0], size=(5, 16)).astype(np.float32)[rng.integers(0, 5, size=n)]
        queries = rng.choice([-1.0, 1.0], size=(3, 16)).astype(np.float32)
    else:
        vectors = rng.standard_normal((n, 16)).astype(np.float32)
        queries = rng.standard_normal((3, 16)).astype(np.float32)
    scores, indices = ExactIndex(vectors).search(queries, k)
    assert scores.shape == indices.shape == (3, k)
    for row, query in enumerate(queries):
        want_scores, want_indices = brute_force(vectors, query, k)
        m = len(want_indices)
        np.testing.assert_array_equal(indices[row, :m], want_indices)
        np.testing.assert_allclose(scores[row, :m], want_scores, rtol=1e-5, atol=1e-6)
        assert np.all(indices[row, m:] == -1) and np.all(np.isneginf(scores[row, m:]))


def test_top_k_breaks_ties_at_the_boundary_by_index():
    scores = np.array([0.5, 0.9, 0.5, 0.5, 0.1, 0.9], dtype=np.float32)
    values, indices = top_k(scores, 4)
    assert indices.tolist() == [1, 5, 0, 2]
    assert values.tolist() == pytest.approx([0.9, 0.9, 0.5, 0.5])


def test_search_respects_allowed_rows():
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((50, 8)).astype(np.float32)
    allowed = np.zeros(50, bool)
    allowed[[3, 7, 11]] = True
    scores, indices = ExactIndex(vectors).search(vectors[7], 5, allowed=allowed)
    assert indices[0, 0] == 7 and set(indices[0, :3]) == {3, 7, 11}
    assert indices[0, 3:].tolist() == [-1, -1]


@pytest.mark.skipif(not faiss_available(), reason="faiss-cpu not installed")
@pytest.mark.parametrize("n", [10, 3000])
def test_faiss_flat_agrees_with_exact(n):
    rng = np.random.default_rng(n)
    vectors = rng.standard_normal((n, 32)).astype(np.float32)
    queries = rng.standard_normal((4, 32)).astype(np.float32)
    exact_scores, exact_indices = ExactIndex(vectors).search(queries, 10)
    faiss_scores, faiss_indices = FaissIndex(vectors).search(queries, 10)
    np.testing.assert_allclose(faiss_scores, exact_scores, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(faiss_indices, exact_indices)  # continuous scores: no ties
    allowed = rng.random(n) < 0.3
    s1, i1 = ExactIndex(vectors).search(queries, 5, allowed=allowed)
    s2, i2 = FaissIndex(vectors).search(queries, 5, allowed=allowed)
    np.testing.assert_array_equal(i1, i2)


def test_build_index_switches_backend_by_size():
    vectors = np.eye(4, dtype=np.float32)
    assert build_index(vectors, faiss_min_items=100).name == "exact"
    if faiss_available():
        assert build_index(vectors, faiss_min_items=4).name == "faiss-flat"
        assert build_index(vectors.astype(np.float16), faiss_min_items=4).name == "faiss-fp16"


@pytest.mark.skipif(not faiss_available(), reason="faiss-cpu not installed")
def test_faiss_fp16_is_exact_over_float16_vectors():
    rng = np.random.default_rng(3)
    vectors = normalise_rows(rng.standard_normal((500, 64))).astype(np.float16)
    queries = rng.standard_normal((4, 64)).astype(np.float32)
    want_scores, want_indices = ExactIndex(vectors.astype(np.float32), normalise=False).search(queries, 10)
    scores, indices = FaissIndex(vectors, kind="fp16", normalise=False).search(queries, 10)
    np.testing.assert_array_equal(indices, want_indices)
    np.testing.assert_allclose(scores, want_scores, rtol=1e-4, atol=1e-5)


# ----------------------------------------------------------------------------- score parts


def test_category_agreement_is_the_bhattacharyya_coefficient():
    q = np.array([0.5, 0.5, 0.0])
    items = np.array([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.25, 0.25, 0.5]])
    np.testing.assert_allclose(category_agreement(q, items), [1.0, 0.0, np.sqrt(0.5), 2 * np.sqrt(0.125)])


def test_blend_is_the_normalised_weighted_sum():
    components = np.array([[1.0, 0.5, 0.2], [0.0, 1.0, 1.0]])
    weights = Weights(2.0, 1.0, 1.0)
    np.testing.assert_allclose(blend(components, weights), [(2 * 1.0 + 0.5 + 0.2) / 4, (0 + 1 + 1) / 4])
    np.testing.assert_allclose(blend(components, Weights(0, 0, 3)), [0.2, 1.0])


def test_weights_parse_and_validate():
    base = Weights(0.6, 0.25, 0.15)
    assert Weights.parse("1,0,0", base) == Weights(1.0, 0.0, 0.0)
    assert Weights.parse("colour=0.5", base) == Weights(0.6, 0.25, 0.5)
    for bad in ("1,2", "texture=1", "a,b,c", "0,0,0", "-1,1,1", "colour=1,colour=2"):
        with pytest.raises(RecommendError):
            Weights.parse(bad, base)
    assert base.with_overrides(colour=1.0)["colour"] == 1.0
    assert sum(base.with_overrides(visual=3).normalised().as_dict().values()) == pytest.approx(1.0)
    # Huge but finite weights are a valid weighting (their sum overflowed: "all are zero").
    assert Weights.parse("1e308,1e308,1e308", base).normalised() == Weights(1 / 3, 1 / 3, 1 / 3)
    with pytest.raises(RecommendError, match="^the weights field: "):  # the web names its own field
        Weights.parse("colour=x", base, option="the weights field")


def test_dedupe_keeps_the_first_of_each_item():
    assert dedupe_by_item([4, 0, 2, 1, 3], ["a", "b", "a", "", ""]) == [4, 0, 1, 3]


def test_predicted_attributes_threshold_or_top_n():
    indices = np.array([7, 3, 9])
    assert predicted_attributes(indices, np.array([0.9, 0.2, 0.6]), 0.5, 2) == [7, 9]
    assert predicted_attributes(indices, np.array([0.1, 0.3, 0.2]), 0.5, 2) == [3, 9]
    assert predicted_attributes(indices, np.array([0.9, 0.8, 0.7]), 0.5, 2, limit=1) == [7]


# ----------------------------------------------------------------------------- a hand-made catalog

RED, BLUE, WHITE = (200, 20, 30), (20, 40, 190), (250, 250, 250)
LABELS = Labels(["Tee", "Jeans", "Dress"], [1, 2, 3], ["striped", "denim", "floral", "cotton"], [1, 2, 1, 2])


def _palette_rows(rgbs: list[list[tuple[int, int, int]]], shares: list[list[float]], k: int = 3):
    lab = np.zeros((len(rgbs), k, 3), np.float32)
    rgb = np.zeros((len(rgbs), k, 3), np.uint8)
    sh = np.zeros((len(rgbs), k), np.float32)
    for row, (colours, weights) in enumerate(zip(rgbs, shares)):
        n = len(colours)
        rgb[row, :n] = colours
        lab[row, :n] = rgb_to_lab(np.array(colours, np.uint8))
        sh[row, :n] = weights
    return lab, rgb, sh


def make_catalog(embeddings, category_probs, colours, shares, labels=None, item_ids=None) -> Catalog:
    n = len(embeddings)
    lab, rgb, sh = _palette_rows(colours, shares)
    attribute_probs = np.tile(np.array([[0.9, 0.7, 0.2]], np.float16), (n, 1))
    attribute_index = np.tile(np.array([[0, 3, 1]], np.int32), (n, 1))
    items = pd.DataFrame({"key": [f"img/{i}.jpg" for i in range(n)], "path": [f"/x/{i}.jpg" for i in range(n)],
                          "label": labels or [""] * n, "item_id": item_ids or [f"item{i}" for i in range(n)],
                          "name": [f"item {i}" for i in range(n)]})
    return Catalog(Path("/tmp/none"), Path("/tmp/none/v"), {"model_checksum": "x"}, items,
                   normalise_rows(np.asarray(embeddings, np.float32)), np.asarray(category_probs, np.float32),
                   attribute_index, attribute_probs, lab, rgb, sh)


def make_query(embedding, category_probs, rgb=RED, attributes=(0, 3)) -> Query:
    probs = np.zeros(len(LABELS.attribute_names), np.float32)
    probs[list(attributes)] = 0.8
    return Query("q.jpg", "0" * 64, normalise_rows(np.asarray([embedding], np.float32))[0],
                 np.asarray(category_probs, np.float32), probs, Palette.from_rgb([rgb]),
                 [{"id": int(np.argmax(category_probs)), "name": LABELS.category_names[int(np.argmax(category_probs))],
                   "probability": 1.0}],
                 [{"id": a, "name": LABELS.attribute_names[a], "type": "x", "probability": 0.8} for a in attributes])


@pytest.fixture()
def recommender() -> Recommender:
    config = load_config()
    embeddings = [[1, 0, 0], [0.9, 0.1, 0], [0.8, 0.3, 0], [0, 1, 0], [0.95, 0.05, 0.1], [0.7, 0, 0.7]]
    categories = [[1, 0, 0], [0, 1, 0], [1, 0, 0], [0, 1, 0], [1, 0, 0], [0, 0, 1]]
    colours = [[RED], [BLUE], [BLUE, WHITE], [RED], [RED], [WHITE]]
    shares = [[1.0], [1.0], [0.7, 0.3], [1.0], [1.0], [1.0]]
    catalog = make_catalog(embeddings, categories, colours, shares,
                           labels=["Tee", "", "", "Jeans", "Tee", ""],
                           item_ids=["a", "b", "c", "d", "a", "e"])  # rows 0 and 4: two views of item a
    return Recommender(catalog, LABELS, config.recommend, config.colour)


def test_recommend_ranks_by_the_blend_and_explains(recommender):
    query = make_query([1, 0, 0], [1, 0, 0], RED)
    results = recommender.recommend(query, top_k=4, weights=Weights(1, 1, 1))
    totals = [r.scores["total"] for r in results]
    assert totals == sorted(totals, reverse=True)
    first = results[0]
    assert first.key == "img/0.jpg" and first.rank == 1
    assert first.scores["visual"] == pytest.approx(1.0, abs=1e-6)
    assert first.scores["category"] == pytest.approx(1.0)
    assert first.scores["colour"] == pytest.approx(1.0, abs=1e-5)
    assert first.scores["total"] == pytest.approx(1.0, abs=1e-5)
    assert first.delta_e == pytest.approx(0.0, abs=0.5)
    assert first.category == "Tee" and first.colours[0]["family"] == "red"
    assert [a["name"] for a in first.shared_attributes] == ["striped", "cotton"]
    # Every total is the normalised weighted sum of its parts.
    for r in results:
        parts = np.array([r.scores["visual"], r.scores["category"], r.scores["colour"]])
        assert r.scores["total"] == pytest.approx(parts.mean(), abs=1e-6)
    payload = first.to_dict()
    assert set(payload["score"]) == {"total", "visual", "category", "colour"}


def test_several_views_of_one_item_are_shown_once(recommender):
    query = make_query([1, 0, 0], [1, 0, 0])
    results = recommender.recommend(query, top_k=6)
    item_ids = [r.item_id for r in results]
    assert len(item_ids) == len(set(item_ids)) == 5
    assert results[0].key == "img/0.jpg"  # the better view of item "a" is the one kept


def test_colour_weight_changes_the_order(recommender):
    query = make_query([1, 0, 0], [1, 0, 0], BLUE)
    visual_only = recommender.recommend(query, top_k=3, weights=Weights(1, 0, 0))
    colour_only = recommender.recommend(query, top_k=3, weights=Weights(0, 0, 1))
    assert visual_only[0].key == "img/0.jpg"
    assert colour_only[0].key == "img/1.jpg"  # the blue one


def test_filters(recommender):
    query = make_query([1, 0, 0], [1, 0, 0])
    by_label = recommender.recommend(query, top_k=6, filters=Filters(category="jeans"))
    assert [r.key for r in by_label] == ["img/1.jpg", "img/3.jpg"]  # predicted Jeans, labelled Jeans
    same = recommender.recommend(query, top_k=6, filters=Filters(same_category=True))
    assert {r.key for r in same} == {"img/0.jpg", "img/2.jpg"}  # Tee (item a deduped)
    blue = recommender.recommend(query, top_k=6, filters=Filters(colour="blue"))
    assert {r.key for r in blue} == {"img/1.jpg", "img/2.jpg"}
    navy = recommender.recommend(query, top_k=6, filters=Filters(colour="mediumblue"))
    assert {r.key for r in navy} <= {"img/1.jpg", "img/2.jpg"}
    white = recommender.recommend(query, top_k=6, filters=Filters(colour="white"))
    assert {r.key for r in white} == {"img/5.jpg"}  # a person names the 70% blue, 30% white garment blue
    probability = recommender.family_probability("White")
    assert probability[5] >= recommender.config.colour_filter_probability > probability[2]
    # With the rules (colour.family_model=rules) a family is a share of the palette instead.
    from dataclasses import replace

    config = load_config()
    rules = Recommender(recommender.catalog, LABELS, config.recommend, replace(config.colour, family_model="rules"))
    white = rules.recommend(query, top_k=6, filters=Filters(colour="white"))
    assert {r.key for r in white} == {"img/2.jpg", "img/5.jpg"}  # 30% white passes the 20% share
    none = recommender.recommend(query, top_k=6, filters=Filters(category="dress", colour="red"))
    assert none == []
    excluded = recommender.recommend(query, top_k=1, exclude=["img/0.jpg"])
    assert excluded[0].key == "img/4.jpg"  # the other view of item a


def test_unknown_filter_names_are_clear(recommender):
    query = make_query([1, 0, 0], [1, 0, 0])
    with pytest.raises(RecommendError, match="unknown category 'jeens'; did you mean jeans"):
        recommender.recommend(query, filters=Filters(category="jeens"))
    with pytest.raises(RecommendError, match="unknown colour name"):
        recommender.recommend(query, filters=Filters(colour="blurple"))


def test_candidate_pool_widens_when_views_crowd_it():
    config = load_config(overrides=["recommend.candidate_multiple=1"])
    n = 40
    rng = np.random.default_rng(0)
    embeddings = np.vstack([np.tile([1.0, 0, 0], (30, 1)) + rng.normal(0, 0.01, (30, 3)),
                            rng.normal(0, 1, (10, 3))])
    catalog = make_catalog(embeddings, np.tile([1.0, 0, 0], (n, 1)), [[RED]] * n, [[1.0]] * n,
                           item_ids=["same"] * 30 + [f"other{i}" for i in range(10)])
    results = Recommender(catalog, LABELS, config.recommend, config.colour).recommend(
        make_query([1, 0, 0], [1, 0, 0]), top_k=3)
    assert len(results) == 3 and results[0].item_id == "same"


def test_contact_sheet_with_tiny_colour_shares(recommender, tmp_path):
    from PIL import Image

    from fashion.recommend.sheet import write_contact_sheet

    query = make_query([1, 0, 0], [1, 0, 0])
    query.palette = Palette.from_rgb([RED, BLUE, WHITE, (1, 2, 3), (9, 9, 9)], [0.94, 0.03, 0.02, 0.005, 0.005])
    results = recommender.recommend(query, top_k=3)  # catalog paths do not exist: placeholder tiles
    out = write_contact_sheet(tmp_path / "sheet.png", [(query, Image.new("RGB", (30, 60), RED), results)])
    with Image.open(out) as image:
        assert image.size[0] > 4 * 180 and image.format == "PNG"
