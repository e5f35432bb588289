"""Which reader a dataset needs (:func:`detect_layout`) and the one entry point (:func:`load_dataset`)."""

from __future__ import annotations

import warnings
from pathlib import Path

from fashion.data.datasets.common import LAYOUTS, BadRows, DatasetError, DatasetWarning, LabelledData, check_fractions
from fashion.data.datasets.csv_table import csv_is_readable, has_dataset_columns, read_csv_table
from fashion.data.datasets.deepfashion import anno_dir, read_deepfashion
from fashion.data.datasets.deepfashion_fine import is_fine, read_deepfashion_fine
from fashion.data.datasets.folders import has_class_folders, read_folders


def detect_layout(root: str | Path) -> str:
    """The layout of ``root``: ``deepfashion``, ``deepfashion_fine``, ``folders`` or ``csv``.

    A ``.csv`` file is ``csv``; a folder with ``Anno/list_category_img.txt`` (or ``Anno_coarse/``)
    is ``deepfashion`` (it wins when both annotation sets are present, as in the full release);
    ``Anno_fine/train.txt`` is ``deepfashion_fine``; a folder with exactly one ``.csv`` file that
    has ``path``/``image`` and ``category`` columns is ``csv``; class folders holding images are
    ``folders``; failing those, a folder with exactly one ``.csv`` file is ``csv`` (whose reader
    then explains what the file lacks).
    """
    root = Path(root)
    if root.is_file():
        if root.suffix.lower() == ".csv":
            return "csv"
        raise DatasetError(f"{root}: a file, but not a .csv file (give a dataset folder or a CSV file)")
    if not root.is_dir():
        raise DatasetError(f"{root}: dataset folder not found")
    if anno_dir(root) is not None:
        return "deepfashion"
    if is_fine(root):
        return "deepfashion_fine"
    csv_files = _csv_files(root)
    # A CSV with our columns describes the images better than their folders do; any other CSV
    # (e.g. a vendor's metadata beside class folders) is not ours to read.
    if len(csv_files) == 1 and has_dataset_columns(csv_files[0]):
        return "csv"
    if len(csv_files) == 1 and has_class_folders(root) and not csv_is_readable(csv_files[0]):
        # Not silently: a damaged labels file beside class folders would otherwise be ignored.
        warnings.warn(f"{csv_files[0]}: not a readable CSV (damaged?); reading {root} as class folders instead "
                      "(set data.layout to say which layout you mean)", DatasetWarning, stacklevel=2)
    if has_class_folders(root):
        return "folders"
    if len(csv_files) == 1:
        return "csv"
    raise DatasetError(
        f"{root}: cannot tell the dataset layout; expected Anno/list_category_img.txt (DeepFashion), "
        "Anno_fine/train.txt (DeepFashion fine), class folders with images, or one .csv file")


def load_dataset(root: str | Path, layout: str = "auto", on_bad_rows: str = "error", val_fraction: float = 0.1,
                 test_fraction: float = 0.1, seed: int = 0, check_files: bool = True) -> LabelledData:
    """Read the dataset at ``root`` (a folder, or a CSV file) into a :class:`LabelledData`.

    ``layout="auto"`` uses :func:`detect_layout`. ``on_bad_rows="error"`` raises
    :class:`DatasetError` on the first bad row (message: file, line, reason); ``"warn"`` skips bad
    rows and gives one :class:`DatasetWarning` with their number. ``val_fraction``,
    ``test_fraction`` and ``seed`` split the images by item when the dataset has no splits of its
    own. ``check_files`` makes a listed image that does not exist a bad row.
    """
    root = Path(root).expanduser().resolve()
    if layout != "auto" and layout not in LAYOUTS:
        raise DatasetError(f"unknown layout {layout!r}; expected auto, {', '.join(LAYOUTS)}")
    check_fractions(val_fraction, test_fraction)
    bad = BadRows(on_bad_rows)
    layout = detect_layout(root) if layout == "auto" else layout
    if layout == "csv":
        data = read_csv_table(_csv_path(root), bad, val_fraction=val_fraction, test_fraction=test_fraction,
                              seed=seed, check_files=check_files)
    elif not root.is_dir():
        raise DatasetError(f"{root}: dataset folder not found")
    elif layout == "deepfashion":
        data = read_deepfashion(root, bad, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed,
                                check_files=check_files)
    elif layout == "deepfashion_fine":
        data = read_deepfashion_fine(root, bad, check_files=check_files)
    else:
        data = read_folders(root, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed)
    if data.frame.empty:
        raise DatasetError(f"{root}: no usable images ({layout} layout"
                           + (f", {bad.skipped} bad rows skipped)" if bad.skipped else ")"))
    bad.emit(root, len(data.frame))
    used = used_categories(data)
    if len(used) < 2:
        warnings.warn(f"{root}: {single_category_text(data, used)}: category predictions and the category "
                      "score carry no information", DatasetWarning, stacklevel=2)
    return data


def used_categories(data: LabelledData) -> list[str]:
    """The category names that at least one image is labelled with."""
    codes = sorted({int(c) for c in data.frame["category"].tolist() if int(c) >= 0})
    return [data.category_names[c] for c in codes if c < len(data.category_names)]


def single_category_text(data: LabelledData, used: list[str]) -> str:
    """``"all 40 labelled images are of one category ('Tee')"`` (or of none)."""
    what = f"one category ({used[0]!r})" if used else "no category"
    return f"all {len(data.frame)} images are of {what}"


def _csv_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() == ".csv" and p.is_file())


def _csv_path(root: Path) -> Path:
    if root.is_file():
        return root
    if not root.is_dir():
        raise DatasetError(f"{root}: CSV file not found")
    found = _csv_files(root)
    if len(found) != 1:
        raise DatasetError(f"{root}: expected exactly one .csv file in the folder, found {len(found)}; "
                           "give the CSV file itself")
    return found[0]
