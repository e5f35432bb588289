"""Files of a training run: per-epoch history CSV, training-curve PNG, metrics JSON."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from fashion.io_utils import atomic_path, atomic_write_text


def _json_safe(value: Any) -> Any:
    """NaN/inf become null so the file is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` as indented, strict JSON, atomically."""
    atomic_write_text(path, json.dumps(_json_safe(data), indent=2) + "\n")


def append_history(path: Path, row: dict[str, Any]) -> None:
    """Add one epoch's row to the history CSV (rewritten atomically; columns may grow)."""
    frame = pd.read_csv(path) if path.exists() else pd.DataFrame()
    frame = pd.concat([frame, pd.DataFrame([row])], ignore_index=True)
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def plot_curves(history_csv: Path, out_png: Path) -> None:
    """Loss and accuracy per epoch, train and validation, as a PNG."""
    if not history_csv.exists():
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    history = pd.read_csv(history_csv)
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(history["epoch"], history["train_loss"], marker="o", label="train loss")
    left.set_xlabel("epoch")
    left.set_title("loss")
    left.legend()
    for column, label in (("train_category_acc", "train category acc"), ("val_category_top1", "val category top-1"),
                          ("val_category_top3", "val category top-3"),
                          ("val_attribute_top3_recall", "val attribute recall@3")):
        if column in history:
            right.plot(history["epoch"], history[column], marker="o", label=label)
    right.set_ylim(0, 1)
    right.set_xlabel("epoch")
    right.set_title("accuracy / recall")
    right.legend(loc="lower right")
    figure.tight_layout()
    with atomic_path(out_png) as tmp:
        figure.savefig(tmp, format="png", dpi=100)
    plt.close(figure)
