"""Train the garment segmenter's weights from Clothing Co-Parsing: ``python scripts/train_segmenter.py``.

Reproduces ``fashion/segment/weights/segmenter.pt`` (the file shipped with the package) from CCP
(``../shared/data/clothing-co-parsing``, Apache-2.0) on CPU in a few minutes: the tiny
:class:`fashion.segment.network.SegNet` at 128 px (longer side), trained on CCP's **train** split
only (photo numbers with n % 5 not in {0, 1}; see :mod:`fashion.segment.ccp`), mean IoU reported
on **val** (n % 5 == 1); **test** (n % 5 == 0) is never read here. Fixed seed, one thread,
deterministic algorithms: the same torch version on the same kind of machine gives the same file.
Writes the weights and a ``segmenter.json`` provenance file beside them. Without CCP it says so
and exits with status 0.

    python scripts/train_segmenter.py [--epochs 40] [--out fashion/segment/weights/segmenter.pt]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from scripts.arguments import finite_float, positive_float, positive_int

from fashion.cli.errors import exit_on_known_errors
from fashion.io_utils import atomic_write_text, check_output_file
from fashion.segment.ccp import ccp_available, default_ccp_root, load_split
from fashion.segment.labels import CLASSES
from fashion.segment.network import ARCHITECTURE, SegNet
from fashion.segment.weights import DEFAULT_WEIGHTS, INPUT_LONGEST

COMMAND = "python scripts/train_segmenter.py"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ccp", type=Path, default=default_ccp_root(), help="CCP folder")
    parser.add_argument("--out", type=Path, default=DEFAULT_WEIGHTS, help="weights file to write")
    parser.add_argument("--epochs", type=positive_int, default=40)
    parser.add_argument("--batch-size", type=positive_int, default=16)
    parser.add_argument("--lr", type=positive_float, default=4e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--class-weight-power", type=finite_float, default=0.5,
                        help="loss weight per class = (median frequency / frequency) ** power (0: plain cross-entropy)")
    parser.add_argument("--threads", type=positive_int, default=1, help="CPU threads (1 keeps the result reproducible)")
    return parser.parse_args(argv)


def class_weights(maps: np.ndarray, classes: int, power: float = 0.5) -> torch.Tensor:
    """Loss weights (median frequency / frequency) ** power, so small classes (hair, shoes) count."""
    freq = np.bincount(maps.ravel(), minlength=classes).astype(np.float64) / maps.size
    freq = np.maximum(freq, 1e-6)
    return torch.tensor((np.median(freq) / freq) ** power, dtype=torch.float32)


def augment(images: torch.Tensor, maps: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Random flip, zoom (0.8-1.15), shift and photometric jitter of a batch (labels follow)."""
    n = images.shape[0]
    u = torch.rand(n, 6, generator=generator)
    scale = 0.8 + 0.35 * u[:, 0]
    flip = torch.where(u[:, 1] < 0.5, -1.0, 1.0)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = scale * flip
    theta[:, 1, 1] = scale
    theta[:, 0, 2] = (u[:, 2] - 0.5) * 0.2
    theta[:, 1, 2] = (u[:, 3] - 0.5) * 0.2
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    images = F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
    maps = F.grid_sample(maps[:, None].float(), grid, mode="nearest", padding_mode="border",
                         align_corners=False)[:, 0].long()
    brightness = (0.75 + 0.5 * u[:, 4]).view(n, 1, 1, 1)
    grey = images.mean(dim=1, keepdim=True)
    saturation = (0.6 + 0.8 * u[:, 5]).view(n, 1, 1, 1)
    images = ((grey + (images - grey) * saturation) * brightness).clamp(0.0, 1.0)
    return images, maps


def mean_iou(model: SegNet, images: torch.Tensor, maps: torch.Tensor) -> tuple[float, list[float]]:
    """Mean IoU over the classes on a split, and each class's IoU."""
    model.eval()
    with torch.no_grad():
        predicted = torch.cat([model(images[i:i + 32]).argmax(1) for i in range(0, len(images), 32)])
    ious = []
    for c in range(len(CLASSES)):
        inter = ((predicted == c) & (maps == c)).sum().item()
        union = ((predicted == c) | (maps == c)).sum().item()
        ious.append(inter / union if union else float("nan"))
    return float(np.nanmean(ious)), ious


