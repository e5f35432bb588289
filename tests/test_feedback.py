"""Feedback store: round trip, concurrent writers, damaged and foreign files, export, reset, weights."""

from __future__ import annotations

import datetime as dt
import math
import multiprocessing
import os
import sqlite3
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fashion.feedback.store import (
    DISLIKE, FORMAT_NAME, FORMAT_VERSION, LIKE, FeedbackError, FeedbackEvent, FeedbackStore, checksum_bytes,
    checksum_embedding, checksum_file, make_catalog_key,
)

DIM = 8
NAMES = ("visual", "category", "colour")


def make_event(i: int, label: int = LIKE, catalog: str = "shop-a", query: str | None = None, **extra) -> FeedbackEvent:
    """An event; ``score_<name>=`` / ``weight_<name>=`` replace one component's value (NaN: unknown)."""
    rng = np.random.default_rng(i)
    scores = {"visual": 0.8, "category": 0.5, "colour": 0.25}
    weights = {"visual": 0.6, "category": 0.25, "colour": 0.15}
    for key in [k for k in extra if k.startswith(("score_", "weight_")) and k != "score_total"]:
        target = scores if key.startswith("score_") else weights
        target[key.split("_", 1)[1]] = extra.pop(key)
    values = dict(
        catalog_key=catalog, query_checksum=query or f"q{i % 3}", item=f"item{i % 5}", label=label,
        query_embedding=rng.normal(size=DIM).astype(np.float32), query_name=f"photo{i}.jpg",
        scores=scores, score_total=0.63, weights=weights,
    )
    values.update(extra)
    return FeedbackEvent(**values)


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file in a folder with its bytes: to prove nothing was changed, added or removed."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture
def store(tmp_path):
    with FeedbackStore(tmp_path / "feedback.sqlite") as opened:
        yield opened


def test_round_trip(tmp_path):
    path = tmp_path / "feedback.sqlite"
    events = [make_event(0), make_event(1, DISLIKE), make_event(2, score_colour=math.nan, query_embedding=None)]
    with FeedbackStore(path) as store:
        assert store.record(events) == 3
        assert store.record([]) == 0
    with FeedbackStore(path, create=False) as store:  # reopened: the events persisted
        back = store.event_list()
        frame = store.events()
    assert [e.id for e in back] == [1, 2, 3]
    for original, stored in zip(events, back):
        assert stored.item == original.item and stored.label == original.label
        assert stored.query_checksum == original.query_checksum and stored.query_name == original.query_name
        if original.query_embedding is None:
            assert stored.query_embedding is None
        else:
            assert stored.query_embedding.dtype == np.float32
            np.testing.assert_array_equal(stored.query_embedding, original.query_embedding)
        when = dt.datetime.fromisoformat(stored.time)
        assert when.utcoffset() == dt.timedelta(0)  # UTC
        assert abs((dt.datetime.now(dt.timezone.utc) - when).total_seconds()) < 60
    assert "colour" not in back[2].scores and back[2].scores["visual"] == pytest.approx(0.8)
    assert back[0].weights == {"visual": 0.6, "category": 0.25, "colour": 0.15}
    assert math.isnan(frame.loc[2, "score_colour"])
    assert list(frame["label"]) == [1, -1, 1]
    assert frame.loc[0, "weight_category"] == pytest.approx(0.25)
    assert {"query_embedding", "score_total", "catalog_key"} <= set(frame.columns)


def test_store_is_wal_with_versioned_meta(store):
    store.record([make_event(0)])
    raw = sqlite3.connect(store.path)
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        meta = dict(raw.execute("SELECT key, value FROM meta"))
    finally:
        raw.close()
    assert meta["format"] == FORMAT_NAME and meta["version"] == str(FORMAT_VERSION)


