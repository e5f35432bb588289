"""Folder-per-class datasets: ``root/<class>/*.jpg`` or ``root/{train,val|validation,test}/<class>/*``.

Category names are the sorted class folder names (over all splits); there are no attributes, no
boxes and no items. Without split folders the images are split at random (per image) by the
given fractions; with split folders but no ``val`` (or no ``test``) folder, that split is drawn
from the training images.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from fashion.data.datasets.common import IMAGE_SUFFIXES, DatasetError, LabelledData, item_split, make_frame

SPLIT_FOLDERS = {"train": "train", "val": "val", "validation": "val", "valid": "val", "test": "test"}


def is_image_name(name: str) -> bool:
    """Whether a file name has an image extension (case-insensitive) and is not hidden."""
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES


def split_folders(root: Path) -> dict[str, Path]:
    """``{"train": root/train, "val": root/validation, ...}`` for the split folders present.

    ``root`` counts as split into folders only when it has a ``train`` folder and at least one
    other split folder, so a class that happens to be called "test" is not mistaken for a split;
    or when ``train`` is its only folder and holds class folders of images rather than images (a
    class folder holds its images itself), the other splits then drawn from it.
    """
    subfolders = sorted(_subfolders(root))
    found: dict[str, Path] = {}
    for entry in subfolders:
        split = SPLIT_FOLDERS.get(entry.name.lower())
        if split is not None and split not in found:
            found[split] = entry
    if "train" in found and len(found) >= 2:
        return found
    train = found.get("train")
    if train is not None and subfolders == [train] and not _images_in(train) \
            and any(_images_in(cls) for cls in _subfolders(train)):
        return {"train": train}
    return {}


def has_class_folders(root: Path) -> bool:
    """Whether ``root`` looks like a folder-per-class dataset (some subfolder holds an image)."""
    folders = split_folders(root)
    tops = list(folders.values()) if folders else [root]
    return any(_images_in(cls) for top in tops for cls in _subfolders(top))


def read_folders(root: Path, *, val_fraction: float, test_fraction: float, seed: int) -> LabelledData:
    """Read a folder-per-class dataset under ``root`` (see the module docstring)."""
    folders = split_folders(root)
    entries: list[tuple[str, str, str]] = []  # (relative path, class, split or "")
    for split, top in (folders.items() if folders else [("", root)]):
        for cls in sorted(_subfolders(top)):
            for name in _images_in(cls):
                entries.append((os.path.relpath(cls / name, root), cls.name, split))
    if not entries:
        raise DatasetError(f"{root}: no images found in class folders (looked for "
                           f"{', '.join(sorted(IMAGE_SUFFIXES))}, any case)")
    entries.sort()
    names = [e[0] for e in entries]
    classes = sorted({e[1] for e in entries})
    lookup = {name: i for i, name in enumerate(classes)}
    categories = np.array([lookup[e[1]] for e in entries], dtype=np.int64)
    splits = np.array([e[2] for e in entries], dtype=object)
    _fill_missing_splits(splits, val_fraction, test_fraction, seed)
    frame = make_frame(root, names, categories, classes, splits, [None] * len(names))
    return LabelledData(frame, None, classes, [0] * len(classes), [], [], "folders", root)


def _fill_missing_splits(splits: np.ndarray, val_fraction: float, test_fraction: float, seed: int) -> None:
    """Assign splits where the folders gave none, in place (see the module docstring)."""
    present = set(splits.tolist())
    if present == {""}:
        splits[:] = item_split([None] * len(splits), val_fraction, test_fraction, seed)
        return
    train = np.flatnonzero(splits == "train")
    wanted_val = val_fraction if "val" not in present else 0.0
    wanted_test = test_fraction if "test" not in present else 0.0
    if wanted_val or wanted_test:
        splits[train] = item_split([None] * len(train), wanted_val, wanted_test, seed)


def _subfolders(folder: Path) -> list[Path]:
    try:
        return [Path(e.path) for e in os.scandir(folder) if e.is_dir() and not e.name.startswith(".")]
    except OSError:
        return []


def _images_in(folder: Path) -> list[str]:
    try:
        return sorted(e.name for e in os.scandir(folder) if is_image_name(e.name) and e.is_file())
    except OSError:
        return []
