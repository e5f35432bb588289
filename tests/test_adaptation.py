"""Adaptation: Rocchio (embedding and palette), learned blend weights, item prior, shopper simulation."""

from __future__ import annotations

import sys
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from fashion.feedback.adaptation import (
    blend_weights, fit_blend_weights, item_adjustments, item_prior, prior_adjustments, refine_query, refit_weights,
    rocchio, rocchio_palette,
)
from fashion.config import FeedbackConfig
from fashion.feedback.store import FeedbackEvent, FeedbackStore

ROOT = Path(__file__).resolve().parents[1]
PRIOR = np.array([0.6, 0.25, 0.15])
PRIOR_BY_NAME = dict(zip(("visual", "category", "colour"), PRIOR.tolist()))


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b))


# ---------------------------------------------------------------------------------------------
# Rocchio on embeddings


def test_rocchio_exact_on_hand_made_vectors():
    q = np.array([1.0, 0.0, 0.0])
    np.testing.assert_allclose(rocchio(q, np.array([[0.0, 1.0, 0.0]]), None, 1.0, 0.75, 0.15), [0.8, 0.6, 0.0],
                               atol=1e-6)
    moved = rocchio(q, None, np.array([[0.0, 0.0, 1.0]]), 1.0, 0.75, 0.15)
    np.testing.assert_allclose(moved, np.array([1.0, 0.0, -0.15]) / np.hypot(1.0, 0.15), atol=1e-6)


def test_rocchio_moves_toward_liked_and_away_from_disliked():
    rng = np.random.default_rng(0)
    q, liked, disliked = rng.normal(size=16), rng.normal(size=(3, 16)), rng.normal(size=(2, 16))
    moved = rocchio(q, liked, disliked)
    assert moved.dtype == np.float32 and moved.shape == (16,)
    assert np.linalg.norm(moved) == pytest.approx(1.0, abs=1e-6)
    liked_centre, disliked_centre = liked.mean(axis=0), disliked.mean(axis=0)
    assert cosine(moved, liked_centre) > cosine(q, liked_centre)
    assert cosine(moved, disliked_centre) < cosine(q, disliked_centre)


@pytest.mark.parametrize("liked, disliked", [(None, None), (np.zeros((0, 4)), np.zeros((0, 4))), ([], [])])
def test_rocchio_without_feedback_returns_the_query(liked, disliked):
    q = np.array([3.0, 0.0, 4.0, 0.0])
    np.testing.assert_allclose(rocchio(q, liked, disliked), [0.6, 0.0, 0.8, 0.0], atol=1e-7)


def test_rocchio_item_length_does_not_matter_and_cancellation_is_safe():
    q = np.array([1.0, 0.0])
    np.testing.assert_allclose(rocchio(q, np.array([[0.0, 10.0]]), None), rocchio(q, np.array([[0.0, 0.1]]), None))
    np.testing.assert_allclose(rocchio(q, None, None, alpha=0.0), [1.0, 0.0])  # all cancelled: the query
    with pytest.raises(ValueError, match="shape"):
        rocchio(q, np.ones((2, 3)), None)


# ---------------------------------------------------------------------------------------------
# Rocchio on colour palettes (CIELAB)

RED, DARK_RED, WHITE = [53.2, 80.1, 67.2], [45.0, 70.0, 55.0], [95.0, 0.0, 0.0]
BLUE, NAVY = [32.3, 79.2, -107.9], [30.0, 70.0, -100.0]


def test_palette_without_feedback_is_the_query_palette():
    lab, shares = rocchio_palette(np.array([WHITE, RED]), np.array([0.2, 0.6]))
    np.testing.assert_allclose(lab, [RED, WHITE], atol=1e-4)  # sorted by share
    np.testing.assert_allclose(shares, [0.75, 0.25], atol=1e-6)  # normalised


