"""The web API with FastAPI's test client: answers as ``recommend.py --json``, lookups, images by id
only, feedback, and every refusal as a JSON error without a traceback."""

from __future__ import annotations

import importlib.util
import io
import json
import struct
import zlib
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from typer.testing import CliRunner

from conftest import ROOT, TINY_MODEL, TINY_SAMPLE, overrides_args

FIELDS_ADDED_BY_THE_API = ("query_id", "id")


def split_images(sample: Path, split: str) -> list[Path]:
    rows = pd.read_csv(sample / "Eval" / "list_eval_partition.txt", sep=r"\s+", skiprows=2, header=None)
    return [sample / name for name in rows[rows[1] == split][0]]


def overrides(sample: Path) -> list[str]:
    # Every view of the tiny catalog (6 images of 2 items) counts, so rankings have room to change.
    return TINY_SAMPLE + TINY_MODEL + [f"data.root={sample}", "recommend.dedupe_items=false"]


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("web-index") / "catalog"


@pytest.fixture(scope="module")
def config(tiny_sample):
    from fashion.config import load_config

    return load_config(overrides=overrides(tiny_sample) + ["web.max_upload_mb=0.5", "web.max_top_k=20"])


@pytest.fixture(scope="module")
def engine(tiny_run, config, index_dir):
    from fashion.recommend.engine import Engine

    return Engine.open(tiny_run / "best.pt", config=config, index_dir=index_dir, device="cpu", progress=False,
                       log=lambda message: None)


