"""Recommendation metrics on hand-computed cases: ranking ties, self-exclusion, padding, single views."""

import numpy as np
import pytest

from fashion.evaluate.metrics import (
    attribute_overlap_at_k,
    category_precision_at_k,
    colour_agreement_at_k,
    mean_delta_e_at_k,
    rank,
    same_item_recall_at_k,
)

NAN = float("nan")


# ----------------------------------------------------------------------------------- rank


def test_rank_breaks_ties_by_lower_index_and_excludes_the_query():
    scores = np.array([
        [0.5, 0.9, 0.5, 0.5],  # 1 first, then the tied 0, 2, 3 in index order
        [0.7, 0.7, 0.7, 0.7],  # all tied; column 0 is the query itself
    ])
    ranked = rank(scores, 3, exclude=np.array([-1, 0]))
    assert ranked.tolist() == [[1, 0, 2], [1, 2, 3]]


def test_rank_pads_with_minus_one_and_never_returns_minus_inf_or_nan():
    scores = np.array([[0.2, -np.inf, np.nan]])
    assert rank(scores, 5).tolist() == [[0, -1, -1, -1, -1]]
    assert rank(np.array([[0.3, 0.1]]), 4, exclude=np.array([0])).tolist() == [[1, -1, -1, -1]]


def test_rank_does_not_modify_its_input():
    scores = np.array([[1.0, 2.0]])
    rank(scores, 1, exclude=np.array([1]))
    assert scores.tolist() == [[1.0, 2.0]]


# ----------------------------------------------------------------------------------- category


def test_category_precision_hand_computed():
    gallery = np.array([0, 0, 1, 1, -1])
    queries = np.array([0, 1, -1])
    ranked = np.array([
        [0, 2, 1, 4],   # hits: yes, no, yes, no(unknown) -> P@1 1, P@2 1/2, P@4 2/4
        [4, 3, 2, 0],   # hits: no(unknown), yes, yes, no -> P@1 0, P@2 1/2, P@4 2/4
        [0, 1, 2, 3],   # unknown query category: skipped
    ])
    result = category_precision_at_k(ranked, queries, gallery, ks=(1, 2, 4))
    assert result == {1: 0.5, 2: 0.5, 4: 0.5}


def test_category_precision_divides_by_results_returned():
    # A gallery of 2 images cannot fill a top 4: precision is over the 2 returned.
    ranked = np.array([[1, 0, -1, -1]])
    assert category_precision_at_k(ranked, np.array([3]), np.array([3, 5]), ks=(1, 4)) == {1: 0.0, 4: 0.5}


def test_category_precision_nan_without_known_queries():
    result = category_precision_at_k(np.array([[0]]), np.array([-1]), np.array([0]), ks=(1,))
    assert np.isnan(result[1])


def test_k_larger_than_the_ranking_is_an_error():
    with pytest.raises(ValueError, match="k=5"):
        category_precision_at_k(np.array([[0, 1]]), np.array([0]), np.array([0, 1]), ks=(5,))


# ----------------------------------------------------------------------------------- colour


GREYS = np.array([
    [55.0, 0, 0],  # dE 10 from L45 (mean L 50: S_L = 1): exactly on the threshold, agrees
    [45.0, 0, 0],  # the query's colour: dE 0
    [65.0, 0, 0],  # dE 20 / S_L(55) = 20 / 1.0559 = 18.941: disagrees
    [np.nan, np.nan, np.nan],  # no palette found: never agrees, left out of the mean dE
])
SL55 = 1 + 0.015 * 25 / np.sqrt(20 + 25)


def test_colour_agreement_threshold_is_inclusive():
    query = np.array([[45.0, 0, 0]])
    ranked = np.array([[0, 2, 1, 3]])
    result = colour_agreement_at_k(ranked, query, GREYS, ks=(1, 2, 3, 4), max_delta_e=10.0)
    assert result == {1: 1.0, 2: 0.5, 3: pytest.approx(2 / 3), 4: 0.5}
    assert colour_agreement_at_k(ranked, query, GREYS, ks=(1,), max_delta_e=9.99) == {1: 0.0}


def test_mean_delta_e_hand_computed():
    query = np.array([[45.0, 0, 0]])
    ranked = np.array([[0, 2, 1, 3]])
    result = mean_delta_e_at_k(ranked, query, GREYS, ks=(1, 2, 3, 4))
    assert result[1] == pytest.approx(10.0)
    assert result[2] == pytest.approx((10 + 20 / SL55) / 2)
    assert result[3] == pytest.approx((10 + 20 / SL55 + 0) / 3)
    assert result[4] == pytest.approx(result[3])  # the unknown colour is left out