def test_liked_colours_join_the_palette_in_rocchio_proportion():
    query = (np.array([RED, WHITE]), np.array([0.8, 0.2]))
    liked_lab = np.array([[BLUE, [0, 0, 0]], [NAVY, [0, 0, 0]]])  # padded palettes: zero shares are ignored
    liked_shares = np.array([[1.0, 0.0], [1.0, 0.0]])
    lab, shares = rocchio_palette(*query, liked_lab, liked_shares, k=3, alpha=1.0, beta=0.75)
    assert len(lab) == 3 and shares.sum() == pytest.approx(1.0)
    blue_like = np.linalg.norm(lab - np.array(BLUE), axis=1) < 15
    assert blue_like.sum() == 1  # blue and navy (close) merged into one colour
    assert shares[blue_like][0] == pytest.approx(0.75 / 1.75, abs=1e-5)
    assert np.all(np.diff(shares) <= 0)


def test_disliked_colours_fade_by_at_most_gamma():
    query = (np.array([RED, WHITE]), np.array([0.5, 0.5]))
    lab, shares = rocchio_palette(*query, disliked_lab=np.array([[DARK_RED]]), disliked_shares=np.array([[1.0]]),
                                  gamma=0.15)
    red_share = shares[np.argmin(np.linalg.norm(lab - np.array(RED), axis=1))]
    assert 0.5 * 0.85 / (0.5 * 0.85 + 0.5) - 1e-6 <= red_share < 0.5  # faded, bounded by gamma
    lab_same, shares_same = rocchio_palette(*query, disliked_lab=np.array([[BLUE]]), disliked_shares=np.array([[1.0]]))
    np.testing.assert_allclose(np.sort(shares_same), [0.5, 0.5], atol=1e-3)  # a distant dislike changes nothing


def test_single_dominant_colour_is_rocchio_mean_in_lab_and_never_a_muddy_mix():
    near = np.array([50.0, 72.0, 60.0])  # dE76 11 from red: a shade of it
    lab, shares = rocchio_palette(np.array([RED]), np.array([1.0]), np.array([[near]]), np.array([[1.0]]),
                                  alpha=1.0, beta=0.75)
    np.testing.assert_allclose(lab[0], (np.array(RED) + 0.75 * near) / 1.75, atol=1e-4)
    assert shares.tolist() == [1.0]
    lab, _ = rocchio_palette(np.array([RED]), np.array([1.0]), np.array([[BLUE]]), np.array([[1.0]]))
    np.testing.assert_allclose(lab[0], RED, atol=1e-4)  # red and blue are not averaged into purple


def test_palette_rejects_bad_input():
    with pytest.raises(ValueError, match="positive share"):
        rocchio_palette(np.array([RED]), np.array([0.0]))
    with pytest.raises(ValueError, match="palettes"):
        rocchio_palette(np.array([RED]), np.array([1.0]), np.ones((2, 2, 2)), np.ones((2, 2)))


# ---------------------------------------------------------------------------------------------
# Learned blend weights: synthetic shoppers with a known answer


def synthetic_events(taste: str, queries: int = 30, per_query: int = 10, seed: int = 0):
    """Shown results (visual, category, colour) and the likes of a shopper with a known taste."""
    rng = np.random.default_rng(seed)
    scores, labels, groups = [], [], []
    for q in range(queries):
        visual = rng.uniform(0.6, 0.9, per_query)
        category = np.clip(rng.choice([0.1, 0.9], per_query) + rng.normal(0, 0.05, per_query), 0, 1)
        colour = rng.uniform(0, 1, per_query)
        shown = np.column_stack([visual, category, colour])
        if taste == "colour":
            like = colour + rng.normal(0, 0.1, per_query) > 0.5
        elif taste == "category":
            like = category > 0.5
        elif taste == "default":
            utility = shown @ PRIOR + rng.normal(0, 0.02, per_query)
            like = utility > np.median(utility)
        else:  # "noise": likes unrelated to anything shown
            like = rng.random(per_query) < 0.5
        scores.append(shown)
        labels.append(np.where(like, 1, -1))
        groups += [f"query{q}"] * per_query
    return np.concatenate(scores), np.concatenate(labels), np.array(groups)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_colour_lovers_raise_the_colour_weight(seed):
    weights = fit_blend_weights(*synthetic_events("colour", seed=seed)[:2], PRIOR, groups=synthetic_events(
        "colour", seed=seed)[2])
    assert weights.sum() == pytest.approx(PRIOR.sum()) and np.all(weights >= 0)
    assert weights[2] > 2.5 * PRIOR[2]  # 0.15 -> well above 0.375
    assert weights[2] == weights.max()


