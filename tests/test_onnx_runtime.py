"""The network through ONNX Runtime (the web server's describe workers, issue 17): the same
features as torch, a refused export keeps torch, and a worker process uses it."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")


@pytest.fixture(scope="module")
def loaded(tiny_run):
    from fashion.model.checkpoint import load_model

    return load_model(tiny_run / "best.pt", device="cpu")


@pytest.fixture(scope="module")
def images(tiny_sample):
    from PIL import Image

    from test_web import split_images

    return [Image.open(p).convert("RGB") for p in split_images(tiny_sample, "test")[:5]]


def test_onnx_runtime_gives_torch_features(loaded, images):
    from fashion.config import load_config
    from fashion.model.encoder import Encoder

    config = load_config()
    with_torch, with_onnx = Encoder.from_config(loaded, config), Encoder.from_config(loaded, config)
    with_onnx.use_onnx_runtime(threads=1)
    assert with_onnx.onnx is not None and with_torch.onnx is None
    for batch in (images[:1], images):  # the exported graph takes any batch size
        want, got = with_torch.encode_images(batch), with_onnx.encode_images(batch)
        np.testing.assert_allclose(got.embeddings, want.embeddings, atol=1e-5)
        np.testing.assert_allclose(got.category_probs, want.category_probs, atol=1e-5)
        np.testing.assert_allclose(got.attribute_probs, want.attribute_probs, atol=1e-5)
        np.testing.assert_array_equal(got.palette_lab, want.palette_lab)


def test_an_export_unlike_torch_is_refused_and_torch_kept(loaded, monkeypatch):
    from fashion.model import onnx_runtime
    from fashion.recommend.engine import Engine
    from fashion.config import load_config
    from fashion.web.workers import use_onnx_runtime

    engine = Engine(loaded, None, None, load_config(), None)  # type: ignore[arg-type]
    monkeypatch.setattr(onnx_runtime, "TOLERANCE", -1.0)  # no graph can be this close
    with pytest.raises(onnx_runtime.OnnxRuntimeError, match="differ from torch"):
        engine.encoder.use_onnx_runtime(threads=1)
    assert not use_onnx_runtime(engine, 1) and engine.encoder.onnx is None
    monkeypatch.setattr(onnx_runtime, "available", lambda: False)  # not installed
    assert not use_onnx_runtime(engine, 1) and engine.encoder.onnx is None


def test_the_describe_worker_runs_the_network_in_onnx_runtime(tiny_run, tiny_sample):
    import concurrent.futures
    import multiprocessing

    from fashion.config import load_config
    from fashion.web import workers

    from test_web import overrides

    config = load_config(overrides=overrides(tiny_sample))
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=context, initializer=workers._worker_start,
                                                initargs=(str(tiny_run / "best.pt"), config.to_dict(), 1)) as pool:
        assert pool.submit(_worker_runtime).result(timeout=120) == "onnxruntime"
    off = load_config(overrides=[*overrides(tiny_sample), "web.onnx_runtime=false"])
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=context, initializer=workers._worker_start,
                                                initargs=(str(tiny_run / "best.pt"), off.to_dict(), 1)) as pool:
        assert pool.submit(_worker_runtime).result(timeout=120) == "torch"


def _worker_runtime() -> str:
    from fashion.web.workers import _WORKER

    return "onnxruntime" if _WORKER["engine"].encoder.onnx is not None else "torch"