@pytest.mark.parametrize("bad", [
    dict(label=0), dict(label=2), dict(item=""), dict(catalog_key=""), dict(query_embedding=np.zeros((2, 2))),
])
def test_invalid_events_write_nothing(store, bad):
    with pytest.raises(ValueError):
        store.record([make_event(0), make_event(1, **bad)])
    assert store.count() == 0  # all of a batch, or none of it


def test_catalogs_are_told_apart(store):
    store.record([make_event(i, catalog="shop-a") for i in range(4)] + [make_event(9, catalog="shop-b")])
    assert store.count() == 5 and store.count("shop-a") == 4 and store.count("shop-b") == 1
    assert set(store.events("shop-b")["catalog_key"]) == {"shop-b"}
    assert store.summary()["catalogs"] == {"shop-a": 4, "shop-b": 1}


def test_summary(store):
    store.record([
        make_event(0, LIKE, query="q1", item="red-dress"), make_event(1, LIKE, query="q2", item="red-dress"),
        make_event(2, DISLIKE, query="q1", item="grey-coat"), make_event(3, DISLIKE, query="q2", item="grey-coat"),
        make_event(4, DISLIKE, query="q3", item="grey-coat"), make_event(5, LIKE, query="q3", item="blue-jeans"),
    ])
    summary = store.summary("shop-a")
    assert (summary["events"], summary["likes"], summary["dislikes"]) == (6, 3, 3)
    assert (summary["queries"], summary["items"]) == (3, 3)
    assert summary["most_liked"][0] == {"item": "red-dress", "likes": 2, "dislikes": 0}
    assert summary["most_disliked"] == [{"item": "grey-coat", "likes": 0, "dislikes": 3}]
    assert summary["first"] <= summary["last"]
    assert summary["learned_weights"] == {}
    empty = store.summary("no-such-catalog")
    assert empty["events"] == 0 and empty["first"] is None and empty["most_liked"] == []


def test_repeated_votes_count_once_and_latest_wins(store):
    store.record([make_event(0, DISLIKE, query="q1", item="x"), make_event(1, DISLIKE, query="q1", item="x"),
                  make_event(2, LIKE, query="q1", item="y"), make_event(3, DISLIKE, query="q2", item="x")])
    store.record([make_event(4, LIKE, query="q1", item="y", score_visual=math.nan),
                  make_event(5, DISLIKE, query="q1", item="y")])  # changed their mind on y
    assert store.query_labels("shop-a", "q1") == {"x": DISLIKE, "y": DISLIKE}
    assert store.query_labels("shop-a", "unknown") == {}
    likes, dislikes = store.item_counts("shop-a")
    assert likes == {} and dislikes == {"x": 2, "y": 1}  # x: once per query, not three times
    scores, labels, groups = store.training_data("shop-a", NAMES)
    assert scores.shape == (3, 3) and list(labels) == [-1, -1, -1] and sorted(groups) == ["q1", "q1", "q2"]


def test_training_data_skips_unknown_scores(store):
    store.record([make_event(0, item="a"), make_event(1, item="b", score_category=math.nan)])
    scores, labels, _ = store.training_data("shop-a", NAMES)
    assert scores.shape == (1, 3) and labels.tolist() == [1]
    assert store.training_data("shop-a", ("visual", "colour"))[0].shape == (2, 2)  # only the names asked for
    empty_scores, empty_labels, _ = store.training_data("other", NAMES)
    assert empty_scores.shape == (0, 3) and empty_labels.shape == (0,)


def test_export_csv(store, tmp_path):
    store.record([make_event(i, LIKE if i % 2 else DISLIKE) for i in range(5)])
    out = tmp_path / "out" / "feedback.csv"
    assert store.export_csv(out) == 5
    frame = pd.read_csv(out)
    assert len(frame) == 5 and "query_embedding" not in frame.columns
    assert list(frame["label"]) == [-1, 1, -1, 1, -1]
    assert (frame["query_embedding_dim"] == DIM).all()
    assert frame["score_visual"].tolist() == pytest.approx([0.8] * 5)
    with_vectors = tmp_path / "vectors.csv"
    assert store.export_csv(with_vectors, catalog_key="shop-a", embeddings=True) == 5
    first = pd.read_csv(with_vectors)["query_embedding"][0]
    np.testing.assert_allclose(np.array(first.split(), dtype=np.float32), store.event_list()[0].query_embedding,
                               rtol=1e-6)
    assert store.export_csv(tmp_path / "none.csv", catalog_key="other") == 0


