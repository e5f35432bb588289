"""Fit the segmenter's person test: ``python scripts/train_person_test.py``.

Writes ``fashion/segment/weights/person_test.json`` (see :mod:`fashion.segment.person`): a logistic
regression on the shipped segmenter's summary of a photo, people against product shots.

* People: Clothing Co-Parsing (``../shared/data/clothing-co-parsing``, Apache-2.0), train split
  (photo numbers n % 5 not in {0, 1}); validation: its val split (n % 5 == 1). Its test split
  (n % 5 == 0) is never read here.
* Product shots: clothing-dataset-small (``../shared/data/clothing-dataset-small``, CC0) ``train/``;
  validation: ``validation/``; its ``test/`` is never read here. Plus the generated sample
  (``data/sample``, made by the project's own generator with the default settings) train / val splits.
  A few clothing-dataset-small photos are worn garments; they count as product shots here, so
  such a photo keeps the border-colour model it had before segmentation existed.

The threshold is chosen on the validation photos: the best balanced accuracy (people kept plus
product shots refused, each as a share), in the middle of the range of equally good thresholds.
Deterministic up to float rounding (a rerun differed by 1e-14 in the weights: BLAS threads). Without CCP or
clothing-dataset-small it says so and exits with status 0.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from fashion.io_utils import atomic_write_text, file_checksum  # noqa: E402
from scripts.arguments import positive_float  # noqa: E402
from fashion.segment.ccp import ccp_available, ccp_items, default_ccp_root, split_of  # noqa: E402
from fashion.segment.person import PersonTest  # noqa: E402
from fashion.segment.weights import DEFAULT_WEIGHTS, PERSON_TEST_FILE  # noqa: E402

COMMAND = "python scripts/train_person_test.py"
DEFAULT_PRODUCTS = REPO.parent / "shared" / "data" / "clothing-dataset-small"
DEFAULT_SAMPLE = REPO / "data" / "sample"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ccp", type=Path, default=default_ccp_root(), help="CCP folder (people)")
    parser.add_argument("--products", type=Path, default=DEFAULT_PRODUCTS,
                        help="clothing-dataset-small folder (product shots)")
    parser.add_argument("--sample", type=Path, default=DEFAULT_SAMPLE,
                        help="the generated sample (made with the default settings when absent)")
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS, help="segmenter weights to read")
    parser.add_argument("--c", type=positive_float, default=1.0, help="inverse L2 strength of the logistic regression")
    return parser.parse_args(argv)


def summaries(segmenter: object, photos: list[Path]) -> np.ndarray:
    """The segmenter's summary of each photo, ``(N, F)`` float64."""
    import torch

    from fashion.data.images import load_image

    rows = []
    with torch.inference_mode():
        for photo in photos:  # the encoder alone: the summary needs no decoder
            encoded = segmenter.model.encode(segmenter.network_input(load_image(photo)))
            rows.append(segmenter.model.summary(encoded)[0].numpy().astype(np.float64))
    return np.stack(rows)


def choose_threshold(probability: np.ndarray, is_person: np.ndarray) -> float:
    """The threshold with the best balanced accuracy on these photos (people kept + product shots
    refused, each as a share), in the middle (in log-odds) of the widest-scoring gap between
    neighbouring probabilities, clipped to [0.01, 0.99]."""
    cuts = np.unique(np.clip(probability, 1e-6, 1 - 1e-6))
    candidates = np.r_[cuts[0] / 2, (cuts[:-1] + cuts[1:]) / 2, (cuts[-1] + 1) / 2] if len(cuts) > 1 else cuts
    people, products = probability[is_person == 1], probability[is_person == 0]
    scores = [(people >= t).mean() + (products < t).mean() for t in candidates]
    best = np.flatnonzero(np.isclose(scores, max(scores)))
    # The best thresholds form runs; take the middle of the run of equally good ones in log-odds.
    low, high = candidates[best[0]], candidates[best[-1]]
    logit = np.log([low / (1 - low), high / (1 - high)]).mean()
    return float(np.clip(1 / (1 + np.exp(-logit)), 0.01, 0.99))


