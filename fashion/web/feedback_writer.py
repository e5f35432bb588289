"""Feedback from the page: one writer thread owns the SQLite connection (connections must not
cross threads), and the JSON body of ``POST /feedback``."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from fashion.feedback.store import FeedbackStore





# ---------------------------------------------------------------------------------------------
# Feedback: one writer thread owns the SQLite connection (connections must not cross threads)


class FeedbackWriter:
    """Records events in the feedback store at ``path`` from one dedicated thread."""

    def __init__(self, path: Path, timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._store: "FeedbackStore | None" = None
        self._lock = threading.Lock()

    def _call(self, method: str | Callable[..., Any], *args: Any) -> Any:
        from fashion.feedback.store import FeedbackStore

        if self._store is None:
            self._store = FeedbackStore(self.path, timeout=self.timeout)
        if callable(method):  # a function of the store, run in the store's thread
            return method(self._store, *args)
        return getattr(self._store, method)(*args)

    async def call(self, method: str | Callable[..., Any], *args: Any) -> Any:
        with self._lock:
            if self._executor is None:
                self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="feedback")
            future = self._executor.submit(self._call, method, *args)
        return await asyncio.wrap_future(future)

    def close(self) -> None:
        """Close the store and stop the thread (a later call opens them again)."""
        def close_store() -> None:
            if self._store is not None:
                self._store.close()
                self._store = None

        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.submit(close_store)
            executor.shutdown(wait=True)


class FeedbackIn(BaseModel):
    """A like or dislike of one shown item for one described query. An unknown key is a 422, not
    ignored (a misspelt "lable" must not record a default)."""

    model_config = ConfigDict(extra="forbid")

    query_id: str = Field(description="`query_id` of the query the item was shown for (from POST /recommend).")
    item: str | None = Field(None, description="The item's catalog key (`key` of the result).")
    id: int | None = Field(None, ge=0, description="Or the item's catalog row (`id` of the result).")
    label: Literal["like", "dislike", 1, -1] = Field(description="`like` / `dislike` (or 1 / -1).")
    weights: dict[str, float] | None = Field(
        None, description="The weights the shopper saw, by score component (GET /components); "
                          "default: the configured ones.")
