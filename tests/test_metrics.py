"""Metric functions on hand-computed examples (paper protocol, ties, unknown labels)."""

import numpy as np
import pytest

from fashion.train.metrics import attribute_topk_recall, classification_report, per_class_accuracy, topk_accuracy


def test_topk_accuracy_hand_computed():
    scores = np.array([
        [0.1, 0.5, 0.2, 0.15, 0.05],   # ranking 1,2,3,0,4
        [0.6, 0.1, 0.1, 0.1, 0.1],     # ranking 0,1,2,3,4 (ties: lower index first)
        [0.0, 0.0, 0.0, 0.0, 1.0],     # ranking 4,0,1,2,3
    ])
    targets = np.array([2, 3, 3])
    result = topk_accuracy(scores, targets, ks=(1, 3, 5))
    # row0: target 2 at rank 2 (top-3 hit); row1: target 3 at rank 4 (top-5 only); row2: target 3 at rank 4
    assert result == {1: 0.0, 3: pytest.approx(1 / 3), 5: 1.0}


def test_topk_accuracy_ignores_unknown_targets():
    scores = np.array([[0.9, 0.1], [0.2, 0.8]])
    assert topk_accuracy(scores, np.array([0, -1]), ks=(1,)) == {1: 1.0}


def test_per_class_accuracy():
    scores = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 0], [0, 1, 0]], dtype=float)
    assert per_class_accuracy(scores, np.array([0, 0, 0, 1]), 3) == [pytest.approx(2 / 3), 1.0, None]


def test_attribute_recall_paper_protocol():
    # 5 attributes: types texture(1), texture(1), shape(3), part(4), part(4)
    types = [1, 1, 3, 4, 4]
    scores = np.array([
        [0.9, 0.8, 0.7, 0.6, 0.5],   # top-3 = {0,1,2}
        [0.1, 0.2, 0.3, 0.4, 0.5],   # top-3 = {4,3,2}
    ])
    labels = np.array([
        [1, -1, -1, 1, 0],           # positives {0,3}: 0 in top-3, 3 not
        [1, 1, -1, -1, 1],           # positives {0,1,4}: only 4 in top-3
    ])
    result = attribute_topk_recall(scores, labels, types, ks=(3, 5))
    # all: hits at 3 = 1 + 1 = 2 out of 5 positives; at 5 every positive is found
    assert result["all"] == {3: pytest.approx(2 / 5), 5: 1.0}
    # texture: positives img0 {0}, img1 {0,1}; hits at 3: img0 0 yes; img1 none → 1/3
    assert result["texture"][3] == pytest.approx(1 / 3)
    # part: positives img0 {3}, img1 {4}; hits: img1's 4 → 1/2
    assert result["part"][3] == pytest.approx(1 / 2)
    # shape has no positives: omitted, not reported as a perfect or zero score
    assert "shape" not in result


def test_attribute_recall_does_not_reward_true_negatives():
    # A model that scores everything equal and an image with one positive at the end of the list
    labels = np.array([[-1, -1, -1, -1, 1]])
    scores = np.zeros((1, 5))
    assert attribute_topk_recall(scores, labels, [1] * 5, ks=(3,))["all"][3] == 0.0


def test_report_combines_category_and_attribute_for_checkpoint_selection():
    category_scores = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    targets = np.array([0, 1, 1, 1])  # predictions 0, 0, 1, 0: 2 of 4 right
    attribute_scores = np.array([[0.9, 0.1, 0.0, 0.0]] * 4)
    labels = np.array([[1, -1, -1, -1], [-1, -1, -1, 1], [1, -1, -1, -1], [1, -1, -1, -1]])
    with_attributes = classification_report(category_scores, targets, attribute_scores, labels, [1, 1, 1, 1], 2)
    # Top-3 of [0.9, 0.1, 0, 0] is attributes 0, 1, 2: image 1's positive (attribute 3) is missed.
    assert with_attributes["attribute_top3_recall"] == 0.75
    assert with_attributes["category_attribute_mean"] == pytest.approx((0.5 + 0.75) / 2)
    without = classification_report(category_scores, targets, None, None, [], 2)
    assert without["category_attribute_mean"] == without["category_top1"] == 0.5
