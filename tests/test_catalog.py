"""Catalog index: build, incremental update, resume after an interrupt, foreign models, bad images."""

from __future__ import annotations

import contextlib
import json
import sys
import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fashion.index import builder as indexer
from fashion.model import encoder as encoder_module
from fashion.index.catalog import CatalogError, default_index_dir, load_catalog, read_manifest
from fashion.index.sources import folder_source, tree_signature
from fashion.model.checkpoint import build_payload, load_model, save_checkpoint
from fashion.model.labels import Labels
from fashion.config import load_config
from fashion.recommend.engine import Engine
from fashion.index.builder import build_catalog, open_catalog
from fashion.model.network import FashionNet

SETTINGS = ["model.image_size=32", "catalog.batch_size=2", "catalog.workers=0", "catalog.chunk_images=2",
            "colour.max_pixels=256", "catalog.top_attributes=3"]
LABELS = Labels(["Tee", "Jeans", "Dress"], [1, 2, 3], ["striped", "denim", "floral", "cotton"], [1, 2, 1, 2])
COLOURS = {"red": (200, 20, 30), "blue": (20, 40, 190), "green": (30, 150, 40), "yellow": (240, 220, 20),
           "black": (15, 15, 15), "purple": (120, 30, 140)}


def make_checkpoint(path: Path, seed: int = 0) -> Path:
    """A tiny random-init FashionNet checkpoint (resnet18 at 32 px)."""
    torch.manual_seed(seed)
    config = load_config(overrides=SETTINGS)
    model = FashionNet("resnet18", len(LABELS.category_names), len(LABELS.attribute_names))
    save_checkpoint(path, build_payload(model, config, LABELS))
    return path


