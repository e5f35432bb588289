"""How many worker processes to start: one helper for every pool (DataLoaders, the sample
generator, the web app's describe workers)."""

from __future__ import annotations

import os


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def default_workers(requested: int, *, spare: int = 1, cap: int = 8) -> int:
    """``requested`` when it is >= 0; for -1 (automatic) the available cores minus ``spare`` (left
    for the main process), at least 1 and at most ``cap``."""
    if requested >= 0:
        return requested
    return max(1, min(cap, available_cores() - spare))