@pytest.fixture(scope="module")
def feedback_path(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("feedback") / "feedback.sqlite"


@pytest.fixture(scope="module")
def client(engine, config, feedback_path):
    from fashion.web.app import create_app

    with TestClient(create_app(engine, config, feedback_store=feedback_path)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def photo(tiny_sample) -> Path:
    """A sample photo from the training split: not itself in the catalog (the test split)."""
    return split_images(tiny_sample, "train")[0]


def upload(client, path_or_bytes, name="photo.jpg", **fields):
    data = path_or_bytes.read_bytes() if isinstance(path_or_bytes, Path) else path_or_bytes
    return client.post("/recommend", files={"image": (name, data, "image/jpeg")},
                       data={k: str(v) for k, v in fields.items()})


def assert_json_error(response, status: int, *fragments: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and isinstance(body["error"], str) and body["error"]
    assert "Traceback" not in response.text and 'File "' not in response.text
    for fragment in fragments:
        assert fragment in body["error"], body["error"]
    return body["error"]


def without_api_fields(payload: dict) -> dict:
    """The payload as ``recommend.py --json`` prints it (the API adds ids, the CLI names by path)."""
    payload = json.loads(json.dumps(payload))
    payload.pop("weights_learned", None)  # the page's session and learned-weights state
    for answer in payload["queries"]:
        answer.pop("query_id")
        answer.pop("session", None)
        answer["query"].pop("name")
        for result in answer["results"]:
            result.pop("id")
            result.pop("feedback", None)
    return payload


# ------------------------------------------------------------------------------------ happy paths


def test_health_page_and_openapi(client, engine):
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["catalog"]["items"] == len(engine.catalog)
    assert health["limits"]["max_upload_mb"] == 0.5 and health["feedback"] is True
    assert health["defaults"]["weights"] == {"visual": 0.6, "category": 0.25, "colour": 0.15}
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert 'id="file"' in page.text and "/static/app.js" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    for asset in ("app.js", "style.css"):
        assert client.get(f"/static/{asset}").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/recommend", "/categories", "/attributes", "/items/{item_id}/image", "/feedback", "/health"):
        assert path in paths
    assert "image" in json.dumps(paths["/recommend"])


def test_recommend_matches_the_cli_json(client, tiny_run, tiny_sample, index_dir, photo):
    response = upload(client, photo, name=photo.name)
    assert response.status_code == 200, response.text
    payload = response.json()
    [answer] = payload["queries"]
    assert answer["query"]["name"] == photo.name and answer["query_id"] == answer["query"]["checksum"]
    assert [r["rank"] for r in answer["results"]] == [1, 2, 3, 4, 5]  # top_k 5 of the 6 catalog images
    assert all(isinstance(r["id"], int) for r in answer["results"])

    spec = importlib.util.spec_from_file_location("recommend_cli_web", ROOT / "recommend.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cli = CliRunner().invoke(module.app, [str(photo), "--json", "--no-progress", "--checkpoint",
                                          str(tiny_run / "best.pt"), "--index-dir", str(index_dir),
                                          *overrides_args(overrides(tiny_sample))])
    assert cli.exit_code == 0, cli.output
    expected = json.loads(cli.stdout)
    assert expected["queries"][0]["query"]["name"] == str(photo)
    expected["queries"][0]["query"].pop("name")
    assert without_api_fields(payload) == expected


def test_weights_filters_and_rerank_by_query_id(client, photo):
    first = upload(client, photo, w_visual=0, w_category=0, w_colour=1, top_k=4).json()
    assert first["weights"] == {"visual": 0.0, "category": 0.0, "colour": 1.0}
    results = first["queries"][0]["results"]
    assert len(results) == 4
    totals = [r["score"]["total"] for r in results]
    assert totals == [r["score"]["colour"] for r in results] == sorted(totals, reverse=True)

    query_id = first["queries"][0]["query_id"]
    again = client.post("/recommend", data={"query_id": query_id, "weights": "0,0,1", "top_k": 4}).json()
    assert again["queries"][0]["results"] == results
    assert again["queries"][0]["query"]["name"] == "photo.jpg"
    visual = client.post("/recommend", data={"query_id": query_id, "weights": "1,0,0", "top_k": 4}).json()
    assert [r["score"]["total"] for r in visual["queries"][0]["results"]] == \
        [r["score"]["visual"] for r in visual["queries"][0]["results"]]

    category = results[0]["category"]
    only = client.post("/recommend", data={"query_id": query_id, "category": category}).json()
    assert only["filters"]["category"] == category
    assert all(category in (r["label"], r["predicted_category"]) for r in only["queries"][0]["results"])
    red = client.post("/recommend", data={"query_id": query_id, "colour": "red"}).json()
    for row in red["queries"][0]["results"]:
        assert sum(c["share"] for c in row["colours"] if c["family"] == "red") >= 0.2


def test_several_images_and_combine(client, tiny_sample):
    first, second = split_images(tiny_sample, "train")[1:3]
    files = [("image", ("a.jpg", first.read_bytes(), "image/jpeg")),
             ("image", ("b.jpg", second.read_bytes(), "image/jpeg"))]
    separate = client.post("/recommend", files=files).json()
    assert [a["query"]["name"] for a in separate["queries"]] == ["a.jpg", "b.jpg"]
    combined = client.post("/recommend", files=files, data={"combine": "true"}).json()
    [answer] = combined["queries"]
    assert answer["query"]["name"] == "a.jpg + b.jpg" and len(answer["results"]) == 5
    again = client.post("/recommend", data={"query_id": answer["query_id"]}).json()
    assert again["queries"][0]["results"] == answer["results"]


def test_lookups(client, engine):
    categories = client.get("/categories", params={"q": "JACK"}).json()["categories"]
    assert any(row["name"] == "Jacket" and row["type"] == "upper" for row in categories)
    everything = client.get("/categories").json()["categories"]
    assert len(everything) == 50 and sum(row["items"] for row in everything) == len(engine.catalog)
    attributes = client.get("/attributes", params={"q": "shape"}).json()["attributes"]
    assert attributes and all(row["type"] == "shape" or "shape" in row["name"] for row in attributes)
    assert client.get("/categories", params={"q": "zzz"}).json() == {"categories": []}
    assert "blue" in client.get("/colours").json()["families"]


def test_item_image_by_id(client, engine, photo):
    result = upload(client, photo).json()["queries"][0]["results"][0]
    response = client.get(f"/items/{result['id']}/image")
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    assert response.content == Path(result["path"]).read_bytes()
    last = len(engine.catalog) - 1
    assert client.get(f"/items/{last}/image").status_code == 200


@pytest.mark.parametrize("item", [
    "../../etc/passwd", "..%2F..%2Fetc%2Fpasswd", "%2e%2e%2f%2e%2e%2fetc%2fpasswd", "%2e%2e", "..",
    "/etc/passwd", "%2Fetc%2Fpasswd", "C:%5CWindows%5Cwin.ini", "1%2F..%2F..%2Fbest.pt", "0x1", "-1", "1e3",
    "999999", "99999999999999999999", "abc", "%00", "1%00", " 1",
])
def test_item_image_refuses_anything_but_a_catalog_id(client, item):
    response = client.get(f"/items/{item}/image")
    assert_json_error(response, 404)
    assert b"root:" not in response.content


def test_feedback_is_recorded(client, engine, photo, feedback_path):
    from fashion.feedback.store import FeedbackStore

    answer = upload(client, photo).json()["queries"][0]
    shown = answer["results"][1]
    response = client.post("/feedback", json={"query_id": answer["query_id"], "item": shown["key"], "label": "like",
                                              "weights": {"visual": 0.6, "category": 0.25, "colour": 0.15}})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["recorded"] is True and body["item"] == shown["key"] and body["id"] == shown["id"]
    assert body["score"] == pytest.approx(shown["score"], abs=2e-4)
    assert client.post("/feedback", json={"query_id": answer["query_id"], "id": answer["results"][2]["id"],
                                          "label": -1}).status_code == 200
    with FeedbackStore(feedback_path) as store:
        events = store.event_list()
    assert [(e.item, e.label) for e in events[-2:]] == [(shown["key"], 1), (answer["results"][2]["key"], -1)]
    assert events[-2].query_checksum == answer["query"]["checksum"] and events[-2].query_name == "photo.jpg"
    assert events[-2].score_total == pytest.approx(shown["score"]["total"], abs=2e-4)
    assert events[-2].query_embedding.shape == (engine.loaded.model.embedding_dim,)

    assert_json_error(client.post("/feedback", json={"query_id": "0" * 64, "item": shown["key"], "label": "like"}),
                      404, "query_id")
    assert_json_error(client.post("/feedback", json={"query_id": answer["query_id"], "item": "../nope.jpg",
                                                     "label": "like"}), 404, "no such catalog item")
    assert_json_error(client.post("/feedback", json={"query_id": answer["query_id"], "item": shown["key"],
                                                     "label": "love"}), 422, "label")
    # Two items named (a key and another item's id): which one is liked cannot be told.
    assert_json_error(client.post("/feedback", json={"query_id": answer["query_id"], "item": shown["key"],
                                                     "id": answer["results"][2]["id"], "label": "like"}),
                      422, "not both")
    # A JSON syntax error is a 400 that says where (line and column).
    assert_json_error(client.post("/feedback", content=b"{not json", headers={"content-type": "application/json"}),
                      400, "invalid JSON at line 1, column 2")


# ------------------------------------------------------------------------------------ refusals


def bomb_png(width: int = 30000, height: int = 30000) -> bytes:
    """A tiny PNG whose header claims ``width x height`` pixels (a decompression bomb's header)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + chunk(b"IEND", b""))


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_upload_too_large_is_refused_before_reading(client):
    big = b"\xff\xd8" + b"\x00" * (600 * 1024)  # over the 0.5 MB limit of this app
    assert_json_error(upload(client, big), 413, "too large", "0.5 MB")

    def stream():  # no Content-Length: counted while it arrives
        for _ in range(40):
            yield b"x" * 32768

    response = client.post("/recommend", content=stream(),
                           headers={"content-type": "multipart/form-data; boundary=b"})
    assert_json_error(response, 413, "too large")
    assert_json_error(client.post("/feedback", content=b"{" + b" " * 100_000 + b"}",
                                  headers={"content-type": "application/json"}), 413)


@pytest.mark.parametrize("case, status, fragment", [
    ("text", 415, "not an image"),
    ("html", 415, "not an image"),
    ("empty", 400, "empty file"),
    ("truncated", 400, "truncated image"),
    ("bomb", 413, "too large"),
    ("big pixels", 413, "too large"),
    ("flat", 422, "one flat colour"),
    ("tiny", 422, "too small (8x8 px"),
])
def test_bad_uploads_are_refused(client, photo, case, status, fragment):
    data = {
        "flat": png_bytes(Image.new("RGB", (64, 64), (30, 60, 200))),
        "tiny": png_bytes(Image.effect_noise((8, 8), 60).convert("RGB")),
        "text": b"hello, I am not a photo",
        "html": b"<html><script>alert(1)</script></html>",
        "empty": b"",
        "truncated": photo.read_bytes()[:300],
        "bomb": bomb_png(),
        "big pixels": bomb_png(9000, 9000),  # 81 MP: under PIL's own limit, over data.max_image_pixels
    }[case]
    message = assert_json_error(upload(client, data, name="evil.jpg"), status, fragment)
    assert message.startswith("evil.jpg: ")


def test_unknown_parameters_are_refused_not_ignored(client, photo):
    """A misspelt parameter used to be dropped: the answer was to a question nobody asked."""
    assert_json_error(client.get("/search", params={"q": "red", "topk": "3"}), 400,
                      "unknown query parameter(s) 'topk'", "/search takes: category, colour, q, top_k")
    assert_json_error(upload(client, photo, words="blue"), 400, "unknown form field(s) 'words'", "w_<component>")
    assert_json_error(client.post("/recommend?top_k=3", files={"image": ("p.jpg", photo.read_bytes(), "image/jpeg")}),
                      400, "unknown query parameter(s) 'top_k'")
    assert_json_error(client.get("/health", params={"verbose": "1"}), 400, "'verbose'")
    error = client.post("/feedback", json={"query_id": "0" * 64, "item": "x", "label": "like", "lable": "like"})
    assert_json_error(error, 422, "lable")
    # What the API does take still works, the page takes whatever a browser appends.
    assert upload(client, photo, top_k=2, w_visual=1).status_code == 200
    assert client.get("/search", params={"q": "red", "top_k": "2"}).status_code == 200
    assert client.get("/", params={"utm_source": "mail"}).status_code == 200


def test_big_pixel_limit_is_the_configured_one(engine, tiny_sample, photo):
    from dataclasses import replace

    from fashion.config import load_config
    from fashion.web.app import create_app

    config = load_config(overrides=overrides(tiny_sample) + ["data.max_image_pixels=1000"])
    with TestClient(create_app(replace(engine, config=config), config)) as small:
        assert_json_error(upload(small, photo), 413, "1000")


@pytest.mark.parametrize("fields, status, fragment", [
    ({}, 400, "no image"),
    ({"top_k": 21}, 400, "top_k must be at most 20"),
    ({"top_k": 0}, 422, "top_k"),
    ({"weights": "0,0,0"}, 400, "not all zero"),
    ({"weights": "1,2"}, 400, "3 numbers"),
    ({"w_visual": -1}, 422, "w_visual"),
    ({"category": "spacesuit"}, 400, "unknown category 'spacesuit'"),
    ({"colour": "notacolour"}, 400, "unknown colour"),
    ({"query_id": "f" * 64}, 404, "upload the photo again"),
    ({"query_id": "../../etc/passwd"}, 404, "query_id"),
])
def test_bad_parameters_are_refused(client, photo, fields, status, fragment):
    if fields and "query_id" not in fields:
        response = upload(client, photo, **fields)
    else:
        response = client.post("/recommend", data={k: str(v) for k, v in fields.items()})
    assert_json_error(response, status, fragment)


def test_too_many_images_and_both_image_and_query_id(client, photo):
    files = [("image", (f"{n}.jpg", photo.read_bytes(), "image/jpeg")) for n in range(5)]
    assert_json_error(client.post("/recommend", files=files), 400, "at most 4 images")
    query_id = upload(client, photo).json()["queries"][0]["query_id"]
    assert_json_error(upload(client, photo, query_id=query_id), 400, "not both")


def test_unknown_routes_and_methods_are_json(client):
    assert_json_error(client.get("/nope"), 404)
    assert_json_error(client.get("/recommend"), 405)
    assert_json_error(client.get("/static/../../hyper_parameters.yaml"), 404)
    assert_json_error(client.get("/static/%2e%2e/%2e%2e/hyper_parameters.yaml"), 404)


def test_unexpected_errors_hide_the_traceback(engine, config, photo, monkeypatch):
    from fashion.web.app import create_app

    def explode(*args, **kwargs):
        raise RuntimeError("secret detail /home/someone/.ssh")

    with TestClient(create_app(engine, config)) as fresh:
        monkeypatch.setattr(engine, "recommend", explode)
        response = upload(fresh, photo)
    message = assert_json_error(response, 500, "internal server error")
    assert "secret" not in message and "RuntimeError" not in response.text


def test_host_header_is_checked_when_asked(engine, config):
    from fashion.web.app import create_app

    app = create_app(engine, config, allowed_hosts=["127.0.0.1", "localhost"])
    with TestClient(app, base_url="http://127.0.0.1:8000") as local:
        assert local.get("/health").status_code == 200
    with TestClient(app, base_url="http://evil.example:8000") as rebound:
        assert_json_error(rebound.get("/health"), 400, "Host")


def test_describe_worker_process_gives_the_same_answer(tiny_run, engine, config, client, photo):
    from fashion.web.app import create_app

    # A fresh shopper on each side: the module's client has a session whose likes refine its rankings.
    with TestClient(create_app(engine, config)) as in_process:
        expected = upload(in_process, photo, name="w.jpg").json()
    with TestClient(create_app(engine, config, checkpoint=tiny_run / "best.pt", describe_workers=1)) as pooled:
        assert pooled.get("/health").json()["describe"] == "1 worker process"
        answer = upload(pooled, photo, name="w.jpg")
        assert answer.status_code == 200, answer.text
        assert answer.json() == expected
        assert_json_error(upload(pooled, b"not an image", name="x.png"), 415, "x.png: not an image")


def test_feedback_refits_the_learned_weights(engine, tiny_sample, photo, tmp_path):
    from dataclasses import replace

    from fashion.config import load_config
    from fashion.feedback.store import FeedbackStore
    from fashion.web.app import create_app

    config = load_config(overrides=overrides(tiny_sample) + ["feedback.min_events=2"])
    store = tmp_path / "feedback.sqlite"
    with TestClient(create_app(replace(engine, config=config), config, feedback_store=store)) as fresh:
        answer = upload(fresh, photo).json()["queries"][0]
        for result, label in zip(answer["results"][:4], ["like", "dislike", "like", "dislike"]):
            assert fresh.post("/feedback", json={"query_id": answer["query_id"], "item": result["key"],
                                                 "label": label}).status_code == 200
        catalog_key = fresh.app.state.catalog_key
    with FeedbackStore(store) as opened:
        learned = opened.load_weights(catalog_key)
        assert opened.count(catalog_key) == 4
    assert learned is not None and learned.n_events == 4
