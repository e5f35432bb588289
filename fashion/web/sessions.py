"""Shopper sessions for the web page: each shopper's likes and dislikes re-rank only their own results.

A session is a random token in a cookie (:data:`COOKIE`); the server keeps, per session and per
described photo (``query_id``), the items it showed and the shopper's likes / dislikes. The
refinement a session drives is the CLI's (:func:`fashion.feedback.refinement.refine_session`)
from *this session's* judgements: Rocchio on the query's embedding and palette, its disliked
items not shown again for that photo, a bonus for items like its liked ones; the learned blend
weights and the item prior stay global (every shopper's recorded events). A token the server does not hold (forged,
expired, from a restarted server) gets a new empty session, never someone else's; feedback on an
item the session was not shown for that photo is refused.

Sessions live in memory only (a restart forgets the refinement; recorded events stay in the
store), at most ``max_sessions`` of them, each forgotten after ``idle_seconds`` without a request.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

COOKIE = "fashion_session"
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{32}$")


@dataclass
class ShopperSession:
    """One shopper's page state: shown items and judgements per described photo."""

    token: str
    touched: float = field(default_factory=time.monotonic)
    shown: dict[str, set[str]] = field(default_factory=dict)  # query_id -> item keys shown
    labels: dict[str, dict[str, int]] = field(default_factory=dict)  # query_id -> {item key: +1 / -1}

    def judged(self, query_id: str) -> dict[str, int]:
        return dict(self.labels.get(query_id, {}))

    def was_shown(self, query_id: str, key: str) -> bool:
        return key in self.shown.get(query_id, set())

    def show(self, query_id: str, keys: Sequence[str]) -> None:
        self.shown.setdefault(query_id, set()).update(keys)

    def judge(self, query_id: str, key: str, label: int) -> None:
        self.labels.setdefault(query_id, {})[key] = 1 if label > 0 else -1

    def reset(self) -> int:
        """Forget every judgement (and what was shown); returns how many judgements there were."""
        count = sum(len(v) for v in self.labels.values())
        self.labels.clear()
        self.shown.clear()
        return count

    def summary(self) -> dict[str, int]:
        values = [v for labels in self.labels.values() for v in labels.values()]
        return {"likes": sum(v > 0 for v in values), "dislikes": sum(v < 0 for v in values),
                "queries": len(self.labels)}


class Sessions:
    """The server's sessions by token (thread-safe; least recently used dropped beyond the limit)."""

    def __init__(self, max_sessions: int = 10_000, idle_seconds: float = 24 * 3600.0) -> None:
        self.max_sessions = max_sessions
        self.idle_seconds = idle_seconds
        self._sessions: OrderedDict[str, ShopperSession] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._sessions)

    def get(self, token: str | None) -> tuple[ShopperSession, bool]:
        """``(session, new)``: the session of a known, live token, else a new empty one."""
        now = time.monotonic()
        with self._lock:
            session = self._sessions.get(token) if token and _TOKEN.match(token) else None
            if session is not None and now - session.touched > self.idle_seconds:
                del self._sessions[session.token]
                session = None
            if session is None:
                session = ShopperSession(secrets.token_urlsafe(24))
                self._sessions[session.token] = session
                while len(self._sessions) > self.max_sessions:
                    self._sessions.popitem(last=False)
                new = True
            else:
                self._sessions.move_to_end(session.token)
                new = False
            session.touched = now
            return session, new


def feedback_notes(query_embedding: np.ndarray, embeddings: np.ndarray, liked_rows: Sequence[int],
                   rows: Sequence[int], before: dict[int, int]) -> list[dict[str, Any]]:
    """What the session's feedback did to each result row: ``{"closer_to_liked", "was", "note"}``.

    ``closer_to_liked``: liked items (other than itself) this result is more alike (embedding
    cosine) than it is to the shopper's photo; ``was``: its rank without the session's feedback (None: not in that list);
    ``note``: both in words ("up from #4, closer to 2 liked items").
    """
    embeddings = np.asarray(embeddings, dtype=np.float32)
    query = np.asarray(query_embedding, dtype=np.float32)
    liked_rows = np.asarray(list(liked_rows), dtype=np.int64)
    notes = []
    for rank, row in enumerate(rows, start=1):
        vector = embeddings[row]
        others = liked_rows[liked_rows != row]  # a liked result is not "closer to" itself
        closer = int(np.sum(embeddings[others] @ vector >= float(vector @ query))) if len(others) else 0
        was = before.get(int(row))
        parts = []
        if was is None:
            parts.append("new in your list")
        elif was > rank:
            parts.append(f"up from #{was}")
        elif was < rank:
            parts.append(f"down from #{was}")
        if closer:
            parts.append(f"closer to {closer} liked item{'s' if closer != 1 else ''}")
        notes.append({"closer_to_liked": closer, "was": was, "note": ", ".join(parts)})
    return notes
