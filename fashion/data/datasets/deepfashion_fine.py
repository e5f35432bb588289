"""DeepFashion Category and Attribute Prediction, fine annotations (``Anno_fine/``).

Files in ``Anno_fine/``:

- ``list_category_cloth.txt``, ``list_attr_cloth.txt``: names and types (count + header, like the
  coarse lists); the 26 fine attributes have a group 1..6 as their type.
- per split ``train``, ``val``, ``test``: ``<split>.txt`` (one image path per line), and, aligned
  with it line by line and without count, header or name: ``<split>_cate.txt`` (1-based category,
  required), ``<split>_attr.txt`` (26 values 0 / 1, optional; 0 becomes -1) and
  ``<split>_bbox.txt`` (x_1 y_1 x_2 y_2, optional).

Because these files are matched by line, a file with a different number of rows than its
``<split>.txt`` cannot be repaired by skipping rows: it is always an error.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fashion.data.datasets.common import (
    SPLITS,
    BadRows,
    DatasetError,
    LabelledData,
    drop_missing_files,
    item_of_paths,
    make_frame,
)
from fashion.data.datasets.deepfashion import (BBOX_OUT_OF_RANGE, BBOX_REVERSED, CATEGORY_OUT_OF_RANGE, MAX_COORDINATE,
                                               read_vocabulary, reversed_boxes)
from fashion.data.datasets.lists import ListTable, read_deepfashion_list

FINE_DIR = "Anno_fine"
FINE_ATTRIBUTE_OUT_OF_RANGE = "attribute label {value} (expected 1 or 0)"


def is_fine(root: Path) -> bool:
    """Whether ``root`` holds the fine layout (``Anno_fine/train.txt``)."""
    return (root / FINE_DIR / "train.txt").exists()  # a folder there is refused by the reader


def read_deepfashion_fine(root: Path, bad: BadRows, *, check_files: bool) -> LabelledData:
    """Read the fine layout under ``root`` (see the module docstring); splits come from the files."""
    anno = root / FINE_DIR
    if not is_fine(root):
        raise DatasetError(f"{root}: no {FINE_DIR}/train.txt (not a DeepFashion fine folder)")
    category_names, category_types = read_vocabulary(_required(anno / "list_category_cloth.txt"))
    has_attributes = any((anno / f"{split}_attr.txt").exists() for split in SPLITS)
    attribute_names: list[str] = []
    attribute_types: list[int] = []
    if has_attributes:
        attribute_names, attribute_types = read_vocabulary(_required(anno / "list_attr_cloth.txt"))

    names: list[str] = []
    parts: dict[str, list[np.ndarray]] = {"category": [], "split": [], "attributes": [], "bbox": [],
                                          "bbox_known": [], "lines": []}
    seen: dict[str, tuple[Path, int]] = {}
    for split in SPLITS:
        listing = anno / f"{split}.txt"
        if not listing.exists():  # a folder in its place is refused by the reader
            continue
        split_data = _read_split(anno, split, len(category_names), len(attribute_names), bad)
        if split_data is None:
            continue
        split_names, category, attributes, bbox, bbox_known, lines = split_data
        # The same image in two split files: keep the first, report the later rows.
        repeated = np.array([name in seen for name in split_names], dtype=bool)
        if repeated.any():
            first = split_names[int(np.flatnonzero(repeated)[0])]
            bad.rows(listing, lines[repeated], f"{first!r} is already listed in {seen[first][0]} "
                                                f"line {seen[first][1]}")
            keep = ~repeated
            split_names = [n for n, k in zip(split_names, keep.tolist()) if k]
            category, attributes, bbox, bbox_known, lines = (
                category[keep], attributes[keep], bbox[keep], bbox_known[keep], lines[keep])
        seen.update((name, (listing, int(line))) for name, line in zip(split_names, lines.tolist()))
        names += split_names
        for key, value in (("category", category), ("attributes", attributes), ("bbox", bbox),
                           ("bbox_known", bbox_known), ("lines", lines)):
            parts[key].append(value)
        parts["split"].append(np.full(len(split_names), split, dtype=object))
    if not parts["category"]:
        raise DatasetError(f"{anno}: no split lists images")
    joined = {key: np.concatenate(value) for key, value in parts.items()}

    keep = np.ones(len(names), dtype=bool)
    if check_files:
        for split in SPLITS:  # one pass per split file, so a missing image is reported with its line there
            rows = np.flatnonzero(joined["split"] == split)
            if len(rows):
                keep[rows] = drop_missing_files(root, [names[i] for i in rows.tolist()], str(anno / f"{split}.txt"),
                                                joined["lines"][rows], bad)
    rows = np.flatnonzero(keep)
    kept_names = [names[i] for i in rows.tolist()]
    attributes = joined["attributes"][rows] if has_attributes else None
    frame = make_frame(root, kept_names, joined["category"][rows], category_names, joined["split"][rows],
                       item_of_paths(kept_names), joined["bbox"][rows], joined["bbox_known"][rows])
    return LabelledData(frame, attributes, category_names, category_types, attribute_names, attribute_types,
                        "deepfashion_fine", root)


def _required(path: Path) -> Path:
    if path.is_dir():
        raise DatasetError(f"{path}: a folder, not a list file (required by the DeepFashion fine layout)")
    if not path.is_file():
        raise DatasetError(f"{path}: file not found (required by the DeepFashion fine layout)")
    return path


def _read_split(anno: Path, split: str, n_categories: int, n_attributes: int, bad: BadRows
                ) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """Names, 0-based categories, attributes (N, A) int8, bbox (N, 4), bbox_known, lines of one split."""
    listing = read_deepfashion_list(anno / f"{split}.txt", 0, header=False, image_names=True, bad=bad)
    category = _aligned(anno / f"{split}_cate.txt", listing, 1, (1, max(n_categories, 1)), CATEGORY_OUT_OF_RANGE, bad,
                        required=True)
    attributes = _aligned(anno / f"{split}_attr.txt", listing, n_attributes, (-1, 1), FINE_ATTRIBUTE_OUT_OF_RANGE, bad)
    bbox = _aligned(anno / f"{split}_bbox.txt", listing, 4, (0, MAX_COORDINATE), BBOX_OUT_OF_RANGE, bad)
    if bbox is not None:
        bbox = bbox.drop(reversed_boxes(bbox.values), bad, BBOX_REVERSED)
    # Keep the rows every file accepted (a bad row in one file drops that line in all of them).
    present = [t for t in (category, attributes, bbox) if t is not None]
    rows = listing.rows
    for table in present:
        rows = np.intersect1d(rows, table.rows)
    if len(rows) == 0 and listing.total_rows == 0:
        return None

    def pick(table: ListTable) -> np.ndarray:
        return table.values[np.searchsorted(table.rows, rows)]

    at = np.searchsorted(listing.rows, rows)
    names = [listing.names[i] for i in at.tolist()] if listing.names is not None else []
    n = len(rows)
    categories = pick(category)[:, 0].astype(np.int64) - 1
    if attributes is not None:
        labels = pick(attributes).astype(np.int8)
        labels[labels == 0] = -1  # the fine files say 1 (present) or 0 (absent)
    else:
        labels = np.zeros((n, n_attributes), dtype=np.int8)  # unknown for this split
    if bbox is not None:
        boxes = pick(bbox).astype(np.int64)
        known = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    else:
        boxes, known = np.zeros((n, 4), dtype=np.int64), np.zeros(n, dtype=bool)
    return names, categories, labels, boxes, known, listing.lines[at]


def _aligned(path: Path, listing: ListTable, n_values: int, value_range: tuple[int, int], out_of_range: str,
             bad: BadRows, required: bool = False) -> ListTable | None:
    """A values-only file matched line by line with ``listing``; its row count must be the same."""
    if not path.exists():  # a folder in its place is read (and refused), not taken as absent
        if required:
            raise DatasetError(f"{path}: file not found (needed for {listing.source})")
        return None
    table = read_deepfashion_list(path, n_values, header=False, named=False, value_range=value_range,
                                  out_of_range=out_of_range,
                                  bad=bad)
    if table.total_rows != listing.total_rows:
        # Always fatal: rows are matched by position, so any guess would misalign labels.
        raise DatasetError(f"{path}: has {table.total_rows} rows but {listing.source} has {listing.total_rows}; "
                           "the files are matched line by line and must have the same number of rows")
    return table
