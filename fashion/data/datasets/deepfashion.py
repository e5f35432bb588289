"""DeepFashion Category and Attribute Prediction, coarse annotations (``Anno/``, ``Eval/``).

Files (``Anno_coarse/`` is accepted for ``Anno/``, as in later releases of the dataset):

- ``Anno/list_category_cloth.txt`` (required): category names and types; row n is category n.
- ``Anno/list_category_img.txt`` (required): image -> 1-based category. The master image list.
- ``Anno/list_attr_cloth.txt`` + ``Anno/list_attr_img.txt`` (optional): attribute names/types and
  image -> 1 / -1 (0 = unknown) per attribute.
- ``Anno/list_bbox.txt`` (optional): image -> x_1 y_1 x_2 y_2. A reversed box (x_2 < x_1 or
  y_2 < y_1) is a bad row like any other; an empty one (x_2 == x_1 or y_2 == y_1) cannot be cropped
  to and is kept as "no box" (<NA>).
- ``Eval/list_eval_partition.txt`` (optional): image -> train | val | test; without it the images
  are split by item (the ``img/<Item>/`` folder).

The per-image files are matched to the category list by image name, never by position.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from fashion.data.datasets.common import (
    SPLITS,
    BadRows,
    DatasetError,
    LabelledData,
    drop_missing_files,
    item_of_paths,
    item_split,
    make_frame,
)
from fashion.data.datasets.lists import ListTable, read_deepfashion_list

ANNO_DIRS = ("Anno", "Anno_coarse")
MAX_COORDINATE = 2**31 - 1
CATEGORY_OUT_OF_RANGE = "unknown category number {value} (list_category_cloth.txt defines {low}..{high})"
ATTRIBUTE_OUT_OF_RANGE = "attribute label {value} (expected 1, -1 or 0)"
BBOX_OUT_OF_RANGE = "bbox coordinate {value} is negative or too large"
BBOX_REVERSED = "reversed bbox (x_2 < x_1 or y_2 < y_1)"


def reversed_boxes(values: np.ndarray) -> np.ndarray:
    """Rows of an (N, 4) ``x_1 y_1 x_2 y_2`` array whose box is reversed (a bad row, not "no box")."""
    values = np.asarray(values).reshape(-1, 4).astype(np.int64, copy=False)
    return (values[:, 2] < values[:, 0]) | (values[:, 3] < values[:, 1])


def anno_dir(root: Path) -> Path | None:
    """The folder holding ``list_category_img.txt`` (``Anno`` or ``Anno_coarse``), if any."""
    for name in ANNO_DIRS:
        if (root / name / "list_category_img.txt").exists():  # a folder there is refused by the reader
            return root / name
    return None


def read_vocabulary(path: Path) -> tuple[list[str], list[int]]:
    """Names and types of a ``list_*_cloth.txt`` file.

    Always strict, whatever ``on_bad_rows`` says: row n defines label n, so skipping a row would
    shift every label after it.
    """
    table = read_deepfashion_list(path, 1, unique=False, bad=BadRows("error"))
    names = list(table.names or [])
    for name, line in zip(names, table.lines.tolist()):
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:  # undecodable bytes, kept as surrogates by the reader
            raise DatasetError(f"{path}: line {line}: not UTF-8 text (a damaged or binary file?)") from None
    return names, [int(v) for v in table.values[:, 0]]


def read_deepfashion(root: Path, bad: BadRows, *, val_fraction: float, test_fraction: float, seed: int,
                     check_files: bool) -> LabelledData:
    """Read the coarse layout under ``root`` (see the module docstring)."""
    anno = anno_dir(root)
    if anno is None:
        raise DatasetError(f"{root}: no Anno/list_category_img.txt (not a DeepFashion folder)")
    category_names, category_types = read_vocabulary(_required(anno / "list_category_cloth.txt"))
    n_categories = len(category_names)
    images = read_deepfashion_list(anno / "list_category_img.txt", 1, value_range=(1, max(n_categories, 1)),
                                   out_of_range=CATEGORY_OUT_OF_RANGE, image_names=True, bad=bad)
    if n_categories == 0 and len(images):
        raise DatasetError(f"{anno / 'list_category_cloth.txt'}: lists no categories")

    attribute_names: list[str] = []
    attribute_types: list[int] = []
    attribute_table: ListTable | None = None
    if (anno / "list_attr_img.txt").exists():  # a folder in its place is an error, not "absent"
        attribute_names, attribute_types = read_vocabulary(_required(anno / "list_attr_cloth.txt"))
        attribute_table = read_deepfashion_list(anno / "list_attr_img.txt", len(attribute_names), value_range=(-1, 1),
                                                out_of_range=ATTRIBUTE_OUT_OF_RANGE, image_names=True, bad=bad)
    bbox_table = None
    if (anno / "list_bbox.txt").exists():  # a folder in its place is an error, not "absent"
        bbox_table = read_deepfashion_list(anno / "list_bbox.txt", 4, value_range=(0, MAX_COORDINATE),
                                           out_of_range=BBOX_OUT_OF_RANGE, image_names=True, bad=bad)
        bbox_table = bbox_table.drop(reversed_boxes(bbox_table.values), bad, BBOX_REVERSED)
    partition_path = root / "Eval" / "list_eval_partition.txt"
    partition_table = None
    if partition_path.exists():  # a folder in its place is an error, not "absent"
        partition_table = read_deepfashion_list(partition_path, 1, kind="str", choices=SPLITS, image_names=True,
                                                bad=bad)

    names = images.names or []
    keep = np.ones(len(names), dtype=bool)
    positions = {}
    for key, table in (("attr", attribute_table), ("bbox", bbox_table), ("split", partition_table)):
        if table is not None:
            positions[key] = _align(images, table, bad)
            keep &= positions[key] >= 0
    if check_files:
        candidates = np.flatnonzero(keep)
        present = drop_missing_files(root, [names[i] for i in candidates.tolist()], str(images.source),
                                     images.lines[candidates], bad)
        keep[candidates[~present]] = False
    rows = np.flatnonzero(keep)
    kept_names = [names[i] for i in rows.tolist()]
    items = item_of_paths(kept_names)

    if partition_table is not None:
        splits = _take(partition_table.values, positions["split"][rows])[:, 0]
    else:
        splits = item_split(items, val_fraction, test_fraction, seed)
    bbox = bbox_known = None
    if bbox_table is not None:
        bbox = _take(bbox_table.values, positions["bbox"][rows])
        bbox_known = (bbox[:, 2] > bbox[:, 0]) & (bbox[:, 3] > bbox[:, 1])
    attributes = None
    if attribute_table is not None:
        attributes = _take(attribute_table.values, positions["attr"][rows]).astype(np.int8, copy=False)

    frame = make_frame(root, kept_names, images.values[rows, 0].astype(np.int64) - 1, category_names, splits,
                       items, bbox, bbox_known)
    return LabelledData(frame, attributes, category_names, category_types, attribute_names, attribute_types,
                        "deepfashion", root)


def _take(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``values[index]``, without a copy when the files were in the same order (the usual case)."""
    if len(index) == len(values) and np.array_equal(index, np.arange(len(values))):
        return values
    return values[index]


