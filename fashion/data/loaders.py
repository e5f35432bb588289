"""Torch datasets and loaders over a ``LabelledData`` frame.

Images are decoded once into square uint8 tensors (``transforms.square_resize``). When the split
fits in ``cache_mb`` of memory, it is decoded up front into one tensor and every later epoch only
augments tensors: on a 2-core machine, decoding JPEGs every epoch would take CPU from the network.
Larger datasets stream from disk through DataLoader workers.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset, Sampler
from tqdm.auto import tqdm

from fashion.data.datasets import box_from_values
from fashion.data.workers import worker_init
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
                        generator=torch.Generator().manual_seed(0), worker_init_fn=worker_init())
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
    # (N,) int64 item codes (see ``item_codes``) when the metric loss needs them: batches then carry a
    # fourth tensor, the item of each image.
    items: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.categories)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, ...]:
        if self.items is not None:
            return self.pixels[index], self.categories[index], self.attributes[index], self.items[index]
        return self.pixels[index], self.categories[index], self.attributes[index]

    def __getitems__(self, indices: list[int]) -> list[tuple[torch.Tensor, ...]]:
        """A whole batch, built here (the DataLoader's batched fetch), as a one-element list.

        Preloaded pixels are gathered by one indexing operation; decoded ones are stacked.
        """
        rows = torch.as_tensor(indices, dtype=torch.long)
        if isinstance(self.pixels, torch.Tensor):
            images = self.pixels[rows]
        else:
            images = torch.stack([self.pixels[index] for index in indices])
        if self.items is not None:
            return [(images, self.categories[rows], self.attributes[rows], self.items[rows])]
        return [(images, self.categories[rows], self.attributes[rows])]


def item_codes(item_ids: Sequence[object]) -> np.ndarray:
    """One int64 code per image for its item; an image without an item id (None/NaN/"") is its own item."""
    keys = [f"\x00{i}" if item is None or item != item or item == "" else str(item)
            for i, item in enumerate(item_ids)]
    _, codes = np.unique(np.asarray(keys, dtype=object).astype(str), return_inverse=True)
    return codes.ravel().astype(np.int64)


def multi_view_items(codes: np.ndarray) -> int:
    """How many items have two or more images (the ones a triplet loss can take positives from)."""
    return int((np.bincount(codes) >= 2).sum()) if len(codes) else 0


class ItemViewSampler(Sampler[int]):
    """P items x K views: every batch is P*K indices, K views of each of P distinct items in turn.

    The batch-hard triplet loss needs positives (other views of the same item) and negatives
    (other items) inside each batch. Items are visited in a shuffled cycle, each item's views in a
    shuffled cycle of its own; an item with fewer than K images repeats some (augmentation makes
    the copies differ). An epoch has as many batches as the images fill (at least one). Like the
    plain sampler, the order is fixed by (seed, epoch), split across ranks, and can skip the
    samples a resumed run already trained on.
    """

    def __init__(self, items: np.ndarray, items_per_batch: int, views: int, seed: int, rank: int = 0,
                 world: int = 1) -> None:
        items = np.asarray(items, dtype=np.int64)
        order = np.argsort(items, kind="stable")
        _, starts = np.unique(items[order], return_index=True)
        self.groups = np.split(order, starts[1:]) if len(items) else []
        if items_per_batch < 2 or views < 1:
            raise ValueError("a P x K batch needs at least 2 items and 1 view")
        if items_per_batch > len(self.groups):
            raise ValueError(f"{items_per_batch} items per batch but only {len(self.groups)} items")
        self.items_per_batch, self.views = items_per_batch, views
        self.seed, self.rank, self.world = seed, rank, world
        self.batch_size = items_per_batch * views
        self.batches = max(1, len(items) // self.batch_size // world)  # per rank: equal step counts for DDP
        self.epoch = 0
        self.skip = 0

    def set_epoch(self, epoch: int, skip_samples: int = 0) -> None:
        self.epoch, self.skip = epoch, skip_samples

    def _views(self, rng: np.random.Generator, queues: list[list[int]], item: int) -> list[int]:
        group = self.groups[item]
        if len(group) < self.views:  # too few images: all of them, then repeats
            return [int(group[i % len(group)]) for i in rng.permutation(self.views)]
        queue = queues[item]
        if len(queue) < self.views:  # a fresh cycle, so one batch never holds the same image twice
            queue[:] = rng.permutation(group).tolist()
        taken, queue[:] = queue[: self.views], queue[self.views:]
        return [int(i) for i in taken]

    def _indices(self) -> list[int]:
        rng = np.random.default_rng([self.seed, self.epoch])
        queues: list[list[int]] = [[] for _ in self.groups]
        pending: deque[int] = deque()  # items still to visit in this cycle
        indices: list[int] = []
        for batch in range(self.batches * self.world):
            chosen: list[int] = []
            while len(chosen) < self.items_per_batch:
                if not pending:
                    # A new cycle; items this batch already holds wait for the next batch.
                    fresh = rng.permutation(len(self.groups)).tolist()
                    pending = deque([i for i in fresh if i not in chosen] + [i for i in fresh if i in chosen])
                chosen.append(pending.popleft())
            if batch % self.world == self.rank:
                for item in chosen:
                    indices.extend(self._views(rng, queues, item))
            else:  # other ranks' batches still advance the view cycles identically on every rank
                for item in chosen:
                    self._views(rng, queues, item)
        return indices

    def __iter__(self) -> Iterator[int]:
        return iter(self._indices()[self.skip:])

    def __len__(self) -> int:
        return self.batches * self.batch_size - self.skip


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
