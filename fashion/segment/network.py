"""A tiny encoder-decoder (U-Net-like) for garment segmentation at low resolution.

Input: an RGB batch ``(N, 3, H, W)`` float in [0, 1] (any H, W: padded to a multiple of 16 inside)
plus two coordinate channels added here (row and column in [-1, 1]): where a pixel lies in the
frame separates upper from lower garments as much as its colour does. Encoder: four stride-2
stages (16, 32, 64, 96 channels; two 3x3 convolutions each, batch norm, ReLU); decoder: bilinear
upsampling, concatenation with the encoder stage of the same size, two 3x3 convolutions; head:
1x1 convolution to the class logits at half resolution, upsampled bilinearly to the input size.
About 0.35 M parameters (1.4 MB in float32) and 60 M multiply-adds at 128x85.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.fusion import fuse_conv_bn_eval

__all__ = ["ARCHITECTURE", "SegNet", "fold_batchnorm"]

#: Name stored with the weights: a weights file for another network is refused.
ARCHITECTURE = "fashion.segment.SegNet/v1"

_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)


def _block(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
    )


class SegNet(nn.Module):
    """Per-pixel class logits ``(N, classes, H, W)`` for images ``(N, 3, H, W)`` in [0, 1]."""

    def __init__(self, classes: int = 7, widths: tuple[int, int, int, int] = (16, 32, 64, 96)) -> None:
        super().__init__()
        self.classes = classes
        self.widths = tuple(widths)
        w1, w2, w3, w4 = widths
        self.enc1 = _block(5, w1, 2)
        self.enc2 = _block(w1, w2, 2)
        self.enc3 = _block(w2, w3, 2)
        self.enc4 = _block(w3, w4, 2)
        self.dec3 = _block(w4 + w3, w3, 1)
        self.dec2 = _block(w3 + w2, w2, 1)
        self.dec1 = _block(w2 + w1, w1, 1)
        self.head = nn.Conv2d(w1, classes, 1)
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(images), images.shape[-2:])

    def encode(self, images: torch.Tensor) -> list[torch.Tensor]:
        """The encoder's four stages (shallow to deep), on the input padded to a multiple of 16 with
        the two coordinate channels added. About a third of a whole pass at 128 px."""
        n, _, height, width = images.shape
        pad_h, pad_w = (-height) % 16, (-width) % 16
        x = (images - self.mean) / self.std
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        rows = torch.linspace(-1.0, 1.0, height, device=x.device)
        cols = torch.linspace(-1.0, 1.0, width, device=x.device)
        rows = F.pad(rows, (0, pad_h), mode="constant", value=1.0)
        cols = F.pad(cols, (0, pad_w), mode="constant", value=1.0)
        grid_r = rows.view(1, 1, -1, 1).expand(n, 1, height + pad_h, width + pad_w)
        grid_c = cols.view(1, 1, 1, -1).expand(n, 1, height + pad_h, width + pad_w)
        x = torch.cat([x, grid_r, grid_c], dim=1)
        e1 = self.enc1(x)
        e2 = self.enc2(e1)
        e3 = self.enc3(e2)
        return [e1, e2, e3, self.enc4(e3)]

    @staticmethod
    def summary(encoded: list[torch.Tensor]) -> torch.Tensor:
        """A summary of the whole photo, ``(N, 2 * widths[3])``: the deepest encoder stage's
        channels averaged and maximised over the frame (what the person test reads)."""
        deepest = encoded[-1]
        return torch.cat([deepest.mean(dim=(2, 3)), deepest.amax(dim=(2, 3))], dim=1)

    def decode(self, encoded: list[torch.Tensor], size: tuple[int, int] | torch.Size) -> torch.Tensor:
        """Class logits ``(N, classes, height, width)`` at the input's ``size`` from :meth:`encode`'s stages."""
        e1, e2, e3, e4 = encoded
        d3 = self.dec3(torch.cat([_up(e4, e3), e3], dim=1))
        d2 = self.dec2(torch.cat([_up(d3, e2), e2], dim=1))
        d1 = self.dec1(torch.cat([_up(d2, e1), e1], dim=1))
        logits = F.interpolate(self.head(d1), scale_factor=2.0, mode="bilinear", align_corners=False)
        return logits[:, :, :size[0], :size[1]]


def fold_batchnorm(net: SegNet) -> SegNet:
    """``net`` (in eval mode) with each batch norm folded into the convolution before it, in place:
    the same logits up to float rounding for less CPU; inference only (it can no longer train)."""
    if net.training:
        raise ValueError("fold_batchnorm needs a network in eval mode (it uses the running statistics)")
    for stage in (net.enc1, net.enc2, net.enc3, net.enc4, net.dec3, net.dec2, net.dec1):
        for i, layer in enumerate(stage):
            if isinstance(layer, nn.BatchNorm2d):
                stage[i - 1] = fuse_conv_bn_eval(stage[i - 1], layer)
                stage[i] = nn.Identity()
    return net


def _up(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)
