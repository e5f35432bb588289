"""Training: loss, one epoch, evaluation, and the resumable ``fit`` loop.

Loop functions take explicit arguments and return metric dicts (torchvision's ``train.py``).
``fit`` owns the run folder: resolved config, ``last.pt`` every epoch (and on Ctrl-C/SIGTERM),
``best.pt`` by the configured validation metric, ``history.csv``, ``curves.png``, ``metrics.json``.
"""

from __future__ import annotations

import contextlib
import math
import random
import shlex
import signal
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Sampler
from tqdm.auto import tqdm

from fashion.errors import FashionError
from fashion.train import distributed as dist
from fashion.model.checkpoint import (
    Labels,
    build_payload,
    check_compatible,
    pick_device,
    read_checkpoint,
    save_checkpoint,
)
from fashion.config import Config, TrainConfig, config_from_dict, save_config
from fashion.data.datasets import LabelledData
from fashion.data.loaders import (
    ItemViewSampler,
    LabelledImages,
    collate_labelled,
    item_codes,
    labelled_images,
    multi_view_items,
)
from fashion.data.workers import default_workers, worker_init
from fashion.train.budget import LOOP_OVERHEAD, Plan, plan_epochs
from fashion.train.cutmix import cutmix
from fashion.train.metrics import classification_report
from fashion.model.network import FashionNet, resolve_weights
from fashion.train.run_files import append_history, plot_curves, write_json
from fashion.data.transforms import BatchAugment, normalise_batch, train_prepare_size


class TrainingError(FashionError, RuntimeError):
    """Training cannot start or continue (clear message for the CLI)."""


class Interrupted(Exception):
    """Raised by the SIGTERM handler so a kill saves a checkpoint like Ctrl-C does."""


# ----------------------------------------------------------------------------------- loss


class FashionLoss(nn.Module):
    """Cross-entropy on the category + weighted binary cross-entropy on attributes.

    Attribute labels are 1 (positive), -1 (negative) or 0 (unknown); unknown entries are masked
    out. ``pos_weight`` (from training frequencies, capped) counters DeepFashion's imbalance:
    most attributes are positive for well under 1% of images.
    """

    def __init__(self, pos_weight: torch.Tensor, attribute_weight: float, label_smoothing: float,
                 metric: str | None = None, metric_weight: float = 1.0, triplet_margin: float = 0.2,
                 category_weight: torch.Tensor | None = None) -> None:
        super().__init__()
        self.register_buffer("pos_weight", pos_weight)
        # Per-class weights of the category cross-entropy (:func:`category_class_weight`); None: plain.
        self.register_buffer("category_weight", category_weight)
        self.attribute_weight = attribute_weight
        self.label_smoothing = label_smoothing
        # The metric head's loss, added with ``metric_weight``: "triplet" (needs item codes) or "proxy".
        self.metric = metric
        self.metric_weight = metric_weight
        self.triplet_margin = triplet_margin
        self.last_metric_loss = 0.0  # the metric term of the last call (for the epoch's report)

    def forward(
        self, category_logits: torch.Tensor, attribute_logits: torch.Tensor,
        categories: torch.Tensor, attributes: torch.Tensor, *, embeddings: torch.Tensor | None = None,
        items: torch.Tensor | None = None, proxies: torch.Tensor | None = None,
    ) -> torch.Tensor:
        loss = F.cross_entropy(category_logits.float(), categories, weight=self.category_weight,
                               label_smoothing=self.label_smoothing, ignore_index=-1)
        if self.metric is not None and embeddings is not None:
            if self.metric == "triplet":
                if items is None:
                    raise TrainingError("the triplet loss needs the item of every image (an ItemViewSampler batch)")
                metric_loss = batch_hard_triplet_loss(embeddings.float(), items, self.triplet_margin)
            else:
                metric_loss = proxy_loss(embeddings.float(), proxies, categories)
            self.last_metric_loss = float(metric_loss.detach())
            loss = loss + self.metric_weight * metric_loss
        if attribute_logits.shape[1] == 0 or self.attribute_weight == 0:
            return loss
        known = (attributes != 0).float()
        targets = (attributes == 1).float()
        per_entry = F.binary_cross_entropy_with_logits(
            attribute_logits.float(), targets, pos_weight=self.pos_weight, reduction="none"
        )
        attribute_loss = (per_entry * known).sum() / known.sum().clamp(min=1.0)
        return loss + self.attribute_weight * attribute_loss


