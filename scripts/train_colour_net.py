"""Train the colour family network: ``python scripts/train_colour_net.py``.

Writes ``fashion/colour/family_net.pt`` (see :mod:`fashion.colour.family_net`): a small network
from a product shot to the colour family a person names for its garment.

* Photos: clothing-dataset-small (``../shared/data/clothing-dataset-small``, CC0), each squashed
  to the network's input (:func:`fashion.colour.family_net.network_input`); the palette and the
  person test exactly as a catalog computes them (:func:`fashion.model.encoder.image_colour`).
* Labels: ``bench/judged/clothing_small_colours.csv``, every photo's family judged by eye.
* Training on ``train/`` only, a fixed recipe (AdamW, one-cycle learning rate, label smoothing,
  horizontal flips; no colour augmentation: colour is the label), a fixed seed.
* The palette model's share when both are averaged (``palette_weight``) is chosen on
  ``validation/`` by the colour words' mean precision@10 (as ``scripts/train_colour_families.py``
  measures it; photos of people keep the palette model alone, as in a catalog). ``test/`` is only
  reported, after the choice.

About 12 minutes on 2 CPU cores (photos 2, training 10). Without the dataset it says so and
exits with status 0.
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

from bench.judged_colours import judged_key  # noqa: E402
from fashion.colour.family_model import MODEL_CLASSES, configured_family_model  # noqa: E402
from fashion.colour.family_net import BUILTIN_WEIGHTS, blend, build_network, save_family_net  # noqa: E402
from scripts.arguments import positive_int  # noqa: E402
from scripts.train_colour_families import DEFAULT_DATA, DEFAULT_LABELS, judged_labels, probability_scores  # noqa: E402

COMMAND = "python scripts/train_colour_net.py"
PALETTE_WEIGHTS = (0.0, 0.25, 0.5, 0.75)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help="a folder with train/, validation/ (and test/) of <category>/<photo> images")
    parser.add_argument("--labels", type=Path, default=DEFAULT_LABELS,
                        help="CSV of key,family (key: split/category/file), '#' comment lines allowed")
    parser.add_argument("--out", type=Path, default=BUILTIN_WEIGHTS, help="where to write the weights")
    parser.add_argument("--epochs", type=positive_int, default=20, help="training epochs")
    parser.add_argument("--seed", type=int, default=0, help="seed of the initial weights, batches and flips")
    return parser.parse_args(argv)


def split_photos(data: Path, split: str, labels: dict[str, str]) -> dict[str, np.ndarray]:
    """A split's judged photos: ``inputs`` (N, 3, S, S) uint8, ``lab``/``shares`` (the palettes),
    ``person`` (N,) bool, ``truth`` (N,) str. Unreadable photos are left out and counted."""
    from tqdm import tqdm

    from fashion.colour.family_net import INPUT_SIZE, network_input
    from fashion.colour.settings import ColourSettings
    from fashion.config import load_config
    from fashion.data.images import ImageLoadError, load_image
    from fashion.model.encoder import image_colour, padded_palette

    colour = ColourSettings.from_config(load_config())
    photos = sorted(p for p in (data / split).glob("*/*") if judged_key(p) in labels)
    rows: dict[str, list] = {"inputs": [], "lab": [], "shares": [], "person": [], "truth": []}
    unreadable = 0
    for photo in tqdm(photos, desc=f"photos of {split}", unit="photo", leave=False):
        try:
            image = load_image(photo)
        except (ImageLoadError, OSError):
            unreadable += 1
            continue
        palette, person = image_colour(image, None, colour)
        lab, _, shares = padded_palette(palette, colour.palette_size)
        for name, value in (("inputs", network_input(image)), ("lab", lab), ("shares", shares),
                            ("person", person), ("truth", labels[judged_key(photo)])):
            rows[name].append(value)
    k = colour.palette_size
    empty = np.zeros((0, 3, INPUT_SIZE, INPUT_SIZE), np.uint8)
    return {"inputs": np.stack(rows["inputs"]) if rows["inputs"] else empty,
            "lab": np.array(rows["lab"], np.float64).reshape(-1, k, 3),
            "shares": np.array(rows["shares"], np.float64).reshape(-1, k),
            "person": np.array(rows["person"], bool), "truth": np.array(rows["truth"], dtype=str),
            "unreadable": np.array(unreadable)}


def train_network(inputs: np.ndarray, truth: np.ndarray, epochs: int, seed: int) -> object:
    """The network trained on ``inputs`` with labels ``truth`` (names in MODEL_CLASSES)."""
    import torch
    from torch.nn import functional as F
    from tqdm import tqdm

    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    network = build_network()
    pixels = torch.from_numpy(inputs).float()
    targets = torch.tensor([MODEL_CLASSES.index(t) for t in truth])
    batch = 64
    steps = epochs * ((len(pixels) + batch - 1) // batch)
    optimiser = torch.optim.AdamW(network.parameters(), lr=3e-3, weight_decay=1e-3)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=3e-3, total_steps=steps)
    network.train()
    for _ in tqdm(range(epochs), desc="training", unit="epoch", leave=False):
        order = torch.randperm(len(pixels), generator=generator)
        for start in range(0, len(order), batch):
            index = order[start:start + batch]
            x = pixels[index]
            flip = torch.rand(len(index), generator=generator) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(3), x)
            loss = F.cross_entropy(network(x), targets[index], label_smoothing=0.1)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
    return network.eval()


def net_probabilities(network: object, inputs: np.ndarray) -> np.ndarray:
    """``(N, C)`` probabilities of the trained network, in batches."""
    import torch

    with torch.inference_mode():
        return np.concatenate([torch.softmax(network(torch.from_numpy(inputs[i:i + 256]).float()), dim=1).numpy()
                               for i in range(0, len(inputs), 256)] or [np.zeros((0, len(MODEL_CLASSES)))])


def scores(probabilities: np.ndarray, truth: np.ndarray) -> dict[str, object]:
    """Colour words (precision@10 per family with >= 10 photos), their mean, top-1 accuracy."""
    return probability_scores(probabilities, MODEL_CLASSES, truth)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    labels = judged_labels(args, "weights file")
    if isinstance(labels, int):
        return labels
    started = time.perf_counter()
    splits = [s for s in ("train", "validation", "test") if (args.data / s).is_dir()]
    data = {split: split_photos(args.data, split, labels) for split in splits}
    for split, rows in data.items():
        print(f"{split}: {len(rows['truth'])} judged photos, {int(rows['person'].sum())} of people"
              + (f", {int(rows['unreadable'])} unreadable (skipped)" if rows["unreadable"] else ""))
    if len(set(data["train"]["truth"])) < 2 or len(data["validation"]["truth"]) == 0:
        print("error: the training photos need at least two judged families, and validation some photos", file=sys.stderr)
        return 2
    network = train_network(data["train"]["inputs"], data["train"]["truth"], args.epochs, args.seed)
    palette_model = configured_family_model("builtin")

    def blended(split: str, weight: float) -> np.ndarray:
        rows = data[split]
        net = net_probabilities(network, rows["inputs"])
        net[rows["person"]] = 0.0  # as in a catalog: photos of people keep the palette model alone
        palette = palette_model.probabilities(rows["lab"], rows["shares"])
        palette = palette[:, [palette_model.classes.index(c) for c in MODEL_CLASSES]]
        return blend(net, palette, weight)

    choice = []
    for weight in PALETTE_WEIGHTS:
        result = scores(blended("validation", weight), data["validation"]["truth"])
        choice.append((result["words_mean"] if result["words_mean"] is not None else -1.0, result["accuracy"], weight))
        print(f"palette weight {weight:g}: validation words {result['words_mean']} accuracy {result['accuracy']:.3f} "
              f"{result['words']}")
    weight = max(choice)[2]
    palette_only = {split: scores(blended(split, 1.0), data[split]["truth"]) for split in splits if split != "train"}
    report = {split: scores(blended(split, weight), data[split]["truth"]) for split in splits if split != "train"}
    print(f"chosen palette weight {weight:g} (validation); " + "; ".join(
        f"{split}: words {r['words_mean']} accuracy {r['accuracy']:.3f} {r['words']} (palette model alone: "
        f"words {palette_only[split]['words_mean']} accuracy {palette_only[split]['accuracy']:.3f})"
        for split, r in report.items()))
    save_family_net(args.out, network, weight, command=COMMAND, data=args.data.name, labels=args.labels.name,
                    epochs=args.epochs, seed=args.seed, figures=report, palette_alone=palette_only,
                    python=platform.python_version(), seconds=round(time.perf_counter() - started, 1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
