"""Catalog sources: what to index (the training data's test split, or a folder of a user's images,
with an optional ``metadata.csv``) and a cheap signature of their files, to tell when to update."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from fashion.config import Config
from fashion.data.images import IMAGE_SUFFIXES
from fashion.index.catalog import METADATA_FILE, CatalogError


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
    seen: set[tuple[int, int]] = set()  # folders walked, by device and inode: a link loop ends here
    while stack:
        folder, depth = stack.pop()
        try:
            info = folder.stat()
            if (info.st_dev, info.st_ino) in seen:
                continue
            seen.add((info.st_dev, info.st_ino))
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
            # surrogateescape: a name that is not UTF-8 (bytes from another system) is signed as is.
            digest.update(f"D {folder.relative_to(root)} {info.st_mtime_ns}\n".encode("utf-8", "surrogateescape"))
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            # Images are skipped by name alone: building a Path for each of a catalog's thousands of
            # images was half of this function's time (a cold --categories waits for it).
            try:
                is_folder = entry.is_dir(follow_symlinks=True)
            except OSError:  # a link to itself (ELOOP): nothing to walk
                continue
            if is_folder:
                path = Path(entry.path)
                if (max_depth is None or depth < max_depth) and (skip is None or path.resolve() != skip):
                    stack.append((path, depth + 1))
            elif os.path.splitext(entry.name)[1].lower() not in IMAGE_SUFFIXES:
                try:
                    stat = entry.stat()
                except OSError:  # a dangling link, or a link loop
                    continue
                digest.update(f"F {Path(entry.path).relative_to(root)} {stat.st_size} {stat.st_mtime_ns}\n"
                              .encode("utf-8", "surrogateescape"))
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


def catalog_folder(folder: str | Path) -> Path:
    """``folder`` (``~`` expanded) when it is a folder; else a :class:`CatalogError` saying what it is."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise CatalogError(f"{folder}: {'a file, not a folder of images' if folder.exists() else 'catalog folder not found'}")
    return folder


def folder_source(folder: Path, skip: Path | None = None) -> CatalogSource:
    """Every image under ``folder`` (recursively), with ``metadata.csv`` beside them when present.

    ``metadata.csv`` columns (all but ``path`` optional): path (relative to the folder), name,
    category, item_id, and x1, y1, x2, y2 for a garment box.
    """
    folder = catalog_folder(folder)
    root = folder.resolve()
    paths, unnamed = [], []
    seen = {_folder_id(root)}  # folders walked: a link back up the tree is not followed again
    for current, dirs, files in os.walk(root, followlinks=True):
        dirs[:] = [d for d in sorted(dirs) if not d.startswith(".")
                   and (skip is None or (Path(current) / d).resolve() != skip)
                   and _first_visit(Path(current) / d, seen)]
        for name in sorted(files):
            if name.startswith(".") or not is_image_file(Path(name)):
                continue
            if not _is_utf8(name):  # items.csv and the web need text: said at build, not a crash after it
                unnamed.append(os.path.join(current, name).encode("utf-8", "surrogateescape").decode("utf-8", "replace"))
                continue
            paths.append(Path(current) / name)
    if not paths:
        raise CatalogError(f"{folder}: no images found (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
    keys = [_relative_key(p, root) for p in paths]
    entries = pd.DataFrame({"key": keys, "path": [str(p) for p in paths], "label": "", "item_id": keys,
                            "name": [Path(k).stem for k in keys]})
    for column in ("x1", "y1", "x2", "y2"):
        entries[column] = pd.array([pd.NA] * len(entries), dtype="Int64")
    metadata = root / METADATA_FILE
    details: dict[str, Any] = {"metadata": metadata.is_file()}
    if unnamed:
        details["names_not_utf8"] = {"files": len(unnamed), "examples": unnamed[:3]}
    if metadata.is_file():
        entries, unmatched = _merge_metadata(entries, metadata, root)
        if unmatched:  # a typo in a path would otherwise lose that image's name, category and box unsaid
            details["metadata_unmatched"] = {"rows": len(unmatched), "examples": unmatched[:3]}
    return CatalogSource("folder", root, entries, tree_signature(root, max_depth=None, skip=skip), details)


def _folder_id(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except OSError:  # a dangling link or a link loop: not a folder to walk
        return None
    return info.st_dev, info.st_ino


def _first_visit(path: Path, seen: set[tuple[int, int] | None]) -> bool:
    """Whether the folder ``path`` (links followed) is walked for the first time; it is noted."""
    key = _folder_id(path)
    if key is None or key in seen:
        return False
    seen.add(key)
    return True


def _is_utf8(name: str) -> bool:
    """Whether a file name decoded by the OS is text (an undecodable byte is a lone surrogate)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _merge_metadata(entries: pd.DataFrame, metadata: Path, root: Path) -> tuple[pd.DataFrame, list[str]]:
    """The entries with ``metadata.csv``'s names, categories, item ids and boxes; and the paths of
    its rows that name no image of the folder (missing, outside it, or not an image)."""
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
    unmatched = [str(path).strip() for key, path in zip(meta.index, meta["path"]) if key not in entries.index]
    for column, target in (("name", "name"), ("category", "label"), ("item_id", "item_id")):
        if column in meta.columns:
            values = meta.loc[common, column].str.strip()
            keep = values != ""
            entries.loc[common[keep.to_numpy()], target] = values[keep].to_numpy()
    if {"x1", "y1", "x2", "y2"} <= set(meta.columns):
        for column in ("x1", "y1", "x2", "y2"):
            numbers = pd.to_numeric(meta.loc[common, column], errors="coerce").round().astype("Int64")
            entries.loc[common, column] = numbers.to_numpy()
    return entries.reset_index(), unmatched


def _relative_key(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root).as_posix()
    except ValueError:
        return path.resolve().as_posix()


def _item_name(key: Path) -> str:
    parent = key.parent.name
    return parent.replace("_", " ") if parent and parent not in {"img", "images", ""} else key.stem
