"""Colour families judged by eye (``bench/judged/``), the truth for real photos without colour labels."""

from __future__ import annotations

import csv
from pathlib import Path

JUDGED_DIR = Path(__file__).resolve().parent / "judged"
#: Files of judged colours by the dataset folder's name.
JUDGED_FILES = {"clothing-dataset-small": "clothing_small_colours.csv"}


def judged_key(path: str | Path) -> str:
    """A photo's key in a judged file: ``split/category/file`` (whether a catalog is the dataset or one split)."""
    return "/".join(Path(path).parts[-3:])


def load_judged_colours(dataset_root: str | Path) -> dict[str, str] | None:
    """``{split/category/file: family judged by eye}`` for the dataset at ``dataset_root`` (found by a
    folder's name on its path), or None when no judged file is on record for it."""
    parts = Path(dataset_root).parts
    name = next((file for folder, file in JUDGED_FILES.items() if folder in parts), None)
    if name is None:
        return None
    with (JUDGED_DIR / name).open(newline="") as handle:
        rows = csv.DictReader(line for line in handle if not line.startswith("#"))
        return {row["key"]: row["family"] for row in rows}