def test_reset(store):
    store.record([make_event(i, catalog="shop-a") for i in range(3)] + [make_event(7, catalog="shop-b")])
    store.save_weights("shop-a", dict(zip(NAMES, [0.5, 0.3, 0.2])), 3)
    store.save_weights("shop-b", dict(zip(NAMES, [0.4, 0.4, 0.2])), 1)
    assert store.reset("shop-a") == 3
    assert store.count("shop-a") == 0 and store.count("shop-b") == 1
    assert store.load_weights("shop-a") is None and store.load_weights("shop-b") is not None
    assert store.reset() == 1
    assert store.count() == 0 and store.load_weights("shop-b") is None
    store.record([make_event(8)])  # still usable afterwards
    assert store.count() == 1


def test_learned_weights_round_trip(store):
    assert store.load_weights("shop-a") is None
    saved = store.save_weights("shop-a", dict(zip(NAMES, [0.5, 0.2, 0.3])), n_events=42)
    loaded = store.load_weights("shop-a")
    assert loaded == saved and loaded.n_events == 42
    np.testing.assert_allclose(loaded.as_array(), [0.5, 0.2, 0.3])
    np.testing.assert_allclose(loaded.as_array(["colour", "visual", "new"]), [0.3, 0.5, math.nan])
    store.save_weights("shop-a", dict(zip(NAMES, [0.6, 0.25, 0.15])), n_events=50)  # replaces
    assert store.load_weights("shop-a").n_events == 50
    assert store.summary()["learned_weights"]["shop-a"]["visual"] == pytest.approx(0.6)
    for bad in ([0.5, 0.2, 0.3], {}, {"visual": -0.1, "colour": 0.6}, {"visual": math.nan}):
        with pytest.raises(ValueError):
            store.save_weights("shop-a", bad, 1)


def _record_many(path: str, worker: int, count: int, start) -> None:
    """Child process: open its own store and record ``count`` events one transaction at a time."""
    start.wait(timeout=120)  # both children create the (new) store and write at the same moment
    with FeedbackStore(path) as store:
        for i in range(count):
            store.record([make_event(i, LIKE if i % 2 else DISLIKE, query=f"worker{worker}", item=f"w{worker}-{i}")])
            if i % 50 == 0:
                store.summary()  # reads interleave with the other writer
            time.sleep(0.001)  # other work between writes (SQLite's busy wait would starve a tight loop)


def test_two_processes_write_at_once_without_losing_events(tmp_path):
    path = tmp_path / "feedback.sqlite"
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(2)
    workers = [context.Process(target=_record_many, args=(str(path), w, 200, start)) for w in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=240)
    assert [w.exitcode for w in workers] == [0, 0]
    with FeedbackStore(path) as store:
        frame = store.events()
    assert len(frame) == 400 and frame["id"].is_unique
    assert frame.groupby("query_checksum").size().to_dict() == {"worker0": 200, "worker1": 200}
    assert frame["item"].nunique() == 400
    writers = frame["query_checksum"].tolist()
    assert sum(a != b for a, b in zip(writers, writers[1:])) > 2, "the two writers did not overlap"


def test_random_bytes_file_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "feedback.sqlite"
    path.write_bytes(np.random.default_rng(0).bytes(8192))
    before = snapshot(tmp_path)
    with pytest.raises(FeedbackError) as error:
        FeedbackStore(path)
    assert str(path) in str(error.value) and "not a feedback store" in str(error.value)
    assert snapshot(tmp_path) == before