def test_colour_agreement_averages_over_queries_and_skips_unknown_query_colour():
    queries = np.array([[45.0, 0, 0], [65.0, 0, 0], [np.nan, np.nan, np.nan]])
    ranked = np.array([[1, 0], [2, 1], [0, 1]])
    # query 0: 1/1, 2/2; query 1: 1/1, (1 + 0)/2 (L65 vs L45: dE 20 / S_L(55)); query 2 skipped
    assert colour_agreement_at_k(ranked, queries, GREYS, ks=(1, 2)) == {1: 1.0, 2: 0.75}


# ----------------------------------------------------------------------------------- attributes


def test_attribute_overlap_uses_true_positives_only():
    gallery = np.array([
        [1, 1, -1, 0],   # positives {0, 1}
        [-1, 1, 1, 0],   # positives {1, 2}
        [-1, -1, -1, 1],  # positives {3}
        [-1, -1, -1, -1],  # none
    ], dtype=np.int8)
    queries = np.array([
        [1, 1, 0, -1],   # positives {0, 1}
        [-1, -1, 0, 0],  # no positives: skipped (negatives never count as shared)
    ], dtype=np.int8)
    ranked = np.array([[0, 1, 2, 3], [3, 2, 1, 0]])
    # query 0: J = 1, |{1}|/|{0,1,2}| = 1/3, 0, 0
    result = attribute_overlap_at_k(ranked, queries, gallery, ks=(1, 2, 4))
    assert result == {1: 1.0, 2: pytest.approx((1 + 1 / 3) / 2), 4: pytest.approx((1 + 1 / 3) / 4)}


def test_attribute_overlap_is_nan_without_attributes():
    ranked = np.array([[0]])
    assert np.isnan(attribute_overlap_at_k(ranked, None, None, ks=(1,))[1])
    empty = np.zeros((1, 0), dtype=np.int8)
    assert np.isnan(attribute_overlap_at_k(ranked, empty, empty, ks=(1,))[1])


# ----------------------------------------------------------------------------------- same item


def test_same_item_recall_in_shop_protocol():
    items = np.array(["a", "a", "b", "b", "c", None], dtype=object)  # c: a single view; last: no item
    columns = np.arange(6)  # queries = gallery: each query is its own column
    ranked = np.array([
        [2, 1, 3],   # item a: the other view (1) at rank 2
        [0, 2, 3],   # item a: hit at rank 1
        [0, 1, 4],   # item b: the other view (3) not in the top 3: miss
        [2, 0, 1],   # item b: hit at rank 1
        [0, 1, 2],   # item c: single view, skipped
        [0, 1, 2],   # no item id, skipped
    ])
    result = same_item_recall_at_k(ranked, items, items, columns, ks=(1, 2, 3))
    assert result.recall == {1: 0.5, 2: 0.75, 3: 0.75}
    assert (result.counted, result.single_view, result.no_item) == (4, 1, 1)


def test_same_item_recall_never_counts_the_query_itself():
    items = np.array(["a", "a"], dtype=object)
    # A ranking that (wrongly) kept the query's own image first: it is not "another image".
    ranked = np.array([[0, 1], [1, 0]])
    result = same_item_recall_at_k(ranked, items, items, np.array([0, 1]), ks=(1, 2))
    assert result.recall == {1: 0.0, 2: 1.0}


def test_same_item_recall_with_separate_query_and_gallery_sets():
    # In-shop style: queries are not in the gallery (columns -1); a gallery item of one view counts.
    queries = np.array(["a", "b", "z"], dtype=object)
    gallery = np.array(["b", "a", "c"], dtype=object)
    ranked = np.array([[0, 1], [0, 2], [0, 1]])
    result = same_item_recall_at_k(ranked, queries, gallery, None, ks=(1, 2))
    assert result.recall == {1: 0.5, 2: 1.0}
    assert (result.counted, result.single_view) == (2, 1)  # z has no image in the gallery


def test_same_item_recall_nan_when_every_item_has_one_view():
    items = np.array(["a", "b"], dtype=object)
    result = same_item_recall_at_k(np.array([[1], [0]]), items, items, np.array([0, 1]), ks=(1,))
    assert np.isnan(result.recall[1])
    assert result.single_view == 2
