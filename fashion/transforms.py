"""Image preprocessing: the only place image size, mean and std live.

Every image goes through ``square_resize`` (pad to a square, resize) into a uint8 tensor; training
augments that tensor, evaluation only normalises it. Datasets take a transform and never build
their own (torchvision's classification presets).
"""

from __future__ import annotations

from typing import Callable

import torch
from PIL import Image
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

# ImageNet statistics: right for torchvision's pretrained trunks and harmless from scratch.
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
# Training crops are taken from an image this much larger than the network input.
TRAIN_PREPARE_SCALE = 1.15

Transform = Callable[[Image.Image], torch.Tensor]
TensorTransform = Callable[[torch.Tensor], torch.Tensor]


def square_resize(image: Image.Image, size: int) -> torch.Tensor:
    """Pad a PIL image to a square with its border colour, resize to ``size``: uint8 (3, size, size).

    Padding (not centre-cropping) keeps the whole garment: crops to bounding boxes are often
    tall, and a centre crop would cut off hems and sleeves.
    """
    width, height = image.size
    if width != height:
        side = max(width, height)
        # The colour of the top-left border blends with the background better than black.
        colour = image.getpixel((0, 0))
        canvas = Image.new("RGB", (side, side), colour)
        canvas.paste(image, ((side - width) // 2, (side - height) // 2))
        image = canvas
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=2.0)
    return TF.pil_to_tensor(image)


def train_prepare_size(image_size: int) -> int:
    """Side of the square uint8 images that training augmentation crops from."""
    return int(round(image_size * TRAIN_PREPARE_SCALE))


def normalise() -> TensorTransform:
    """uint8 (3, H, W) → float normalised by the ImageNet mean and std."""
    return v2.Compose([v2.ToDtype(torch.float32, scale=True), v2.Normalize(MEAN, STD)])


def train_augment(image_size: int) -> TensorTransform:
    """Augment a square uint8 tensor: scale/aspect jitter, flip, mild light jitter, normalise.

    Hue is left alone on purpose: colour is a feature the recommender relies on, and the
    embedding should keep it.
    """
    return v2.Compose(
        [
            v2.RandomResizedCrop(image_size, scale=(0.6, 1.0), ratio=(0.8, 1.25), antialias=True),
            v2.RandomHorizontalFlip(),
            v2.ColorJitter(brightness=0.15, contrast=0.15, saturation=0.1),
            normalise(),
        ]
    )


class train_transform:  # noqa: N801 - used like a function; a class so workers can pickle it
    """PIL image → augmented, normalised training tensor."""

    def __init__(self, image_size: int) -> None:
        self.prepare_size = train_prepare_size(image_size)
        self.augment = train_augment(image_size)

    def __call__(self, image: Image.Image) -> torch.Tensor:
        return self.augment(square_resize(image, self.prepare_size))


class eval_transform:  # noqa: N801 - used like a function; a class so workers can pickle it
    """PIL image → deterministic, normalised tensor (evaluation, indexing and queries)."""

    def __init__(self, image_size: int) -> None:
        self.image_size = image_size
        self.normalise = normalise()

    def __call__(self, image: Image.Image) -> torch.Tensor:
        return self.normalise(square_resize(image, self.image_size))
