"""Torch datasets and loaders over a ``LabelledData`` frame.

Images are decoded once into square uint8 tensors (``transforms.square_resize``). When the split
fits in ``cache_mb`` of memory, it is decoded up front into one tensor and every later epoch only
augments tensors: on a 2-core machine, decoding JPEGs every epoch would take CPU from the network.
Larger datasets stream from disk through DataLoader workers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from fashion.data.datasets import box_from_values
from fashion.data.images import crop_to_bbox, load_image
from fashion.data.transforms import square_resize


def bbox_of(frame: pd.DataFrame, index: int) -> tuple[int, int, int, int] | None:
    """The (x1, y1, x2, y2) box of a row, or None where the frame has none."""
    if "x1" not in frame.columns:
        return None
    row = frame.iloc[index]
    return box_from_values(row["x1"], row["y1"], row["x2"], row["y2"])


class SquareImages(Dataset):
    """Decoded, bbox-cropped, square-resized uint8 images of a frame's rows."""

    def __init__(self, frame: pd.DataFrame, size: int, use_bbox: bool = True, max_pixels: int = 50_000_000) -> None:
        self.frame = frame.reset_index(drop=True)
        self.size = size
        self.use_bbox = use_bbox
        self.max_pixels = max_pixels

    def __len__(self) -> int:
        return len(self.frame)

    def __getitem__(self, index: int) -> torch.Tensor:
        image = load_image(self.frame.at[index, "path"], max_pixels=self.max_pixels)
        if self.use_bbox:
            image = crop_to_bbox(image, bbox_of(self.frame, index))
        return square_resize(image, self.size)


def decode_all(images: SquareImages, workers: int, description: str, show_progress: bool = True) -> torch.Tensor:
    """Decode every image once into a (N, 3, S, S) uint8 tensor, with a progress bar."""
    out = torch.empty((len(images), 3, images.size, images.size), dtype=torch.uint8)
    # A private generator: starting a DataLoader must not draw from the global RNG that training seeds.
    loader = DataLoader(images, batch_size=64, num_workers=workers, shuffle=False,
                        generator=torch.Generator().manual_seed(0))
    position = 0
    for batch in tqdm(loader, desc=description, unit="batch", leave=False, disable=not show_progress):
        out[position : position + len(batch)] = batch
        position += len(batch)
    return out


@dataclass
class LabelledImages(Dataset):
    """(uint8 image, category, attribute labels) triples for training and evaluation.

    ``pixels`` is either a SquareImages (decode on access) or a preloaded uint8 tensor. Images
    stay uint8 here: the training loop augments or normalises whole batches on its device.
    """

    pixels: SquareImages | torch.Tensor
    categories: torch.Tensor
    attributes: torch.Tensor  # (N, A) int8: 1 positive, -1 negative, 0 unknown; A may be 0

    def __len__(self) -> int:
        return len(self.categories)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.pixels[index], self.categories[index], self.attributes[index]

    def __getitems__(self, indices: list[int]) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """A whole batch, built here (the DataLoader's batched fetch), as a one-element list.

        Preloaded pixels are gathered by one indexing operation; decoded ones are stacked.
        """
        rows = torch.as_tensor(indices, dtype=torch.long)
        if isinstance(self.pixels, torch.Tensor):
            images = self.pixels[rows]
        else:
            images = torch.stack([self.pixels[index] for index in indices])
        return [(images, self.categories[rows], self.attributes[rows])]


def collate_labelled(batch: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, ...]:
    """The DataLoader's collate for LabelledImages: ``__getitems__`` already built the batch."""
    return batch[0]


def labelled_images(
    frame: pd.DataFrame,
    attributes: np.ndarray | None,
    size: int,
    *,
    use_bbox: bool,
    max_pixels: int,
    cache_mb: int,
    workers: int,
    description: str,
    show_progress: bool = True,
) -> LabelledImages:
    """Build a LabelledImages for a split, preloading it into memory when it fits ``cache_mb``."""
    images = SquareImages(frame, size, use_bbox=use_bbox, max_pixels=max_pixels)
    pixels: SquareImages | torch.Tensor = images
    if len(images) * 3 * size * size <= cache_mb * 2**20:
        pixels = decode_all(images, workers, description, show_progress)
    categories = torch.tensor(frame["category"].to_numpy(dtype=np.int64))
    rows = frame.index.to_numpy()
    attribute_tensor = (
        torch.as_tensor(attributes[rows], dtype=torch.int8)
        if attributes is not None
        else torch.zeros((len(frame), 0), dtype=torch.int8)
    )
    return LabelledImages(pixels, categories, attribute_tensor)
