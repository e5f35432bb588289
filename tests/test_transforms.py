"""Preprocessing: batch augmentation geometry and statistics, and train/inference consistency."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from PIL import Image
from torchvision.transforms import v2

from fashion.data.transforms import (
    BRIGHTNESS,
    CONTRAST,
    CROP_RATIO,
    CROP_SCALE,
    MEAN,
    SATURATION,
    STD,
    BatchAugment,
    eval_transform,
    normalise_batch,
    square_resize,
)


def _stripes(size: int = 64) -> torch.Tensor:
    """A uint8 (3, S, S) image whose left half is red and right half blue: flips are visible."""
    image = torch.zeros(3, size, size, dtype=torch.uint8)
    image[0, :, : size // 2] = 255
    image[2, :, size // 2 :] = 255
    return image


def test_batch_augment_shape_dtype_and_normalisation_range() -> None:
    torch.manual_seed(0)
    batch = torch.randint(0, 256, (5, 3, 40, 40), dtype=torch.uint8)
    out = BatchAugment(32)(batch)
    assert out.shape == (5, 3, 32, 32) and out.dtype == torch.float32
    low = (0 - torch.tensor(MEAN)) / torch.tensor(STD)
    high = (1 - torch.tensor(MEAN)) / torch.tensor(STD)
    per_channel = out.transpose(0, 1).reshape(3, -1)
    assert (per_channel.min(1).values >= low - 1e-5).all() and (per_channel.max(1).values <= high + 1e-5).all()


def test_batch_augment_is_seeded_by_torch_global_rng() -> None:
    batch = torch.randint(0, 256, (4, 3, 40, 40), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    augment = BatchAugment(32)
    torch.manual_seed(7)
    first = augment(batch)
    torch.manual_seed(7)
    again = augment(batch)
    torch.manual_seed(8)
    other = augment(batch)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_crops_stay_inside_the_image_with_configured_area_and_aspect() -> None:
    torch.manual_seed(0)
    theta = BatchAugment(32).crop_grids(4000)
    width, height = theta[:, 0, 0].abs(), theta[:, 1, 1]
    assert (width <= 1 + 1e-6).all() and (height <= 1 + 1e-6).all()
    assert (theta[:, 0, 2].abs() <= 1 - width + 1e-6).all()
    assert (theta[:, 1, 2].abs() <= 1 - height + 1e-6).all()
    unclamped = (width < 1) & (height < 1)
    area = width * height
    assert (area[unclamped] >= CROP_SCALE[0] - 1e-5).all() and (area <= CROP_SCALE[1] + 1e-5).all()
    aspect = width[unclamped] / height[unclamped]
    assert (aspect >= CROP_RATIO[0] - 1e-4).all() and (aspect <= CROP_RATIO[1] + 1e-4).all()
    assert theta[:, 0, 1].eq(0).all() and theta[:, 1, 0].eq(0).all()  # no rotation or shear
    flipped = (theta[:, 0, 0] < 0).float().mean()
    assert 0.45 < flipped < 0.55


def test_horizontal_flip_mirrors_the_image() -> None:
    image = _stripes().unsqueeze(0).repeat(200, 1, 1, 1)
    torch.manual_seed(0)
    augment = BatchAugment(32)
    theta = augment.crop_grids(200)
    torch.manual_seed(0)
    out = augment(image)
    # Red (channel 0) is brighter than blue on the left unless the image was flipped.
    left_red = out[:, 0, :, :4].mean((1, 2)) > out[:, 2, :, :4].mean((1, 2))
    assert torch.equal(left_red, theta[:, 0, 0] > 0)


def test_uniform_image_stays_uniform_and_jitter_stays_mild() -> None:
    grey = torch.full((64, 3, 40, 40), 128, dtype=torch.uint8)
    torch.manual_seed(0)
    out = BatchAugment(32)(grey)
    pixels = out * torch.tensor(STD).view(1, 3, 1, 1) + torch.tensor(MEAN).view(1, 3, 1, 1)
    flat = pixels.flatten(2)
    assert (flat.max(2).values - flat.min(2).values).max() < 1e-5  # no spatial artefacts
    level = flat.mean((1, 2))
    # brightness ±15% of 0.502; contrast and saturation leave a flat grey image alone.
    assert (level > 0.502 * 0.85 - 1e-3).all() and (level < 0.502 * 1.15 + 1e-3).all()
    assert level.std() > 0.01


def test_batch_augment_matches_torchvision_per_image_statistics() -> None:
    """The batch transform draws from the same distribution as torchvision's per-image one.

    The reference runs on float images: torchvision's uint8 colour jitter truncates each step
    (about half a grey level lower per step), a bias the batch version does not share.
    """
    generator = torch.Generator().manual_seed(3)
    batch = torch.randint(0, 256, (8, 3, 50, 50), generator=generator).float()
    batch = F.avg_pool2d(F.pad(batch, (2, 2, 2, 2), mode="replicate"), 5, 1).to(torch.uint8)  # image-like
    torch.manual_seed(0)
    ours = torch.cat([BatchAugment(40)(batch) for _ in range(40)])
    reference_one = v2.Compose([
        v2.ToDtype(torch.float32, scale=True),
        v2.RandomResizedCrop(40, scale=CROP_SCALE, ratio=CROP_RATIO, antialias=True),
        v2.RandomHorizontalFlip(),
        v2.ColorJitter(BRIGHTNESS, CONTRAST, SATURATION),
        v2.Normalize(MEAN, STD),
    ])
    reference = torch.stack([reference_one(image) for _ in range(40) for image in batch])
    assert abs(ours.mean() - reference.mean()) < 0.05  # seed-to-seed spread is about 0.02
    assert abs(ours.std() - reference.std()) < 0.02
    # Per-image brightness spread (crop position + jitter) is alike too.
    assert abs(ours.mean((1, 2, 3)).std() - reference.mean((1, 2, 3)).std()) < 0.05


def test_training_evaluation_normalises_exactly_like_inference() -> None:
    """Validation during training (uint8 batch → normalise_batch) sees what queries see."""
    image = Image.new("RGB", (50, 30), (200, 40, 90))
    image.paste((10, 220, 30), (5, 5, 20, 25))
    batch = square_resize(image, 24).unsqueeze(0)
    assert torch.allclose(normalise_batch(batch)[0], eval_transform(24)(image), atol=1e-6)
