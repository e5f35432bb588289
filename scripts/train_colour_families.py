"""Fit the colour family model: ``python scripts/train_colour_families.py``.

Writes ``fashion/colour/family_model.json`` (see :mod:`fashion.colour.family_model`): a
multinomial logistic regression from a garment's palette to the colour family a person names.

* Photos and palettes: clothing-dataset-small (``../shared/data/clothing-dataset-small``, CC0),
  each photo's palette exactly as a catalog stores it (``fashion.model.encoder.image_palette`` with
  the configured colour settings: border model, white balance, segmenter's person test).
* Labels: ``bench/judged/clothing_small_colours.csv``, every photo's family judged by eye.
* The model is fitted on ``train/``; its strength (the inverse L2 penalty) is chosen on
  ``validation/`` by the colour words' mean precision@10 (families with at least 10 photos),
  then by accuracy. ``test/`` is only reported, after the choice.

Without the dataset it says so and exits with status 0.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.judged_colours import judged_key, read_judged_file  # noqa: E402
from fashion.colour.family_model import BUILTIN_MODEL, MODEL_CLASSES, FamilyModel, fit_family_model, palette_features  # noqa: E402
from fashion.io_utils import atomic_write_text, check_output_file  # noqa: E402
from scripts.arguments import positive_float  # noqa: E402

COMMAND = "python scripts/train_colour_families.py"
DEFAULT_DATA = REPO.parent / "shared" / "data" / "clothing-dataset-small"
DEFAULT_LABELS = REPO / "bench" / "judged" / "clothing_small_colours.csv"
STRENGTHS = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
#: A colour word's precision is measured where a split has at least this many photos of the family.
MIN_ITEMS = 10


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help="a folder with train/, validation/ (and test/) of <category>/<photo> images")
    parser.add_argument("--labels", type=Path, default=DEFAULT_LABELS,
                        help="CSV of key,family (key: split/category/file), '#' comment lines allowed")
    parser.add_argument("--out", type=Path, default=BUILTIN_MODEL, help="where to write the model (JSON)")
    parser.add_argument("--strengths", type=lambda text: [positive_float(v) for v in text.split(",")],
                        default=list(STRENGTHS), help="inverse L2 strengths to choose among, comma-separated")
    return parser.parse_args(argv)


def split_palettes(data: Path, split: str, labels: dict[str, str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """``(lab (N, k, 3), shares (N, k), labels (N,), unreadable paths)`` of a split's judged photos,
    the palettes as a catalog computes them."""
    from tqdm import tqdm

    from fashion.colour.settings import ColourSettings
    from fashion.config import load_config
    from fashion.data.images import ImageLoadError, load_image
    from fashion.model.encoder import image_palette, padded_palette

    colour = ColourSettings.from_config(load_config())
    photos = sorted(p for p in (data / split).glob("*/*") if judged_key(p) in labels)
    labs, shares, kept, bad = [], [], [], []
    for photo in tqdm(photos, desc=f"palettes of {split}", unit="photo", leave=False):
        try:
            palette = image_palette(load_image(photo), None, colour)
        except (ImageLoadError, OSError) as error:
            bad.append(f"{photo}: {error}")
            continue
        lab, _, share = padded_palette(palette, colour.palette_size)
        labs.append(lab)
        shares.append(share)
        kept.append(labels[judged_key(photo)])
    k = colour.palette_size
    return (np.array(labs, np.float64).reshape(-1, k, 3), np.array(shares, np.float64).reshape(-1, k),
            np.array(kept, dtype=str), bad)


def word_precisions(probabilities: np.ndarray, classes: tuple[str, ...], truth: np.ndarray) -> dict[str, float]:
    """Precision@10 of ranking the photos by each family's probability, for the families with at
    least :data:`MIN_ITEMS` photos (the colour words' measure in ``python -m bench feedback``)."""
    precisions = {}
    for family in MODEL_CLASSES[:-1]:
        if family in classes and (truth == family).sum() >= MIN_ITEMS:
            top = np.argsort(-probabilities[:, classes.index(family)], kind="stable")[:MIN_ITEMS]
            precisions[family] = float((truth[top] == family).mean())
    return precisions


def probability_scores(probabilities: np.ndarray, classes: tuple[str, ...], truth: np.ndarray) -> dict[str, object]:
    """Word precisions of ``(N, C)`` probabilities of ``classes``, their mean, and the accuracy of
    the most probable class."""
    words = word_precisions(probabilities, classes, truth)
    predicted = np.array(classes)[probabilities.argmax(axis=1)]
    return {"words_mean": round(float(np.mean(list(words.values()))), 4) if words else None,
            "words": {k: round(v, 2) for k, v in words.items()},
            "accuracy": round(float((predicted == truth).mean()), 4), "photos": int(len(truth))}


def evaluate(model: FamilyModel, lab: np.ndarray, shares: np.ndarray, truth: np.ndarray) -> dict[str, object]:
    """:func:`probability_scores` of the model on packed palettes."""
    return probability_scores(model.probabilities(lab, shares), model.classes, truth)


def judged_labels(args: argparse.Namespace, what: str) -> dict[str, str] | int:
    """The judged labels, or the exit status instead: 0 when the dataset is absent (nothing to do,
    said), 2 when the labels or the output file ``what`` cannot be used (said on stderr)."""
    if not (args.data / "train").is_dir() or not (args.data / "validation").is_dir():
        print(f"needs clothing-dataset-small (train/ and validation/) at {args.data}; nothing to do")
        return 0
    try:
        labels = read_judged_file(args.labels)
        check_output_file(args.out, what)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return labels


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    labels = judged_labels(args, "model file")
    if isinstance(labels, int):
        return labels
    started = time.perf_counter()
    splits = [s for s in ("train", "validation", "test") if (args.data / s).is_dir()]
    data = {split: split_palettes(args.data, split, labels) for split in splits}
    for split, (_, _, truth, bad) in data.items():
        print(f"{split}: {len(truth)} judged photos" + (f", {len(bad)} unreadable (skipped)" if bad else ""))
    if len(set(data["train"][2])) < 2 or len(data["validation"][2]) == 0:
        print("error: the training photos need at least two judged families, and validation some photos", file=sys.stderr)
        return 2
    features = palette_features(data["train"][0], data["train"][1])
    rows = []
    for strength in args.strengths:
        model = fit_family_model(features, data["train"][2], strength)
        scores = evaluate(model, *data["validation"][:3])
        rows.append((scores["words_mean"] if scores["words_mean"] is not None else -1.0, scores["accuracy"], -strength))
        print(f"strength {strength:g}: validation words {scores['words_mean']} accuracy {scores['accuracy']:.3f} {scores['words']}")
    best = max(range(len(rows)), key=lambda i: rows[i])
    strength = args.strengths[best]
    model = fit_family_model(features, data["train"][2], strength)
    report = {split: evaluate(model, *data[split][:3]) for split in splits if split != "train"}
    print(f"chosen strength {strength:g} (validation); " + "; ".join(
        f"{split}: words {r['words_mean']} accuracy {r['accuracy']:.3f} {r['words']}" for split, r in report.items()))
    atomic_write_text(args.out, model.to_json(
        command=COMMAND, data=str(args.data.name), labels=str(args.labels.name), strength=strength,
        photos={split: int(len(data[split][2])) for split in splits}, figures=report,
        python=platform.python_version(), seconds=round(time.perf_counter() - started, 1)))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
