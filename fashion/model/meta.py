"""A small JSON beside each checkpoint (``best.pt`` → ``best.pt.meta.json``): its checksum, label
names and types and stored configuration, readable without torch.

``recommend.py --categories`` / ``--attributes`` answer from it and the catalog index alone, so
they never import torch. The file records the checkpoint's size and mtime: a checkpoint rewritten
since (a new training run) makes it stale, and it is then ignored (and rewritten on the next load).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fashion.io_utils import atomic_write_text
from fashion.model.labels import Labels

META_FORMAT = "fashion-checkpoint-meta/1"
META_SUFFIX = ".meta.json"


def meta_path(checkpoint: str | Path) -> Path:
    """Where the sidecar of ``checkpoint`` lives."""
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(checkpoint.name + META_SUFFIX)


def _stamp(checkpoint: Path) -> list[int]:
    stat = checkpoint.stat()
    return [int(stat.st_size), int(stat.st_mtime_ns)]


def write_meta(checkpoint: str | Path, checksum: str, labels: Labels, config: dict[str, Any]) -> bool:
    """Write the sidecar; False (and nothing raised) where the folder is read-only or the file gone."""
    checkpoint = Path(checkpoint)
    try:
        record = {"format": META_FORMAT, "file": _stamp(checkpoint), "checksum": checksum,
                  "labels": labels.to_dict(), "config": config}
        atomic_write_text(meta_path(checkpoint), json.dumps(record) + "\n")
    except (OSError, TypeError, ValueError):
        return False
    return True


def read_meta(checkpoint: str | Path) -> dict[str, Any] | None:
    """The sidecar of ``checkpoint`` when it exists, is whole and matches the file; else None."""
    checkpoint = Path(checkpoint)
    try:
        record = json.loads(meta_path(checkpoint).read_text(encoding="utf-8"))
        if (not isinstance(record, dict) or record.get("format") != META_FORMAT
                or record.get("file") != _stamp(checkpoint) or not isinstance(record.get("checksum"), str)
                or not isinstance(record.get("config"), dict)):
            return None
        record["labels"] = Labels(**{key: list(record["labels"][key]) for key in
                                     ("category_names", "category_types", "attribute_names", "attribute_types")})
    except (OSError, ValueError, TypeError, KeyError):
        return None
    return record