def batch_hard_triplet_loss(embeddings: torch.Tensor, items: torch.Tensor, margin: float) -> torch.Tensor:
    """Batch-hard triplet loss (Hermans et al. 2017) over L2-normalised embeddings (B, D).

    For every anchor: its farthest positive (another image of the same item) and its nearest
    negative (an image of another item), by Euclidean distance; the loss is the mean of
    ``max(0, d(a, p) - d(a, n) + margin)`` over anchors that have both in the batch (0 when none do).
    """
    squared = (embeddings[:, None, :] - embeddings[None, :, :]).pow(2).sum(-1)
    distances = squared.clamp(min=1e-12).sqrt()  # clamped: sqrt's gradient at 0 is infinite
    same = items[:, None] == items[None, :]
    positive = same & ~torch.eye(len(items), dtype=torch.bool, device=items.device)
    negative = ~same
    valid = positive.any(1) & negative.any(1)
    if not valid.any():
        return embeddings.sum() * 0.0
    hardest_positive = distances.masked_fill(~positive, float("-inf")).max(1).values
    hardest_negative = distances.masked_fill(~negative, float("inf")).min(1).values
    return F.relu(hardest_positive - hardest_negative + margin)[valid].mean()


PROXY_TEMPERATURE = 0.05  # normalised softmax (Zhai & Wu 2019): cosine logits divided by this


def proxy_loss(embeddings: torch.Tensor, proxies: torch.Tensor | None, categories: torch.Tensor) -> torch.Tensor:
    """Normalised-softmax proxy loss: cross-entropy of cosine(embedding, category proxy) / temperature.

    The metric head's fallback where items have no second view: each category has one learned
    proxy; images of unknown category (-1) are ignored.
    """
    if proxies is None:
        raise TrainingError("the proxy loss needs the model's category proxies (FashionNet(metric_proxies=C))")
    logits = F.normalize(embeddings, dim=1) @ F.normalize(proxies.float(), dim=1).T / PROXY_TEMPERATURE
    if not (categories >= 0).any():
        return logits.sum() * 0.0
    return F.cross_entropy(logits, categories, ignore_index=-1)


def attribute_pos_weight(attributes: np.ndarray | None, cap: float) -> torch.Tensor:
    """Per-attribute BCE ``pos_weight`` = negatives / positives in training, clipped to [1, cap]."""
    if attributes is None or attributes.shape[1] == 0:
        return torch.zeros(0)
    positives = (attributes == 1).sum(axis=0).astype(np.float64)
    negatives = (attributes == -1).sum(axis=0).astype(np.float64)
    ratio = np.where(positives > 0, negatives / np.maximum(positives, 1), cap)
    return torch.as_tensor(np.clip(ratio, 1.0, cap), dtype=torch.float32)


def category_class_weight(categories: np.ndarray, num_categories: int, balance: float) -> torch.Tensor | None:
    """Category cross-entropy weights ``count ** -balance`` from the training labels, scaled so the
    mean weight over the training images is 1 (the loss keeps its size); None when ``balance`` is 0.

    A small real dataset is rarely balanced (clothing-dataset-small: 795 t-shirts, 112 skirts;
    DeepFashion's categories span three orders of magnitude); the plain loss spends most of its
    gradient on the common classes. A class absent from training gets weight 1 (it is never a target).
    """
    if balance <= 0:
        return None
    known = categories[categories >= 0].astype(np.int64)
    counts = np.bincount(known, minlength=num_categories).astype(np.float64)
    weight = np.ones(num_categories)
    present = counts > 0
    weight[present] = counts[present] ** -balance
    weight[present] /= (counts[present] * weight[present]).sum() / counts[present].sum()
    return torch.tensor(weight, dtype=torch.float32)


# ------------------------------------------------------------------------------ schedule


def warmup_cosine(total_steps: int, warmup_steps: int) -> Any:
    """LR multiplier: linear warm-up to 1, then cosine decay to 0 at ``total_steps``."""

    def factor(step: int) -> float:
        if warmup_steps > 0 and step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