def test_category_lovers_raise_the_category_weight():
    scores, labels, groups = synthetic_events("category")
    weights = fit_blend_weights(scores, labels, PRIOR, groups=groups)
    assert weights[1] > 1.6 * PRIOR[1] and weights[2] < PRIOR[2]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_default_taste_keeps_the_defaults(seed):
    scores, labels, groups = synthetic_events("default", seed=seed)
    np.testing.assert_allclose(fit_blend_weights(scores, labels, PRIOR, groups=groups), PRIOR, atol=0.04)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_noise_stays_near_the_defaults(seed):
    scores, labels, groups = synthetic_events("noise", seed=seed)
    np.testing.assert_allclose(fit_blend_weights(scores, labels, PRIOR, groups=groups), PRIOR, atol=0.12)


def test_regularisation_pulls_towards_the_defaults():
    scores, labels, groups = synthetic_events("colour")
    colour = [fit_blend_weights(scores, labels, PRIOR, strength=s, groups=groups)[2] for s in (1, 10, 100, 10_000)]
    assert colour == sorted(colour, reverse=True)
    assert colour[-1] == pytest.approx(PRIOR[2], abs=0.01)
    assert fit_blend_weights(scores, labels, PRIOR, strength=0, groups=groups)[2] >= colour[0] - 1e-6


def test_few_events_or_one_class_return_the_prior():
    scores, labels, groups = synthetic_events("colour", queries=3)
    np.testing.assert_array_equal(fit_blend_weights(scores[:19], labels[:19], PRIOR, min_events=20), PRIOR)
    np.testing.assert_array_equal(fit_blend_weights(scores, np.ones(len(labels), int), PRIOR), PRIOR)
    ignored = scores.copy()
    ignored[:15] = np.nan  # rows with unknown scores do not count
    np.testing.assert_array_equal(fit_blend_weights(ignored, labels, PRIOR, min_events=20), PRIOR)


def test_constant_components_keep_their_default_share():
    scores, labels, groups = synthetic_events("colour")
    scores[:, 1] = 0.5  # the category score never varies: no evidence about its weight
    weights = fit_blend_weights(scores, labels, PRIOR, groups=groups)
    assert np.all(np.isfinite(weights)) and weights[2] > 2 * PRIOR[2]
    assert weights[1] == PRIOR[1] and weights.sum() == pytest.approx(PRIOR.sum())


def test_centring_within_queries_ignores_query_level_effects():
    rng = np.random.default_rng(5)
    scores, labels, groups = synthetic_events("colour")
    boost = rng.uniform(0, 0.3, 30)
    scores[:, 0] += np.repeat(boost, 10)  # queries with closer neighbours ...
    labels[np.repeat(boost > 0.2, 10)] = 1  # ... where the shopper liked everything shown
    centred = fit_blend_weights(scores, labels, PRIOR, groups=groups)
    pooled = fit_blend_weights(scores, labels, PRIOR)
    assert centred[0] < pooled[0]


def test_fit_rejects_bad_input():
    with pytest.raises(ValueError, match="labels"):
        fit_blend_weights(np.zeros((5, 3)), np.ones(4), PRIOR)
    with pytest.raises(ValueError, match="prior"):
        fit_blend_weights(np.zeros((5, 3)), np.ones(5), np.array([0.5, -0.1, 0.6]))


# ---------------------------------------------------------------------------------------------
# Item prior


def test_item_prior_ignores_balanced_and_liked_items():
    assert item_prior({}, {}) == {}
    assert item_prior({"a": 3, "b": 2}, {"a": 1, "b": 2}) == {}


def random_votes(like_rate: float, items: int = 372, votes: int = 4000, seed: int = 0) -> tuple[dict, dict]:
    """Votes of shoppers who like at random: no item is better or worse than another."""
    rng = np.random.default_rng(seed)
    likes: dict[str, int] = {}
    dislikes: dict[str, int] = {}
    for item, liked in zip(rng.integers(0, items, votes), rng.random(votes) < like_rate):
        counts = likes if liked else dislikes
        counts[f"item{item}"] = counts.get(f"item{item}", 0) + 1
    return likes, dislikes


