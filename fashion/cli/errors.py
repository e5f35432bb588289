"""One place that turns expected failures into one clear line and a non-zero exit (no traceback)."""

from __future__ import annotations

import contextlib
import logging
import sys
from typing import Iterator

from fashion.errors import FashionError


def setup_logging(verbose: bool = False) -> None:
    """The CLIs' one logging style: plain ``message`` lines on stderr (stdout may carry JSON)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    root = logging.getLogger("fashion")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    root.propagate = False


@contextlib.contextmanager
def exit_on_known_errors(extra: tuple[type[BaseException], ...] = ()) -> Iterator[None]:
    """Set up the CLI logging style; print ``error: <message>`` to stderr and exit 1 on an expected failure.

    Every expected failure derives from :class:`fashion.errors.FashionError`; ``extra`` is kept for
    callers that add third-party exception types.
    """
    setup_logging()
    try:
        yield
    except (FashionError, *extra) as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(1) from None
