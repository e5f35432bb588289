"""Issue 14 item 7: degenerate feedback never gives degenerate blend weights.

Property-style (seeded numpy loops over many random event sets): noise-only feedback, with and
without a component that barely varies (std ~1e-4), leaves the learned weights within a small
distance of the defaults; a real taste still moves them.
"""

from __future__ import annotations

import numpy as np
import pytest

from fashion.feedback.adaptation import fit_blend_weights

PRIOR = np.array([0.6, 0.25, 0.15])
NEAR = 0.06  # the largest move noise may cause, in weight units (the weights sum to 1)


def _events(rng: np.random.Generator, near_constant: int | None, taste: int | None = None):
    """Shown results of 3..60 queries x 2..12 items, likes at a random base rate."""
    queries, per_query = int(rng.integers(3, 61)), int(rng.integers(2, 13))
    n = queries * per_query
    scores = np.column_stack([rng.uniform(0.5, 0.95, n), rng.uniform(0, 1, n), rng.uniform(0, 1, n)])
    if near_constant is not None:
        scores[:, near_constant] = rng.uniform(0, 1) + rng.normal(0, 1e-4, n)
    if taste is None:
        labels = np.where(rng.random(n) < rng.uniform(0.15, 0.85), 1, -1)
    else:
        labels = np.where(scores[:, taste] + rng.normal(0, 0.1, n) > np.median(scores[:, taste]), 1, -1)
    groups = np.repeat(np.arange(queries), per_query).astype(str)
    return scores, labels, groups


@pytest.mark.parametrize("near_constant", [None, 0, 1, 2])
def test_noise_only_feedback_keeps_the_defaults(near_constant):
    rng = np.random.default_rng(1400 + (near_constant if near_constant is not None else 9))
    worst = 0.0
    for _ in range(150):
        scores, labels, groups = _events(rng, near_constant)
        for by_query in (groups, None):
            weights = fit_blend_weights(scores, labels, PRIOR, groups=by_query)
            assert np.all(np.isfinite(weights)) and np.all(weights >= 0)
            assert weights.sum() == pytest.approx(PRIOR.sum())
            worst = max(worst, float(np.abs(weights - PRIOR).max()))
    assert worst <= NEAR, f"noise moved a weight by {worst:.3f}"


def test_two_hundred_noise_likes_with_a_flat_visual_score_keep_visual():
    """The reported case: visual barely varies; 200 likes later visual must not be 0 (or 0.997)."""
    rng = np.random.default_rng(7)
    scores = np.column_stack([0.8 + rng.normal(0, 1e-4, 400), rng.uniform(0, 1, 400), rng.uniform(0, 1, 400)])
    labels = np.where(rng.random(400) < 0.5, 1, -1)
    weights = fit_blend_weights(scores, labels, PRIOR, groups=np.repeat(np.arange(40), 10).astype(str))
    np.testing.assert_allclose(weights, PRIOR, atol=NEAR)


@pytest.mark.parametrize(("taste", "near_constant"), [(2, None), (1, None), (0, None), (2, 0), (1, 0), (2, 1), (0, 2)])
def test_a_real_taste_moves_the_weights(taste, near_constant):
    rng = np.random.default_rng(31 + taste)
    live = np.array([i != near_constant for i in range(3)])
    moved = 0
    for _ in range(10):
        scores, labels, groups = _events(rng, near_constant, taste=taste)
        if len(labels) < 150:
            continue
        weights = fit_blend_weights(scores, labels, PRIOR, groups=groups)
        share, prior_share = weights[taste] / weights[live].sum(), PRIOR[taste] / PRIOR[live].sum()
        assert share > prior_share + 0.05, weights
        if near_constant is not None:  # the flat component gave no evidence: it keeps its default
            assert weights[near_constant] == pytest.approx(PRIOR[near_constant])
        moved += 1
    assert moved >= 3
