"""Finished feature batches of an evaluation, kept on disk so an interrupted run resumes.

Embedding every image of the query, gallery and tuning splits is the slow part of an evaluation
(minutes to hours). While it runs, finished rows are saved every :data:`FLUSH_SECONDS` and on
Ctrl-C or SIGTERM as ``chunk-NNNNN.npz`` files in the cache folder (each written atomically), under
a key of everything that shapes a row (model checksum, extraction settings). A rerun with the
same key reuses every row whose image file is unchanged (size, mtime, box) and embeds only the
rest; a ``kill -9`` loses at most the last few seconds. The folder is removed once the features
are complete. Damaged or foreign chunks are ignored (the rows are simply embedded again).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

#: Finished rows reach the disk at least this often while features are extracted.
FLUSH_SECONDS = 10.0
#: The per-row arrays a chunk holds (aligned with its ``paths``).
ARRAYS = ("embeddings", "category_probs", "attribute_probs", "palette_lab", "palette_shares")


def file_signature(path: str, bbox: Any) -> list:
    """``[size, mtime_ns, box]`` of an image file (``[-1, -1, box]`` when it cannot be read)."""
    try:
        stat = os.stat(path)
    except OSError:
        return [-1, -1, list(bbox) if bbox else None]
    return [int(stat.st_size), int(stat.st_mtime_ns), [int(v) for v in bbox] if bbox else None]


class FeatureCache:
    """The cache folder of one evaluation: ``load()`` what earlier runs finished, ``add()`` new rows,
    ``flush()`` them now and then, ``remove()`` when the features are complete."""

    def __init__(self, directory: Path, key: dict[str, Any]) -> None:
        self.directory = Path(directory)
        self.key = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]
        self._pending: list[tuple[str, list, dict[str, np.ndarray]]] = []
        self._last_flush = time.monotonic()

    def load(self, wanted: dict[str, list]) -> dict[str, dict[str, np.ndarray]]:
        """Rows saved under this key whose file signature still matches: ``{path: {array: row}}``."""
        found: dict[str, dict[str, np.ndarray]] = {}
        if not self.directory.is_dir():
            return found
        for chunk in sorted(self.directory.glob(f"chunk-{self.key}-*.npz")):
            try:
                with np.load(chunk, allow_pickle=False) as data:
                    paths = json.loads(str(data["paths"]))
                    signatures = json.loads(str(data["signatures"]))
                    arrays = {name: np.asarray(data[name]) for name in ARRAYS}
            except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
                continue  # a damaged chunk: its rows are embedded again
            if not all(len(a) == len(paths) for a in arrays.values()) or len(signatures) != len(paths):
                continue
            for i, (path, signature) in enumerate(zip(paths, signatures)):
                if wanted.get(path) == signature:
                    found[path] = {name: arrays[name][i] for name in ARRAYS}
        return found

    def add(self, paths: list[str], signatures: list[list], arrays: dict[str, np.ndarray]) -> None:
        """Queue finished rows; they are written at the next :meth:`flush` (at most every few seconds)."""
        self._pending.append((paths, signatures, arrays))
        if time.monotonic() - self._last_flush >= FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        """Write the queued rows as one chunk (atomically: a temporary file renamed into place)."""
        self._last_flush = time.monotonic()
        if not self._pending:
            return
        paths = [p for batch in self._pending for p in batch[0]]
        signatures = [s for batch in self._pending for s in batch[1]]
        arrays = {name: np.concatenate([batch[2][name] for batch in self._pending]) for name in ARRAYS}
        self._pending = []
        self.directory.mkdir(parents=True, exist_ok=True)
        number = len(list(self.directory.glob(f"chunk-{self.key}-*.npz")))
        final = self.directory / f"chunk-{self.key}-{number:05d}.npz"
        partial = final.with_suffix(".tmp.npz")
        np.savez(partial, paths=np.asarray(json.dumps(paths)), signatures=np.asarray(json.dumps(signatures)),
                 **arrays)
        os.replace(partial, final)

    def remove(self) -> None:
        """Delete the cache folder (the features are complete)."""
        self._pending = []
        shutil.rmtree(self.directory, ignore_errors=True)
