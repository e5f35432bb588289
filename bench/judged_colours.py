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


def read_judged_file(path: str | Path) -> dict[str, str]:
    """``{key: family}`` of a judged file (CSV with ``key`` and ``family`` columns, ``#`` comment
    lines); ``ValueError`` naming the photo of a family that is none of the families or ``multi``."""
    from fashion.colour.family_model import MODEL_CLASSES

    labels = {}
    with Path(path).open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(line for line in handle if not line.startswith("#")):
            family = (row.get("family") or "").strip()
            if family not in MODEL_CLASSES:
                raise ValueError(f"{path}: {row.get('key')!r} has family {family!r}; one of {', '.join(MODEL_CLASSES)}")
            labels[row["key"]] = family
    return labels


def load_judged_colours(dataset_root: str | Path) -> dict[str, str] | None:
    """``{split/category/file: family judged by eye}`` for the dataset at ``dataset_root`` (found by a
    folder's name on its path), or None when no judged file is on record for it."""
    parts = Path(dataset_root).parts
    name = next((file for folder, file in JUDGED_FILES.items() if folder in parts), None)
    return None if name is None else read_judged_file(JUDGED_DIR / name)
