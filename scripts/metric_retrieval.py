"""Penultimate layer vs metric head: same-item retrieval on held-out items of a sample.

    python scripts/metric_retrieval.py runs/hard_pen/best.pt runs/hard_metric/best.pt [--splits val,test]

For each checkpoint, every image of the held-out splits (items never seen in training) is embedded
through the catalog's own path (:class:`fashion.model.encoder.Encoder`: crop to the box, eval
transform, network), then:

* item Recall@1/5/10, In-shop protocol: every image queries all the other held-out images; a hit
  is another view of the same item (:func:`fashion.evaluate.metrics.same_item_recall_at_k`);
* consumer-to-shop Recall@1/5/10 (a ``sample.hard`` sample): consumer views (img_0000000[2-9])
  query the shop views (img_00000001) only;
* category P@5 (the In-shop ranking: share of the top 5 with the query's category).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fashion.data.load import load_training_data  # noqa: E402
from fashion.data.loaders import bbox_of  # noqa: E402
from fashion.evaluate.metrics import category_precision_at_k, rank, same_item_recall_at_k  # noqa: E402
from fashion.model.checkpoint import load_model  # noqa: E402
from fashion.model.encoder import Encoder  # noqa: E402

KS = (1, 5, 10)


def embed(checkpoint: Path, splits: tuple[str, ...]) -> tuple[np.ndarray, object]:
    loaded = load_model(checkpoint, device="cpu")
    data = load_training_data(loaded.config)
    frame = data.frame[data.frame["split"].isin(splits)].reset_index(drop=True)
    encoder = Encoder.from_config(loaded, loaded.config)
    boxes = [bbox_of(frame, i) if loaded.config.data.use_bbox else None for i in range(len(frame))]
    rows = np.zeros((len(frame), loaded.model.embedding_dim), np.float32)
    for batch in encoder.encode_files(list(frame["path"]), boxes, batch_size=64, workers=0):
        rows[batch.index] = batch.features.embeddings
    return rows, frame


def measure(checkpoint: Path, splits: tuple[str, ...]) -> dict[str, object]:
    embeddings, frame = embed(checkpoint, splits)
    items = frame["item_id"].to_numpy(dtype=object)
    categories = frame["category"].to_numpy()
    scores = embeddings @ embeddings.T
    own = np.arange(len(frame))
    ranked = rank(scores, max(KS), exclude=own)
    in_shop = same_item_recall_at_k(ranked, items, items, own, KS)
    out: dict[str, object] = {
        "checkpoint": str(checkpoint), "images": len(frame), "items": int(len(set(items))),
        "item_recall": in_shop.recall,
        "category_precision": category_precision_at_k(ranked, categories, categories, KS),
    }
    shop = frame["path"].str.endswith("img_00000001.jpg").to_numpy()
    if shop.any() and (~shop).any():
        c2s = rank(embeddings[~shop] @ embeddings[shop].T, max(KS))
        result = same_item_recall_at_k(c2s, items[~shop], items[shop], None, KS)
        out["consumer_to_shop_recall"] = result.recall
        out["consumer_queries"], out["shop_gallery"] = result.counted, int(shop.sum())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoints", nargs="+", type=Path)
    parser.add_argument("--splits", default="val,test", help="held-out splits to query and search (comma-separated)")
    args = parser.parse_args()
    splits = tuple(s.strip() for s in args.splits.split(",") if s.strip())
    from fashion.cli.errors import exit_on_known_errors

    with exit_on_known_errors():  # a missing or damaged checkpoint is one line, not a traceback
        for checkpoint in args.checkpoints:
            print(json.dumps(measure(checkpoint, splits), default=lambda v: round(float(v), 4)))


if __name__ == "__main__":
    main()
