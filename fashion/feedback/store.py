"""Shoppers' feedback (like / dislike on a recommended item), stored in an embedded SQLite database.

One file, normally ``<catalog>/feedback.sqlite``, holds every event together with what the shopper
saw: the query (checksum and embedding), the item, the label, each score component's score and
the weights that ranked it (JSON objects by component name, so a new score component needs no
new column). It also keeps the blend weights learned from those events.

A store written by the first release (version 1: one column per component, ``score_visual`` ...)
is migrated in place, in one transaction, the first time this release opens it for writing.

Several ``recommend.py`` processes may read and write the same file at once: the database runs
in WAL mode (readers never block the writer), every write is one ``BEGIN IMMEDIATE`` transaction
and a busy writer is waited for (``timeout`` seconds), so no event is ever lost.

A file that is not ours (another program's SQLite database, random bytes, a damaged file) raises
:class:`FeedbackError` naming the file; such a file is only ever read, never changed or deleted.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import hashlib
import json
import math
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from fashion.errors import FashionError

FORMAT_NAME = "fashion-feedback"
FORMAT_VERSION = 2
LIKE = 1
DISLIKE = -1
# The components of version-1 stores, one column each (read only by the migration).
_V1_COMPONENTS = ("visual", "category", "colour")

_SQLITE_MAGIC = b"SQLite format 3\x00"
_EMBEDDING_DTYPE = np.dtype("<f4")  # fixed byte order: the file may move between machines

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    time            TEXT NOT NULL,
    catalog_key     TEXT NOT NULL,
    query_checksum  TEXT NOT NULL,
    query_name      TEXT NOT NULL DEFAULT '',
    query_embedding BLOB,
    item            TEXT NOT NULL,
    label           INTEGER NOT NULL CHECK (label IN (-1, 1)),
    scores          TEXT NOT NULL DEFAULT '{}',
    score_total     REAL,
    weights         TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS events_catalog_query ON events (catalog_key, query_checksum);
CREATE INDEX IF NOT EXISTS events_catalog_item ON events (catalog_key, item);
CREATE TABLE IF NOT EXISTS learned_weights (
    catalog_key TEXT PRIMARY KEY,
    weights     TEXT NOT NULL,
    n_events    INTEGER NOT NULL,
    time        TEXT NOT NULL
);
"""

# scores / weights: JSON objects {component name: value}; an unknown value is left out.
_EVENT_COLUMNS = (
    "id", "time", "catalog_key", "query_checksum", "query_name", "query_embedding", "item", "label",
    "scores", "score_total", "weights",
)


class FeedbackError(FashionError, ValueError):
    """The feedback store cannot be used; the message names the file and the cause."""


@dataclass(frozen=True)
class FeedbackEvent:
    """One like (+1) or dislike (-1) of one shown item for one query.

    ``scores`` ({score component: score}), ``score_total`` and ``weights`` ({component: weight})
    are what the shopper saw (a component missing, or NaN, is unknown); ``time`` (UTC ISO 8601)
    and ``id`` are filled in by the store.
    """

    catalog_key: str
    query_checksum: str
    item: str
    label: int
    query_embedding: np.ndarray | None = None
    query_name: str = ""
    scores: Mapping[str, float] = dataclasses.field(default_factory=dict)
    score_total: float = math.nan
    weights: Mapping[str, float] = dataclasses.field(default_factory=dict)
    time: str | None = None
    id: int | None = None


@dataclass(frozen=True)
class LearnedWeights:
    """Blend weights fitted from a catalog's feedback, as saved in the store."""

    catalog_key: str
    weights: Mapping[str, float]  # {score component: weight}
    n_events: int
    time: str

    def as_array(self, names: Sequence[str] | None = None) -> np.ndarray:
        """The weights of ``names`` (default: all, in stored order) as float64; NaN where unknown."""
        names = list(self.weights) if names is None else names
        return np.array([self.weights.get(name, math.nan) for name in names], dtype=np.float64)

    def as_dict(self) -> dict[str, float | int | str]:
        """Plain dict (for JSON and the ``--feedback`` summary): catalog_key, each weight by name,
        n_events, time."""
        return {"catalog_key": self.catalog_key, **self.weights, "n_events": self.n_events, "time": self.time}


