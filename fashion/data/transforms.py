"""Image preprocessing: the only place image size, mean and std live.

Every image goes through ``square_resize`` (pad to a square, resize) into a uint8 tensor. Training
augments whole uint8 batches with ``BatchAugment`` (on the training device); evaluation only
normalises them (``normalise_batch``). Single PIL images (indexing, queries) go through
``eval_transform``.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

# torchvision (whose import pulls in torch._dynamo: seconds) loads only for training's augmentation:
# the eval path (square_resize, normalise) is plain torch, so recommend.py starts faster.

# ImageNet statistics: right for torchvision's pretrained trunks and harmless from scratch.
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
# Training crops are taken from an image this much larger than the network input.
TRAIN_PREPARE_SCALE = 1.15
# Training augmentation: crop area share and aspect range, light jitter strengths.
CROP_SCALE = (0.6, 1.0)
CROP_RATIO = (0.8, 1.25)
BRIGHTNESS, CONTRAST, SATURATION = 0.15, 0.15, 0.1

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
    # = torchvision's pil_to_tensor for RGB: (H, W, 3) uint8 → (3, H, W).
    return torch.from_numpy(np.array(image, dtype=np.uint8, copy=True)).permute(2, 0, 1).contiguous()


def train_prepare_size(image_size: int) -> int:
    """Side of the square uint8 images that training augmentation crops from."""
    return int(round(image_size * TRAIN_PREPARE_SCALE))


def normalise() -> TensorTransform:
    """uint8 (3, H, W) → float normalised by the ImageNet mean and std."""
    return _Normalise()


class _Normalise:
    """torchvision's ``Compose([ToDtype(float32, scale=True), Normalize(MEAN, STD)])`` in plain torch
    (the same operations in the same order); picklable for DataLoader workers."""

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        scaled = image.to(torch.float32).mul_(1.0 / 255) if not image.is_floating_point() else image.float()
        mean = torch.as_tensor(MEAN, dtype=torch.float32, device=scaled.device).view(-1, 1, 1)
        std = torch.as_tensor(STD, dtype=torch.float32, device=scaled.device).view(-1, 1, 1)
        return scaled.sub(mean).div_(std)


def train_augment(image_size: int) -> TensorTransform:
    """Augment one square uint8 tensor (torchvision v2): scale/aspect jitter, flip, light jitter.

    The per-image reference for ``BatchAugment`` (which training uses because it is ~10x
    cheaper); kept as the measured reference (tests, bench) and for users who augment image by image.
    Hue is left alone on purpose: colour is a feature the recommender relies on, and the
    embedding should keep it.
    """
    from torchvision.transforms import v2

    return v2.Compose(
        [
            v2.RandomResizedCrop(image_size, scale=CROP_SCALE, ratio=CROP_RATIO, antialias=True),
            v2.RandomHorizontalFlip(),
            v2.ColorJitter(brightness=BRIGHTNESS, contrast=CONTRAST, saturation=SATURATION),
            normalise(),
        ]
    )


def _grey(images: torch.Tensor) -> torch.Tensor:
    """ITU-R 601 luma of float (B, 3, H, W) images, as (B, 1, H, W) (torchvision's rgb_to_grayscale)."""
    red, green, blue = images.unbind(1)
    return (0.299 * red + 0.587 * green + 0.114 * blue).unsqueeze(1)


class BatchAugment:
    """Augment a whole uint8 batch (B, 3, S, S) at once: the training transform.

    The same distribution as ``train_augment`` (random resized crop, horizontal flip,
    brightness/contrast/saturation jitter, normalise), but every image's crop and flip is one
    affine sampling grid, so the batch is resampled by a single ``grid_sample`` call and the
    colour jitter is a few broadcast operations. Per-image torchvision transforms cost about a
    fifth of a CPU training step at 112 px; this costs a few percent, and on a GPU it runs
    there. Random numbers come from torch's global CPU generator, whatever the device, so a
    seeded (or resumed) run draws the same augmentations everywhere.
    """

    def __init__(self, image_size: int) -> None:
        self.image_size = image_size
        self.log_ratio = (math.log(CROP_RATIO[0]), math.log(CROP_RATIO[1]))

    def crop_grids(self, count: int) -> torch.Tensor:
        """(count, 2, 3) affine matrices: a random crop (area, aspect, position) and flip each."""
        draws = torch.rand(count, 6)
        area = CROP_SCALE[0] + (CROP_SCALE[1] - CROP_SCALE[0]) * draws[:, 0]
        ratio = torch.exp(self.log_ratio[0] + (self.log_ratio[1] - self.log_ratio[0]) * draws[:, 1])
        # Crop width and height as fractions of the side (a crop never leaves the image).
        width = torch.sqrt(area * ratio).clamp(max=1.0)
        height = torch.sqrt(area / ratio).clamp(max=1.0)
        # Centres in grid_sample's [-1, 1] coordinates, uniform over the positions that fit.
        centre_x = (1.0 - width) * (2.0 * draws[:, 2] - 1.0)
        centre_y = (1.0 - height) * (2.0 * draws[:, 3] - 1.0)
        flip = torch.where(draws[:, 4] < 0.5, -1.0, 1.0)
        theta = torch.zeros(count, 2, 3)
        theta[:, 0, 0] = width * flip
        theta[:, 0, 2] = centre_x
        theta[:, 1, 1] = height
        theta[:, 1, 2] = centre_y
        return theta

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        count = images.shape[0]
        theta = self.crop_grids(count).to(images.device)
        jitter = torch.rand(count, 3) * 2.0 - 1.0  # brightness, contrast, saturation in [-1, 1]
        factors = (1.0 + jitter * torch.tensor([BRIGHTNESS, CONTRAST, SATURATION])).to(images.device)
        pixels = images.float().div_(255.0)
        grid = F.affine_grid(theta, [count, 3, self.image_size, self.image_size], align_corners=False)
        pixels = F.grid_sample(pixels, grid, mode="bilinear", padding_mode="border", align_corners=False)
        brightness, contrast, saturation = (factors[:, i].view(count, 1, 1, 1) for i in range(3))
        pixels = (pixels * brightness).clamp_(0.0, 1.0)
        mean_grey = _grey(pixels).mean(dim=(2, 3), keepdim=True)
        pixels = ((pixels - mean_grey) * contrast + mean_grey).clamp_(0.0, 1.0)
        grey = _grey(pixels)
        pixels = ((pixels - grey) * saturation + grey).clamp_(0.0, 1.0)
        return normalise_batch(pixels)


def normalise_batch(pixels: torch.Tensor) -> torch.Tensor:
    """Float [0, 1] or uint8 (B, 3, H, W) → normalised by the ImageNet mean and std."""
    if pixels.dtype == torch.uint8:
        pixels = pixels.float().div_(255.0)
    mean = torch.tensor(MEAN, device=pixels.device).view(1, 3, 1, 1)
    std = torch.tensor(STD, device=pixels.device).view(1, 3, 1, 1)
    return (pixels - mean) / std


class eval_transform:  # noqa: N801 - used like a function; a class so workers can pickle it
    """PIL image → deterministic, normalised tensor (evaluation, indexing and queries)."""

    def __init__(self, image_size: int) -> None:
        self.image_size = image_size
        self.normalise = normalise()

    def __call__(self, image: Image.Image) -> torch.Tensor:
        return self.normalise(square_resize(image, self.image_size))