@pytest.mark.parametrize("like_rate", [0.5, 0.2])
def test_random_feedback_gives_about_no_prior(like_rate):
    strength = 0.05
    likes, dislikes = random_votes(like_rate)
    adjustments = item_prior(likes, dislikes, strength)
    # Chance alone leaves a few items two standard errors short, and those barely past the bound.
    assert len(adjustments) <= 0.05 * 372
    assert sum(adjustments.values()) / 372 > -0.01 * strength  # the catalog's mean adjustment
    assert min(adjustments.values(), default=0.0) > -0.2 * strength
    # Without the bound the same votes would move a third or more of the catalog, by dozens of times as much.
    unbounded = item_prior(likes, dislikes, strength, z=0.0)
    assert len(unbounded) > 0.3 * 372 and sum(unbounded.values()) / 372 < -0.03 * strength


def test_consistent_dislikes_sink_an_item():
    strength = 0.05
    for like_rate in (0.5, 0.2):
        likes, dislikes = random_votes(like_rate)
        dislikes["bad"] = 100  # judged 100 times, never liked
        dislikes["new-bad"] = 30  # the same, with fewer votes so far
        likes["meh"], dislikes["meh"] = 2, 38  # liked 1 time in 20: below even a 0.2 rate
        adjustments = item_prior(likes, dislikes, strength)
        assert adjustments["bad"] < -0.5 * strength, like_rate
        assert adjustments["bad"] < adjustments["new-bad"] < 0, like_rate
        assert adjustments["meh"] < 0, like_rate
        assert min(adjustments, key=adjustments.get) == "bad"


def test_item_prior_compares_with_the_other_items_like_rate():
    # Every item is liked a fifth of the time, as shoppers with narrow tastes do: nothing sinks
    # (a fixed 50/50 reference would sink them all).
    likes = {f"i{n}": 10 for n in range(50)}
    dislikes = {f"i{n}": 40 for n in range(50)}
    assert item_prior(likes, dislikes) == {}
    # The same item, liked 1 time in 5, sinks where the others are liked 4 times in 5.
    others_liked = {**{f"i{n}": 40 for n in range(50)}, "x": 10}
    others_disliked = {**{f"i{n}": 10 for n in range(50)}, "x": 40}
    assert item_prior(others_liked, others_disliked)["x"] < -0.025


def test_a_few_dislikes_do_not_move_an_item():
    assert item_prior({}, {"a": 1}) == {}
    assert item_prior({}, {"a": 3}) == {}
    adjustment = item_prior({}, {"a": 8}, strength=0.05, pseudo_count=10)["a"]
    assert -0.05 / 4 < adjustment < 0
    # The pseudo-votes only scale it: without them 8 dislikes credibly short of 4 likes count more.
    assert item_prior({}, {"a": 8}, strength=0.05, pseudo_count=0)["a"] < 2 * adjustment


def test_item_prior_is_bounded_and_monotone():
    strength = 0.08
    by_dislikes = [item_prior({"a": 2}, {"a": n}, strength).get("a", 0.0) for n in range(0, 4000, 70)]
    assert all(later <= earlier for earlier, later in pairwise(by_dislikes))
    assert all(-strength <= value <= 0 for value in by_dislikes)
    assert by_dislikes[-1] < -0.95 * strength
    by_likes = [item_prior({"a": n}, {"a": 30}, strength).get("a", 0.0) for n in range(0, 40, 3)]
    assert all(later >= earlier for earlier, later in pairwise(by_likes))
    assert by_likes[0] < 0 == by_likes[-1]
    # The same with other items' votes beside it (the reference rate leaves the item's own out).
    likes, dislikes = random_votes(0.3)
    by_dislikes = [item_prior({**likes, "a": 1}, {**dislikes, "a": n}, strength).get("a", 0.0) for n in range(0, 120, 3)]
    assert all(later <= earlier for earlier, later in pairwise(by_dislikes))
    assert by_dislikes[-1] < -0.5 * strength


