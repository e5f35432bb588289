"""Per-shopper feedback on the web page: likes re-rank that shopper's results only (TestClient).

Two TestClients on one app are two shoppers (each keeps its own cookie jar)."""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from conftest import TINY_MODEL, TINY_SAMPLE


@pytest.fixture(scope="module")
def app(tiny_run, tiny_sample, tmp_path_factory):
    from fashion.config import load_config
    from fashion.recommend.engine import Engine
    from fashion.web.app import create_app

    # Every view of the tiny catalog counts (6 images), so rankings have room to change.
    config = load_config(overrides=TINY_SAMPLE + TINY_MODEL + [f"data.root={tiny_sample}",
                                                               "recommend.dedupe_items=false"])
    engine = Engine.open(tiny_run / "best.pt", config=config, index_dir=tmp_path_factory.mktemp("si") / "catalog",
                         device="cpu", progress=False, log=lambda message: None)
    return create_app(engine, config, feedback_store=tmp_path_factory.mktemp("sf") / "feedback.sqlite")


@pytest.fixture(scope="module")
def photo(tiny_sample) -> bytes:
    rows = pd.read_csv(tiny_sample / "Eval" / "list_eval_partition.txt", sep=r"\s+", skiprows=2, header=None)
    return (tiny_sample / rows[rows[1] == "train"][0].iloc[0]).read_bytes()


def shopper(app) -> TestClient:
    return TestClient(app)


def show(client: TestClient, photo: bytes | None = None, query_id: str | None = None, top_k: int = 6) -> dict:
    files = {"image": ("photo.jpg", photo, "image/jpeg")} if photo is not None else None
    data = {"top_k": str(top_k), **({"query_id": query_id} if query_id else {})}
    response = client.post("/recommend", files=files, data=data)
    assert response.status_code == 200, response.text
    return response.json()


def keys(payload: dict) -> list[str]:
    return [r["key"] for r in payload["queries"][0]["results"]]


def like(client: TestClient, query_id: str, key: str, label: str = "like"):
    return client.post("/feedback", json={"query_id": query_id, "item": key, "label": label})


def test_likes_rerank_one_shoppers_results_only_and_reset(app, photo):
    with shopper(app) as alice, shopper(app) as bob:
        first = show(alice, photo)
        query_id = first["queries"][0]["query_id"]
        original = keys(first)
        assert len(original) == 6 and "feedback" not in first["queries"][0]["results"][0]
        cookie = alice.cookies.get("fashion_session")
        assert cookie and len(cookie) == 32
        # Alice likes the two items ranked last.
        for key in original[-2:]:
            response = like(alice, query_id, key)
            assert response.status_code == 200, response.text
        assert response.json()["session"] == {"likes": 2, "dislikes": 0, "queries": 1}
        again = show(alice, query_id=query_id)
        moved = keys(again)
        assert moved != original
        assert set(moved[:4]) & set(original[-2:])  # a liked item climbed
        results = again["queries"][0]["results"]
        assert again["queries"][0]["session"]["this_photo"] == {"likes": 2, "dislikes": 0}
        notes = {r["key"]: r["feedback"] for r in results}
        climbed = [k for k in original[-2:] if moved.index(k) < original.index(k)]
        assert climbed and all(notes[k]["was"] == original.index(k) + 1 for k in climbed)
        assert all(f"up from #{original.index(k) + 1}" in notes[k]["note"] for k in climbed)
        assert any(n["closer_to_liked"] >= 1 and "liked item" in n["note"] for n in notes.values())
        # Bob, same photo, another session: Alice's likes do not move his results.
        theirs = show(bob, photo)
        assert theirs["queries"][0]["query_id"] == query_id
        assert keys(theirs) == original
        assert "feedback" not in theirs["queries"][0]["results"][0]
        assert bob.cookies.get("fashion_session") != cookie
        # Alice resets: her own order comes back.
        reset = alice.post("/session/reset")
        assert reset.status_code == 200 and reset.json()["forgotten"] == 2
        assert keys(show(alice, query_id=query_id)) == original


