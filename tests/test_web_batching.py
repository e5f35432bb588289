"""Concurrent uploads are described in batches (issue 17): each upload's query and ranking equal
what it gets alone, an unreadable upload fails only its own request, and a worker process answers
as the server process does."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from test_web import overrides, split_images


@pytest.fixture(scope="module")
def config(tiny_sample):
    from fashion.config import load_config

    return load_config(overrides=overrides(tiny_sample))


@pytest.fixture(scope="module")
def engine(tiny_run, config, tmp_path_factory):
    from fashion.recommend.engine import Engine

    return Engine.open(tiny_run / "best.pt", config=config, index_dir=tmp_path_factory.mktemp("batch") / "catalog",
                       device="cpu", progress=False, log=lambda message: None)


@pytest.fixture(scope="module")
def photos(tiny_sample) -> list[Path]:
    return split_images(tiny_sample, "train")[:7]


def _same_query(got, want) -> None:
    assert got.name == want.name and got.checksum == want.checksum
    np.testing.assert_allclose(got.embedding, want.embedding, atol=1e-5)
    np.testing.assert_allclose(got.category_probs, want.category_probs, atol=1e-5)
    np.testing.assert_allclose(got.palette.lab, want.palette.lab, atol=1e-6)
    np.testing.assert_allclose(got.palette.shares, want.palette.shares, atol=1e-6)


def _describe_concurrently(describer, uploads: list[tuple[bytes, str]]) -> list:
    async def run():
        await describer.start()
        tasks = [describer.describe([data], [name]) for data, name in uploads]
        return await asyncio.gather(*tasks, return_exceptions=True)

    try:
        return asyncio.run(run())
    finally:
        describer.close()


@pytest.mark.parametrize("workers", [0, 1])
def test_concurrent_uploads_equal_single_ones(engine, tiny_run, photos, workers):
    from fashion.data.images import ImageLoadError
    from fashion.web.workers import Describer

    uploads = [(p.read_bytes(), f"u{n}.jpg") for n, p in enumerate(photos)]
    uploads.insert(3, (b"not an image", "bad.png"))
    describer = Describer(engine, workers, tiny_run / "best.pt" if workers else None, max_batch=3)
    answers = _describe_concurrently(describer, uploads)
    assert max(describer.batches) > 1, describer.batches  # uploads waited and went together
    assert sum(size * count for size, count in describer.batches.items()) >= len(uploads)
    for (data, name), answer in zip(uploads, answers):
        if name == "bad.png":
            assert isinstance(answer, ImageLoadError) and str(answer) == "bad.png: not an image"
            continue
        [alone] = engine.describe([data], [name])
        _same_query(answer[0], alone)
        assert [r.key for r in engine.recommend(answer[0])] == [r.key for r in engine.recommend(alone)]


def test_one_request_with_several_photos_keeps_its_order(engine, photos):
    from fashion.web.workers import Describer

    describer = Describer(engine, 0, None, max_batch=2)  # the request's photos span several batches
    datas = [p.read_bytes() for p in photos[:5]]
    names = [f"p{n}.jpg" for n in range(5)]

    async def run():
        return await describer.describe(datas, names)

    for got, want in zip(asyncio.run(run()), engine.describe(datas, names)):
        _same_query(got, want)


def test_concurrent_requests_through_the_api(engine, config, tiny_run, photos):
    """Four shoppers upload at once through a server with a worker process: each gets the answer
    it gets alone."""
    import httpx

    from fashion.web.app import create_app

    def form(n: int) -> dict:
        return {"files": {"image": (f"c{n}.jpg", photos[n].read_bytes(), "image/jpeg")}}

    with TestClient(create_app(engine, config)) as alone:
        expected = [alone.post("/recommend", **form(n)).json() for n in range(4)]
    app = create_app(engine, config, checkpoint=tiny_run / "best.pt", describe_workers=1)

    async def shoppers():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            return await asyncio.gather(*(client.post("/recommend", **form(n)) for n in range(4)))

    try:
        got = [response.json() for response in asyncio.run(shoppers())]
    finally:
        app.state.describer.close()
    assert max(app.state.describer.batches) > 1
    for answer, want in zip(got, expected):
        assert [r["key"] for r in answer["queries"][0]["results"]] == [r["key"] for r in want["queries"][0]["results"]]
        for a, b in zip(answer["queries"][0]["results"], want["queries"][0]["results"]):
            assert a["score"] == pytest.approx(b["score"], abs=2e-4)