def test_penalised_item_still_wins_when_otherwise_much_better():
    adjustments = item_prior({}, {"bad": 10_000}, strength=0.1)
    items = ["bad", "ok", "fine"]
    totals = np.array([0.95, 0.8, 0.7]) + prior_adjustments(items, adjustments)
    assert np.argmax(totals) == 0  # better by more than the bound: still first, never removed
    np.testing.assert_allclose(prior_adjustments(items, adjustments)[1:], [0.0, 0.0])


def test_item_prior_rejects_negative_settings():
    with pytest.raises(ValueError):
        item_prior({}, {"a": 1}, strength=-0.1)
    with pytest.raises(ValueError):
        item_prior({}, {"a": 1}, z=-1.0)


# ---------------------------------------------------------------------------------------------
# Connecting to the store


def record_synthetic(store: FeedbackStore, taste: str, queries: int) -> None:
    scores, labels, groups = synthetic_events(taste, queries=queries)
    store.record([FeedbackEvent(catalog_key="shop", query_checksum=g, item=f"item{i % 37}", label=int(label),
                                scores=dict(zip(PRIOR_BY_NAME, s.tolist())))
                  for i, (s, label, g) in enumerate(zip(scores, labels, groups))])


def test_weights_are_learned_saved_and_used(tmp_path):
    config = FeedbackConfig(min_events=20)
    with FeedbackStore(tmp_path / "feedback.sqlite") as store:
        record_synthetic(store, "colour", queries=1)  # 10 events: not enough yet
        assert refit_weights(store, "shop", PRIOR_BY_NAME, config) is None
        assert blend_weights(store, "shop", PRIOR_BY_NAME, config) == PRIOR_BY_NAME
        record_synthetic(store, "colour", queries=30)  # same queries and items: latest votes replace
        learned = refit_weights(store, "shop", PRIOR_BY_NAME, config)
        assert learned is not None and learned.n_events == 300
        assert list(learned.weights) == list(PRIOR_BY_NAME)
        used = blend_weights(store, "shop", PRIOR_BY_NAME, config)
        assert used == learned.weights
        assert used["colour"] > 2 * PRIOR_BY_NAME["colour"]
        # A component the learned weights do not know (added later) keeps its prior weight.
        assert blend_weights(store, "shop", {**PRIOR_BY_NAME, "new": 0.1}, config)["new"] == 0.1
        off = FeedbackConfig(learn_weights=False)
        assert blend_weights(store, "shop", PRIOR_BY_NAME, off) == PRIOR_BY_NAME
        assert refit_weights(store, "shop", PRIOR_BY_NAME, off) is None
    assert blend_weights(None, "shop", PRIOR_BY_NAME, config) == PRIOR_BY_NAME


def test_item_adjustments_from_the_store(tmp_path):
    with FeedbackStore(tmp_path / "feedback.sqlite") as store:
        store.record([FeedbackEvent("shop", f"q{i}", "grey-coat", -1) for i in range(12)]
                     + [FeedbackEvent("shop", "q0", "red-dress", 1)])
        adjustments = item_adjustments(store, "shop", FeedbackConfig(item_prior_strength=0.05))
        assert set(adjustments) == {"grey-coat"} and -0.05 < adjustments["grey-coat"] < -0.01
        assert adjustments == item_prior({"red-dress": 1}, {"grey-coat": 12}, 0.05, 10.0, 2.0)
        assert item_adjustments(store, "shop", FeedbackConfig(item_prior=False)) == {}
        assert item_adjustments(store, "shop", FeedbackConfig(enabled=False)) == {}
        assert item_adjustments(store, "other-shop", FeedbackConfig()) == {}


# ---------------------------------------------------------------------------------------------
# The shopper simulation behind `python -m bench feedback`, on synthetic candidate arrays


@pytest.fixture(scope="module")
def simulation():
    if str(ROOT) not in sys.path:  # `bench` is a folder beside the package, not installed
        sys.path.insert(0, str(ROOT))
    import bench.bench_feedback as simulation

    return simulation