def to_tensors(images: np.ndarray, maps: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    return (torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0, torch.from_numpy(maps).long())


def save_weights(payload: dict, path: Path) -> None:
    """``torch.save`` atomically: into a file of the same name in a temporary folder beside ``path``,
    then one rename. Not through a handle (``fashion.io_utils.atomic_write``): torch names the
    archive's inner folder after the file it is given ("archive" for a handle), and the same
    training must give the same bytes as the shipped weights."""
    folder = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        written = folder / path.name
        torch.save(payload, written)
        with open(written, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(written, path)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with exit_on_known_errors():  # before minutes of training: a folder or read-only place is one line now
        check_output_file(args.out, "--out")
    if not ccp_available(args.ccp):
        print(f"Clothing Co-Parsing not found at {args.ccp}: nothing to train (the shipped weights stay).")
        return 0
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True)
    start = time.time()
    train_x, train_y = to_tensors(*load_split("train", INPUT_LONGEST, args.ccp)[:2])
    val_x, val_y = to_tensors(*load_split("val", INPUT_LONGEST, args.ccp)[:2])
    print(f"CCP train {len(train_x)} / val {len(val_x)} photos at {tuple(train_x.shape[-2:])} "
          f"(decoded in {time.time() - start:.0f} s)")
    model = SegNet(classes=len(CLASSES))
    weights = class_weights(train_y.numpy(), len(CLASSES), args.class_weight_power)
    optimiser = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    steps_per_epoch = math.ceil(len(train_x) / args.batch_size)
    total = args.epochs * steps_per_epoch
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=args.lr, total_steps=total, pct_start=0.1)
    generator = torch.Generator().manual_seed(args.seed)
    for epoch in range(1, args.epochs + 1):
        model.train()
        order = torch.randperm(len(train_x), generator=generator)
        losses = []
        for i in range(0, len(order), args.batch_size):
            batch = order[i:i + args.batch_size]
            images, maps = augment(train_x[batch], train_y[batch], generator)
            loss = F.cross_entropy(model(images), maps, weight=weights)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            scheduler.step()
            losses.append(loss.item())
        if epoch % 5 == 0 or epoch == args.epochs:
            miou, ious = mean_iou(model, val_x, val_y)
            per_class = " ".join(f"{name} {iou:.2f}" for name, iou in zip(CLASSES, ious))
            print(f"epoch {epoch:3d}  loss {np.mean(losses):.3f}  val mIoU {miou:.3f}  ({per_class})  "
                  f"{time.time() - start:.0f} s", flush=True)
    miou, ious = mean_iou(model, val_x, val_y)
    state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "architecture": ARCHITECTURE,
        "classes": list(CLASSES),
        "widths": list(model.widths),
        "input_longest": INPUT_LONGEST,
        "state_dict": state,
    }
    save_weights(payload, args.out)
    digest = hashlib.sha256(args.out.read_bytes()).hexdigest()
    provenance = {
        "file": args.out.name,
        "sha256": digest,
        "architecture": ARCHITECTURE,
        "classes": list(CLASSES),
        "input_longest": INPUT_LONGEST,
        "data": "Clothing Co-Parsing (Yang et al.), 904 pixel-annotated photos; licence Apache-2.0",
        "split": "train = photo numbers n with n % 5 not in {0, 1} (543 photos); val = n % 5 == 1 (181, "
                 "monitoring only); test = n % 5 == 0 (180, held out: never read by training)",
        "command": COMMAND + ("" if argv is None else " " + " ".join(argv)),
        "settings": {"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr, "seed": args.seed,
                     "threads": args.threads, "class_weight_power": args.class_weight_power},
        "val_mean_iou": round(miou, 4),
        "val_iou": {name: round(iou, 4) for name, iou in zip(CLASSES, ious)},
        "torch": torch.__version__,
        "python": platform.python_version(),
        "train_seconds": round(time.time() - start, 1),
    }
    atomic_write_text(args.out.with_suffix(".json"), json.dumps(provenance, indent=2) + "\n")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB, sha256 {digest[:12]}) and "
          f"{args.out.with_suffix('.json').name}; val mIoU {miou:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
