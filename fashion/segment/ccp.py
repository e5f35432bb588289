"""Reading Clothing Co-Parsing (CCP): photos, pixel-level label maps, the fixed train/val/test split.

Layout (``../shared/data/clothing-co-parsing`` beside the project on developer machines and CI;
absent on a user's machine, so callers check :func:`ccp_available` and skip)::

    photos/NNNN.jpg                       550x832 street photos
    annotations/pixel-level/NNNN.mat      ``groundtruth``: (832, 550) uint8 label indices
    label_list.mat                        ``label_list[0][i][0]``: the 59 label names

Split by photo number, fixed before any training or tuning: **test** = numbers divisible by 5
(held out: never trained or tuned on), **val** = numbers with remainder 1 (tuning), **train** = the
rest. With the 904 photos: 543 train, 181 val, 180 test.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from fashion.data.images import load_image
from fashion.segment.labels import ccp_lookup

__all__ = [
    "SPLITS",
    "CcpItem",
    "ccp_available",
    "ccp_items",
    "default_ccp_root",
    "label_names",
    "load_split",
    "read_classes",
    "read_groundtruth",
    "split_of",
]

SPLITS = ("train", "val", "test")
#: The usual (width, height) of a CCP photo.
CCP_SIZE = (550, 832)


@dataclass(frozen=True)
class CcpItem:
    """One annotated CCP photo."""

    number: int
    photo: Path
    annotation: Path


def default_ccp_root() -> Path:
    """``../shared/data/clothing-co-parsing`` next to the project checkout."""
    return Path(__file__).resolve().parents[3] / "shared" / "data" / "clothing-co-parsing"


def ccp_available(root: Path | None = None) -> bool:
    """Whether CCP's photos, annotations and label list are present under ``root``."""
    root = default_ccp_root() if root is None else Path(root)
    return (root / "label_list.mat").is_file() and (root / "photos").is_dir() and \
        (root / "annotations" / "pixel-level").is_dir()


def split_of(number: int) -> str:
    """The split of photo ``number``: ``test`` (n % 5 == 0), ``val`` (n % 5 == 1) or ``train``."""
    return "test" if number % 5 == 0 else "val" if number % 5 == 1 else "train"


def ccp_items(root: Path | None = None, split: str | None = None) -> list[CcpItem]:
    """The photos that have a pixel-level annotation, by number; only ``split``'s when given."""
    if split is not None and split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    root = default_ccp_root() if root is None else Path(root)
    items = []
    for annotation in sorted((root / "annotations" / "pixel-level").glob("*.mat")):
        number = int(annotation.stem)
        photo = root / "photos" / f"{annotation.stem}.jpg"
        if photo.is_file() and (split is None or split_of(number) == split):
            items.append(CcpItem(number, photo, annotation))
    return items


def label_names(root: Path | None = None) -> list[str]:
    """CCP's 59 label names in index order (``null`` first)."""
    from scipy.io import loadmat

    root = default_ccp_root() if root is None else Path(root)
    table = loadmat(root / "label_list.mat")["label_list"]
    return [str(table[0][i][0]) for i in range(table.shape[1])]


def read_groundtruth(path: Path) -> np.ndarray:
    """The ``(H, W) uint8`` CCP label-index map of one annotation file."""
    from scipy.io import loadmat

    return np.asarray(loadmat(path)["groundtruth"], dtype=np.uint8)


def read_classes(path: Path, lookup: np.ndarray) -> np.ndarray:
    """The annotation mapped to segment classes (``lookup`` from :func:`ccp_lookup`)."""
    return lookup[read_groundtruth(path)]


def load_split(split: str, longest: int, root: Path | None = None) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """A split at low resolution: images ``(N, H, W, 3) uint8`` (box filter), class maps
    ``(N, H, W) uint8`` (nearest) and the photo numbers. Every photo is resized to CCP's usual
    550x832 shape scaled so that its longer side is ``longest`` (a few photos differ slightly in
    size; the stretch is at most a few per cent)."""
    lookup = ccp_lookup(label_names(root))
    images, maps, numbers = [], [], []
    for item in ccp_items(root, split):
        photo = load_image(item.photo)
        size = scaled_size(CCP_SIZE, longest)
        images.append(np.asarray(photo.resize(size, Image.Resampling.BOX)))
        classes = Image.fromarray(read_classes(item.annotation, lookup))
        maps.append(np.asarray(classes.resize(size, Image.Resampling.NEAREST)))
        numbers.append(item.number)
    return np.stack(images), np.stack(maps), numbers


def scaled_size(size: tuple[int, int], longest: int) -> tuple[int, int]:
    """``(width, height)`` scaled so that the longer side is ``longest`` (each side >= 1)."""
    width, height = size
    scale = longest / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))