def _required(path: Path) -> Path:
    if path.is_dir():
        raise DatasetError(f"{path}: a folder, not a list file (required by the DeepFashion layout)")
    if not path.is_file():
        raise DatasetError(f"{path}: file not found (required by the DeepFashion layout)")
    return path


def _align(images: ListTable, table: ListTable, bad: BadRows) -> np.ndarray:
    """Row of ``table`` for each image of ``images`` (-1 where missing), matched by image name.

    Images that one file lists and the other does not are bad rows (reported with the file and
    line where they appear); with ``on_bad_rows="warn"`` they are dropped.
    """
    table_index = pd.Index(table.names)
    positions = table_index.get_indexer(images.names)
    missing = positions < 0
    if missing.any():
        # Rows the other file rejected as bad were reported there already.
        already = np.fromiter((n in table.rejected for n in np.asarray(images.names, dtype=object)[missing]),
                              dtype=bool, count=int(missing.sum()))
        report = np.flatnonzero(missing)[~already]
        if len(report):
            bad.rows(images.source, images.lines[report],
                     f"{images.names[report[0]]!r} is not listed in {table.source} (the files disagree)")
    extra = pd.Index(images.names).get_indexer(table.names) < 0
    if extra.any() and images.rejected:
        extra[extra] = [table.names[i] not in images.rejected for i in np.flatnonzero(extra).tolist()]
    if extra.any():
        first = int(np.flatnonzero(extra)[0])
        bad.rows(table.source, table.lines[extra],
                 f"{table.names[first]!r} is not listed in {images.source} (the files disagree)")
    return positions
