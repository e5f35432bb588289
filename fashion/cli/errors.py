"""One place that turns expected failures into one clear line and a non-zero exit (no traceback)."""

from __future__ import annotations

import contextlib
import sys
from typing import Iterator


def known_errors() -> tuple[type[BaseException], ...]:
    """Exception types whose message is already a complete explanation for the user."""
    from fashion.model.checkpoint import CheckpointError
    from fashion.config import ConfigError
    from fashion.data.datasets import DatasetError
    from fashion.data.images import ImageLoadError
    from fashion.model.network import WeightsError
    from fashion.data.sample import SampleError
    from fashion.train.loop import TrainingError

    return (ConfigError, DatasetError, ImageLoadError, CheckpointError, WeightsError, TrainingError, SampleError)


@contextlib.contextmanager
def exit_on_known_errors(extra: tuple[type[BaseException], ...] = ()) -> Iterator[None]:
    """Print ``error: <message>`` to stderr and exit with status 1 on a known error."""
    try:
        yield
    except known_errors() + extra as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(1) from None
