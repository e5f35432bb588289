"""A shopper's session refinement (fashion.feedback.refinement): disliked items hidden, items like the
liked ones lifted (also from outside the photo's visual neighbours), the bonus as documented, and the
consistency gate (random feedback gives a small gate, clustered likes a large one)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from test_recommender import BLUE, LABELS, RED, WHITE, make_catalog, make_query

from fashion.config import load_config
from fashion.feedback.refinement import judged_bonus, refine_session, row_queries
from fashion.recommend.components import ItemArrays, score_matrices
from fashion.recommend.recommender import Recommender, Weights

# Rows 0-3 look like the photo (Tee, red); rows 4-6 look unlike it and are Jeans; 4 and 5 blue.
EMBEDDINGS = [[1, 0, 0], [0.95, 0.1, 0], [0.9, 0.2, 0], [0.85, 0.3, 0], [0, 1, 0], [0.1, 0.95, 0], [0, 0.9, 0.4]]
CATEGORIES = [[1, 0, 0]] * 4 + [[0, 1, 0]] * 3
COLOURS = [[RED], [RED], [RED], [RED], [BLUE], [BLUE], [WHITE]]


def make_recommender(**recommend) -> tuple[Recommender, object]:
    config = load_config()
    config = dataclasses.replace(config, recommend=dataclasses.replace(config.recommend, **recommend))
    catalog = make_catalog(EMBEDDINGS, CATEGORIES, COLOURS, [[1.0]] * len(EMBEDDINGS))
    return Recommender(catalog, LABELS, config.recommend, config.colour), config


def photo():
    return make_query([1, 0, 0], [1, 0, 0], RED)


def ranked(recommender, refined, top_k=3):
    rows, _, _ = recommender.rank(refined.query, top_k=top_k, exclude=refined.exclude, rerank=refined.rerank)
    return rows.tolist()


def test_disliked_items_are_not_shown_again():
    recommender, config = make_recommender()
    before = ranked(recommender, refine_session(recommender, photo(), [], [], config.feedback, 10.0, Weights(0.6, 0.25, 0.15)))
    assert before == [0, 1, 2]
    refined = refine_session(recommender, photo(), [], [0, 1], config.feedback, 10.0, Weights(0.6, 0.25, 0.15))
    assert refined.exclude == ["img/0.jpg", "img/1.jpg"]
    after = ranked(recommender, refined)
    assert 0 not in after and 1 not in after and after[0] == 2
    # The same through recommend() (what the CLI and the web page call).
    results = recommender.recommend(refined.query, top_k=3, exclude=refined.exclude, rerank=refined.rerank)
    assert [r.row for r in results] == after
    # Switched off: they come back (only moved down by the bonus).
    kept = refine_session(recommender, photo(), [], [0, 1], dataclasses.replace(config.feedback, hide_disliked=False),
                          10.0, Weights(0.6, 0.25, 0.15))
    assert kept.exclude == [] and set(ranked(recommender, kept, top_k=7)) == set(range(7))


def test_a_liked_item_lifts_items_like_it_from_outside_the_photos_neighbours():
    # Two candidates only (top_k 1 x 2): the photo's neighbours are rows 0 and 1; Jeans never compete.
    recommender, config = make_recommender(candidate_multiple=2)
    weights = Weights(0.6, 0.25, 0.15)
    assert ranked(recommender, refine_session(recommender, photo(), [], [], config.feedback, 10.0, weights), 2) == [0, 1]
    # The shopper liked row 4 (blue Jeans) and turned down the red Tees they were shown: with the
    # default settings the Jeans join the list behind the photo's near twins (rows 2, 3) ...
    refined = refine_session(recommender, photo(), [4], [0, 1], config.feedback, 10.0, weights)
    assert refined.rerank is not None and refined.rerank.near is not None
    assert ranked(recommender, refined, top_k=4) == [3, 2, 5, 4]
    # ... and with a stronger pull they lead it: the liked item and the other blue Jeans (row 5, not
    # a neighbour of the photo), then row 6 (Jeans too).
    strong = refine_session(recommender, photo(), [4], [0, 1],
                            dataclasses.replace(config.feedback, session_like_weight=1.0), 10.0, weights)
    assert ranked(recommender, strong, top_k=3) == [5, 4, 6]
    # Without the liked items' neighbours and the bonus, Rocchio alone keeps the red Tees first.
    rocchio_only = refine_session(recommender, photo(), [4], [0, 1],
                                  dataclasses.replace(config.feedback, session_like_weight=0.0,
                                                      session_dislike_weight=0.0), 10.0, weights)
    assert rocchio_only.rerank is None
    assert ranked(recommender, rocchio_only, top_k=1)[0] in (2, 3)


def test_bonus_is_rocchio_in_score_space():
    recommender, _ = make_recommender()
    weights = Weights(0.5, 0.3, 0.2)
    bonus = judged_bonus(recommender, [4, 5], [0], weights, like_weight=0.8, dislike_weight=0.4)
    rows = np.arange(7)
    parts = score_matrices(row_queries(recommender.catalog, [4, 5, 0]), ItemArrays.of_catalog(recommender.catalog, rows))
    blended = np.tensordot(np.array([0.5, 0.3, 0.2]), parts, axes=1)  # (3 judged, 7 rows)
    expected = 0.8 * blended[:2].mean(axis=0) - 0.4 * blended[2]
    assert bonus(rows) == pytest.approx(expected)
    # Blue Jeans gain, red Tees lose.
    assert bonus(np.array([5]))[0] > 0 > bonus(np.array([1]))[0]
    # A cached pair matrix gives the same bonus (the shopper simulation's shortcut).
    cached = judged_bonus(recommender, [4, 5], [0], weights, 0.8, 0.4,
                          pair_components=lambda judged, r: score_matrices(
                              row_queries(recommender.catalog, judged), ItemArrays.of_catalog(recommender.catalog, r)))
    assert cached(rows) == pytest.approx(expected)
    assert judged_bonus(recommender, [4], [0], weights, 0.0, 0.0) is None


def test_nothing_judged_or_feedback_off_changes_nothing():
    recommender, config = make_recommender()
    query = photo()
    untouched = refine_session(recommender, query, [], [], config.feedback, 10.0, Weights(0.6, 0.25, 0.15))
    assert untouched.query is query and untouched.exclude == [] and untouched.rerank is None
    off = refine_session(recommender, query, [4], [0], dataclasses.replace(config.feedback, enabled=False), 10.0,
                         Weights(0.6, 0.25, 0.15))
    assert off.query is query and off.exclude == [] and off.rerank is None


# --- the consistency gate (feedback.session_consistency_z)


def unit_rows(rng, n, dim=16, centre=None, spread=1.0):
    rows = rng.normal(size=(n, dim)) * spread + (0 if centre is None else centre)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_random_feedback_gives_a_small_gate():
    # Likes and dislikes drawn from one distribution (a shopper clicking at random): z is centred on 0,
    # so the gate is mostly shut and seldom fully open.
    from fashion.feedback.refinement import consistency_gate, consistency_z

    rng = np.random.default_rng(0)
    zs, gates = [], []
    for _ in range(300):
        items = unit_rows(rng, 15)
        liked = rng.random(15) < 0.5
        if 0 < liked.sum() < 15:
            zs.append(consistency_z(items @ items.T, liked))
            gates.append(consistency_gate(items @ items.T, liked, full_z=2.0))
    assert abs(np.mean(zs)) < 0.2 and 0.7 < np.std(zs) < 1.3
    assert np.mean(gates) < 0.3 and np.mean(np.array(gates) == 1.0) < 0.1


def test_clustered_likes_give_a_large_gate():
    from fashion.feedback.refinement import consistency_gate, consistency_z

    rng = np.random.default_rng(1)
    centre = rng.normal(size=16) * 2
    items = np.vstack([unit_rows(rng, 6, centre=centre, spread=0.5), unit_rows(rng, 9)])
    liked = np.arange(15) < 6
    assert consistency_z(items @ items.T, liked) > 3
    assert consistency_gate(items @ items.T, liked, full_z=2.0) == 1.0
    # The same items with the labels shuffled: the gate shuts (or nearly).
    shuffled = np.random.default_rng(2).permutation(liked)
    assert consistency_gate(items @ items.T, shuffled, full_z=2.0) < 0.5


def test_gate_when_the_test_cannot_tell_and_with_one_like():
    from fashion.feedback.refinement import consistency_gate, consistency_z

    eye = np.eye(3)
    # Only likes, only dislikes, one of each: nothing to compare, the judgements count in full.
    assert consistency_z(eye, np.array([True, True, True])) is None
    assert consistency_z(eye, np.array([False, False, False])) is None
    assert consistency_z(eye[:2, :2], np.array([True, False])) is None
    assert consistency_gate(eye[:2, :2], np.array([True, False]), full_z=2.0) == 1.0
    # One like unlike four alike dislikes: the most a single like among five can show is z = 2
    # (it is the one relabelling of five that stands out).
    sim = np.zeros((5, 5))
    sim[1:, 1:] = 1.0
    liked = np.array([True, False, False, False, False])
    assert consistency_z(sim, liked) == pytest.approx(2.0)
    assert consistency_gate(sim, liked, full_z=4.0) == pytest.approx(0.5)
    # Any of the alike four as the like instead: below chance, the gate shuts.
    assert consistency_gate(sim, np.roll(liked, 1), full_z=2.0) == 0.0
    assert consistency_gate(sim, np.roll(liked, 1), full_z=0.0) == 1.0  # 0: no gate


def test_a_consistent_shoppers_ranking_still_moves_and_a_contradictory_ones_pull_is_gated():
    recommender, config = make_recommender()
    weights = Weights(0.6, 0.25, 0.15)
    gated = dataclasses.replace(config.feedback, session_consistency_z=2.0)
    # Likes the blue Jeans, turns down the red Tees: consistent, the gate opens and the Jeans lead.
    consistent = refine_session(recommender, photo(), [4, 5], [0, 1, 2], gated, 10.0, weights)
    ungated = refine_session(recommender, photo(), [4, 5], [0, 1, 2], config.feedback, 10.0, weights)
    assert consistent.gate == 1.0 and ungated.gate == 1.0
    assert ranked(recommender, consistent, 3) == ranked(recommender, ungated, 3) == [3, 5, 4]
    # The pull itself moves it (the disliked Tees left in the list): the query moves off the disliked
    # Tees (row 0 drops out) and a liked Jeans joins the top 4.
    shown = dataclasses.replace(gated, hide_disliked=False)
    kept = refine_session(recommender, photo(), [4, 5], [0, 1, 2], shown, 10.0, weights)
    assert kept.gate == 1.0 and ranked(recommender, kept, 4) == [3, 2, 1, 5]
    # Likes a Tee and a Jeans, turns down a Tee and a Jeans: the likes say nothing, so nothing is
    # pulled toward them (no bonus, no neighbours, the query unmoved); the disliked stay hidden.
    contradictory = refine_session(recommender, photo(), [0, 4], [1, 5], gated, 10.0, weights)
    assert contradictory.gate == 0.0 and contradictory.rerank is None
    assert np.allclose(contradictory.query.embedding, photo().embedding, atol=1e-6)
    assert contradictory.exclude == ["img/1.jpg", "img/5.jpg"]
    assert ranked(recommender, contradictory, 3) == [0, 2, 3]
    # Without the gate the same judgements pull toward the liked Jeans.
    assert refine_session(recommender, photo(), [0, 4], [1, 5], config.feedback, 10.0, weights).rerank is not None
