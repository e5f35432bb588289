"""What every dataset reader shares: the result type, errors, bad-row policy, splits and frames."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from fashion.data.images import IMAGE_SUFFIXES  # noqa: F401 - the one list, re-exported
from fashion.errors import FashionError

ATTRIBUTE_TYPE_NAMES = {1: "texture", 2: "fabric", 3: "shape", 4: "part", 5: "style"}
CATEGORY_TYPE_NAMES = {1: "upper", 2: "lower", 3: "full"}
LAYOUTS = ("deepfashion", "deepfashion_fine", "folders", "csv")
SPLITS = ("train", "val", "test")
FRAME_COLUMNS = ("path", "category", "category_name", "split", "item_id", "x1", "y1", "x2", "y2")
BBOX_COLUMNS = ("x1", "y1", "x2", "y2")


class DatasetError(FashionError, ValueError):
    """A dataset that cannot be read as it is; the message names the file and the line or count."""


class DatasetWarning(UserWarning):
    """Bad rows were skipped (``on_bad_rows="warn"``); the message gives how many and where."""


@dataclass
class LabelledData:
    """One row per image (``frame``) plus the label vocabularies; see docs/ARCHITECTURE.md."""

    frame: pd.DataFrame
    attributes: np.ndarray | None
    category_names: list[str]
    category_types: list[int]
    attribute_names: list[str]
    attribute_types: list[int]
    layout: str
    root: Path


@dataclass
class _Problem:
    source: str
    reason: str
    lines: list[int]
    count: int


@dataclass
class BadRows:
    """The bad-row policy of one ``load_dataset`` call.

    With ``mode="error"`` the first problem raises :class:`DatasetError`. With ``mode="warn"``
    problems are collected, the readers drop the rows concerned, and :meth:`emit` gives ONE
    warning with the number of skipped rows and where the first ones are.
    """

    mode: str = "error"
    problems: list[_Problem] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.mode not in ("error", "warn"):
            raise DatasetError(f"on_bad_rows must be 'error' or 'warn', got {self.mode!r}")

    def rows(self, source: str | os.PathLike[str], lines: Sequence[int] | np.ndarray, reason: str) -> None:
        """Report rows (1-based ``lines`` of file ``source``) that are bad for the same ``reason``."""
        lines = [int(n) for n in np.asarray(lines).ravel()]
        if not lines:
            return
        if self.mode == "error":
            more = f" ({len(lines)} such rows: lines {_line_list(lines)})" if len(lines) > 1 else ""
            raise DatasetError(f"{source}: line {lines[0]}: {reason}{more}")
        self.problems.append(_Problem(str(source), reason, lines[:5], len(lines)))

    def file(self, source: str | os.PathLike[str], reason: str) -> None:
        """Report a problem with a whole file (e.g. its declared row count) that rows cannot fix."""
        if self.mode == "error":
            raise DatasetError(f"{source}: {reason}")
        self.problems.append(_Problem(str(source), reason, [], 0))

    @property
    def skipped(self) -> int:
        """Rows skipped so far."""
        return sum(p.count for p in self.problems)

    def emit(self, root: Path, kept: int) -> None:
        """Give the one warning of this load (nothing when there was no problem)."""
        if not self.problems:
            return
        details = "; ".join(
            f"{p.source}: {p.reason}" + (f" ({_rows_text(p.count)} {_line_list(p.lines, p.count)})" if p.count else "")
            for p in self.problems[:8])
        if len(self.problems) > 8:
            details += f"; and {len(self.problems) - 8} more problems"
        warnings.warn(f"{root}: skipped {self.skipped} bad rows ({kept} images kept): {details}",
                      DatasetWarning, stacklevel=3)


def _rows_text(count: int) -> str:
    return "1 row: line" if count == 1 else f"{count} rows: lines"


def _line_list(lines: Sequence[int], total: int | None = None) -> str:
    total = len(lines) if total is None else total
    shown = ", ".join(str(n) for n in lines[:5])
    return shown + (", ..." if total > 5 else "")


def item_split(item_ids: Sequence[object], val_fraction: float, test_fraction: float, seed: int) -> np.ndarray:
    """Deterministic train/val/test split by item, so views of one item never cross splits.

    ``item_ids`` has one entry per image; ``None`` means the image is its own item (the entry's
    position is used). Items are sorted before shuffling, so for named items the result depends
    only on the set of items and ``seed``, not on row order. A fraction above zero gets at least one item when
    there are three or more items, so tiny datasets still have every split.
    """
    check_fractions(val_fraction, test_fraction)
    keys = np.array([f"\x00{i}" if item is None else str(item) for i, item in enumerate(item_ids)], dtype=object)
    items, inverse = np.unique(keys.astype(str), return_inverse=True)
    n = len(items)
    order = np.random.default_rng(seed).permutation(n)
    n_test, n_val = (_share(n, f) for f in (test_fraction, val_fraction))
    item_split_names = np.empty(n, dtype=object)
    item_split_names[order[:n_test]] = "test"
    item_split_names[order[n_test:n_test + n_val]] = "val"
    item_split_names[order[n_test + n_val:]] = "train"
    return item_split_names[inverse.ravel()]


def _share(n: int, fraction: float) -> int:
    count = int(round(n * fraction))
    if fraction > 0 and count == 0 and n >= 3:
        count = 1
    return count


def item_of_paths(names: Sequence[str]) -> np.ndarray:
    """The item id of each relative image path: its parent folder's name (``img/<Item>/x.jpg``).

    Images directly under the root (no folder) get ``None``: each is its own item.
    """
    items = np.empty(len(names), dtype=object)
    items[:] = [folder.rpartition("/")[2] or None for folder in (name.rpartition("/")[0] for name in names)]
    return items


def absolute_paths(root: Path, names: Sequence[str]) -> list[str]:
    """``root / name`` as strings (names that are already absolute are kept)."""
    base = str(root) + os.sep
    return [name if os.path.isabs(name) else base + name for name in names]


def missing_files(paths: Sequence[str]) -> np.ndarray:
    """Boolean mask of the paths that do not exist.

    One directory listing per folder instead of one ``stat`` per image: DeepFashion has 289k images
    in about 5,600 folders. A name absent from its listing is checked once more with
    ``os.path.exists``, so case-insensitive file systems give the same answer.
    """
    listings: dict[str, set[str] | None] = {}
    missing = np.zeros(len(paths), dtype=bool)
    for index, path in enumerate(paths):
        folder, _, name = path.rpartition(os.sep)
        listing = listings.get(folder, ...)
        if listing is ...:
            try:
                listing = set(os.listdir(folder or os.sep))
            except OSError:
                listing = None
            listings[folder] = listing
        if listing is None or name not in listing:
            missing[index] = not os.path.exists(path)
    return missing


def drop_missing_files(root: Path, names: Sequence[str], source: str, lines: np.ndarray, bad: BadRows) -> np.ndarray:
    """Report rows whose image is missing; returns the mask of rows to keep."""
    missing = missing_files(absolute_paths(root, names))
    if missing.any():
        first = np.flatnonzero(missing)[0]
        bad.rows(source, lines[missing], f"image file not found: {root / names[first]}"
                 + (" (and others)" if missing.sum() > 1 else ""))
    return ~missing


def make_frame(root: Path, names: Sequence[str], categories: np.ndarray, category_names: Sequence[str],
               splits: Sequence[str], item_ids: Sequence[object], bbox: np.ndarray | None = None,
               bbox_known: np.ndarray | None = None) -> pd.DataFrame:
    """The frame of ``LabelledData`` (columns in :data:`FRAME_COLUMNS`, index 0..N-1).

    ``categories`` are 0-based (-1 unknown, shown with an empty ``category_name``). ``bbox`` is an
    (N, 4) integer array, ``bbox_known`` (N,) says which rows have a box (all when omitted).
    """
    n = len(names)
    categories = np.asarray(categories, dtype=np.int64)
    lookup = np.array(list(category_names) + [""], dtype=object)  # index -1 -> ""
    frame = pd.DataFrame({
        "path": absolute_paths(root, names),
        "category": categories,
        "category_name": lookup[categories],
        "split": np.asarray(splits, dtype=object),
        "item_id": np.asarray(item_ids, dtype=object) if n else np.empty(0, dtype=object),
    })
    if bbox is None:
        bbox = np.zeros((n, 4), dtype=np.int64)
        bbox_known = np.zeros(n, dtype=bool)
    elif bbox_known is None:
        bbox_known = np.ones(n, dtype=bool)
    for column, values in zip(BBOX_COLUMNS, np.asarray(bbox, dtype=np.int64).reshape(n, 4).T):
        frame[column] = pd.arrays.IntegerArray(values.copy(), ~np.asarray(bbox_known, dtype=bool))
    return frame


def check_fractions(val_fraction: float, test_fraction: float) -> None:
    """Fail early on split fractions that cannot work."""
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise DatasetError(f"val_fraction={val_fraction} and test_fraction={test_fraction} must be in [0, 1) "
                           "and sum to less than 1")


def box_from_values(x1: Any, y1: Any, x2: Any, y2: Any) -> tuple[int, int, int, int] | None:
    """A frame row's ``x1 y1 x2 y2`` as an int box, or None where any of them is missing (NaN)."""
    values = (x1, y1, x2, y2)
    if any(pd.isna(v) for v in values):
        return None
    return tuple(int(v) for v in values)  # type: ignore[return-value]