def make_optimizer(model: nn.Module, config: Config) -> torch.optim.Optimizer:
    """AdamW or SGD; no weight decay on biases and norm layers (standard practice)."""
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        (no_decay if parameter.ndim <= 1 else decay).append(parameter)
    groups = [
        {"params": decay, "weight_decay": config.train.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    if config.train.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.train.lr, momentum=config.train.momentum, nesterov=True)
    return torch.optim.AdamW(groups, lr=config.train.lr)


# ------------------------------------------------------------------------------- sampler


class EpochSampler(Sampler[int]):
    """A permutation fixed by (seed, epoch), sharded across ranks, that can skip batches done.

    Fixing the order by epoch is what makes ``--resume`` continue exactly where a run stopped.
    """

    def __init__(self, size: int, seed: int, rank: int = 0, world: int = 1) -> None:
        self.size, self.seed, self.rank, self.world = size, seed, rank, world
        self.epoch = 0
        self.skip = 0

    def set_epoch(self, epoch: int, skip_samples: int = 0) -> None:
        self.epoch, self.skip = epoch, skip_samples

    def _indices(self) -> list[int]:
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        order = torch.randperm(self.size, generator=generator).tolist()
        # Every rank gets the same number of samples (DDP needs equal step counts).
        per_rank = self.size // self.world
        return order[self.rank * per_rank : (self.rank + 1) * per_rank]

    def __iter__(self) -> Iterator[int]:
        return iter(self._indices()[self.skip :])

    def __len__(self) -> int:
        return self.size // self.world - self.skip


# --------------------------------------------------------------------------------- loops


@dataclass
class StepState:
    """Where training stands: epoch, batches done within it, global optimizer steps."""

    epoch: int = 0
    batch: int = 0
    global_step: int = 0
    # RNG state right after the last completed step: an interrupt can land after the next batch
    # was already drawn and augmented, and resuming must redraw that batch identically.
    rng: dict[str, Any] | None = None
    # BatchNorm statistics after the last completed step: an interrupted forward pass has
    # already updated them, and saving those would make a resumed run drift.
    buffers: dict[str, torch.Tensor] | None = None


def _autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    if device.type == "cuda" and enabled:
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast("cuda", dtype=dtype)
    return contextlib.nullcontext()


def train_one_epoch(
    model: nn.Module,
    loader: DataLoader,
    loss_fn: FashionLoss,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler,
    device: torch.device,
    state: StepState,
    *,
    amp: bool,
    augment: Callable[[torch.Tensor], torch.Tensor],
    cutmix_probability: float = 0.0,
    cutmix_alpha: float = 1.0,
    max_batches: int = 0,
    show_progress: bool = True,
) -> dict[str, float]:
    """Train for (the rest of) one epoch; updates ``state`` after every step.

    ``augment`` turns each uint8 batch, already on ``device``, into the network's input; then
    a share ``cutmix_probability`` of the batches is cut-mixed (:mod:`fashion.train.cutmix`).
    The running accuracy of a mixed batch counts against each image's larger label share.
    Returns mean loss, running category accuracy, images and seconds of this call.
    """
    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    metric_total = 0.0
    with_embedding = getattr(loss_fn, "metric", None) is not None
    proxies = getattr(getattr(model, "module", model), "proxies", None)  # unwrap DistributedDataParallel
    start = time.perf_counter()
    bar = tqdm(loader, desc=f"epoch {state.epoch + 1}", unit="batch", leave=False, disable=not show_progress,
               initial=state.batch, total=state.batch + len(loader))
    for batch in bar:
        if max_batches and state.batch >= max_batches:
            break
        images, categories, attributes = batch[:3]
        items = batch[3].to(device, non_blocking=True) if len(batch) > 3 else None
        images = augment(images.to(device, non_blocking=True))
        mix = None if with_embedding else cutmix(images, cutmix_probability, cutmix_alpha)
        if mix is not None:
            images = mix.images
        if device.type == "cuda":
            images = images.contiguous(memory_format=torch.channels_last)
        categories = categories.to(device, non_blocking=True)
        attributes = attributes.to(device, non_blocking=True)
        with _autocast(device, amp):
            if with_embedding:
                category_logits, attribute_logits, embeddings = model(images, with_embedding=True)
                loss = loss_fn(category_logits, attribute_logits, categories, attributes, embeddings=embeddings,
                               items=items, proxies=proxies)
            else:
                category_logits, attribute_logits = model(images)
                loss = loss_fn(category_logits, attribute_logits, categories, attributes)
                if mix is not None:
                    partner_loss = loss_fn(category_logits, attribute_logits, categories[mix.partner],
                                           attributes[mix.partner])
                    loss = mix.share * loss + (1.0 - mix.share) * partner_loss
                    if mix.share < 0.5:
                        categories = categories[mix.partner]
        if not torch.isfinite(loss):
            raise TrainingError(f"loss became {loss.item()} at step {state.global_step}; lower train.lr")
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        state.batch += 1
        state.global_step += 1
        state.rng = _rng_state()
        state.buffers = {name: buffer.detach().clone() for name, buffer in model.named_buffers()}
        batch_size = len(categories)
        total_loss += loss.item() * batch_size
        metric_total += getattr(loss_fn, "last_metric_loss", 0.0) * batch_size
        correct += int((category_logits.argmax(1) == categories).sum())
        seen += batch_size
        bar.set_postfix(loss=f"{total_loss / seen:.3f}", acc=f"{correct / seen:.3f}",
                        lr=f"{scheduler.get_last_lr()[0]:.2e}")
    seconds = time.perf_counter() - start
    return {
        "train_loss": total_loss / max(seen, 1),
        **({"train_metric_loss": metric_total / max(seen, 1)} if with_embedding else {}),
        "train_category_acc": correct / max(seen, 1),
        "train_images": seen,
        "train_seconds": seconds,
        "train_images_per_second": seen / seconds if seconds > 0 else 0.0,
    }


@torch.no_grad()
def predict(model: nn.Module, loader: DataLoader, device: torch.device, amp: bool,
            show_progress: bool = False, description: str = "evaluate") -> tuple[np.ndarray, ...]:
    """Category probabilities, attribute probabilities and the targets of every batch."""
    model.eval()
    category_probs, attribute_probs, categories, attributes = [], [], [], []
    for images, cats, attrs in tqdm(loader, desc=description, unit="batch", leave=False, disable=not show_progress):
        images = normalise_batch(images.to(device, non_blocking=True))
        with _autocast(device, amp):
            category_logits, attribute_logits = model(images)
        category_probs.append(category_logits.float().softmax(1).cpu().numpy())
        attribute_probs.append(attribute_logits.float().sigmoid().cpu().numpy())
        categories.append(cats.numpy())
        attributes.append(attrs.numpy())
    return (np.concatenate(category_probs), np.concatenate(attribute_probs),
            np.concatenate(categories), np.concatenate(attributes))


def evaluate(model: nn.Module, loader: DataLoader, device: torch.device, labels: Labels, *,
             amp: bool = False, show_progress: bool = False, description: str = "evaluate") -> dict[str, Any]:
    """Classification metrics (category top-k, attribute top-k recall by type, per-class accuracy)."""
    category_probs, attribute_probs, categories, attributes = predict(
        model, loader, device, amp, show_progress, description
    )
    has_attributes = attributes.shape[1] > 0 and (attributes == 1).any()
    report = classification_report(
        category_probs, categories,
        attribute_probs if has_attributes else None, attributes if has_attributes else None,
        labels.attribute_types, len(labels.category_names),
    )
    report["images"] = int(len(categories))
    return report


# ----------------------------------------------------------------------------------- fit


@dataclass
class Splits:
    train: LabelledImages
    val: LabelledImages
    test: LabelledImages


def labels_of(data: LabelledData) -> Labels:
    """The Labels a model trained on ``data`` predicts."""
    return Labels(list(data.category_names), [int(t) for t in data.category_types],
                  list(data.attribute_names), [int(t) for t in data.attribute_types])


def build_splits(data: LabelledData, config: Config, workers: int, show_progress: bool) -> Splits:
    """Train/val/test datasets of uint8 images; train is kept larger, for augmentation's crops."""
    frame = data.frame
    size = config.model.image_size
    common = dict(use_bbox=config.data.use_bbox, max_pixels=config.data.max_image_pixels,
                  cache_mb=config.data.cache_mb, workers=workers, show_progress=show_progress)
    parts = {}
    for split in ("train", "val", "test"):
        rows = frame[frame["split"] == split]
        if split == "train":
            parts[split] = labelled_images(rows, data.attributes, train_prepare_size(size),
                                           description="decoding train", **common)
        else:
            parts[split] = labelled_images(rows, data.attributes, size, description=f"decoding {split}", **common)
    if len(parts["train"]) == 0:
        raise TrainingError("the dataset has no training images (split 'train' is empty)")
    return Splits(**parts)


def _loader(dataset: LabelledImages, batch_size: int, workers: int, device: torch.device,
            sampler: Sampler | None = None) -> DataLoader:
    # Preloaded tensors are sliced a batch at a time in-process; worker processes would only add IPC.
    cached = isinstance(dataset.pixels, torch.Tensor)
    count = 0 if cached else workers
    # A private generator: creating an iterator must not draw from the global RNG, or a resumed
    # run's augmentations would drift from the uninterrupted run's.
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, shuffle=False, num_workers=count,
                      pin_memory=device.type == "cuda", persistent_workers=count > 0,
                      drop_last=False, generator=torch.Generator().manual_seed(0), collate_fn=collate_labelled,
                      worker_init_fn=worker_init())


