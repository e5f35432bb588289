"""Colour families from the product shot itself: a small network trained on photos judged by eye.

The palette model (:mod:`fashion.colour.family_model`) sees only the garment's few colours, after
the light has already shifted them: navy and black, faded denim and grey, a dim white and beige
are the same numbers there. A person tells them apart by looking at the whole scene: the backdrop
shows what the light did. This network does the same at a small scale: the whole photo (or the
annotated box) squashed to :data:`INPUT_SIZE` pixels square, four blocks of two 3x3 convolutions
(32, 64, 128, 128 channels; batch norm, ReLU, max-pool), global average pooling, dropout and a
linear layer to the probability of each of :data:`fashion.colour.family_model.MODEL_CLASSES`
(the eleven families and ``multi``).

It is trained by ``python scripts/train_colour_net.py`` on clothing-dataset-small's training
photos as judged by eye (``bench/judged/``), and shipped as :data:`BUILTIN_WEIGHTS` (float16,
loaded with ``weights_only=True``). The file also records ``palette_weight``: the share the
palette model keeps when both are averaged, chosen by that script on the validation split.

Product shots only: on a photo of a person it would see the whole outfit, skin and street, so
the catalog builder runs it only where the segmenter found no person
(:func:`fashion.model.encoder.prepare_image`); the other rows keep the palette model alone.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from fashion.colour.family_model import MODEL_CLASSES
from fashion.errors import FashionError

#: Name stored with the weights: a file for another network is refused.
ARCHITECTURE = "fashion.colour.FamilyNet/v1"
#: The network sees the photo squashed to this many pixels square (colour needs no detail).
INPUT_SIZE = 64
#: The weights that ship, made by ``python scripts/train_colour_net.py``.
BUILTIN_WEIGHTS = Path(__file__).resolve().parent / "family_net.pt"
WIDTHS = (32, 64, 128, 128)


class FamilyNetError(FashionError, ValueError):
    """A family network weights file that cannot be used (missing, damaged, another network)."""


def network_input(image: Image.Image) -> np.ndarray:
    """``(3, INPUT_SIZE, INPUT_SIZE)`` uint8: the photo squashed to the network's input, each
    pixel the mean of the pixels it covers (a box filter: colour, not detail, is what counts)."""
    small = image.convert("RGB").resize((INPUT_SIZE, INPUT_SIZE), Image.Resampling.BOX)
    return np.ascontiguousarray(np.asarray(small, dtype=np.uint8).transpose(2, 0, 1))


def build_network(classes: int = len(MODEL_CLASSES), widths: tuple[int, ...] = WIDTHS, dropout: float = 0.3) -> Any:
    """The untrained network: uint8-range input ``(N, 3, S, S)`` float, class logits out."""
    import torch
    from torch import nn

    class FamilyNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.widths = tuple(widths)
            layers: list[nn.Module] = []
            previous = 3
            for width in widths:
                layers += [nn.Conv2d(previous, width, 3, padding=1, bias=False), nn.BatchNorm2d(width),
                           nn.ReLU(inplace=True), nn.Conv2d(width, width, 3, padding=1, bias=False),
                           nn.BatchNorm2d(width), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
                previous = width
            self.features = nn.Sequential(*layers)
            self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(previous, classes))

        def forward(self, pixels: torch.Tensor) -> torch.Tensor:
            x = pixels / 127.5 - 1.0  # uint8 range to [-1, 1]
            return self.head(self.features(x).mean(dim=(2, 3), keepdim=True))

    return FamilyNet()


@dataclass
class FamilyNet:
    """A loaded network: product-shot inputs (:func:`network_input`) to family probabilities."""

    network: Any  # the torch module, in eval mode
    classes: tuple[str, ...]
    palette_weight: float  # the palette model's share when both are averaged (chosen on validation)
    checksum: str  # sha256 of the weights file (part of the catalog fingerprint)

    def probabilities(self, inputs: np.ndarray) -> np.ndarray:
        """``(N, len(classes))`` float32 probabilities of ``(N, 3, S, S)`` uint8 inputs."""
        import torch

        if len(inputs) == 0:
            return np.zeros((0, len(self.classes)), np.float32)
        with torch.inference_mode():
            logits = self.network(torch.from_numpy(np.asarray(inputs, dtype=np.float32)))
            return torch.softmax(logits.float(), dim=1).numpy().astype(np.float32)

    @classmethod
    def load(cls, path: str | Path) -> "FamilyNet":
        """Read weights written by ``scripts/train_colour_net.py``; :class:`FamilyNetError` otherwise."""
        import hashlib

        import torch

        path = Path(path)
        hint = "reinstall the package or retrain it with `python scripts/train_colour_net.py`"
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise FamilyNetError(f"colour family network {path} does not exist ({hint})") from None
        except OSError as error:
            raise FamilyNetError(f"colour family network {path} cannot be read ({error})") from None
        try:
            payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        except Exception as error:  # noqa: BLE001 - pickle, zip and unpickler errors all mean "damaged"
            # The kind of error only: torch's own text advises weights_only=False, which is no fix here.
            raise FamilyNetError(f"colour family network {path} is damaged or not a weights file "
                                 f"({type(error).__name__}; {hint})") from None
        if not isinstance(payload, dict) or payload.get("architecture") != ARCHITECTURE:
            raise FamilyNetError(f"colour family network {path} is not {ARCHITECTURE} weights ({hint})")
        classes = tuple(str(c) for c in payload.get("classes", ()))
        weight = payload.get("palette_weight")
        if classes != MODEL_CLASSES:
            raise FamilyNetError(f"colour family network {path} answers {list(classes)}, this version "
                                 f"needs {list(MODEL_CLASSES)} ({hint})")
        if not isinstance(weight, float) or not 0.0 <= weight <= 1.0:
            raise FamilyNetError(f"colour family network {path} has no palette weight in [0, 1] ({hint})")
        widths = payload.get("widths")
        if not (isinstance(widths, list) and len(widths) == len(WIDTHS)
                and all(isinstance(w, int) and 1 <= w <= 1024 for w in widths)):
            raise FamilyNetError(f"colour family network {path} has no usable layer widths ({hint})")
        try:
            network = build_network(len(classes), tuple(widths))
            state = {name: tensor.float() if tensor.is_floating_point() else tensor
                     for name, tensor in payload["state_dict"].items()}
            if not all(bool(torch.isfinite(t).all()) for t in state.values()):
                raise ValueError("non-finite weights")
            network.load_state_dict(state)
        except (KeyError, RuntimeError, TypeError, ValueError, AttributeError) as error:
            raise FamilyNetError(f"colour family network {path} is damaged ({str(error).splitlines()[0]}; "
                                 f"{hint})") from None
        return cls(_fold_batchnorm(network.eval()), classes, weight, hashlib.sha256(data).hexdigest())


def _fold_batchnorm(network: Any) -> Any:
    """``network`` (eval mode) with each batch norm folded into the convolution before it, in place:
    the same probabilities up to float rounding for less CPU (inference only)."""
    from torch import nn
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    layers = network.features
    for i, layer in enumerate(layers):
        if isinstance(layer, nn.BatchNorm2d):
            layers[i - 1] = fuse_conv_bn_eval(layers[i - 1], layer)
            layers[i] = nn.Identity()
    return network


def save_family_net(path: Path, network: Any, palette_weight: float, **provenance: object) -> None:
    """Write ``network``'s weights (float16) with what :meth:`FamilyNet.load` checks, atomically."""
    import torch

    from fashion.io_utils import atomic_write

    payload = {"architecture": ARCHITECTURE, "classes": list(MODEL_CLASSES), "widths": list(network.widths),
               "palette_weight": float(palette_weight), "input_size": INPUT_SIZE,
               "state_dict": {name: (t.half() if t.is_floating_point() else t).clone()
                              for name, t in network.state_dict().items()},
               "provenance": {k: str(v) for k, v in provenance.items()}}
    atomic_write(Path(path), lambda handle: torch.save(payload, handle))


