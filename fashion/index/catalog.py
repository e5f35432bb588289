"""The catalog index: what a catalog holds, where it lives, how it is saved and loaded.

A catalog index is a folder (``runs/<run>/catalog/`` for the training data's gallery,
``runs/<run>/catalogs/<folder>-<hash>/`` for a folder of a user's own images)::

    CURRENT                 one line: the name of the live version folder (swapped atomically)
    v-<stamp>/manifest.json format, model checksum, config used, source, each image's size+mtime
    v-<stamp>/items.csv     key, path, label, item_id, name (one row per indexed image)
    v-<stamp>/*.npy         embeddings, category_probs, attribute_index, attribute_probs,
                            palette_lab, palette_rgb, palette_shares (rows aligned with items.csv)
    partial/                finished chunks of a build in progress (an interrupted build resumes)
    .lock                   held while a build runs

A build writes a complete new version folder, then replaces ``CURRENT`` in one rename, so a
reader (another ``recommend.py``, a web server) always sees a whole catalog, old or new.
Building lives in :mod:`fashion.index.builder`; this module only describes, reads and writes.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fashion.errors import FashionError
from fashion.config import Config
from fashion.data.images import IMAGE_SUFFIXES
from fashion.io_utils import atomic_write_text

FORMAT = "fashion-catalog/1"
ARRAYS = ("embeddings", "category_probs", "attribute_index", "attribute_probs",
          "palette_lab", "palette_rgb", "palette_shares")
ITEM_COLUMNS = ("key", "path", "label", "item_id", "name")
METADATA_FILE = "metadata.csv"


class CatalogError(FashionError, ValueError):
    """A catalog index or catalog folder cannot be used; the message says why and what to do."""


# ------------------------------------------------------------------------------- sources


@dataclass
class CatalogSource:
    """What to index: one row per image, plus a cheap signature of the source's files.

    ``entries`` columns: key (unique, relative to ``root`` where possible), path (absolute),
    x1, y1, x2, y2 (nullable Int64 box), label (category name or ""), item_id, name.
    """

    kind: str  # "dataset" (the training data's test split) | "folder"
    root: Path
    entries: pd.DataFrame
    signature: str
    details: dict[str, Any] = field(default_factory=dict)


def is_image_file(path: Path) -> bool:
    """True for file names with an image suffix (case-insensitive)."""
    return path.suffix.lower() in IMAGE_SUFFIXES


def tree_signature(root: Path, max_depth: int | None, skip: Path | None = None) -> str:
    """sha256 over the mtimes of ``root``'s folders and the size+mtime of its non-image files.

    Adding or removing an image changes its folder's mtime, and annotation files are the
    non-image files, so an unchanged signature plus unchanged indexed images means an unchanged
    source: :func:`fashion.index.builder.open_catalog` can skip parsing the dataset.
    """
    digest = hashlib.sha256()
    root = Path(root)
    stack: list[tuple[Path, int]] = [(root, 0)]
    while stack:
        folder, depth = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
            digest.update(f"D {folder.relative_to(root)} {folder.stat().st_mtime_ns}\n".encode())
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            if entry.is_dir(follow_symlinks=True):
                if (max_depth is None or depth < max_depth) and (skip is None or path.resolve() != skip):
                    stack.append((path, depth + 1))
            elif not is_image_file(path):
                stat = entry.stat()
                digest.update(f"F {path.relative_to(root)} {stat.st_size} {stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def dataset_signature(config: Config) -> str:
    """Signature of the training data and the settings that split it.

    Annotation files and the first level of folders (a class folder's mtime changes when an
    image is added to it) are enough: DeepFashion's thousands of item folders are not listed.
    A CSV dataset (``data.root`` is the file) is signed by the file's size and mtime.
    """
    data = config.data
    root = Path(data.root)
    settings = json.dumps([data.layout, data.val_fraction, data.test_fraction, data.use_bbox, config.train.seed])
    if root.is_file():
        stat = root.stat()
        tree = f"{root.resolve()} {stat.st_size} {stat.st_mtime_ns}"
    else:
        tree = tree_signature(root, max_depth=1)
    return hashlib.sha256((settings + tree).encode()).hexdigest()


def dataset_source(config: Config) -> CatalogSource:
    """The gallery: the test split of the configured training data (generating the sample if needed)."""
    from fashion.data.load import load_training_data

    data = load_training_data(config)
    root = Path(data.root).resolve()
    test = data.frame[data.frame["split"] == "test"].reset_index(drop=True)
    if len(test) == 0:
        raise CatalogError(f"{root}: the dataset's test split is empty; nothing to recommend from "
                           "(use --catalog DIR to index a folder of images)")
    entries = pd.DataFrame({
        "key": [_relative_key(Path(p), root) for p in test["path"]],
        "path": [str(Path(p).resolve()) for p in test["path"]],
        "label": test["category_name"].fillna("").astype(str),
        "item_id": test["item_id"].fillna("").astype(str) if "item_id" in test else "",
    })
    for column in ("x1", "y1", "x2", "y2"):
        entries[column] = (test[column] if config.data.use_bbox and column in test
                           else pd.Series(pd.NA, index=test.index)).astype("Int64")
    # An item's name shown to people: the item folder (DeepFashion's img/<Item>/...) reads well.
    entries["name"] = [_item_name(Path(k)) for k in entries["key"]]
    return CatalogSource("dataset", root, entries, dataset_signature(config),
                         {"split": "test", "layout": data.layout})


def folder_source(folder: Path, skip: Path | None = None) -> CatalogSource:
    """Every image under ``folder`` (recursively), with ``metadata.csv`` beside them when present.

    ``metadata.csv`` columns (all but ``path`` optional): path (relative to the folder), name,
    category, item_id, and x1, y1, x2, y2 for a garment box.
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise CatalogError(f"{folder}: catalog folder not found")
    root = folder.resolve()
    paths = []
    for current, dirs, files in os.walk(root, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")
                         and (skip is None or (Path(current) / d).resolve() != skip))
        paths += [Path(current) / f for f in sorted(files) if not f.startswith(".") and is_image_file(Path(f))]
    if not paths:
        raise CatalogError(f"{folder}: no images found (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
    keys = [_relative_key(p, root) for p in paths]
    entries = pd.DataFrame({"key": keys, "path": [str(p) for p in paths], "label": "", "item_id": keys,
                            "name": [Path(k).stem for k in keys]})
    for column in ("x1", "y1", "x2", "y2"):
        entries[column] = pd.array([pd.NA] * len(entries), dtype="Int64")
    metadata = root / METADATA_FILE
    if metadata.is_file():
        entries = _merge_metadata(entries, metadata, root)
    return CatalogSource("folder", root, entries, tree_signature(root, max_depth=None, skip=skip),
                         {"metadata": metadata.is_file()})


def _merge_metadata(entries: pd.DataFrame, metadata: Path, root: Path) -> pd.DataFrame:
    try:
        meta = pd.read_csv(metadata, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as error:
        raise CatalogError(f"{metadata}: not a readable CSV ({error})") from None
    meta.columns = [c.strip().lower() for c in meta.columns]
    if "path" not in meta.columns:
        raise CatalogError(f"{metadata}: needs a 'path' column (and optionally name, category, item_id, x1..y2)")
    meta["key"] = [_relative_key(root / p.strip(), root) for p in meta["path"]]
    meta = meta.drop_duplicates("key", keep="last").set_index("key")
    entries = entries.set_index("key")
    common = entries.index.intersection(meta.index)
    for column, target in (("name", "name"), ("category", "label"), ("item_id", "item_id")):
        if column in meta.columns:
            values = meta.loc[common, column].str.strip()
            keep = values != ""
            entries.loc[common[keep.to_numpy()], target] = values[keep].to_numpy()
    if {"x1", "y1", "x2", "y2"} <= set(meta.columns):
        for column in ("x1", "y1", "x2", "y2"):
            numbers = pd.to_numeric(meta.loc[common, column], errors="coerce").round().astype("Int64")
            entries.loc[common, column] = numbers.to_numpy()
    return entries.reset_index()


def _relative_key(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root).as_posix()
    except ValueError:
        return path.resolve().as_posix()


def _item_name(key: Path) -> str:
    parent = key.parent.name
    return parent.replace("_", " ") if parent and parent not in {"img", "images", ""} else key.stem


def short_hash(text: str, length: int = 8) -> str:
    """The first ``length`` hex digits of sha256(text)."""
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def default_index_dir(checkpoint: Path, folder: Path | None = None) -> Path:
    """``<run>/catalog`` for the training data, ``<run>/catalogs/<name>-<hash of its path>`` for a folder."""
    run_dir = Path(checkpoint).resolve().parent
    if folder is None:
        return run_dir / "catalog"
    resolved = Path(folder).expanduser().resolve()
    return run_dir / "catalogs" / f"{resolved.name or 'root'}-{short_hash(str(resolved))}"


# ------------------------------------------------------------------------------- the index


@dataclass
class Catalog:
    """A loaded catalog index. Arrays are memory-mapped and aligned with ``items`` rows."""

    directory: Path  # the catalog folder (holding CURRENT)
    version: Path  # the live version folder
    manifest: dict[str, Any]
    items: pd.DataFrame  # ITEM_COLUMNS
    embeddings: np.ndarray  # (N, D) float32 or float16, L2-normalised
    category_probs: np.ndarray  # (N, C) float32
    attribute_index: np.ndarray  # (N, T) int32: the item's T most likely attributes, best first
    attribute_probs: np.ndarray  # (N, T) float16: their probabilities
    palette_lab: np.ndarray  # (N, k, 3) float32 (unused slots: share 0)
    palette_rgb: np.ndarray  # (N, k, 3) uint8
    palette_shares: np.ndarray  # (N, k) float32, each row sorted descending

    def __len__(self) -> int:
        return len(self.items)

    @property
    def model_checksum(self) -> str:
        """sha256 of the checkpoint that built this catalog."""
        return str(self.manifest["model_checksum"])

    @property
    def predicted_category(self) -> np.ndarray:
        """(N,) int: the model's top-1 category for every item."""
        return np.argmax(self.category_probs, axis=1) if self.category_probs.shape[1] else np.zeros(len(self), int)


def read_current(directory: Path) -> Path | None:
    """The live version folder of a catalog folder, or None when it has none yet."""
    pointer = Path(directory) / "CURRENT"
    if not pointer.is_file():
        return None
    version = Path(directory) / pointer.read_text().strip()
    return version if (version / "manifest.json").is_file() else None


def read_manifest(directory: Path) -> dict[str, Any] | None:
    """The live manifest of a catalog folder (None when there is no usable index)."""
    version = read_current(directory)
    if version is None:
        return None
    try:
        manifest = json.loads((version / "manifest.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return manifest if manifest.get("format") == FORMAT else None


def load_catalog(directory: Path, mmap: bool = True) -> Catalog:
    """Load the live index of a catalog folder (arrays memory-mapped: cold starts stay fast)."""
    directory = Path(directory)
    version = read_current(directory)
    manifest = read_manifest(directory)
    if version is None or manifest is None:
        raise CatalogError(f"{directory}: no catalog index here (it is built by python recommend.py)")
    try:
        arrays = {name: np.load(version / f"{name}.npy", mmap_mode="r" if mmap else None) for name in ARRAYS}
        items = pd.read_csv(version / "items.csv", dtype=str, keep_default_na=False)
    except (OSError, ValueError) as error:
        raise CatalogError(f"{version}: damaged catalog index ({error}); delete the folder to rebuild it") from None
    if any(len(a) != len(items) for a in arrays.values()):
        raise CatalogError(f"{version}: damaged catalog index (arrays and items disagree); delete it to rebuild")
    return Catalog(directory=directory, version=version, manifest=manifest, items=items, **arrays)


def write_version(directory: Path, manifest: dict[str, Any], items: pd.DataFrame,
                  arrays: dict[str, np.ndarray]) -> Path:
    """Write a complete new version folder, then make it live with one atomic rename of CURRENT.

    Older version folders are removed afterwards (a reader that has them open keeps its mapped
    files: unlinked files stay readable on POSIX).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    staging = directory / f".v-{stamp}.tmp"
    staging.mkdir()
    for name in ARRAYS:
        with open(staging / f"{name}.npy", "wb") as handle:
            np.save(handle, np.ascontiguousarray(arrays[name]))
            handle.flush()
            os.fsync(handle.fileno())
    items.loc[:, list(ITEM_COLUMNS)].to_csv(staging / "items.csv", index=False)
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    final = directory / f"v-{stamp}"
    os.replace(staging, final)
    atomic_write_text(directory / "CURRENT", final.name + "\n")
    for old in directory.iterdir():
        if old.is_dir() and old != final and (old.name.startswith("v-") or old.name.startswith(".v-")):
            shutil.rmtree(old, ignore_errors=True)
    return final


def now_iso() -> str:
    """The current UTC time, ISO 8601, seconds."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
