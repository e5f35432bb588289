"""What a re-rank reuses (issue 17): a Recommender's kept searches, score components and row
explanations, and the web's kept query descriptions, answer exactly as a fresh computation."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from fashion.config import load_config
from fashion.recommend.recommender import Filters, Recommender, Weights
from fashion.web.workers import QueryCache
from test_recommender import BLUE, LABELS, RED, WHITE, make_catalog, make_query


def _catalog(n: int = 60, seed: int = 0):
    rng = np.random.default_rng(seed)
    embeddings = rng.standard_normal((n, 8))
    categories = np.eye(3)[rng.integers(0, 3, n)]
    palette = [RED, BLUE, WHITE]
    colours = [[palette[i % 3], palette[(i + 1) % 3]] for i in range(n)]
    shares = [[0.6, 0.4]] * n
    return make_catalog(embeddings, categories, colours, shares, labels=[["Tee", "Jeans", "Dress"][i % 3] for i in range(n)],
                        item_ids=[f"item{i // 2}" for i in range(n)])


def _fresh(catalog) -> Recommender:
    config = load_config()
    return Recommender(catalog, LABELS, config.recommend, config.colour)


WEIGHTS = [Weights(1, 0, 0), Weights(0.2, 0.2, 0.6), Weights(0.6, 0.25, 0.15), Weights(0, 0, 1), Weights(0, 1, 0)]


@pytest.mark.parametrize("filters", [None, Filters(category="Tee"), Filters(colour="red"), Filters(same_category=True)])
def test_reranks_of_one_query_equal_fresh_rankings(filters):
    catalog = _catalog()
    kept = _fresh(catalog)
    query = make_query(np.random.default_rng(1).standard_normal(8), [0.2, 0.7, 0.1], BLUE)
    for top_k in (3, 10):
        for weights in WEIGHTS * 2:  # the second round answers from what the first kept
            again = kept.recommend(query, top_k=top_k, weights=weights, filters=filters)
            fresh = _fresh(catalog).recommend(query, top_k=top_k, weights=weights, filters=filters)
            assert [r.to_dict() for r in again] == [r.to_dict() for r in fresh]


def test_a_rerank_searches_and_scores_once():
    catalog = _catalog()
    recommender = _fresh(catalog)
    calls = []
    search = recommender.index.search
    recommender.index.search = lambda *args, **kwargs: calls.append(1) or search(*args, **kwargs)
    query = make_query(np.ones(8), [1, 0, 0], RED)
    for weights in WEIGHTS:
        recommender.recommend(query, top_k=3, weights=weights)
    assert len(calls) == 1


def test_kept_results_are_not_shared_between_answers():
    catalog = _catalog()
    recommender = _fresh(catalog)
    query = make_query(np.ones(8), [1, 0, 0], RED)
    first = recommender.recommend(query, top_k=3)
    first[0].colours[0]["name"] = "changed by a caller"
    first[0].scores["visual"] = -5.0
    second = recommender.recommend(query, top_k=3)
    assert second[0].colours[0]["name"] != "changed by a caller"
    assert [r.to_dict() for r in second] == [r.to_dict() for r in _fresh(catalog).recommend(query, top_k=3)]


def test_another_query_object_is_not_answered_from_the_memo():
    """Entries answer only for the very query object: a refined query (feedback, words) with the
    same checksum but another embedding is searched afresh."""
    catalog = _catalog()
    recommender = _fresh(catalog)
    query = make_query(np.ones(8), [1, 0, 0], RED)
    recommender.recommend(query, top_k=5)
    moved = replace(query, embedding=-query.embedding)
    assert [r.key for r in recommender.recommend(moved, top_k=5)] == \
        [r.key for r in _fresh(catalog).recommend(moved, top_k=5)]


def test_row_facts_follow_the_attribute_settings():
    catalog = _catalog()
    recommender = _fresh(catalog)
    query = make_query(np.ones(8), [1, 0, 0], RED)
    before = recommender.recommend(query, top_k=3)
    recommender.config = replace(recommender.config, attribute_threshold=0.95, explain_attributes=1)
    after = recommender.recommend(query, top_k=3)
    fresh = Recommender(catalog, LABELS, recommender.config, load_config().colour).recommend(query, top_k=3)
    assert [r.to_dict() for r in after] == [r.to_dict() for r in fresh]
    assert [r.shared_attributes for r in before] != [r.shared_attributes for r in after]


def test_query_cache_keeps_each_query_description():
    cache = QueryCache(2)
    query = make_query(np.ones(8), [1, 0, 0], RED)
    cache.put("a", query)
    first = cache.as_dict("a", query)
    assert first == query.to_dict()
    first["name"] = "changed"
    assert cache.as_dict("a", query) == query.to_dict()  # callers get their own copy
    renamed = replace(query, name="other.jpg")
    cache.put("a", renamed)  # a new query under the same id: a new description
    assert cache.as_dict("a", renamed)["name"] == "other.jpg"
    assert cache.as_dict("a", query)["name"] == "q.jpg"  # not the kept one: described afresh
    cache.put("b", query)
    cache.put("c", query)  # "a" falls out of the LRU, with its description
    assert cache.get("a") is None and "a" not in cache._dicts


def test_explanations_prepared_in_bulk_equal_one_row_at_a_time():
    from fashion.recommend.recommender import row_colours

    catalog = _catalog(n=40, seed=3)
    recommender = _fresh(catalog)
    assert recommender.prepare_explanations(chunk=7) == 40
    assert recommender.prepare_explanations() == 0  # all kept
    for row in range(40):
        fields, lab, colours, predicted, probability, _ = recommender._facts(row)
        want_lab, want_colours = row_colours(catalog, row)
        np.testing.assert_array_equal(lab, want_lab)
        assert colours == want_colours
        assert fields["key"] == catalog.items["key"].iloc[row] and fields["label"] == catalog.items["label"].iloc[row]
        assert predicted == int(np.argmax(catalog.category_probs[row]))
        assert probability == float(catalog.category_probs[row][predicted])
