"""The web page's word search: GET /search and the page's search box (FastAPI TestClient)."""

from __future__ import annotations


import pytest
from fastapi.testclient import TestClient

from conftest import TINY_MODEL, TINY_SAMPLE


@pytest.fixture(scope="module")
def client(tiny_run, tiny_sample, tmp_path_factory):
    from fashion.config import load_config
    from fashion.recommend.engine import Engine
    from fashion.web.app import create_app

    config = load_config(overrides=TINY_SAMPLE + TINY_MODEL + [f"data.root={tiny_sample}", "web.max_top_k=20"])
    engine = Engine.open(tiny_run / "best.pt", config=config, index_dir=tmp_path_factory.mktemp("wi") / "catalog",
                         device="cpu", progress=False, log=lambda message: None)
    store = tmp_path_factory.mktemp("wf") / "feedback.sqlite"
    with TestClient(create_app(engine, config, feedback_store=store)) as test_client:
        yield test_client


def test_search_ranks_by_words_and_explains(client):
    response = client.get("/search", params={"q": "red strped dress xyzzy", "top_k": 3})
    assert response.status_code == 200, response.text
    body = response.json()
    assert [t["target"] for t in body["words"]["terms"]] == ["red", "striped", "Dress"]
    assert body["words"]["terms"][1]["corrected"] is True
    assert body["words"]["unknown"] == [{"word": "xyzzy", "suggestions": []}]
    assert any("did you mean 'striped'" in note for note in body["notes"])
    assert any("unknown word 'xyzzy'" in note for note in body["notes"])
    results = body["results"]
    assert 1 <= len(results) <= 3
    totals = [r["score"]["total"] for r in results]
    assert totals == sorted(totals, reverse=True)
    assert all(isinstance(r["id"], int) and r["matched"][0].startswith("Dress ") for r in results)
    assert "/" not in body["catalog"]["index"]  # no server paths, as /health


@pytest.mark.parametrize("params, fragment", [
    ({"q": ""}, "empty search"),
    ({}, "empty search"),
    ({"q": "xyzzy qwop"}, "unknown word 'xyzzy'"),
    ({"q": "dress", "top_k": 0}, "top_k must be 1 to 20"),
    ({"q": "dress", "top_k": 21}, "top_k must be 1 to 20"),
    ({"q": "dress", "colour": "notacolour"}, "unknown colour name"),
    ({"q": "red " * 125 + "dress"}, "search text too long: 505 characters (at most 500)"),
])
def test_bad_searches_are_clear_400s(client, params, fragment):
    response = client.get("/search", params=params)
    assert response.status_code == 400, response.text
    assert fragment in response.json()["error"]


def test_search_filters_apply(client):
    every = client.get("/search", params={"q": "dress", "top_k": 20}).json()["results"]
    blue = client.get("/search", params={"q": "dress", "top_k": 20, "colour": "blue"}).json()["results"]
    assert len(blue) <= len(every)
    assert all(any(c["family"] == "blue" for c in r["colours"]) for r in blue)


def test_the_page_has_a_search_box(client):
    page = client.get("/").text
    assert 'id="search-form"' in page and 'id="search"' in page
    script = client.get("/static/app.js").text
    assert "/search?" in script and "searchWords" in script


def test_words_refine_a_photo_in_post_recommend(client, tiny_sample):
    """"Like this, but in blue" on the web: POST /recommend's q, applied as the CLI's --query with a photo."""
    photo = next((tiny_sample / "img").rglob("*.jpg")).read_bytes()
    files = {"image": ("photo.jpg", photo, "image/jpeg")}
    plain = client.post("/recommend", files=files, data={"top_k": "3"})
    assert plain.status_code == 200, plain.text
    assert "words" not in plain.json() and all("matched" not in r for r in plain.json()["queries"][0]["results"])

    refined = client.post("/recommend", files=files, data={"top_k": "3", "q": "blue xyzzy"})
    assert refined.status_code == 200, refined.text
    body = refined.json()
    assert [t["target"] for t in body["words"]["terms"]] == ["blue"]
    assert any("unknown word 'xyzzy'" in note for note in body["notes"])  # reported, not dropped
    results = body["queries"][0]["results"]
    assert results and all(r["matched"][0].startswith("blue: ") for r in results)
    # Re-ranking the described photo by its query_id with the same words gives the same answer.
    again = client.post("/recommend", data={"query_id": body["queries"][0]["query_id"], "top_k": "3", "q": "blue"})
    assert [r["key"] for r in again.json()["queries"][0]["results"]] == [r["key"] for r in results]

    unknown = client.post("/recommend", files=files, data={"q": "xyzzy"})
    assert unknown.status_code == 400 and "unknown word 'xyzzy'" in unknown.json()["error"]
