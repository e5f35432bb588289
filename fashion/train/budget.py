"""Sizing a run to a wall-clock budget: how many epochs fit at a measured training speed.

Used by :func:`fashion.train.loop.fit` (``train.time_budget_min``: the speed is measured on the
run's own first batches) and by ``scripts/real_run.py`` (a whole-job budget, of which training
gets a share). One cost model for both:

    epoch seconds = overhead × (training images + validation images / 3) / images per second

(validation is a forward pass only: about a third of a training step per image; ``overhead``
covers what the measurement did not see: data loading, augmentation, checkpoints), and a fixed
cost (the final test pass, time already spent) comes off the budget before it is divided.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Bounds on a planned run: at least one epoch (a budget too small still trains something and
# says so), and a ceiling so that a tiny dataset on a fast machine does not plan thousands.
MIN_EPOCHS, MAX_EPOCHS = 1, 200
# The loop's measurement includes the data loader and augmentation; checkpoints and the
# per-epoch bookkeeping are not in it.
LOOP_OVERHEAD = 1.05


@dataclass(frozen=True)
class Plan:
    """How the run is sized: measured speed, chosen epochs, and the expected training time."""

    images_per_second: float
    train_images: int
    val_images: int
    epochs: int
    expected_train_seconds: float
    budget_seconds: float = math.nan

    def summary(self) -> str:
        """One line: measured speed, chosen epochs, expected time against the budget."""
        budget = f" of the {self.budget_seconds / 60:.1f} min budget" if math.isfinite(self.budget_seconds) else ""
        return (f"measured {self.images_per_second:.1f} training images/s: chose {self.epochs} epoch"
                f"{'s' if self.epochs != 1 else ''} of {self.train_images} images "
                f"(~{self.expected_train_seconds / 60:.1f} min{budget})")


def epoch_seconds(images_per_second: float, train_images: int, val_images: int, overhead: float) -> float:
    """Expected seconds for one epoch: training plus the validation pass."""
    return overhead * (train_images + val_images / 3) / max(images_per_second, 1e-6)


def plan_epochs(images_per_second: float, train_images: int, val_images: int, seconds: float, *,
                fixed_seconds: float = 0.0, overhead: float = 1.15, min_epochs: int = MIN_EPOCHS,
                max_epochs: int = MAX_EPOCHS) -> Plan:
    """The most epochs (within ``[min_epochs, max_epochs]``) whose time plus ``fixed_seconds`` fits ``seconds``."""
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"the time budget must be a finite number of seconds > 0, got {seconds!r}")
    per_epoch = epoch_seconds(images_per_second, train_images, val_images, overhead)
    fitting = math.floor(max(seconds - fixed_seconds, 0.0) / per_epoch) if per_epoch > 0 else max_epochs
    epochs = int(min(max_epochs, max(min_epochs, fitting)))
    return Plan(images_per_second, train_images, val_images, epochs, epochs * per_epoch + fixed_seconds, seconds)
