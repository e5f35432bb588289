"""How many worker processes to start: one helper for every pool (DataLoaders, the sample
generator, the web app's describe workers)."""

from __future__ import annotations

import functools
import os
import sys
import threading
from typing import Callable

PR_SET_PDEATHSIG = 1  # linux/prctl.h


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


def exit_with_parent(parent: int, worker_id: int = 0) -> None:
    """A DataLoader ``worker_init_fn`` (see :func:`worker_init`): Linux kills this worker when the
    process that started it dies.

    Workers of a build killed with SIGKILL were seen to live on, adopted by init and asleep on a
    lock, holding what they inherited at the fork: the catalog's build lock among it, so the next
    build waited for ever. Elsewhere than Linux, torch's own watchdog is all there is.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before the request was made
        os._exit(1)


def worker_init() -> Callable[[int], None] | None:
    """``worker_init_fn`` for a DataLoader created now: its workers die with this process (a loader
    without workers never calls it).

    None off the main thread: Linux sends the signal when the creating *thread* ends, which for a
    short-lived thread would be long before the process does.
    """
    if threading.current_thread() is not threading.main_thread():
        return None
    return functools.partial(exit_with_parent, os.getpid())