def _rng_state() -> dict[str, Any]:
    """RNG states as tensors and lists (``weights_only`` checkpoints cannot hold numpy arrays)."""
    _, keys, position, has_gauss, cached = np.random.get_state()
    return {"torch": torch.get_rng_state(), "python": list(random.getstate()[1]),
            "numpy": torch.as_tensor(keys.astype(np.int64)), "numpy_pos": [int(position), int(has_gauss),
                                                                         float(cached)]}


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate((3, tuple(state["python"]), None))
    position, has_gauss, cached = state["numpy_pos"]
    np.random.set_state(("MT19937", state["numpy"].numpy().astype(np.uint32), int(position), int(has_gauss),
                         float(cached)))


MEASURE_BATCHES = 4  # timed training steps (after one warm-up step) that size a time-budgeted run


def measure_training_speed(model: nn.Module, splits: Splits, config: Config, loss_fn: FashionLoss,
                           device: torch.device, amp: bool, workers: int,
                           augment: Callable[[torch.Tensor], torch.Tensor]) -> float:
    """Images per second of this run's own training steps (its data, loader, augmentation, model).

    One warm-up step (allocations, kernel selection), then up to ``MEASURE_BATCHES`` timed ones,
    with a throwaway optimizer; the weights, BatchNorm statistics and RNG states are put back
    afterwards, so a budgeted run trains exactly as a run given the chosen ``train.epochs``.
    """
    weights = {name: value.detach().clone() for name, value in model.state_dict().items()}
    rng = _rng_state()
    cuda_rng = torch.cuda.get_rng_state_all() if device.type == "cuda" else None
    optimizer = make_optimizer(model, config)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    scaler = torch.amp.GradScaler(device.type, enabled=False)
    sampler = EpochSampler(len(splits.train), config.train.seed)
    sampler.set_epoch(0)
    try:
        runs = []
        for batches in (1, MEASURE_BATCHES):
            loader = _loader(splits.train, config.train.batch_size, workers, device, sampler)
            runs.append(train_one_epoch(model, loader, loss_fn, optimizer, scheduler, scaler, device, StepState(),
                                        amp=amp, augment=augment, max_batches=batches, show_progress=False))
    finally:
        model.load_state_dict(weights)
        _set_rng_state(rng)
        if cuda_rng is not None:
            torch.cuda.set_rng_state_all(cuda_rng)
    timed = runs[-1] if runs[-1]["train_images"] else runs[0]
    return float(timed["train_images_per_second"])


