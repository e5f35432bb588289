"""The configured training data: the user's dataset, or the built-in sample (generated when missing)."""

from __future__ import annotations

import sys
from pathlib import Path

from fashion.config import Config
from fashion.data.datasets import LabelledData, load_dataset


def load_training_data(config: Config) -> LabelledData:
    """The configured dataset; the built-in sample is generated first when it is missing."""
    root = Path(config.data.root)
    if config.data.sample:
        from fashion.data.sample import ensure_sample

        # stderr, like the progress bars: stdout may be JSON (recommend.py --json).
        ensure_sample(root, config.sample, announce=lambda message: print(message, file=sys.stderr))
    return load_dataset(root, layout=config.data.layout, on_bad_rows=config.data.on_bad_rows,
                        val_fraction=config.data.val_fraction, test_fraction=config.data.test_fraction,
                        seed=config.train.seed)