def sample_photos(root: Path) -> dict[str, list[Path]]:
    """The generated sample's photos by split (``Eval/list_eval_partition.txt``), generating it first."""
    from fashion.config import load_config
    from fashion.data.sample import ensure_sample

    ensure_sample(root, load_config().sample, announce=print)
    lines = (root / "Eval" / "list_eval_partition.txt").read_text(encoding="utf-8").splitlines()[2:]
    by_split: dict[str, list[Path]] = {}
    for line in lines:
        name, split = line.split()
        by_split.setdefault(split, []).append(root / name)
    return by_split


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not ccp_available(args.ccp) or not (args.products / "train").is_dir():
        print(f"needs Clothing Co-Parsing at {args.ccp} and clothing-dataset-small at {args.products}; "
              "nothing to do")
        return 0
    import torch
    from sklearn.linear_model import LogisticRegression

    from fashion.segment import Segmenter

    torch.set_num_threads(1)
    started = time.perf_counter()
    segmenter = Segmenter.load(args.weights, threads=1)
    people = {split: [item.photo for item in ccp_items(args.ccp) if split_of(item.number) == split]
              for split in ("train", "val")}
    sample = sample_photos(args.sample)
    products = {"train": sorted((args.products / "train").rglob("*.jpg")) + sample["train"],
                "val": sorted((args.products / "validation").rglob("*.jpg")) + sample["val"]}
    x = {split: np.concatenate([summaries(segmenter, people[split]), summaries(segmenter, products[split])])
         for split in ("train", "val")}
    y = {split: np.r_[np.ones(len(people[split])), np.zeros(len(products[split]))] for split in ("train", "val")}

    mean, scale = x["train"].mean(axis=0), x["train"].std(axis=0)
    scale = np.where(scale > 1e-8, scale, 1.0)
    model = LogisticRegression(C=args.c, class_weight="balanced", max_iter=5000)
    model.fit((x["train"] - mean) / scale, y["train"])
    test = PersonTest(mean, scale, model.coef_[0].astype(np.float64), float(model.intercept_[0]), 0.5,
                      file_checksum(args.weights))

    threshold = choose_threshold(test.probability(x["val"]), y["val"])
    test = PersonTest(test.mean, test.scale, test.coef, test.intercept, threshold, test.segmenter_sha256)

    def rates(split: str) -> dict[str, float]:
        p = test.probability(x[split])
        return {"people_kept": round(float((p[y[split] == 1] >= threshold).mean()), 4),
                "products_taken_for_people": round(float((p[y[split] == 0] >= threshold).mean()), 4)}

    record = test.to_dict()
    record["provenance"] = {
        "command": COMMAND,
        "data": {"people": "Clothing Co-Parsing (Yang et al.), Apache-2.0: train split fitted, val split for the "
                           "threshold, test split never read",
                 "product shots": "clothing-dataset-small (CC0) train/ fitted, validation/ for the threshold, test/ "
                                  "never read; the generated sample's train / val splits"},
        "photos": {split: {"people": len(people[split]), "product shots": len(products[split])}
                   for split in ("train", "val")},
        "threshold_rule": "best balanced accuracy on the val photos, mid-gap in log-odds",
        "train": rates("train"), "val": rates("val"),
        "c": args.c, "sklearn": __import__("sklearn").__version__, "torch": torch.__version__,
        "python": platform.python_version(),
    }
    out = args.weights.with_name(PERSON_TEST_FILE)
    atomic_write_text(out, json.dumps(record, indent=1) + "\n")
    digest = hashlib.sha256(out.read_bytes()).hexdigest()[:16]
    print(f"wrote {out} (sha256 {digest}...) in {time.perf_counter() - started:.0f} s: threshold {threshold:.3f}; "
          f"train {record['provenance']['train']}; val {record['provenance']['val']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