@functools.lru_cache(maxsize=4)
def load_family_net(path: str) -> FamilyNet:
    """:meth:`FamilyNet.load`, once per path and process (each DataLoader worker has its own)."""
    return FamilyNet.load(path)


def configured_family_net(setting: str) -> FamilyNet | None:
    """The network ``colour.family_net`` names: ``"builtin"`` (:data:`BUILTIN_WEIGHTS`), ``"none"``
    (None: the palette model alone), or a weights file's path."""
    if setting == "none":
        return None
    if not setting.strip():
        raise FamilyNetError('colour.family_net is empty; use "builtin", "none" or a weights file\'s path')
    return load_family_net(str(BUILTIN_WEIGHTS if setting == "builtin" else Path(setting)))


def family_probability(family: str, palette_lab: np.ndarray, palette_shares: np.ndarray, family_model: Any,
                       net_probs: np.ndarray | None = None, palette_weight: float | None = None) -> np.ndarray:
    """``(N,)`` the probability that a person names each garment's main colour ``family``: the palette
    model's (:class:`fashion.colour.family_model.FamilyModel`), averaged where the network ran
    (``net_probs``' non-zero rows) with the network's, the palette model weighing ``palette_weight``."""
    probability = family_model.family_probability(family, palette_lab, palette_shares)
    if net_probs is None or palette_weight is None:
        return probability
    net = np.asarray(net_probs, dtype=np.float64)
    mixed = palette_weight * probability + (1.0 - palette_weight) * net[:, MODEL_CLASSES.index(family)]
    return np.where(network_ran(net), mixed, probability)


def network_ran(net_probs: np.ndarray) -> np.ndarray:
    """``(N,)`` bool: the rows the network gave probabilities for (a row of zeros: a photo of a
    person, or no network: the palette model alone)."""
    return np.asarray(net_probs).sum(axis=1) > 0


def blend(net_probs: np.ndarray, palette_probs: np.ndarray, palette_weight: float) -> np.ndarray:
    """Per row: the palette model's probabilities where the network gave none (an all-zero row:
    a photo of a person, or no network), else ``palette_weight`` of them plus the rest of the
    network's."""
    net_probs = np.asarray(net_probs, dtype=np.float64)
    palette_probs = np.asarray(palette_probs, dtype=np.float64)
    mixed = palette_weight * palette_probs + (1.0 - palette_weight) * net_probs
    return np.where(network_ran(net_probs)[:, None], mixed, palette_probs)