def test_foreign_sqlite_database_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "feedback.sqlite"
    other = sqlite3.connect(path)
    other.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    other.execute("INSERT INTO customers (name) VALUES ('Ada')")
    other.commit()
    other.close()
    before = snapshot(tmp_path)
    with pytest.raises(FeedbackError, match="another program") as error:
        FeedbackStore(path)
    assert str(path) in str(error.value) and "customers" in str(error.value)
    assert snapshot(tmp_path) == before


def test_foreign_meta_table_is_refused(tmp_path):
    path = tmp_path / "other.db"
    other = sqlite3.connect(path)
    other.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
    other.execute("INSERT INTO meta VALUES ('format', 'someone-else')")
    other.commit()
    other.close()
    before = snapshot(tmp_path)
    with pytest.raises(FeedbackError, match="someone-else"):
        FeedbackStore(path)
    assert snapshot(tmp_path) == before


def test_newer_version_is_refused(tmp_path):
    path = tmp_path / "feedback.sqlite"
    FeedbackStore(path).close()
    raw = sqlite3.connect(path)
    raw.execute("UPDATE meta SET value = '99' WHERE key = 'version'")
    raw.commit()
    raw.close()
    with pytest.raises(FeedbackError, match="newer"):
        FeedbackStore(path)


def test_damaged_store_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "feedback.sqlite"
    with FeedbackStore(path) as store:
        store.record([make_event(i) for i in range(20)])
    data = bytearray(path.read_bytes())
    data[100:4096] = np.random.default_rng(1).bytes(4096 - 100)  # header intact, schema page garbage
    path.write_bytes(bytes(data))
    before = snapshot(tmp_path)
    with pytest.raises(FeedbackError, match="damaged") as error:
        FeedbackStore(path)
    assert str(path) in str(error.value)
    assert snapshot(tmp_path) == before


def test_missing_file_without_create(tmp_path):
    with pytest.raises(FeedbackError, match="no feedback recorded yet"):
        FeedbackStore(tmp_path / "absent.sqlite", create=False)
    assert not (tmp_path / "absent.sqlite").exists()


def test_empty_file_becomes_a_store(tmp_path):
    path = tmp_path / "feedback.sqlite"
    path.touch()  # what sqlite itself creates first: not foreign, just new
    with FeedbackStore(path) as store:
        assert store.record([make_event(0)]) == 1


def test_closed_store_says_so(tmp_path):
    store = FeedbackStore(tmp_path / "feedback.sqlite")
    store.close()
    store.close()
    with pytest.raises(FeedbackError, match="closed"):
        store.count()


def test_checksums_and_catalog_key(tmp_path):
    image = tmp_path / "photo.jpg"
    image.write_bytes(b"\xff\xd8 not really a jpeg")
    assert checksum_file(image) == checksum_bytes(image.read_bytes())
    assert len(checksum_file(image)) == 64
    vector = np.arange(4, dtype=np.float64) / 3
    assert checksum_embedding(vector) == checksum_embedding(vector.astype(np.float32))
    assert checksum_embedding(vector) != checksum_embedding(vector[::-1])
    key = make_catalog_key(tmp_path / "catalog", "abc123")
    assert key.startswith("catalog-") and key == make_catalog_key(tmp_path / "catalog", "abc123")
    assert key != make_catalog_key(tmp_path / "catalog", "other-model")
    assert key != make_catalog_key(tmp_path / "shop", "abc123")


def test_store_opens_in_a_new_folder(tmp_path):
    path = tmp_path / "new" / "catalog" / "feedback.sqlite"
    with FeedbackStore(path) as store:
        store.record([make_event(0)])
    assert path.is_file() and os.path.getsize(path) > 0