def plan_to_budget(config: Config, splits: Splits, train_images: int, images_per_second: float,
                   spent_seconds: float) -> Plan:
    """Epochs that fit ``train.time_budget_min``: per-epoch training and validation, plus the final
    test pass and the ``spent_seconds`` already used (the measurement), at the measured speed."""
    test_images = len(splits.test) if len(splits.test) else len(splits.val)
    fixed = spent_seconds + LOOP_OVERHEAD * test_images / 3 / max(images_per_second, 1e-6)
    return plan_epochs(images_per_second, train_images, len(splits.val), float(config.train.time_budget_min) * 60,
                       fixed_seconds=fixed, overhead=LOOP_OVERHEAD)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch for reproducible runs."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def rank_seed(seed: int, rank: int, step: int = 0) -> int:
    """The seed of one rank's augmentation and dropout streams under torchrun.

    Rank 0 keeps ``seed`` (a one-process run is unchanged); every other rank (and a resumed rank,
    by its ``step``) gets its own 32-bit seed derived from (seed, rank, step).
    """
    if rank == 0 and step == 0:
        return seed
    return int(np.random.SeedSequence([seed, rank, step]).generate_state(1)[0])


@dataclass
class MetricPlan:
    """How the embedding is trained: no metric loss (penultimate), "triplet" or "proxy"."""

    loss: str | None
    message: str = ""
    items: np.ndarray | None = None  # item code of each training image (triplet)
    items_per_batch: int = 0  # P (triplet)

    def summary(self, config: Config) -> dict[str, Any]:
        """What metrics.json records about the embedding."""
        out: dict[str, Any] = {"kind": config.model.embedding, "metric_loss": self.loss or "none"}
        if self.loss:
            out.update(dim=config.model.embedding_dim, note=self.message)
        return out


def plan_metric_loss(config: Config, train_frame: Any, num_categories: int) -> MetricPlan:
    """The metric head's loss for this data, with the one line that says which is used and why.

    ``train.metric_loss=triplet`` needs items with several views: at least P (= batch_size // K)
    training items with two or more images. Without item ids, or with too few such items, the
    head trains with the proxy loss (normalised softmax over category proxies) instead.
    """
    if config.model.embedding != "metric":
        return MetricPlan(None)
    proxy = f"the proxy loss (normalised softmax over {num_categories} category proxies)"
    if config.train.metric_loss == "proxy":
        return MetricPlan("proxy", f"metric head: {proxy}, as train.metric_loss asks")
    views = config.train.triplet_views
    per_batch = config.train.batch_size // views
    if per_batch < 2:
        raise TrainingError(f"train.batch_size={config.train.batch_size} holds fewer than 2 items of "
                            f"train.triplet_views={views} views: raise train.batch_size or lower train.triplet_views")
    ids = train_frame["item_id"].to_numpy(dtype=object) if "item_id" in train_frame.columns else None
    codes = item_codes(ids) if ids is not None else None
    if ids is None or all(item is None or item != item or item == "" for item in ids):
        why = "the dataset has no item ids"
    elif multi_view_items(codes) < per_batch:
        why = (f"only {multi_view_items(codes)} training items have two or more views; a batch of "
               f"{per_batch} items x {views} views needs {per_batch}")
    else:
        return MetricPlan("triplet", f"metric head: batch-hard triplet loss (margin {config.train.triplet_margin:g}) "
                          f"over {per_batch} items x {views} views per batch ({multi_view_items(codes)} training "
                          "items with two or more views)", codes, per_batch)
    return MetricPlan("proxy", f"metric head: no batch-hard triplet loss ({why}); training it with {proxy} instead")