# ---------------------------------------------------------------------------------------------
# Checksums and keys


def checksum_bytes(data: bytes) -> str:
    """sha256 hex digest of raw bytes (a query image file's content)."""
    return hashlib.sha256(data).hexdigest()


def checksum_file(path: str | Path) -> str:
    """sha256 hex digest of a file's bytes (the same digest queries and checkpoints use)."""
    from fashion.io_utils import file_checksum

    return file_checksum(Path(path))


def checksum_embedding(embedding: np.ndarray) -> str:
    """sha256 hex digest of an embedding as little-endian float32 (for multi-image queries)."""
    return hashlib.sha256(_embedding_to_blob(np.asarray(embedding))).hexdigest()


def make_catalog_key(catalog_dir: str | Path, model_checksum: str) -> str:
    """A stable key telling one catalog's feedback from another's: ``<folder name>-<12 hex>``.

    The model checksum is part of it because embeddings and component scores from another
    model mean something else.
    """
    resolved = str(Path(catalog_dir).resolve())
    digest = hashlib.sha256(f"{resolved}\n{model_checksum}".encode("utf-8")).hexdigest()[:12]
    return f"{Path(resolved).name}-{digest}"


def _utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="microseconds")


def _embedding_to_blob(embedding: np.ndarray | None) -> bytes | None:
    if embedding is None:
        return None
    array = np.asarray(embedding)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"query embedding must be a non-empty 1-D vector, got shape {array.shape}")
    return np.ascontiguousarray(array, dtype=_EMBEDDING_DTYPE).tobytes()


def _blob_to_embedding(blob: bytes | None) -> np.ndarray | None:
    if blob is None:
        return None
    return np.frombuffer(blob, dtype=_EMBEDDING_DTYPE).astype(np.float32)


def _is_busy(error: sqlite3.Error) -> bool:
    return "locked" in str(error) or "busy" in str(error)


