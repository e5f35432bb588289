"""The catalog index: what a catalog holds, where it lives, how it is saved and loaded.

A catalog index is a folder (``runs/<run>/catalog/`` for the training data's gallery,
``runs/<run>/catalogs/<folder>-<hash>/`` for a folder of a user's own images)::

    CURRENT                 one line: the name of the live version folder (swapped atomically)
    v-<stamp>/manifest.json format, model checksum, config used, source, each image's size+mtime
    v-<stamp>/items.csv     key, path, label, item_id, name (one row per indexed image)
    v-<stamp>/*.npy         embeddings, category_probs, attribute_index, attribute_probs,
                            palette_lab, palette_rgb, palette_shares, family_net_probs
                            (rows aligned with items.csv)
    partial/                finished chunks of a build in progress (an interrupted build resumes)
    .lock                   held while a build runs

A build writes a complete new version folder, then replaces ``CURRENT`` in one rename, so a
reader (another ``recommend.py``, a web server) always sees a whole catalog, old or new.
What to index lives in :mod:`fashion.index.sources`, building in :mod:`fashion.index.builder`; this
module only describes, reads and writes.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fashion.errors import FashionError
from fashion.io_utils import atomic_write_text

FORMAT = "fashion-catalog/2"  # 2: family_net_probs
ARRAYS = ("embeddings", "category_probs", "attribute_index", "attribute_probs",
          "palette_lab", "palette_rgb", "palette_shares", "family_net_probs")
ITEM_COLUMNS = ("key", "path", "label", "item_id", "name")
METADATA_FILE = "metadata.csv"


class CatalogError(FashionError, ValueError):
    """A catalog index or catalog folder cannot be used; the message says why and what to do."""


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
    # (N, 12) float32: the colour family network's probabilities (fashion.colour.family_net) of
    # MODEL_CLASSES; a row of zeros where it did not run (a photo of a person, colour.family_net=none).
    family_net_probs: np.ndarray | None = None

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
    """The live version folder of a catalog folder, or None when it has none (or a damaged pointer)."""
    pointer = Path(directory) / "CURRENT"
    if not pointer.is_file():
        return None
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    # The pointer names one version folder beside it: anything else (a path, a damaged line) is ignored.
    if not name.startswith("v-") or "/" in name or "\\" in name or "\0" in name or "\n" in name:
        return None
    version = Path(directory) / name
    return version if (version / "manifest.json").is_file() else None


def read_manifest(directory: Path, version: Path | None = None) -> dict[str, Any] | None:
    """The live manifest of a catalog folder (None when there is no usable index), or that of
    ``version`` (one version folder read once: a swap of CURRENT in between cannot mix two)."""
    version = read_current(directory) if version is None else version
    if version is None:
        return None
    try:
        manifest = json.loads((version / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):  # ValueError: JSON syntax and undecodable bytes alike
        return None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        return None
    return manifest


def stored_format(directory: Path) -> str | None:
    """The format a catalog folder's live manifest names (None when there is no readable one): an
    index of another format is not damaged, only older (or newer) than this code."""
    version = read_current(directory)
    try:
        manifest = json.loads((version / "manifest.json").read_text(encoding="utf-8")) if version else None
    except (OSError, ValueError):
        return None
    found = manifest.get("format") if isinstance(manifest, dict) else None
    return found if isinstance(found, str) else None


# The number of dimensions of each array (rows first); anything else is a damaged index.
ARRAY_DIMS = {"embeddings": 2, "category_probs": 2, "attribute_index": 2, "attribute_probs": 2,
              "palette_lab": 3, "palette_rgb": 3, "palette_shares": 2, "family_net_probs": 2}


def load_catalog(directory: Path, mmap: bool = True) -> Catalog:
    """Load the live index of a catalog folder (arrays memory-mapped: cold starts stay fast).

    Any damage (a missing, empty, truncated or foreign file; arrays that disagree with each other or
    with the manifest's shapes; a NaN or infinite value) is a :class:`CatalogError` (delete the
    folder to rebuild it); :func:`fashion.index.builder.open_catalog` rebuilds the index itself.
    """
    directory = Path(directory)
    version = read_current(directory)
    manifest = read_manifest(directory, version) if version is not None else None
    if version is None or manifest is None:
        raise CatalogError(f"{directory}: no catalog index here (it is built by python recommend.py)")
    try:
        arrays = {name: np.load(version / f"{name}.npy", mmap_mode="r" if mmap else None) for name in ARRAYS}
        items = pd.read_csv(version / "items.csv", dtype=str, keep_default_na=False)
    except (OSError, ValueError, EOFError) as error:  # EOFError: an empty or truncated .npy
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise CatalogError(f"{version}: damaged catalog index ({detail})") from None
    bad = [name for name, array in arrays.items()
           if not isinstance(array, np.ndarray) or array.ndim != ARRAY_DIMS[name] or array.dtype.kind not in "fiu"]
    missing = [column for column in ITEM_COLUMNS if column not in items.columns]
    if bad or missing:
        what = f"arrays {', '.join(bad)}" if bad else f"items.csv lacks {', '.join(missing)}"
        raise CatalogError(f"{version}: damaged catalog index ({what})")
    if any(len(a) != len(items) for a in arrays.values()):
        raise CatalogError(f"{version}: damaged catalog index (arrays and items disagree)")
    shapes = manifest.get("shapes")  # absent in indexes written before it was recorded
    if isinstance(shapes, dict):
        bad = [name for name, array in arrays.items() if shapes.get(name) != list(array.shape[1:])]
        if bad:
            raise CatalogError(f"{version}: damaged catalog index (arrays {', '.join(bad)} do not have the "
                               f"shape the manifest records)")
    not_finite = [name for name, array in arrays.items() if not _all_finite(array)]
    if not_finite:
        raise CatalogError(f"{version}: damaged catalog index (NaN or infinite values in {', '.join(not_finite)})")
    return Catalog(directory=directory, version=version, manifest=manifest, items=items, **arrays)


def _all_finite(array: np.ndarray, rows: int = 65536) -> bool:
    """Whether every value is finite, read in slices (a mapped array is not copied whole): about
    50 ms for 300,000 x 512 float32 values from the page cache."""
    if array.dtype.kind != "f":
        return True
    return all(bool(np.isfinite(array[start:start + rows]).all()) for start in range(0, len(array), rows))


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
    pointer = directory / "CURRENT"
    if pointer.is_dir() and not pointer.is_symlink():  # a damaged index: the pointer is ours to replace
        shutil.rmtree(pointer)
    atomic_write_text(pointer, final.name + "\n")
    for old in directory.iterdir():
        if old.is_dir() and old != final and (old.name.startswith("v-") or old.name.startswith(".v-")):
            shutil.rmtree(old, ignore_errors=True)
    return final


def now_iso() -> str:
    """The current UTC time, ISO 8601, seconds."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
