"""Issue 14 item 8: messages say what happened (JSON body limit by name, JSON syntax errors with
line and column, weights echoed as given). In-process: a random-init checkpoint of a tiny sample."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from fashion.recommend.recommender import RecommendError, Weights


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from bench.bench_robustness import _open_engine, _setup
    from fashion.web.app import create_app

    work = tmp_path_factory.mktemp("messages")
    world = _setup(work)
    engine = _open_engine(world, work / "index")
    with TestClient(create_app(engine, feedback_store=work / "feedback.sqlite")) as test_client:
        yield test_client


def test_json_body_limit_is_named_as_such(client):
    response = client.post("/feedback", content=json.dumps({"query_id": "x", "pad": "x" * 70_000}),
                           headers={"content-type": "application/json"})
    assert response.status_code == 413
    message = response.json()["error"]
    assert "JSON body limit" in message and "64 KB" in message and "max_upload_mb" not in message


def test_json_syntax_error_gives_line_and_column(client):
    response = client.post("/feedback", content=b'{\n  "query_id": "x",\n  "label": }',
                           headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"].startswith("invalid JSON at line 3, column 12:")


@pytest.mark.parametrize("value", ["inf", "1e999", "-1", "abc"])
def test_web_weights_are_echoed_as_given(client, value):
    photo = next(Path(client.app.state.engine.catalog.items["path"].iloc[0]).parent.glob("*.jpg"))
    response = client.post("/recommend", files={"image": ("p.jpg", photo.read_bytes(), "image/jpeg")},
                           data={"w_visual": value})
    assert response.status_code == 422
    assert f"w_visual" in response.json()["error"] and repr(value) in response.json()["error"]


@pytest.mark.parametrize(("text", "shown"), [("1e999,0,0", "visual='1e999'"), ("nan,1,1", "visual='nan'"),
                                             ("colour=-1", "colour='-1'"), ("visual=x", "visual='x'")])
def test_cli_weights_are_echoed_as_given(text, shown):
    with pytest.raises(RecommendError, match=shown):
        Weights.parse(text, Weights(0.6, 0.25, 0.15))


def test_all_zero_weights_name_every_component():
    with pytest.raises(RecommendError, match="all are zero \\(visual=0, category=0, colour=0\\)"):
        Weights(0, 0, 0)