def _float_or_none(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def _values_to_json(values: Mapping[str, float] | None) -> str:
    """``{name: value}`` as a JSON object, unknown (None, NaN) values left out."""
    known = {}
    for name, value in (values or {}).items():
        number = _float_or_none(value)
        if number is not None:
            known[str(name)] = number
    return json.dumps(known, separators=(",", ":"))


def _json_to_values(text: str | None) -> dict[str, float]:
    if not text:
        return {}
    try:
        values = json.loads(text)
    except ValueError:
        return {}
    return {str(k): float(v) for k, v in values.items() if isinstance(v, (int, float))} if isinstance(values, dict) else {}


# ---------------------------------------------------------------------------------------------
# Opening safely


def _probe_existing(path: Path) -> None:
    """Check, read-only, that an existing non-empty file is a feedback store we can use.

    Runs before any read-write connection so that a foreign file is never touched: no WAL switch,
    no hot-journal rollback, no checkpoint.
    """
    if path.is_dir():
        raise FeedbackError(f"{path}: a folder is where the feedback store should be; "
                            "move it away or pass another path; it was left untouched")
    try:
        with open(path, "rb") as handle:
            header = handle.read(len(_SQLITE_MAGIC))
    except OSError as error:
        raise FeedbackError(f"{path}: cannot read the feedback store ({error.strerror or error})") from None
    if header != _SQLITE_MAGIC:
        raise FeedbackError(f"{path}: not a feedback store (not an SQLite database, or damaged); "
                            "move it away or pass another path; it was left untouched")
    # While a process has the database open in WAL mode its -wal and -shm files exist, and while
    # one writes in rollback mode (a store being created) its -journal does. Without any of them
    # nobody is writing, so the file is read as immutable: no side files are created and no hot
    # journal is rolled back. With them, an ordinary read-only connection sees a consistent state.
    in_use = any(Path(f"{path}{suffix}").exists() for suffix in ("-wal", "-shm", "-journal"))
    uri = f"{path.resolve().as_uri()}?mode=ro" + ("" if in_use else "&immutable=1")
    try:
        connection = sqlite3.connect(uri, uri=True, timeout=5.0)
    except sqlite3.Error as error:
        raise FeedbackError(f"{path}: cannot open the feedback store ({error})") from None
    try:
        _check_meta(connection, path)
    except sqlite3.DatabaseError as error:
        raise FeedbackError(f"{path}: damaged feedback store ({error}); it was left untouched") from None
    finally:
        connection.close()


def _check_meta(connection: sqlite3.Connection, path: Path) -> bool:
    """True when the database is ours and readable; False when it is empty; raise when foreign."""
    tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not tables:
        return False
    if "meta" not in tables:
        raise FeedbackError(f"{path}: an SQLite database of another program (no feedback 'meta' table; "
                            f"tables: {', '.join(sorted(tables))}); it was left untouched")
    meta = dict(connection.execute("SELECT key, value FROM meta").fetchall())
    if meta.get("format") != FORMAT_NAME:
        raise FeedbackError(f"{path}: an SQLite database of another program (format "
                            f"{meta.get('format')!r}, expected {FORMAT_NAME!r}); it was left untouched")
    try:
        version = int(meta.get("version", ""))
    except ValueError:
        raise FeedbackError(f"{path}: feedback store with an unreadable version {meta.get('version')!r}") from None
    if version > FORMAT_VERSION:
        raise FeedbackError(f"{path}: feedback store version {version} was written by a newer release; "
                            f"this one reads version {FORMAT_VERSION}")
    return True


def _stored_version(connection: sqlite3.Connection) -> int:
    row = connection.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
    return int(row[0]) if row else FORMAT_VERSION


def _migrate_v1(connection: sqlite3.Connection) -> None:
    """Version 1 → 2 inside the caller's transaction (see :meth:`FeedbackStore._migrate`)."""
    old_scores = [f"score_{name}" for name in _V1_COMPONENTS]
    old_weights = [f"weight_{name}" for name in _V1_COMPONENTS]
    base = ["id", "time", "catalog_key", "query_checksum", "query_name", "query_embedding", "item", "label"]
    events = connection.execute(
        f"SELECT {', '.join(base + old_scores + ['score_total'] + old_weights)} FROM events ORDER BY id").fetchall()
    learned = connection.execute(
        f"SELECT catalog_key, {', '.join(_V1_COMPONENTS)}, n_events, time FROM learned_weights").fetchall()
    for statement in ("DROP INDEX IF EXISTS events_catalog_query", "DROP INDEX IF EXISTS events_catalog_item",
                      "ALTER TABLE events RENAME TO events_v1", "ALTER TABLE learned_weights RENAME TO learned_weights_v1"):
        connection.execute(statement)
    for statement in _SCHEMA.split(";"):
        if statement.strip():
            connection.execute(statement)
    n = len(base)
    k = len(_V1_COMPONENTS)
    connection.executemany(
        f"INSERT INTO events ({', '.join(_EVENT_COLUMNS)}) VALUES ({', '.join('?' * len(_EVENT_COLUMNS))})",
        [(*row[:n], _values_to_json(dict(zip(_V1_COMPONENTS, row[n:n + k]))), row[n + k],
          _values_to_json(dict(zip(_V1_COMPONENTS, row[n + k + 1:])))) for row in events])
    connection.executemany(
        "INSERT INTO learned_weights (catalog_key, weights, n_events, time) VALUES (?, ?, ?, ?)",
        [(row[0], _values_to_json(dict(zip(_V1_COMPONENTS, row[1:1 + k]))), row[1 + k], row[2 + k])
         for row in learned])
    connection.execute("DROP TABLE events_v1")
    connection.execute("DROP TABLE learned_weights_v1")


# ---------------------------------------------------------------------------------------------
# The store


class FeedbackStore:
    """Feedback events and learned blend weights in one SQLite file.

    Open one store per process (a connection must not cross ``fork``); use it as a context
    manager or call :meth:`close`. All errors surface as :class:`FeedbackError`.
    """

    def __init__(self, path: str | Path, timeout: float = 30.0, create: bool = True) -> None:
        """Open (and, when ``create``, create) the store at ``path``.

        ``timeout`` is how long a write waits for another process's write to finish.
        """
        self.path = Path(path)
        self.timeout = float(timeout)
        exists = self.path.exists()
        if not exists and not create:
            raise FeedbackError(f"{self.path}: no feedback recorded yet (file does not exist)")
        if exists and self.path.stat().st_size > 0:
            _probe_existing(self.path)
        self._connection: sqlite3.Connection | None = self._open()

    # -- life cycle ---------------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # isolation_level=None: no implicit transactions; every write opens its own below.
            connection = sqlite3.connect(str(self.path), timeout=self.timeout, isolation_level=None)
        except sqlite3.Error as error:
            raise FeedbackError(f"{self.path}: cannot open the feedback store ({error})") from None
        try:
            connection.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            if not _check_meta(connection, self.path):
                self._initialise(connection)
            elif _stored_version(connection) < FORMAT_VERSION:
                self._migrate(connection)
            # Only now, with the file known to be ours, may its journal mode change.
            self._ensure_wal(connection)
        except sqlite3.DatabaseError as error:
            connection.close()
            raise FeedbackError(f"{self.path}: cannot use the feedback store ({error})") from None
        except FeedbackError:
            connection.close()
            raise
        return connection

    def _ensure_wal(self, connection: sqlite3.Connection) -> None:
        """Switch a new store to WAL mode (persistent: later opens find it already so).

        The switch needs every other connection gone for an instant, and SQLite reports
        "locked" at once instead of waiting, so processes that create the store together
        retry here until ``timeout``.
        """
        deadline = time.monotonic() + self.timeout
        delay = 0.005
        while True:
            try:
                if str(connection.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
                    return
                mode = str(connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]).lower()
                if mode == "wal":
                    return
                raise FeedbackError(f"{self.path}: cannot switch the feedback store to WAL mode (got {mode})")
            except sqlite3.OperationalError as error:
                if not _is_busy(error) or time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(2 * delay, 0.1)

    def _initialise(self, connection: sqlite3.Connection) -> None:
        """Create the schema in one transaction; a racing creator simply finds it done."""
        connection.execute("BEGIN IMMEDIATE")
        try:
            if not _check_meta(connection, self.path):
                # executescript() would COMMIT first; run the statements inside this transaction.
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        connection.execute(statement)
                connection.executemany(
                    "INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)",
                    [("format", FORMAT_NAME), ("version", str(FORMAT_VERSION)), ("created", _utc_now())],
                )
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise

    def _migrate(self, connection: sqlite3.Connection) -> None:
        """Bring a version-1 store (one column per component) to version 2 (JSON by name), in one
        transaction: events and learned weights keep their ids, times and values."""
        connection.execute("BEGIN IMMEDIATE")
        try:
            if _stored_version(connection) < 2:  # another process may have just done it
                _migrate_v1(connection)
                connection.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('version', ?)",
                                   (str(FORMAT_VERSION),))
                connection.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('migrated', ?)", (_utc_now(),))
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise

    def close(self) -> None:
        """Close the connection (idempotent)."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def __enter__(self) -> "FeedbackStore":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"FeedbackStore({str(self.path)!r})"

    # -- plumbing -----------------------------------------------------------------------------

    @property
    def _db(self) -> sqlite3.Connection:
        if self._connection is None:
            raise FeedbackError(f"{self.path}: the feedback store is closed")
        return self._connection

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """Turn sqlite3 errors into FeedbackError naming the file."""
        try:
            yield
        except sqlite3.OperationalError as error:
            if _is_busy(error):
                raise FeedbackError(f"{self.path}: busy for more than {self.timeout:g} s "
                                    "(another process is writing)") from None
            raise FeedbackError(f"{self.path}: {error}") from None
        except sqlite3.DatabaseError as error:
            raise FeedbackError(f"{self.path}: damaged feedback store ({error})") from None

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: all of it is stored, or none of it."""
        with self._errors():
            db = self._db
            # IMMEDIATE takes the write lock up front, so a busy writer is waited for here
            # rather than failing half-way through.
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise

    def _query(self, sql: str, params: Sequence[object] = ()) -> list[tuple]:
        with self._errors():
            return self._db.execute(sql, params).fetchall()

    @staticmethod
    def _where(catalog_key: str | None) -> tuple[str, tuple]:
        if catalog_key is None:
            return "", ()
        return " WHERE catalog_key = ?", (catalog_key,)

    # -- events -------------------------------------------------------------------------------

    def record(self, events: Iterable[FeedbackEvent]) -> int:
        """Store ``events`` in one transaction; returns how many were stored."""
        rows = [self._event_row(event) for event in events]
        if not rows:
            return 0
        placeholders = ", ".join("?" * len(_EVENT_COLUMNS[1:]))
        with self._write() as db:
            db.executemany(f"INSERT INTO events ({', '.join(_EVENT_COLUMNS[1:])}) VALUES ({placeholders})", rows)
        return len(rows)

    @staticmethod
    def _event_row(event: FeedbackEvent) -> tuple:
        if event.label not in (LIKE, DISLIKE):
            raise ValueError(f"label must be {LIKE} (like) or {DISLIKE} (dislike), got {event.label!r}")
        for name in ("catalog_key", "query_checksum", "item"):
            if not isinstance(getattr(event, name), str) or not getattr(event, name):
                raise ValueError(f"{name} must be a non-empty string, got {getattr(event, name)!r}")
        return (
            event.time or _utc_now(), event.catalog_key, event.query_checksum, event.query_name,
            _embedding_to_blob(event.query_embedding), event.item, int(event.label),
            _values_to_json(event.scores), _float_or_none(event.score_total), _values_to_json(event.weights),
        )

    def event_list(self, catalog_key: str | None = None) -> list[FeedbackEvent]:
        """All events (of one catalog, or all), oldest first, as :class:`FeedbackEvent`."""
        where, params = self._where(catalog_key)
        rows = self._query(f"SELECT {', '.join(_EVENT_COLUMNS)} FROM events{where} ORDER BY id", params)
        return [self._row_event(row) for row in rows]

    @staticmethod
    def _row_event(row: tuple) -> FeedbackEvent:
        values = dict(zip(_EVENT_COLUMNS, row))
        values["query_embedding"] = _blob_to_embedding(values["query_embedding"])
        values["scores"] = _json_to_values(values["scores"])
        values["weights"] = _json_to_values(values["weights"])
        if values["score_total"] is None:
            values["score_total"] = math.nan
        return FeedbackEvent(**values)

    def events(self, catalog_key: str | None = None) -> pd.DataFrame:
        """All events as a frame, one row per event, oldest first.

        Columns: id, time, catalog_key, query_checksum, query_name, query_embedding (float32
        array or None), item, label (+1/-1), ``score_<component>`` for each component any event
        scored, score_total, ``weight_<component>`` likewise (NaN when unknown).
        """
        return events_frame(self.event_list(catalog_key))

    def latest_events(self, catalog_key: str) -> pd.DataFrame:
        """One row per (query, item) of a catalog: the latest vote counts, repeats do not.

        The shopper who runs the same query twice and dislikes the same item twice has said one
        thing, not two; this is what the weight fit and the item prior learn from.
        """
        rows = self._query(
            f"SELECT {', '.join(_EVENT_COLUMNS)} FROM events WHERE id IN ("
            "SELECT MAX(id) FROM events WHERE catalog_key = ? GROUP BY query_checksum, item) ORDER BY id",
            (catalog_key,),
        )
        return events_frame([self._row_event(row) for row in rows])

    def query_labels(self, catalog_key: str, query_checksum: str) -> dict[str, int]:
        """``{item: +1 | -1}``: the latest vote on each item for this query (session refinement)."""
        rows = self._query(
            "SELECT item, label FROM events WHERE id IN (SELECT MAX(id) FROM events "
            "WHERE catalog_key = ? AND query_checksum = ? GROUP BY item) ORDER BY id",
            (catalog_key, query_checksum),
        )
        return {item: int(label) for item, label in rows}

    def item_counts(self, catalog_key: str) -> tuple[dict[str, int], dict[str, int]]:
        """``(likes, dislikes)`` per item, one vote per (query, item) (see :meth:`latest_events`)."""
        rows = self._query(
            "SELECT item, SUM(label = 1), SUM(label = -1) FROM events WHERE id IN ("
            "SELECT MAX(id) FROM events WHERE catalog_key = ? GROUP BY query_checksum, item) GROUP BY item",
            (catalog_key,),
        )
        likes = {item: int(n) for item, n, _ in rows if n}
        dislikes = {item: int(n) for item, _, n in rows if n}
        return likes, dislikes

    def training_data(self, catalog_key: str, names: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(component_scores (n, len(names)), labels (n,), groups (n,))`` for the blend-weight fit.

        One row per (query, item), latest vote; rows where a score of one of ``names`` is unknown
        are left out. ``groups`` holds each row's query checksum.
        """
        events = [self._row_event(row) for row in self._query(
            f"SELECT {', '.join(_EVENT_COLUMNS)} FROM events WHERE id IN ("
            "SELECT MAX(id) FROM events WHERE catalog_key = ? GROUP BY query_checksum, item) ORDER BY id",
            (catalog_key,))]
        rows = [[e.scores.get(name, math.nan) for name in names] for e in events]
        known = [i for i, row in enumerate(rows) if all(math.isfinite(v) for v in row)]
        return (np.array([rows[i] for i in known], dtype=np.float64).reshape(len(known), len(names)),
                np.array([events[i].label for i in known], dtype=np.int64),
                np.array([events[i].query_checksum for i in known], dtype=object))

    def count(self, catalog_key: str | None = None) -> int:
        """Number of events (of one catalog, or all)."""
        where, params = self._where(catalog_key)
        return int(self._query(f"SELECT COUNT(*) FROM events{where}", params)[0][0])

    def summary(self, catalog_key: str | None = None, top: int = 5) -> dict:
        """What has been recorded: counts, time span, most liked/disliked items, learned weights.

        Keys: path, catalog_key, events, likes, dislikes, queries (distinct), items (distinct),
        first, last (UTC ISO or None), catalogs ({key: events}), most_liked / most_disliked
        (lists of {item, likes, dislikes}, at most ``top``), learned_weights ({key: dict}).
        """
        where, params = self._where(catalog_key)
        events, likes, queries, items, first, last = self._query(
            "SELECT COUNT(*), COALESCE(SUM(label = 1), 0), COUNT(DISTINCT query_checksum), "
            f"COUNT(DISTINCT item), MIN(time), MAX(time) FROM events{where}", params)[0]
        catalogs = dict(self._query(f"SELECT catalog_key, COUNT(*) FROM events{where} "
                                    "GROUP BY catalog_key ORDER BY catalog_key", params))
        per_item = self._query(f"SELECT item, SUM(label = 1), SUM(label = -1) FROM events{where} GROUP BY item",
                               params)
        ranked = [{"item": item, "likes": int(n_like), "dislikes": int(n_dislike)}
                  for item, n_like, n_dislike in per_item]
        most_liked = sorted((r for r in ranked if r["likes"]), key=lambda r: (-r["likes"], r["dislikes"], r["item"]))
        most_disliked = sorted((r for r in ranked if r["dislikes"]),
                               key=lambda r: (-r["dislikes"], r["likes"], r["item"]))
        weights = {w.catalog_key: w.as_dict() for w in self._all_weights(catalog_key)}
        return {
            "path": str(self.path), "catalog_key": catalog_key, "events": int(events),
            "likes": int(likes), "dislikes": int(events) - int(likes), "queries": int(queries),
            "items": int(items), "first": first, "last": last, "catalogs": catalogs,
            "most_liked": most_liked[:top], "most_disliked": most_disliked[:top], "learned_weights": weights,
        }

    def export_csv(self, path: str | Path, catalog_key: str | None = None, embeddings: bool = False) -> int:
        """Write the events to a CSV file (atomically); returns the number of rows.

        The embedding is left out unless ``embeddings`` (then a space-separated column), since
        it makes rows kilobytes long; its dimension is always written.
        """
        from fashion.io_utils import atomic_write_text

        frame = self.events(catalog_key)
        dims = [0 if e is None else len(e) for e in frame["query_embedding"]]
        if embeddings:
            frame["query_embedding"] = [
                "" if e is None else " ".join(f"{v:.7g}" for v in e) for e in frame["query_embedding"]]
        else:
            frame = frame.drop(columns=["query_embedding"])
        frame.insert(frame.columns.get_loc("item"), "query_embedding_dim", dims)
        atomic_write_text(Path(path), frame.to_csv(index=False))
        return len(frame)

    def reset(self, catalog_key: str | None = None) -> int:
        """Delete the events (and learned weights) of one catalog, or all; returns events deleted."""
        where, params = self._where(catalog_key)
        with self._write() as db:
            deleted = db.execute(f"DELETE FROM events{where}", params).rowcount
            db.execute(f"DELETE FROM learned_weights{where}", params)
        return int(deleted)

    # -- learned weights ----------------------------------------------------------------------

    def save_weights(self, catalog_key: str, weights: Mapping[str, float], n_events: int) -> LearnedWeights:
        """Save (replace) the blend weights ``{component: weight}`` learned for a catalog."""
        if not isinstance(weights, Mapping) or not weights:
            raise ValueError(f"weights must be a non-empty mapping of component names to numbers, got {weights!r}")
        values = {str(name): float(value) for name, value in weights.items()}
        if not all(math.isfinite(v) and v >= 0 for v in values.values()):
            raise ValueError(f"weights must be finite non-negative numbers, got {weights!r}")
        learned = LearnedWeights(catalog_key, values, int(n_events), _utc_now())
        with self._write() as db:
            db.execute("INSERT OR REPLACE INTO learned_weights (catalog_key, weights, n_events, time) "
                       "VALUES (?, ?, ?, ?)", (learned.catalog_key, _values_to_json(values), learned.n_events,
                                               learned.time))
        return learned

    def load_weights(self, catalog_key: str) -> LearnedWeights | None:
        """The blend weights learned for a catalog, or None when none were saved."""
        found = self._all_weights(catalog_key)
        return found[0] if found else None

    def _all_weights(self, catalog_key: str | None) -> list[LearnedWeights]:
        where, params = self._where(catalog_key)
        rows = self._query("SELECT catalog_key, weights, n_events, time FROM learned_weights"
                           f"{where} ORDER BY catalog_key", params)
        return [LearnedWeights(key, _json_to_values(weights), int(n), time) for key, weights, n, time in rows]

    # -- maintenance --------------------------------------------------------------------------

    def check(self) -> None:
        """Run SQLite's ``quick_check`` over the whole file; raise FeedbackError if damaged."""
        result = self._query("PRAGMA quick_check")
        problems = [row[0] for row in result if row[0] != "ok"]
        if problems:
            raise FeedbackError(f"{self.path}: damaged feedback store ({'; '.join(problems[:3])})")


def events_frame(events: Sequence[FeedbackEvent]) -> pd.DataFrame:
    """A list of events as a DataFrame (columns as in :meth:`FeedbackStore.events`)."""
    names: list[str] = []
    for event in events:
        names += [n for n in (*event.scores, *event.weights) if n not in names]
    columns: dict[str, list] = {name: [getattr(e, name) for e in events] for name in _EVENT_COLUMNS[:8]}
    for name in names:
        columns[f"score_{name}"] = [float(e.scores.get(name, math.nan)) for e in events]
    columns["score_total"] = [float(e.score_total) for e in events]
    for name in names:
        columns[f"weight_{name}"] = [float(e.weights.get(name, math.nan)) for e in events]
    frame = pd.DataFrame(columns, columns=list(columns))
    return frame.astype({"id": "Int64", "label": "int64"})