def test_precision_and_shown_events_on_hand_made_arrays(simulation):
    scores = np.array([[0.9, 0.8, 0.1, 0.7]])
    relevant = np.array([[True, False, True, True]])
    assert simulation.precision_at_k(scores, relevant, k=2) == 0.5
    assert simulation.precision_at_k(scores, relevant, k=3) == pytest.approx(2 / 3)
    candidates = simulation.synthetic_candidates(n_queries=4, n_candidates=12, seed=3)
    relevant = simulation.relevance(candidates, "colour", PRIOR)
    shown, labels, groups, items = simulation.shown_events(candidates, relevant, np.array([1, 3]), PRIOR, shown=5)
    assert shown.shape == (10, 3) and labels.shape == groups.shape == items.shape == (10,)
    assert set(labels) <= {-1, 1} and groups.tolist() == [1] * 5 + [3] * 5
    top = np.argsort(-(candidates.components[1] @ PRIOR), kind="stable")[:5]
    np.testing.assert_allclose(shown[:5], candidates.components[1][top])
    np.testing.assert_array_equal(labels[:5], np.where(relevant[1][top], 1, -1))
    with pytest.raises(ValueError, match="unknown taste"):
        simulation.relevance(candidates, "smell", PRIOR)
    with pytest.raises(ValueError, match="components"):
        simulation.CandidateSet(np.zeros((2, 3, 4)), *[np.zeros((2, 3), bool)] * 3, np.zeros((2, 3), str))


@pytest.mark.parametrize("seed", [0, 1])
def test_simulated_shoppers_gain_from_feedback(simulation, seed):
    candidates = simulation.synthetic_candidates(seed=seed)
    results = {r.taste: r for r in simulation.simulate_all(candidates, PRIOR, FeedbackConfig(), seed=seed)}
    assert set(results) == set(simulation.TASTES)
    for taste in ("colour", "category", "pattern"):
        assert results[taste].after_all > results[taste].before + 0.03, taste
        assert results[taste].n_events == 300
    assert results["colour"].weights[2] > 2 * PRIOR[2]
    assert results["pattern"].weights[0] > PRIOR[0]
    assert results["default"].after_all >= results["default"].before - 0.01
    np.testing.assert_allclose(results["default"].weights, PRIOR, atol=0.05)
    table = simulation.results_table(simulation.average_results([list(results.values())]))
    assert "same colour matters most" in table and table.count("\n") == 5


# ---------------------------------------------------------------------------------------------
# Session refinement from catalog rows


def test_refine_query_uses_catalog_rows_and_respects_switches():
    rng = np.random.default_rng(0)
    embeddings = rng.normal(size=(6, 8)).astype(np.float32)
    lab = np.zeros((6, 2, 3), np.float32)
    lab[:, 0] = [RED, RED, BLUE, BLUE, WHITE, WHITE]
    shares = np.tile(np.array([1.0, 0.0], np.float32), (6, 1))
    query_embedding, query_lab, query_shares = embeddings[0], np.array([RED, WHITE]), np.array([0.7, 0.3])
    refined = refine_query(query_embedding, query_lab, query_shares, [2, 3], [4], embeddings, lab, shares,
                           FeedbackConfig())
    np.testing.assert_allclose(refined.embedding, rocchio(query_embedding, embeddings[[2, 3]], embeddings[[4]]))
    assert (refined.liked, refined.disliked) == (2, 1)
    assert len(refined.lab) == 2 and np.linalg.norm(refined.lab - np.array(BLUE), axis=1).min() < 1
    unchanged = refine_query(query_embedding, query_lab, query_shares, [2], [], embeddings, lab, shares,
                             FeedbackConfig(rocchio=False, rocchio_colour=False))
    np.testing.assert_array_equal(unchanged.embedding, query_embedding)
    np.testing.assert_array_equal(unchanged.shares, query_shares.astype(np.float32))
    nothing = refine_query(query_embedding, query_lab, query_shares, [], [], embeddings, lab, shares,
                           FeedbackConfig())
    np.testing.assert_array_equal(nothing.embedding, query_embedding)
