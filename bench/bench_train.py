"""Training throughput: the real pipeline (sample images, augmentation, loss) vs a bare loop.

The bare loop trains the same model, optimizer, loss, batch and input size on tensors already in
memory, so the ratio shows what the data pipeline costs. Rounds alternate the two loops and the
medians are reported, because these machines are shared and noisy.
"""

from __future__ import annotations

import math
import time

import torch

from bench.common import machine_info, median


def _time_real(config, data, splits, batches: int, per_image: bool = False) -> float:
    """Images/s of ``train_one_epoch`` over ``batches`` batches of the sample's train split.

    ``per_image`` swaps the batch augmentation for torchvision's per-image transforms (the
    design it replaced), to show what that choice is worth.
    """
    from fashion.model.checkpoint import pick_device
    from fashion.model.network import FashionNet
    from fashion.train.loop import (FashionLoss, StepState, _loader, attribute_pos_weight, make_optimizer,
                                  train_one_epoch, warmup_cosine)
    from fashion.data.transforms import BatchAugment, train_augment

    device = pick_device(config.train.device)
    model = FashionNet(config.model.arch, len(data.category_names), len(data.attribute_names)).to(device)
    train_rows = data.frame.index[data.frame["split"] == "train"]
    loss_fn = FashionLoss(attribute_pos_weight(data.attributes[train_rows], config.train.pos_weight_cap), 1.0, 0.1)
    optimizer = make_optimizer(model, config)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(1000, 10))
    scaler = torch.amp.GradScaler(device.type, enabled=False)
    loader = _loader(splits.train, config.train.batch_size, 0, device,
                     sampler=torch.utils.data.RandomSampler(splits.train))
    augment = BatchAugment(config.model.image_size)
    if per_image:
        one = train_augment(config.model.image_size)

        def augment(batch: torch.Tensor) -> torch.Tensor:
            return torch.stack([one(image) for image in batch])
    stats = train_one_epoch(model, loader, loss_fn, optimizer, scheduler, scaler, device, StepState(), amp=False,
                            augment=augment,
                            max_batches=batches, show_progress=False)
    return stats["train_images_per_second"]


def _time_bare(config, data, batches: int) -> float:
    """Images/s of the same training step on one preloaded batch (no data pipeline at all)."""
    from fashion.model.network import FashionNet
    from fashion.train.loop import FashionLoss, make_optimizer

    size, batch = config.model.image_size, config.train.batch_size
    model = FashionNet(config.model.arch, len(data.category_names), len(data.attribute_names))
    loss_fn = FashionLoss(torch.ones(len(data.attribute_names)), 1.0, 0.1)
    optimizer = make_optimizer(model, config)
    images = torch.randn(batch, 3, size, size)
    categories = torch.randint(0, len(data.category_names), (batch,))
    attributes = torch.randint(-1, 2, (batch, len(data.attribute_names)), dtype=torch.int8)
    model.train()
    start = time.perf_counter()
    for _ in range(batches):
        category_logits, attribute_logits = model(images)
        loss = loss_fn(category_logits, attribute_logits, categories, attributes)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss.item()  # the real loop reads the loss every step too
    return batches * batch / (time.perf_counter() - start)


def main(quick: bool = False) -> str:
    """Measure and return the Markdown section."""
    from fashion.config import load_config
    from fashion.train.loop import build_splits
    from fashion.data.load import load_training_data

    config = load_config(overrides=["train.device=cpu"])
    data = load_training_data(config)
    splits = build_splits(data, config, 1, False)  # decoded once, as in training
    batches = 3 if quick else 8
    rounds = 2 if quick else 3
    real, per_image, bare = [], [], []
    for _ in range(rounds):
        real.append(_time_real(config, data, splits, batches))
        per_image.append(_time_real(config, data, splits, batches, per_image=True))
        bare.append(_time_bare(config, data, batches))
    ratio = median(real) / median(bare)
    status = "met" if ratio >= 0.95 else "missed"
    epoch_seconds = math.ceil((data.frame["split"] == "train").sum() / median(real))
    return "\n".join([
        "## Training throughput",
        "",
        f"`python -m bench train{' --quick' if quick else ''}` · {machine_info()}",
        "",
        f"{config.model.arch} at {config.model.image_size} px, batch {config.train.batch_size}, AdamW, CPU; "
        f"{rounds} alternating rounds of {batches} steps each, medians.",
        "",
        "| loop | images/s (median) | rounds |",
        "| --- | ---: | --- |",
        f"| real pipeline (sample train split, cached decode, augmentation, masked BCE) | {median(real):.1f} | "
        f"{', '.join(f'{v:.1f}' for v in real)} |",
        f"| same, torchvision per-image augmentation instead of the batch one | {median(per_image):.1f} | "
        f"{', '.join(f'{v:.1f}' for v in per_image)} |",
        f"| bare loop (same step on one preloaded batch) | {median(bare):.1f} | {', '.join(f'{v:.1f}' for v in bare)} |",
        "",
        f"Ratio real / bare: **{ratio:.2f}** (target ≥ 0.95: {status}); with per-image augmentation "
        f"{median(per_image) / median(bare):.2f}. One sample epoch "
        f"({(data.frame['split'] == 'train').sum()} images) takes about {epoch_seconds} s at this rate.",
    ])