def test_a_disliked_item_is_not_shown_again_in_that_session(app, photo):
    with shopper(app) as alice, shopper(app) as bob:
        first = show(alice, photo)
        query_id = first["queries"][0]["query_id"]
        original = keys(first)
        response = like(alice, query_id, original[0], "dislike")
        assert response.status_code == 200, response.text
        again = keys(show(alice, query_id=query_id))
        assert original[0] not in again and set(again) == set(original[1:])
        # Another shopper still sees it (the global item prior may nudge the order a little), and
        # a reset brings it back for Alice.
        assert set(keys(show(bob, photo))) == set(original)
        assert alice.post("/session/reset").json()["forgotten"] == 1
        assert set(keys(show(alice, query_id=query_id))) == set(original)


def test_forged_or_foreign_sessions_get_nothing(app, photo):
    with shopper(app) as alice, shopper(app) as mallory:
        before = alice.get("/feedback/stats").json()["events"]
        answer = show(alice, photo, top_k=2)
        query_id = answer["queries"][0]["query_id"]
        shown = keys(answer)
        # A forged token: a new empty session, to which nothing was shown.
        mallory.cookies.set("fashion_session", "A" * 32, domain="testserver.local")
        response = like(mallory, query_id, shown[0])
        assert response.status_code == 409 and "session is new" in response.json()["error"]
        hers = keys(show(mallory, photo, top_k=6))
        tokens = [c.value for c in mallory.cookies.jar if c.name == "fashion_session"]
        assert len(tokens) == 1 and tokens[0] != "A" * 32  # the forged token was replaced by a new one
        # An item shown to mallory but not to alice: alice may not judge it.
        hidden = [k for k in hers if k not in shown]
        assert hidden
        refused = like(alice, query_id, hidden[0])
        assert refused.status_code == 409 and "not shown" in refused.json()["error"]
        # Nothing was recorded for the refused attempts.
        stats = alice.get("/feedback/stats").json()
        assert stats["events"] == before and stats["learned_weights"] is None
        assert stats["default_weights"] == pytest.approx({"visual": 0.6, "category": 0.25, "colour": 0.15})


def test_session_cookie_is_http_only(app, photo):
    with shopper(app) as client:
        response = client.post("/recommend", files={"image": ("photo.jpg", photo, "image/jpeg")})
        header = response.headers["set-cookie"].lower()
        assert "fashion_session=" in header and "httponly" in header and "samesite=lax" in header


def test_feedback_notes_say_what_moved():
    from fashion.web.sessions import feedback_notes

    embeddings = np.eye(4, dtype=np.float32)
    embeddings[3] = [0.6, 0.8, 0, 0]
    notes = feedback_notes(np.array([1, 0, 0, 0], np.float32), embeddings, liked_rows=[1],
                           rows=[3, 0, 2], before={0: 1, 3: 4})
    assert notes[0] == {"closer_to_liked": 1, "was": 4, "note": "up from #4, closer to 1 liked item"}
    assert notes[1] == {"closer_to_liked": 0, "was": 1, "note": "down from #1"}
    assert notes[2]["was"] is None and notes[2]["note"].startswith("new in your list")


def test_sessions_are_isolated_and_bounded():
    from fashion.web.sessions import Sessions

    sessions = Sessions(max_sessions=2)
    a, new_a = sessions.get(None)
    b, _ = sessions.get("not a token")
    assert new_a and a.token != b.token and len(a.token) == 32
    a.show("q", ["x"])
    a.judge("q", "x", 1)
    assert sessions.get(a.token) == (a, False)
    assert sessions.get(b.token)[0].judged("q") == {}
    sessions.get(None)  # a third: the least recently used (a, before b was asked for) goes
    assert sessions.get(a.token)[1] is True
