"""FashionNet: a torchvision ResNet trunk with a category head, an attribute head and, optionally,
a metric-learning embedding head.

The retrieval embedding is either the trunk's pooled penultimate features (``embedding="penultimate"``)
or a linear projection of them trained with a metric loss (``embedding="metric"``), L2-normalised
either way. Following timm, features and heads are separate methods, so nothing slices ``children()``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from fashion.errors import FashionError
from fashion.model.resnet import resnet

# Architecture → the name of its ImageNet weights in torchvision (imported only to fetch them: the
# network itself is built by fashion.model.resnet, without torchvision's slow import).
ARCHITECTURES = {
    "resnet18": ("ResNet18_Weights", "IMAGENET1K_V1"),
    "resnet34": ("ResNet34_Weights", "IMAGENET1K_V1"),
    "resnet50": ("ResNet50_Weights", "IMAGENET1K_V2"),
}


def _weights_spec(arch: str):  # noqa: ANN202 - a torchvision WeightsEnum member
    """torchvision's ImageNet weights entry for ``arch`` (url, state dict download)."""
    from torchvision import models

    enum_name, member = ARCHITECTURES[arch]
    return getattr(getattr(models, enum_name), member)


EMBEDDINGS = ("penultimate", "metric")


class WeightsError(FashionError, RuntimeError):
    """Backbone weights could not be obtained or do not fit the architecture."""


def imagenet_cache_path(arch: str) -> Path:
    """Where torch.hub keeps (and looks for) the ImageNet weights of ``arch``: ``$TORCH_HOME/hub/checkpoints/``."""
    url = _weights_spec(arch).url
    return Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]


def resolve_weights(weights: str, arch: str, builtin_sample: bool) -> tuple[str, str | None]:
    """The backbone start a run uses, and one line to print when it differs from what was asked.

    ``auto``: random initialisation for the built-in sample (an offline demo); otherwise ImageNet
    weights when they are in torch.hub's cache or can be downloaded, else random initialisation.
    Every other value is used as given (``imagenet`` that cannot be obtained stays an error).
    """
    if weights != "auto":
        return weights, None
    if builtin_sample:
        return "none", None
    if arch not in ARCHITECTURES:
        return "none", None
    if imagenet_cache_path(arch).is_file():
        return "imagenet", None
    try:
        _imagenet_state(arch)  # downloads into the cache, where FashionNet then finds it
    except WeightsError as error:
        reason = str(error).split(" (", 1)[-1].split(")", 1)[0]
        return "none", (f"model.weights=auto: ImageNet weights for {arch} are not cached and cannot be downloaded "
                        f"({reason}); training from random initialisation (place {imagenet_cache_path(arch).name} "
                        f"in {imagenet_cache_path(arch).parent} to start from ImageNet)")
    return "imagenet", None


def _imagenet_state(arch: str) -> dict[str, torch.Tensor]:
    """ImageNet weights of ``arch`` from torch.hub's cache, downloading them when missing."""
    spec = _weights_spec(arch)
    try:
        return spec.get_state_dict(progress=True)
    except Exception as error:  # network errors come in many types (URLError, OSError, ...)
        raise WeightsError(
            f"could not download ImageNet weights for {arch} ({error.__class__.__name__}: {error}). "
            f"Download {spec.url} on a machine with network access and set model.weights to the "
            f"file's path (or place it in {torch.hub.get_dir()}/checkpoints/), or set model.weights=none "
            "to train from scratch."
        ) from None


def _load_backbone_weights(trunk: nn.Module, arch: str, weights: str) -> None:
    """Fill ``trunk`` with ImageNet weights (torchvision's weights API) or a local file."""
    if weights in ("none", "auto"):  # auto is resolved before (resolve_weights); unresolved it means none
        return
    if weights == "imagenet":
        state = _imagenet_state(arch)
    else:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise WeightsError(f"model.weights: file not found: {path} (use none, imagenet, auto or a .pth path)")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:
            raise WeightsError(f"model.weights: {path} is not a readable torch weights file ({error})") from None
        if isinstance(state, dict) and "state_dict" in state:
            state = state["state_dict"]
        elif isinstance(state, dict) and isinstance(state.get("model"), dict) and "format" in state:
            # A fashion checkpoint (runs/<name>/best.pt): start from that run's trunk, new heads.
            state = {key[len("trunk."):]: value for key, value in state["model"].items() if key.startswith("trunk.")}
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
    """ResNet trunk + category head (softmax) + attribute head (independent sigmoids)
    + the retrieval embedding (penultimate features, or a metric projection)."""

    def __init__(
        self,
        arch: str,
        num_categories: int,
        num_attributes: int,
        weights: str = "none",
        dropout: float = 0.1,
        embedding: str = "penultimate",
        embedding_dim: int = 128,
        metric_proxies: int = 0,
    ) -> None:
        super().__init__()
        if arch not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)}")
        if embedding not in EMBEDDINGS:
            raise ValueError(f"unknown embedding {embedding!r}; choose one of {', '.join(EMBEDDINGS)}")
        trunk = resnet(arch)
        _load_backbone_weights(trunk, arch, weights)
        self.feature_dim: int = trunk.fc.in_features
        trunk.fc = nn.Identity()
        self.trunk = trunk
        self.dropout = nn.Dropout(dropout)
        self.category_head = nn.Linear(self.feature_dim, num_categories)
        # A layout without attributes (folder per class) gets a head with zero outputs;
        # initialising it would only warn about zero-element tensors.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Initializing zero-element tensors")
            self.attribute_head = nn.Linear(self.feature_dim, num_attributes)
        self.embedding_kind = embedding
        # The metric head: a projection of the pooled features, L2-normalised, trained by a metric loss.
        self.embedding_head = nn.Linear(self.feature_dim, embedding_dim) if embedding == "metric" else None
        self.embedding_dim: int = embedding_dim if embedding == "metric" else self.feature_dim
        # Category proxies of the proxy loss (normalised softmax): parameters of the model, so the
        # optimizer, DistributedDataParallel and checkpoints treat them like the heads.
        self.proxies = (nn.Parameter(torch.randn(metric_proxies, self.embedding_dim) / self.embedding_dim ** 0.5)
                        if metric_proxies else None)

    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        """Pooled penultimate features, (B, F), not normalised."""
        return self.trunk(images)

    def forward_heads(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Category and attribute logits from pooled features."""
        features = self.dropout(features)
        return self.category_head(features), self.attribute_head(features)

    def forward_embedding(self, features: torch.Tensor) -> torch.Tensor:
        """The L2-normalised retrieval embedding (B, embedding_dim) from pooled features."""
        if self.embedding_head is not None:
            features = self.embedding_head(features)
        return F.normalize(features.float(), dim=1)

    def forward(self, images: torch.Tensor, with_embedding: bool = False) -> tuple[torch.Tensor, ...]:
        """(category logits (B, C), attribute logits (B, A)), and the embedding when ``with_embedding``.

        Training calls this (through DistributedDataParallel where there are several processes),
        so the metric loss's gradients flow through the same call as the heads'.
        """
        features = self.forward_features(images)
        category_logits, attribute_logits = self.forward_heads(features)
        if with_embedding:
            return category_logits, attribute_logits, self.forward_embedding(features)
        return category_logits, attribute_logits

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """L2-normalised embeddings (B, embedding_dim) for similarity search."""
        return self.forward_embedding(self.forward_features(images))

    def infer(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One pass giving (normalised embedding, category logits, attribute logits)."""
        features = self.forward_features(images)
        category_logits, attribute_logits = self.forward_heads(features)
        return self.forward_embedding(features), category_logits, attribute_logits