def garment(colour: tuple[int, int, int], size: int = 48, stripe: bool = False) -> Image.Image:
    """A coloured rectangle ('garment') on a white background."""
    image = Image.new("RGB", (size, size), (255, 255, 255))
    block = Image.new("RGB", (size // 2, size * 2 // 3), colour)
    if stripe:
        for y in range(0, block.height, 6):
            block.paste((250, 250, 250), (0, y, block.width, y + 2))
    image.paste(block, (size // 4, size // 6))
    return image


def write_image(path: Path, colour: tuple[int, int, int], **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    garment(colour, **kwargs).save(path)
    return path


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("run") / "best.pt")


@pytest.fixture(scope="module")
def loaded(checkpoint):
    return load_model(checkpoint, device="cpu")


@pytest.fixture()
def shop(tmp_path) -> Path:
    folder = tmp_path / "shop"
    for number, (name, rgb) in enumerate(COLOURS.items()):
        write_image(folder / ("tops" if number % 2 else "bottoms") / f"{name}.png", rgb)
    return folder


@pytest.fixture()
def config():
    return load_config(overrides=SETTINGS)


class Messages(list):
    def __call__(self, message: str) -> None:
        self.append(message)


def build(shop: Path, loaded, index: Path, config, log=None):
    return build_catalog(folder_source(shop, skip=index.resolve()), loaded, index, config, progress=False,
                         log=log if log is not None else Messages())


def test_build_writes_a_complete_index(shop, loaded, config, tmp_path):
    index = tmp_path / "index"
    report = build(shop, loaded, index, config)
    assert report.total == report.processed == len(COLOURS) and not report.skipped
    catalog = load_catalog(index)
    n = len(COLOURS)
    assert len(catalog) == n
    assert catalog.embeddings.shape == (n, loaded.model.embedding_dim) and catalog.embeddings.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(catalog.embeddings, axis=1), 1.0, atol=1e-5)
    assert catalog.category_probs.shape == (n, 3)
    np.testing.assert_allclose(catalog.category_probs.sum(axis=1), 1.0, atol=1e-5)
    assert catalog.attribute_index.shape == catalog.attribute_probs.shape == (n, 3)
    assert catalog.palette_lab.shape == (n, 5, 3) and catalog.palette_shares.shape == (n, 5)
    from fashion.colour.names import colour_families

    families = colour_families(catalog.palette_lab[:, 0])
    for key, family in zip(catalog.items["key"], families):
        assert Path(key).stem == family, (key, family)  # the garment's colour, not the white background
    manifest = read_manifest(index)
    assert manifest["model_checksum"] == loaded.checksum and manifest["count"] == n
    size, mtime, bbox = manifest["files"]["tops/blue.png"]
    stat = (shop / "tops" / "blue.png").stat()
    assert (size, mtime, bbox) == (stat.st_size, stat.st_mtime_ns, None)
    assert manifest["config"]["catalog"]["batch_size"] == 2
    assert not (index / "partial").exists()


def test_colour_family_network_rows_and_its_setting(shop, loaded, config, tmp_path):
    """Product shots get the colour family network's probabilities, stored per row with the palette
    weight its file records; ``colour.family_net=none`` stores zeros and rebuilds (the fingerprint)."""
    from fashion.colour.family_model import MODEL_CLASSES
    from fashion.colour.family_net import configured_family_net

    index = tmp_path / "index"
    build(shop, loaded, index, config)
    catalog = load_catalog(index)
    assert catalog.family_net_probs.shape == (len(COLOURS), len(MODEL_CLASSES))
    np.testing.assert_allclose(catalog.family_net_probs.sum(axis=1), 1.0, atol=1e-4)  # every row a product shot
    assert read_manifest(index)["family_net_palette_weight"] == configured_family_net("builtin").palette_weight
    messages = Messages()
    report = build(shop, loaded, index, load_config(overrides=SETTINGS + ["colour.family_net=none"]), log=messages)
    assert report.processed == len(COLOURS) and "family_net" in report.rebuilt_because
    catalog = load_catalog(index)
    assert not catalog.family_net_probs.any() and read_manifest(index)["family_net_palette_weight"] is None


def test_a_missing_or_damaged_family_network_stops_the_build_before_any_work(shop, loaded, tmp_path):
    from fashion.colour.family_net import FamilyNetError

    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(b"\x80\x02 not weights")
    for path, message in ((tmp_path / "absent.pt", "does not exist"), (damaged, "damaged")):
        index = tmp_path / f"index-{path.stem}"
        with pytest.raises(FamilyNetError, match=message):
            build(shop, loaded, index, load_config(overrides=SETTINGS + [f"colour.family_net={path}"]))
        assert not list(index.glob("partial/chunk-*")) and read_manifest(index) is None


def test_second_build_processes_only_new_changed_and_drops_removed(shop, loaded, config, tmp_path, monkeypatch):
    index = tmp_path / "index"
    build(shop, loaded, index, config)
    before = load_catalog(index, mmap=False)
    seen: list[str] = []
    original = encoder_module._ImageFiles.__getitem__
    monkeypatch.setattr(encoder_module._ImageFiles, "__getitem__",
                        lambda self, i: seen.append(Path(self.paths[i]).name) or original(self, i))

    assert build(shop, loaded, index, config).processed == 0 and seen == []

    write_image(shop / "tops" / "new_orange.png", (250, 130, 20))
    report = build(shop, loaded, index, config)
    assert (report.processed, report.reused, seen) == (1, len(COLOURS), ["new_orange.png"])

    seen.clear()
    changed = shop / "bottoms" / "red.png"
    write_image(changed, (200, 20, 30), stripe=True)
    os.utime(changed, ns=(time.time_ns(), time.time_ns() + 10**9))  # a new mtime even on coarse clocks
    report = build(shop, loaded, index, config)
    assert (report.processed, seen) == (1, ["red.png"])

    seen.clear()
    (shop / "tops" / "blue.png").unlink()
    report = build(shop, loaded, index, config)
    assert (report.processed, report.removed, seen) == (0, 1, [])

    after = load_catalog(index, mmap=False)
    assert "tops/blue.png" not in set(after.items["key"]) and "tops/new_orange.png" in set(after.items["key"])
    # Untouched images keep their rows exactly.
    for key in ("bottoms/green.png", "tops/purple.png"):
        old = before.embeddings[before.items.index[before.items["key"] == key][0]]
        new = after.embeddings[after.items.index[after.items["key"] == key][0]]
        np.testing.assert_array_equal(old, new)


def test_interrupted_build_resumes(shop, loaded, config, tmp_path, monkeypatch):
    index = tmp_path / "index"
    calls = {"n": 0}
    original = encoder_module.Encoder.infer

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(encoder_module.Encoder, "infer", failing)
    with pytest.raises(KeyboardInterrupt):
        build(shop, loaded, index, config)
    assert read_manifest(index) is None  # nothing half-written is live
    assert len(list((index / "partial").glob("chunk-*.npz"))) == 2  # two finished batches of 2 saved

    monkeypatch.setattr(encoder_module.Encoder, "infer", original)
    report = build(shop, loaded, index, config)
    assert (report.resumed, report.processed, report.total) == (4, len(COLOURS) - 4, len(COLOURS))
    assert not (index / "partial").exists()
    # The resumed rows equal a clean build's rows.
    clean = tmp_path / "clean"
    build(shop, loaded, clean, config)
    np.testing.assert_allclose(load_catalog(index).embeddings, load_catalog(clean).embeddings, atol=1e-6)


def test_catalog_of_another_model_is_rebuilt_with_a_message(shop, loaded, config, tmp_path):
    index = tmp_path / "index"
    build(shop, loaded, index, config)
    other = load_model(make_checkpoint(tmp_path / "other.pt", seed=1), device="cpu")
    messages = Messages()
    report = build(shop, other, index, config, log=messages)
    assert report.processed == len(COLOURS) and "built by another model" in report.rebuilt_because
    assert any("another model" in m for m in messages)
    assert load_catalog(index).model_checksum == other.checksum


def test_bad_images_are_skipped_with_a_warning(shop, loaded, config, tmp_path):
    (shop / "empty.jpg").write_bytes(b"")
    (shop / "notes.png").write_text("not an image")
    index = tmp_path / "index"
    messages = Messages()
    report = build(shop, loaded, index, config, log=messages)
    assert report.total == len(COLOURS) and set(report.skipped) == {"empty.jpg", "notes.png"}
    warning = [m for m in messages if m.startswith("warning: skipped 2")]
    assert warning and "empty.jpg" in warning[0] and "notes.png" in warning[0]
    again = build(shop, loaded, index, config)
    assert again.processed == 0 and len(again.skipped) == 2  # unchanged bad files are not retried


def test_worker_processes_give_the_same_rows(shop, loaded, tmp_path):
    (shop / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    workers = load_config(overrides=SETTINGS + ["catalog.workers=1", "catalog.batch_size=1"])
    inline = load_config(overrides=SETTINGS)
    a, b = tmp_path / "a", tmp_path / "b"
    assert set(build(shop, loaded, a, workers).skipped) == {"broken.jpg"}
    build(shop, loaded, b, inline)
    np.testing.assert_allclose(load_catalog(a).embeddings, load_catalog(b).embeddings, atol=1e-5)
    np.testing.assert_allclose(load_catalog(a).palette_lab, load_catalog(b).palette_lab, atol=1e-4)


def test_metadata_csv_and_float16(shop, loaded, tmp_path):
    (shop / "metadata.csv").write_text("path,name,category,item_id\n"
                                       "tops/blue.png,Blue top,Tee,sku-1\nbottoms/red.png,,Jeans,sku-1\n"
                                       "tops/bleu.png,Typo,Tee,sku-2\n../outside.png,Elsewhere,Tee,sku-3\n")
    config = load_config(overrides=SETTINGS + ["catalog.embedding_dtype=float16"])
    index = tmp_path / "index"
    messages = Messages()
    build(shop, loaded, index, config, log=messages)
    # Rows that name no image of the folder are said, not silently dropped.
    assert any("2 row(s) name no image" in m and "'tops/bleu.png'" in m for m in messages), messages
    catalog = load_catalog(index)
    items = catalog.items.set_index("key")
    assert items.loc["tops/blue.png", ["name", "label", "item_id"]].tolist() == ["Blue top", "Tee", "sku-1"]
    assert items.loc["bottoms/red.png", ["name", "label", "item_id"]].tolist() == ["red", "Jeans", "sku-1"]
    assert items.loc["tops/purple.png", "item_id"] == "tops/purple.png"
    assert catalog.embeddings.dtype == np.float16


def test_open_catalog_skips_work_when_fresh(shop, loaded, config, tmp_path, monkeypatch):
    index = tmp_path / "index"
    open_catalog(loaded, config, index, shop, progress=False, log=Messages())
    calls = []
    original = indexer.build_catalog
    monkeypatch.setattr(indexer, "build_catalog", lambda *a, **k: calls.append(1) or original(*a, **k))
    open_catalog(loaded, config, index, shop, progress=False, log=Messages())
    assert calls == []
    write_image(shop / "tops" / "extra.png", (0, 128, 128))
    catalog = open_catalog(loaded, config, index, shop, progress=False, log=Messages())
    assert calls == [1] and len(catalog) == len(COLOURS) + 1
    with pytest.raises(CatalogError, match="not found"):
        open_catalog(loaded, config, tmp_path / "i2", tmp_path / "nowhere", progress=False)


def test_an_index_of_an_older_format_is_rebuilt_and_said_so(shop, loaded, config, tmp_path):
    from fashion.index.catalog import FORMAT, read_current

    index = tmp_path / "index"
    open_catalog(loaded, config, index, shop, progress=False, log=Messages())
    manifest_path = read_current(index) / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest_path.write_text(json.dumps({**manifest, "format": "fashion-catalog/1"}))
    messages = Messages()
    catalog = open_catalog(loaded, config, index, shop, progress=False, log=messages)
    assert any("has format 'fashion-catalog/1'" in m and FORMAT in m for m in messages), messages
    assert not any("damaged" in m for m in messages) and len(catalog) == len(COLOURS)
    assert read_manifest(index)["format"] == FORMAT


def test_engine_over_a_folder(shop, checkpoint, config, tmp_path):
    engine = Engine.open(checkpoint, shop, config, index_dir=tmp_path / "index", device="cpu", progress=False,
                         log=Messages())
    query_path = shop / "tops" / "blue.png"
    [query] = engine.describe([query_path])
    assert query.palette.families[0] == "blue" and len(query.categories) == 3
    results = engine.recommend(query, top_k=3)
    assert results[0].key == "tops/blue.png" and results[0].scores["visual"] == pytest.approx(1.0, abs=1e-4)
    assert results[0].delta_e < 3
    [from_bytes] = engine.describe([query_path.read_bytes()])
    np.testing.assert_allclose(from_bytes.embedding, query.embedding, atol=1e-5)
    assert from_bytes.checksum == query.checksum
    blue = engine.recommend(query, top_k=5, weights=engine.default_weights(), exclude=["tops/blue.png"])
    assert "tops/blue.png" not in [r.key for r in blue]
    json.dumps([r.to_dict() for r in results] + [query.to_dict()])
    assert {r["name"] for r in engine.categories("")} == {"Tee", "Jeans", "Dress"}
    assert sum(r["items"] for r in engine.categories("")) == len(COLOURS)
    assert [r["name"] for r in engine.attributes("fabric")] == ["denim", "cotton"]


def test_default_index_dirs(tmp_path):
    checkpoint = tmp_path / "runs" / "x" / "best.pt"
    assert default_index_dir(checkpoint) == (tmp_path / "runs" / "x" / "catalog").resolve()
    folder = default_index_dir(checkpoint, tmp_path / "My Shop")
    assert folder.parent == (tmp_path / "runs" / "x" / "catalogs").resolve() and folder.name.startswith("My Shop-")
    assert default_index_dir(checkpoint, tmp_path / "other") != default_index_dir(checkpoint, tmp_path / "My Shop")


def test_link_loops_and_names_that_are_not_text(shop, loaded, config, tmp_path):
    """A second probe's cases: a link back up the tree was a traceback (ELOOP in tree_signature), and a
    file name that is not UTF-8 crashed the build after all its work (items.csv), leaving no index."""
    (shop / "tops" / "up").symlink_to("..")
    (shop / "self").symlink_to(shop)
    (shop / "itself").symlink_to("itself")  # a link to itself: ELOOP on every stat
    blue = (shop / "tops" / "blue.png").read_bytes()
    undecodable = os.fsencode(shop / "tops") + b"/bleu\xff\xfe.png"
    with open(undecodable, "wb") as handle:
        handle.write(blue)
    signature = tree_signature(shop.resolve(), max_depth=None)
    assert signature == tree_signature(shop.resolve(), max_depth=None)
    source = folder_source(shop)
    assert sorted(source.entries["key"]) == sorted(f"{'tops' if n % 2 else 'bottoms'}/{c}.png"
                                                   for n, c in enumerate(COLOURS))  # each image once
    messages = Messages()
    report = build(shop, loaded, tmp_path / "index", config, log=messages)
    assert report.total == len(COLOURS)
    assert any("1 image(s) have a file name that is not UTF-8" in m for m in messages), messages
    assert len(load_catalog(tmp_path / "index")) == len(COLOURS)


def test_a_second_build_says_it_waits_for_the_first(tmp_path):
    """A build waiting on another's lock printed nothing: it looked like a hang."""
    import fcntl
    import threading

    from fashion.index.builder import build_lock

    (tmp_path / "index").mkdir()
    holder = open(tmp_path / "index" / ".lock", "w")
    fcntl.flock(holder, fcntl.LOCK_EX)
    messages, done = Messages(), threading.Event()

    def second_build() -> None:
        with build_lock(tmp_path / "index", messages):
            done.set()

    thread = threading.Thread(target=second_build)
    thread.start()
    for _ in range(100):
        if messages:
            break
        time.sleep(0.05)
    assert not done.is_set() and "another process is building this catalog" in messages[0]
    fcntl.flock(holder, fcntl.LOCK_UN)
    holder.close()
    thread.join(10)
    assert done.is_set()


WORKER_SCRIPT = """
import os, sys, time
from torch.utils.data import DataLoader, Dataset
from fashion.data.workers import worker_init

class Slow(Dataset):
    def __len__(self):
        return 1000

    def __getitem__(self, index):
        with open(sys.argv[1], "a") as handle:
            handle.write(f"{os.getpid()}\\n")
        time.sleep(30)  # busy in our own code, where torch's watchdog of the parent never looks
        return index

for _ in DataLoader(Slow(), batch_size=1, num_workers=2, worker_init_fn=worker_init()):
    pass
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl(PR_SET_PDEATHSIG) is Linux's")
def test_loader_workers_die_with_their_process(tmp_path):
    """A second probe's case: after kill -9 of a catalog build, its DataLoader workers lived on
    (adopted by init) holding the inherited build lock, and the next build waited for ever. Here the
    workers are busy in a 30 s __getitem__: without the fix they outlive their process by that long."""
    import signal
    import subprocess

    pids = tmp_path / "pids.txt"
    parent = subprocess.Popen([sys.executable, "-c", WORKER_SCRIPT, str(pids)], cwd=Path(__file__).parents[1])
    try:
        for _ in range(600):  # both workers have started work
            if pids.exists() and len(set(pids.read_text().split())) >= 2:
                break
            time.sleep(0.05)
        workers = {int(p) for p in pids.read_text().split()}
        assert len(workers) >= 2 and parent.pid not in workers
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(10)
        for _ in range(100):
            alive = [p for p in workers if Path(f"/proc/{p}").exists() and "Z" not in _state(p)]
            if not alive:
                break
            time.sleep(0.05)
        assert not alive, f"workers {alive} outlived their process"
    finally:
        parent.kill()
        for pid in {int(p) for p in pids.read_text().split()} if pids.exists() else ():
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "Z"