# The first release's schema (format version 1: one column per score component), verbatim.
V1_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE events (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    time            TEXT NOT NULL,
    catalog_key     TEXT NOT NULL,
    query_checksum  TEXT NOT NULL,
    query_name      TEXT NOT NULL DEFAULT '',
    query_embedding BLOB,
    item            TEXT NOT NULL,
    label           INTEGER NOT NULL CHECK (label IN (-1, 1)),
    score_visual    REAL,
    score_category  REAL,
    score_colour    REAL,
    score_total     REAL,
    weight_visual   REAL,
    weight_category REAL,
    weight_colour   REAL
);
CREATE INDEX events_catalog_query ON events (catalog_key, query_checksum);
CREATE INDEX events_catalog_item ON events (catalog_key, item);
CREATE TABLE learned_weights (
    catalog_key TEXT PRIMARY KEY,
    visual      REAL NOT NULL,
    category    REAL NOT NULL,
    colour      REAL NOT NULL,
    n_events    INTEGER NOT NULL,
    time        TEXT NOT NULL
);
"""


def test_a_version_1_store_is_migrated_on_open(tmp_path):
    path = tmp_path / "feedback.sqlite"
    raw = sqlite3.connect(path)
    raw.executescript(V1_SCHEMA)
    raw.executemany("INSERT INTO meta VALUES (?, ?)", [("format", FORMAT_NAME), ("version", "1"),
                                                      ("created", "2024-01-01T00:00:00+00:00")])
    embedding = np.arange(DIM, dtype="<f4")
    raw.executemany(
        "INSERT INTO events (time, catalog_key, query_checksum, query_name, query_embedding, item, label, "
        "score_visual, score_category, score_colour, score_total, weight_visual, weight_category, weight_colour) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [("2024-01-01T00:00:01+00:00", "shop-a", "q0", "a.jpg", embedding.tobytes(), "item1", 1,
          0.8, 0.5, 0.25, 0.63, 0.6, 0.25, 0.15),
         ("2024-01-01T00:00:02+00:00", "shop-a", "q0", "a.jpg", None, "item2", -1,
          0.7, None, 0.1, None, 0.6, 0.25, 0.15)])
    raw.execute("INSERT INTO learned_weights VALUES ('shop-a', 0.5, 0.2, 0.3, 40, '2024-01-01T00:00:03+00:00')")
    raw.commit()
    raw.close()

    with FeedbackStore(path) as store:
        events = store.event_list()
        assert [e.id for e in events] == [1, 2] and [e.label for e in events] == [LIKE, DISLIKE]
        assert events[0].scores == {"visual": 0.8, "category": 0.5, "colour": 0.25}
        assert events[0].weights == {"visual": 0.6, "category": 0.25, "colour": 0.15}
        assert events[0].score_total == pytest.approx(0.63) and events[0].time == "2024-01-01T00:00:01+00:00"
        np.testing.assert_array_equal(events[0].query_embedding, embedding)
        assert events[1].scores == {"visual": 0.7, "colour": 0.1} and math.isnan(events[1].score_total)
        learned = store.load_weights("shop-a")
        assert learned.weights == {"visual": 0.5, "category": 0.2, "colour": 0.3} and learned.n_events == 40
        assert store.training_data("shop-a", NAMES)[0].tolist() == [[0.8, 0.5, 0.25]]
        store.record([make_event(3, catalog="shop-a")])  # and it takes new events
        assert [e.id for e in store.event_list()] == [1, 2, 3]
        store.check()
    check = sqlite3.connect(path)
    meta = dict(check.execute("SELECT key, value FROM meta").fetchall())
    columns = [row[1] for row in check.execute("PRAGMA table_info(events)")]
    indexes = {row[1] for row in check.execute("PRAGMA index_list(events)")}
    tables = {row[0] for row in check.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    check.close()
    assert meta["version"] == str(FORMAT_VERSION) and meta["created"] == "2024-01-01T00:00:00+00:00"
    assert "scores" in columns and "score_visual" not in columns
    assert {"events_catalog_query", "events_catalog_item"} <= indexes
    assert not {"events_v1", "learned_weights_v1"} & tables
    with FeedbackStore(path) as again:  # opening a migrated store changes nothing
        assert len(again.event_list()) == 3
