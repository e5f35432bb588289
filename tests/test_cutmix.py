"""CutMix: the pasted box, the label share it implies, the mixed loss, and training with it."""

from __future__ import annotations

import pytest
import torch

from fashion.config import load_config
from fashion.data.load import load_training_data
from fashion.model.checkpoint import read_checkpoint
from fashion.model.network import FashionNet
from fashion.train.cutmix import cut_box, cutmix
from fashion.train.loop import FashionLoss, TrainingError, fit

from conftest import TINY_MODEL, TINY_SAMPLE, fitted_weights, weights_differ


def numbered_batch(count: int = 6, side: int = 16) -> torch.Tensor:
    """Image i is filled with the value i, so every pixel tells which image it came from."""
    return torch.arange(count, dtype=torch.float32).view(count, 1, 1, 1).expand(count, 3, side, side).clone()


def test_the_box_pasted_matches_the_share_of_own_pixels():
    torch.manual_seed(3)
    images = numbered_batch()
    for _ in range(20):
        mix = cutmix(images, probability=1.0, alpha=1.0)
        assert mix is not None
        for index in range(len(images)):
            own = (mix.images[index] == index).float().mean().item()
            partner = int(mix.partner[index])
            if partner == index:  # mixed with itself: nothing changes
                assert own == 1.0
            else:
                assert own == pytest.approx(mix.share)
                assert (mix.images[index] == partner).float().mean().item() == pytest.approx(1.0 - mix.share)
        assert sorted(mix.partner.tolist()) == list(range(len(images)))  # a permutation
    assert torch.equal(images, numbered_batch())  # the input batch is left untouched


def test_a_box_clipped_at_the_border_gives_the_share_it_really_cut():
    top, bottom, left, right = cut_box(10, 10, share=0.75, draws=torch.tensor([0.0, 0.0]))
    assert (top, left) == (0, 0)
    assert (bottom - top) * (right - left) < 25  # half of the 5 x 5 box fell outside the image
    torch.manual_seed(0)
    shares = [cutmix(numbered_batch(4, 10), 1.0, 1.0).share for _ in range(50)]
    assert all(0.0 <= share <= 1.0 for share in shares)
    assert len({round(share, 3) for share in shares}) > 10  # drawn, not fixed


def test_probability_zero_or_a_single_image_is_never_mixed():
    torch.manual_seed(0)
    assert cutmix(numbered_batch(), probability=0.0, alpha=1.0) is None
    assert cutmix(numbered_batch(1), probability=1.0, alpha=1.0) is None
    mixed = sum(cutmix(numbered_batch(), probability=0.3, alpha=1.0) is not None for _ in range(400))
    assert 80 < mixed < 160  # about 30% of 400 batches


def test_mixed_loss_is_the_loss_against_mixed_targets():
    """share x loss(own) + (1 - share) x loss(partner) equals the loss against the mixed target
    (cross-entropy and BCE are linear in their targets): the mix is exact label mixing."""
    torch.manual_seed(0)
    logits, attribute_logits = torch.randn(4, 5), torch.randn(4, 3)
    categories = torch.tensor([0, 1, 2, 3])
    attributes = torch.tensor([[1, -1, 1], [-1, 1, -1], [1, 1, -1], [-1, -1, 1]])
    partner, share = torch.tensor([1, 0, 3, 2]), 0.3
    loss_fn = FashionLoss(torch.ones(3), attribute_weight=1.0, label_smoothing=0.0)
    mixed = (share * loss_fn(logits, attribute_logits, categories, attributes)
             + (1 - share) * loss_fn(logits, attribute_logits, categories[partner], attributes[partner]))
    target = share * torch.nn.functional.one_hot(categories, 5).float() \
        + (1 - share) * torch.nn.functional.one_hot(categories[partner], 5).float()
    attribute_target = share * (attributes == 1).float() + (1 - share) * (attributes[partner] == 1).float()
    expected = (torch.nn.functional.cross_entropy(logits, target)
                + torch.nn.functional.binary_cross_entropy_with_logits(attribute_logits, attribute_target))
    assert mixed.item() == pytest.approx(expected.item(), rel=1e-5)


def test_training_with_cutmix_changes_the_weights_and_differs_from_without(tiny_sample, tmp_path):
    plain = fitted_weights(tiny_sample, tmp_path, "plain", ["train.cutmix=0.0"])
    mixed = fitted_weights(tiny_sample, tmp_path, "mixed", ["train.cutmix=1.0"])
    assert weights_differ(plain, mixed)


def test_cutmix_is_refused_with_the_metric_embedding(tiny_sample, tmp_path):
    config = load_config(overrides=TINY_SAMPLE + TINY_MODEL + [
        f"data.root={tiny_sample}", f"train.run_dir={tmp_path}", "model.embedding=metric", "train.cutmix=0.5"])
    with pytest.raises(TrainingError, match="train.cutmix=0.5 needs model.embedding=penultimate"):
        fit(config, load_training_data(config), show_progress=False)


@pytest.mark.parametrize("value", ["-0.1", "1.5", "nan"])
def test_cutmix_share_out_of_range_is_refused(value):
    with pytest.raises(ValueError, match="train.cutmix"):
        load_config(overrides=[f"train.cutmix={value}"])


def test_a_runs_checkpoint_starts_a_new_run_from_its_trunk(tiny_run):
    """model.weights=runs/<name>/best.pt: the trunk is that run's, the heads are new."""
    checkpoint = read_checkpoint(tiny_run / "best.pt")
    trained = checkpoint["model"]
    model = FashionNet("resnet18", 7, 2, weights=str(tiny_run / "best.pt"))
    for key, value in model.trunk.state_dict().items():
        assert torch.equal(value, trained[f"trunk.{key}"]), key
    assert model.category_head.weight.shape[0] == 7  # a head of the new run's size
