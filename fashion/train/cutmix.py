"""CutMix (Yun et al. 2019): paste a box of another image of the batch, mix the labels by area.

From random initialisation on a few thousand photos the network learns its training split by
heart (clothing-dataset-small: 97% training accuracy against 83% on validation after 30 epochs);
CutMix keeps each image only partly visible and asks for the mixed label, a regulariser that
does not change what the network sees at inference. The loss of a mixed batch is
``share * loss(labels) + (1 - share) * loss(labels[partner])``: exact label mixing, as the
category cross-entropy and the attribute BCE are both linear in their targets.

Random numbers come from torch's global CPU generator, like the rest of the augmentation, so a
resumed run redraws the same boxes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Mix:
    """A mixed batch: the images, each image's partner in the batch and the share of its own label."""

    images: torch.Tensor
    partner: torch.Tensor  # (B,) long: index of the image whose box was pasted in
    share: float  # area share of each image's own pixels, in [0, 1]; one box size for the batch


def cut_box(height: int, width: int, share: float, draws: torch.Tensor) -> tuple[int, int, int, int]:
    """Box (top, bottom, left, right) covering about ``1 - share`` of the image, clipped to it.

    ``draws``: two uniform numbers in [0, 1) for the box centre. The box side is
    ``sqrt(1 - share)`` of the image's; clipping at the border makes it smaller, which is why
    :func:`cutmix` recomputes the share from the box it really cut.
    """
    cut = (1.0 - share) ** 0.5
    box_h, box_w = int(round(height * cut)), int(round(width * cut))
    centre_y, centre_x = int(draws[0] * height), int(draws[1] * width)
    top, bottom = max(centre_y - box_h // 2, 0), min(centre_y + box_h - box_h // 2, height)
    left, right = max(centre_x - box_w // 2, 0), min(centre_x + box_w - box_w // 2, width)
    return top, bottom, left, right


def cutmix(images: torch.Tensor, probability: float, alpha: float) -> Mix | None:
    """Mix a batch (B, C, H, W) with probability ``probability``; None leaves it unmixed.

    The share of each image's own pixels is drawn from Beta(alpha, alpha), one box for the whole
    batch (as the paper's reference code), the partners are a random permutation. A batch of one
    image is never mixed (it has no partner).
    """
    if probability <= 0.0 or images.shape[0] < 2 or float(torch.rand(())) >= probability:
        return None
    share = float(torch.distributions.Beta(float(alpha), float(alpha)).sample())
    partner = torch.randperm(images.shape[0]).to(images.device)
    height, width = images.shape[-2:]
    top, bottom, left, right = cut_box(height, width, share, torch.rand(2))
    mixed = images.clone()
    mixed[:, :, top:bottom, left:right] = images[partner, :, top:bottom, left:right]
    share = 1.0 - (bottom - top) * (right - left) / float(height * width)
    return Mix(mixed, partner, share)
