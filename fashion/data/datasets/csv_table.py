"""CSV datasets: one row per image.

Columns (header names, case-insensitive, surrounding spaces ignored):

- ``path`` or ``image`` (required): the image file, relative to the CSV's folder (or absolute);
- ``category`` (required): the category name; empty = unknown (-1). Category names are the
  sorted distinct values (numerically when all of them are integers);
- ``item_id`` (optional): rows sharing it are views of one item and stay in one split;
- ``split`` (optional): train | val | test (``validation`` is accepted); without the column the
  rows are split by item at random;
- ``x1, y1, x2, y2`` (optional, all four): a box in pixels; all four empty = no box; a reversed
  box (x2 < x1 or y2 < y1) is a bad row;
- ``attr:<name>`` (optional, any number): 1 / -1 / 0 (empty = 0 = unknown). Attribute types are
  not known for a CSV and are 0.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from fashion.data.datasets.common import (
    BBOX_COLUMNS,
    BadRows,
    DatasetError,
    LabelledData,
    drop_missing_files,
    item_split,
    make_frame,
)

SPLIT_VALUES = {"train": "train", "val": "val", "validation": "val", "test": "test"}
ATTRIBUTE_PREFIX = "attr:"


def read_csv_table(path: Path, bad: BadRows, *, val_fraction: float, test_fraction: float, seed: int,
                   check_files: bool) -> LabelledData:
    """Read a CSV dataset (see the module docstring); ``root`` of the result is the CSV file."""
    table = _read(path)
    columns = {c.strip().lower(): c for c in table.columns}
    path_column = columns.get("path") or columns.get("image")
    if path_column is None or "category" not in columns:
        raise DatasetError(f"{path}: needs a 'path' (or 'image') column and a 'category' column; "
                           f"found {', '.join(map(str, table.columns)) or 'no columns'}")
    lines = np.arange(len(table), dtype=np.int64) + 2  # line 1 is the header
    keep = np.ones(len(table), dtype=bool)

    def reject(mask: np.ndarray, reason: str) -> None:
        mask = mask & keep
        if mask.any():
            bad.rows(path, lines[mask], reason)
            keep[mask] = False

    names = table[path_column].str.strip()
    reject((names == "").to_numpy(), "empty image path")
    reject(names.duplicated(keep="first").to_numpy(), "duplicated image path (only the first row is kept)")

    splits = None
    if "split" in columns:
        raw = table[columns["split"]].str.strip().str.lower()
        splits = raw.map(SPLIT_VALUES)
        example = raw[splits.isna() & keep].head(1).tolist()
        reject(splits.isna().to_numpy(), f"split must be train, val (or validation) or test, found {example[:1]}")

    present = [c for c in BBOX_COLUMNS if c in columns]
    if present and len(present) < 4:
        raise DatasetError(f"{path}: has {', '.join(present)} but a box needs all of x1, y1, x2, y2")
    bbox = bbox_known = None
    if present:
        bbox, bbox_known, wrong, reversed_box = _boxes(table[[columns[c] for c in BBOX_COLUMNS]])
        reject(wrong, "bbox values must be whole numbers >= 0, all four or none")
        reject(reversed_box, "reversed bbox (x2 < x1 or y2 < y1)")

    attribute_columns = [c for c in table.columns if c.strip().lower().startswith(ATTRIBUTE_PREFIX)]
    attribute_names = [c.strip()[len(ATTRIBUTE_PREFIX):].strip() for c in attribute_columns]
    attributes = None
    if attribute_columns:
        attributes, wrong = _attribute_values(table[attribute_columns])
        reject(wrong, "attribute values must be 1, -1, 0 or empty")

    root = path.parent
    if check_files:
        rows = np.flatnonzero(keep)
        present_files = drop_missing_files(root, names.iloc[rows].tolist(), str(path), lines[rows], bad)
        keep[rows[~present_files]] = False

    rows = np.flatnonzero(keep)
    kept = table.iloc[rows]
    category_text = kept[columns["category"]].str.strip()
    category_names = _sorted_names(category_text[category_text != ""].unique().tolist())
    lookup = {name: i for i, name in enumerate(category_names)}
    categories = category_text.map(lambda v: lookup.get(v, -1)).to_numpy(dtype=np.int64)
    items = np.full(len(rows), None, dtype=object)
    if "item_id" in columns:
        item_text = kept[columns["item_id"]].str.strip().to_numpy(dtype=object)
        items[item_text != ""] = item_text[item_text != ""]
    split_values = (splits.iloc[rows].to_numpy(dtype=object) if splits is not None
                    else item_split(items, val_fraction, test_fraction, seed))
    frame = make_frame(root, names.iloc[rows].tolist(), categories, category_names, split_values, items,
                       None if bbox is None else bbox[rows], None if bbox_known is None else bbox_known[rows])
    return LabelledData(frame, None if attributes is None else attributes[rows], category_names,
                        [0] * len(category_names), attribute_names, [0] * len(attribute_names), "csv", path)


def has_dataset_columns(path: Path) -> bool:
    """Whether the CSV's header has an image column (``path``/``image``) and a ``category`` column."""
    try:
        header = pd.read_csv(path, nrows=0, dtype=str, skipinitialspace=True).columns
    except (OSError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError):
        return False
    names = {str(c).strip().lower() for c in header}
    return bool(names & {"path", "image"}) and "category" in names


def csv_is_readable(path: Path) -> bool:
    """Whether the file parses as CSV text at all (whatever its columns)."""
    try:
        _read(path)
    except DatasetError:
        return False
    return True


def _read(path: Path) -> pd.DataFrame:
    if path.is_dir():
        raise DatasetError(f"{path}: a folder, not a CSV file")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found") from None
    except OSError as error:
        raise DatasetError(f"{path}: cannot be read ({error.strerror or error})") from None
    except UnicodeDecodeError:
        raise DatasetError(f"{path}: {_undecodable_line(path)}not UTF-8 text (a damaged or binary file?)") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise DatasetError(f"{path}: not a readable CSV ({str(error).strip()})") from None
    if any("\x00" in str(c) for c in table.columns):
        raise DatasetError(f"{path}: not a readable CSV (NUL bytes: a damaged or binary file?)")
    return table


def _undecodable_line(path: Path) -> str:
    """``"line N: "`` of the first byte that is not UTF-8 (empty when the file cannot be re-read)."""
    try:
        data = path.read_bytes()
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        return f"line {line}: "
    except OSError:
        pass
    return ""


def _boxes(columns: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(N, 4) int boxes, which rows have one, which rows are malformed, which are reversed."""
    text = columns.apply(lambda c: c.str.strip())
    empty = (text == "").to_numpy()
    numbers = text.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    whole = np.isfinite(numbers) & (numbers >= 0) & (numbers == np.round(numbers))
    known = whole.all(axis=1)
    wrong = ~known & ~empty.all(axis=1)
    boxes = np.where(whole, numbers, 0).astype(np.int64)
    reversed_box = known & ((boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1]))
    known &= (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])  # an empty box is no box
    return boxes, known, wrong, reversed_box


def _attribute_values(columns: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    text = columns.apply(lambda c: c.str.strip()).to_numpy(dtype=object)
    values = np.zeros(text.shape, dtype=np.int8)
    for label, value in (("1", 1), ("+1", 1), ("-1", -1), ("0", 0), ("", 0)):
        values[text == label] = value
    wrong = ~np.isin(text, ["1", "+1", "-1", "0", ""])
    return values, wrong.any(axis=1)


def _sorted_names(names: list[str]) -> list[str]:
    try:
        return sorted(names, key=int)
    except ValueError:
        return sorted(names)
