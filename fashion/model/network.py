"""FashionNet: a torchvision ResNet trunk with a category head and an attribute head.

The embedding is the trunk's pooled penultimate features; the heads sit on top of it. Following
timm, features and heads are separate methods, so nothing slices ``children()``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torchvision import models

from fashion.errors import FashionError

ARCHITECTURES = {
    "resnet18": (models.resnet18, models.ResNet18_Weights.IMAGENET1K_V1),
    "resnet34": (models.resnet34, models.ResNet34_Weights.IMAGENET1K_V1),
    "resnet50": (models.resnet50, models.ResNet50_Weights.IMAGENET1K_V2),
}


class WeightsError(FashionError, RuntimeError):
    """Backbone weights could not be obtained or do not fit the architecture."""


def _load_backbone_weights(trunk: nn.Module, arch: str, weights: str) -> None:
    """Fill ``trunk`` with ImageNet weights (torchvision's weights API) or a local file."""
    if weights == "none":
        return
    if weights == "imagenet":
        spec = ARCHITECTURES[arch][1]
        try:
            state = spec.get_state_dict(progress=True)
        except Exception as error:  # network errors come in many types (URLError, OSError, ...)
            raise WeightsError(
                f"could not download ImageNet weights for {arch} ({error.__class__.__name__}: {error}). "
                f"Download {spec.url} on a machine with network access and set model.weights to the "
                f"file's path (or place it in {torch.hub.get_dir()}/checkpoints/), or set model.weights=none "
                "to train from scratch."
            ) from None
    else:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise WeightsError(f"model.weights: file not found: {path} (use none, imagenet or a .pth path)")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:
            raise WeightsError(f"model.weights: {path} is not a readable torch weights file ({error})") from None
        if isinstance(state, dict) and "state_dict" in state:
            state = state["state_dict"]
    if not isinstance(state, dict):
        raise WeightsError(f"model.weights: expected a state dict of {arch} weights")
    # The ImageNet classifier (fc) is replaced by our heads, so it is dropped on purpose.
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    missing, unexpected = trunk.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith("fc.")]
    if missing or unexpected:
        raise WeightsError(
            f"model.weights do not fit {arch}: {len(missing)} missing and {len(unexpected)} unexpected tensors "
            f"(e.g. {(missing or unexpected)[0]})"
        )


class FashionNet(nn.Module):
    """ResNet trunk + category head (softmax) + attribute head (independent sigmoids)."""

    def __init__(
        self,
        arch: str,
        num_categories: int,
        num_attributes: int,
        weights: str = "none",
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        if arch not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)}")
        trunk = ARCHITECTURES[arch][0](weights=None)
        _load_backbone_weights(trunk, arch, weights)
        self.embedding_dim: int = trunk.fc.in_features
        trunk.fc = nn.Identity()
        self.trunk = trunk
        self.dropout = nn.Dropout(dropout)
        self.category_head = nn.Linear(self.embedding_dim, num_categories)
        # A layout without attributes (folder per class) gets a head with zero outputs;
        # initialising it would only warn about zero-element tensors.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Initializing zero-element tensors")
            self.attribute_head = nn.Linear(self.embedding_dim, num_attributes)

    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        """Pooled penultimate features, (B, D), not normalised."""
        return self.trunk(images)

    def forward_heads(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Category and attribute logits from pooled features."""
        features = self.dropout(features)
        return self.category_head(features), self.attribute_head(features)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(category logits (B, C), attribute logits (B, A))."""
        return self.forward_heads(self.forward_features(images))

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """L2-normalised embeddings (B, D) for similarity search."""
        return F.normalize(self.forward_features(images), dim=1)

    def infer(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One pass giving (normalised embedding, category logits, attribute logits)."""
        features = self.forward_features(images)
        category_logits, attribute_logits = self.forward_heads(features)
        return F.normalize(features, dim=1), category_logits, attribute_logits