@dataclass
class FitResult:
    run_dir: Path
    metrics: dict[str, Any]
    interrupted: bool = False


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Make ``kill`` (SIGTERM) stop training like Ctrl-C does, so a checkpoint gets written."""

    def handler(signum: int, frame: Any) -> None:
        raise Interrupted()

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _interrupts_held() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM until the block ends, then raise them.

    An interrupt inside ``torch.save`` surfaces as a ``RuntimeError`` from its C++ writer and the
    checkpoint being written is lost; between the saves it would leave ``best.pt`` or the
    history row of an epoch unwritten. The end-of-epoch writes are short, so they finish first.
    """
    received: list[int] = []

    def hold(signum: int, frame: Any) -> None:
        received.append(signum)

    try:
        previous = {number: signal.signal(number, hold) for number in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread: signals are not ours to hold
        yield
        return
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    if received:
        raise KeyboardInterrupt() if received[0] == signal.SIGINT else Interrupted()


def resume_command(config: Config) -> str:
    """The command that continues this run (its folder named whenever it is not the default)."""
    command = ["python", "train.py", "--resume", "--set", f"train.run_name={config.train.run_name}"]
    if config.train.run_dir != TrainConfig.run_dir:
        command += ["--set", f"train.run_dir={config.train.run_dir}"]
    return shlex.join(command)


def fit(config: Config, data: LabelledData, *, resume: bool = False, overwrite: bool = False,
        show_progress: bool = True) -> FitResult:
    """Train a FashionNet on ``data`` as configured; returns the run folder and final metrics.

    With ``resume`` the run continues from ``<run>/last.pt`` exactly where it stopped (epoch,
    batch, optimizer, schedule and RNG state). Without it, an existing run is refused unless
    ``overwrite`` is set, so finished work is never lost by accident.
    """
    run_dir = Path(config.train.run_dir) / config.train.run_name
    last_path, best_path = run_dir / "last.pt", run_dir / "best.pt"
    labels = labels_of(data)
    context = dist.init()
    main = context.rank == 0
    checkpoint = None
    if resume:
        if not last_path.is_file():
            raise TrainingError(f"nothing to resume: {last_path} does not exist")
        checkpoint = read_checkpoint(last_path)
        check_compatible(checkpoint, config, labels, last_path)
    elif last_path.exists() and not overwrite:
        raise TrainingError(
            f"{run_dir} already holds a run; continue it with --resume, or choose another "
            "--set train.run_name=NAME, or replace it with --overwrite"
        )
    if main:
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(config, run_dir / "config.yaml")
        if not resume:
            for stale in ("history.csv", "metrics.json", "best.pt", "curves.png"):
                (run_dir / stale).unlink(missing_ok=True)

    device = context.device if context.world > 1 else pick_device(config.train.device)
    workers = default_workers(config.train.workers)
    splits = build_splits(data, config, workers, show_progress and main)
    # Seeded after the data is ready, so the initial weights and every augmentation depend on
    # the seed alone, not on whether the splits were decoded into memory or stream from disk.
    seed_everything(config.train.seed)

    if checkpoint:
        weights, init = "none", checkpoint["training"].get("init", {"requested": config.model.weights})
    else:
        weights, note = resolve_weights(config.model.weights, config.model.arch, config.data.sample)
        init = {"requested": config.model.weights, "used": weights, **({"note": note} if note else {})}
        if note and main:
            print(note, flush=True)
    metric = plan_metric_loss(config, data.frame[data.frame["split"] == "train"], len(labels.category_names))
    if metric.loss is not None and config.train.cutmix > 0:
        raise TrainingError(f"train.cutmix={config.train.cutmix:g} needs model.embedding=penultimate: the metric "
                            "head's loss compares whole photos of one item, and a cut-mixed photo shows two")
    if metric.message and main:
        print(metric.message, flush=True)
    model = FashionNet(config.model.arch, len(labels.category_names), len(labels.attribute_names),
                       weights=weights, dropout=config.model.dropout, embedding=config.model.embedding,
                       embedding_dim=config.model.embedding_dim,
                       metric_proxies=len(labels.category_names) if metric.loss == "proxy" else 0)
    if checkpoint:
        model.load_state_dict(checkpoint["model"])
    if context.rank:
        # Every rank draws its own augmentation and dropout stream (rank 0 keeps the run's own);
        # DistributedDataParallel gives all ranks rank 0's initial weights.
        seed_everything(rank_seed(config.train.seed, context.rank))
    model = model.to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    train_model: nn.Module = dist.wrap(model, context)

    training = (data.frame["split"] == "train").to_numpy()
    pos_weight = attribute_pos_weight(data.attributes[data.frame.index[training]]
                                      if data.attributes is not None else None, config.train.pos_weight_cap)
    category_weight = category_class_weight(data.frame["category"].to_numpy(dtype=np.int64)[training],
                                            len(data.category_names), config.train.category_balance)
    loss_fn = FashionLoss(pos_weight, config.train.attribute_loss_weight, config.train.label_smoothing,
                          metric=metric.loss, metric_weight=config.train.metric_weight,
                          triplet_margin=config.train.triplet_margin, category_weight=category_weight).to(device)
    optimizer = make_optimizer(model, config)
    sampler: EpochSampler | ItemViewSampler
    if metric.loss == "triplet":
        splits.train.items = torch.as_tensor(metric.items)
        sampler = ItemViewSampler(metric.items, metric.items_per_batch, config.train.triplet_views,
                                  config.train.seed, context.rank, context.world)
        batch_size = sampler.batch_size
    else:
        sampler = EpochSampler(len(splits.train), config.train.seed, context.rank, context.world)
        batch_size = config.train.batch_size
    steps_per_epoch = math.ceil(len(sampler) / batch_size)
    if config.train.max_train_batches:
        steps_per_epoch = min(steps_per_epoch, config.train.max_train_batches)
    augment = BatchAugment(config.model.image_size)
    budget_plan = checkpoint["training"].get("budget_plan") if checkpoint else None
    if config.train.time_budget_min is not None and checkpoint is None:
        # Sized once, at the start: a resumed run keeps the epochs stored in its checkpoint's config.
        started = time.perf_counter()
        speed = measure_training_speed(model, splits, config, loss_fn, device, amp_enabled(config, device),
                                       workers, augment)
        plan = plan_to_budget(config, splits, min(len(sampler), steps_per_epoch * batch_size), speed,
                              time.perf_counter() - started)
        epochs = plan.epochs
        if context.world > 1:  # every rank trains rank 0's plan
            chosen = torch.tensor([epochs], device=device)
            torch.distributed.broadcast(chosen, 0)
            epochs = int(chosen.item())
        config = replace(config, train=replace(config.train, epochs=epochs))
        budget_plan = {"minutes": config.train.time_budget_min, "images_per_second": round(plan.images_per_second, 2),
                       "epochs": epochs, "expected_seconds": round(plan.expected_train_seconds, 1)}
        if main:
            print(f"time budget {config.train.time_budget_min:g} min: {plan.summary()}", flush=True)
            save_config(config, run_dir / "config.yaml")
    total_steps = steps_per_epoch * config.train.epochs
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, warmup_cosine(total_steps, round(config.train.warmup_epochs * steps_per_epoch))
    )
    amp = amp_enabled(config, device)
    # bfloat16 needs no loss scaling; float16 (older GPUs) does.
    scaler = torch.amp.GradScaler(device.type, enabled=amp and not torch.cuda.is_bf16_supported())
    state = StepState()
    best_value = -math.inf
    if checkpoint:
        training = checkpoint["training"]
        optimizer.load_state_dict(training["optimizer"])
        scheduler.load_state_dict(training["scheduler"])
        scaler.load_state_dict(training["scaler"])
        state = StepState(training["epoch"], training["batch"], training["global_step"])
        best_value = training["best_value"]
        _set_rng_state(training["rng"])
        if context.rank:  # only rank 0's stream is saved: the others draw fresh ones, still their own
            seed_everything(rank_seed(config.train.seed, context.rank, state.global_step))
        if main:
            print(f"resuming {run_dir} at epoch {state.epoch + 1}, batch {state.batch}, step {state.global_step}")

    def payload(metrics: dict[str, Any] | None = None) -> dict[str, Any]:
        training = {"epoch": state.epoch, "batch": state.batch, "global_step": state.global_step,
                    "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                    "scaler": scaler.state_dict(), "best_value": best_value, "rng": state.rng or _rng_state()}
        if budget_plan:
            training["budget_plan"] = budget_plan
        training["init"] = init
        training["metric_loss"] = metric.loss or "none"
        return build_payload(model, config, labels, training, metrics)

    val_loader = _loader(splits.val, batch_size * 2, workers, device)
    interrupted = False
    with _sigterm_as_interrupt():
        try:
            while state.epoch < config.train.epochs:
                sampler.set_epoch(state.epoch, skip_samples=state.batch * batch_size)
                train_loader = _loader(splits.train, batch_size, workers, device, sampler)
                epoch_stats = train_one_epoch(
                    train_model, train_loader, loss_fn, optimizer, scheduler, scaler, device, state, amp=amp,
                    augment=augment, cutmix_probability=config.train.cutmix, cutmix_alpha=config.train.cutmix_alpha,
                    max_batches=config.train.max_train_batches, show_progress=show_progress and main,
                )
                row: dict[str, Any] = {"epoch": state.epoch + 1, "step": state.global_step,
                                       "lr": scheduler.get_last_lr()[0], **epoch_stats}
                state.epoch, state.batch, state.rng, state.buffers = state.epoch + 1, 0, None, None
                if main:
                    val = evaluate(model, val_loader, device, labels, amp=amp) if len(splits.val) else {}
                    row.update({f"val_{k}": v for k, v in val.items() if isinstance(v, float)})
                    value = _selection_value(val, config.train.best_metric, row["train_loss"])
                    improved = value > best_value
                    if improved:
                        best_value = value
                    with _interrupts_held():  # the epoch's files are written whole, or not begun
                        save_checkpoint(last_path, payload(val))
                        if improved:
                            save_checkpoint(best_path, payload(val))
                        append_history(run_dir / "history.csv", row)
                        print(_epoch_line(row, config.train.epochs, improved))
                dist.barrier(context)
        except (KeyboardInterrupt, Interrupted):
            interrupted = True
            if state.buffers is not None:
                train_model.load_state_dict(state.buffers, strict=False)
            if main:
                # A second Ctrl-C while this is written would lose the checkpoint: it waits instead.
                with contextlib.suppress(KeyboardInterrupt, Interrupted), _interrupts_held():
                    save_checkpoint(last_path, payload())
                print(f"\ninterrupted at epoch {state.epoch + 1}, batch {state.batch}; "
                      f"saved {last_path}. Continue with: {resume_command(config)}")
    if interrupted:
        dist.shutdown(context)
        return FitResult(run_dir, {}, interrupted=True)

    metrics: dict[str, Any] = {}
    if main:
        best = read_checkpoint(best_path)
        model.load_state_dict(best["model"])
        held_out = splits.test if len(splits.test) else splits.val
        if len(held_out):
            test_loader = _loader(held_out, batch_size * 2, workers, device)
            test = evaluate(model, test_loader, device, labels, amp=amp, show_progress=show_progress,
                            description="test")
        else:  # a dataset of training images only: nothing held out to measure on, and said so
            test = {"images": 0}
            print("no test or validation images: the run has no test metrics")
        metrics = {"test": test, "best_val": best.get("metrics", {}), "best_metric": config.train.best_metric,
                   "layout": data.layout, "builtin_sample": config.data.sample, "epochs": config.train.epochs, "global_step": state.global_step,
                   **({"time_budget": budget_plan} if budget_plan else {}),
                   "category_names": labels.category_names,
                   "init": init, "embedding": metric.summary(config),
                   "majority_class_test_accuracy": _majority_accuracy(splits)}
        write_json(run_dir / "metrics.json", metrics)
        plot_curves(run_dir / "history.csv", run_dir / "curves.png")
    dist.shutdown(context)
    return FitResult(run_dir, metrics)


def amp_enabled(config: Config, device: torch.device) -> bool:
    """Mixed precision: on CUDA only, when ``train.amp`` asks for it."""
    return config.train.amp and device.type == "cuda"


def _selection_value(val: dict[str, Any], metric: str, train_loss: float) -> float:
    """The number ``best.pt`` is chosen by: the configured validation metric where it exists.

    Attribute metrics do not exist without attribute labels (folder datasets): category top-1
    stands in. With no validation images at all, the lowest training loss wins.
    """
    for key in (metric, "category_top1"):
        value = val.get(key)
        if isinstance(value, float) and not math.isnan(value):
            return value
    return -train_loss


def _majority_accuracy(splits: Splits) -> float:
    """Test accuracy of always guessing the most frequent training category (a floor to beat)."""
    train = splits.train.categories.numpy()
    test = (splits.test if len(splits.test) else splits.val).categories.numpy()
    if len(train) == 0 or len(test) == 0:
        return float("nan")
    majority = np.bincount(train[train >= 0]).argmax()
    return float((test == majority).mean())


def _epoch_line(row: dict[str, Any], epochs: int, improved: bool) -> str:
    parts = [f"epoch {row['epoch']}/{epochs}", f"loss {row['train_loss']:.3f}",
             f"train acc {row['train_category_acc']:.3f}", f"{row['train_images_per_second']:.0f} img/s"]
    for key, label in (("val_category_top1", "val top-1"), ("val_category_top3", "top-3"),
                       ("val_attribute_top3_recall", "attr R@3")):
        if key in row:
            parts.append(f"{label} {row[key]:.3f}")
    return " | ".join(parts) + (" *" if improved else "")


def resolve_resume_config(run_dir: Path, overrides: dict[str, Any]) -> Config:
    """The configuration stored in a run's last checkpoint, with explicit overrides applied."""
    from fashion.config import merge

    payload = read_checkpoint(run_dir / "last.pt")
    return config_from_dict(merge(payload["config"], overrides))
