"""Robustness: hundreds of bad inputs against every door of the project, each outcome classified.

``python -m bench robustness`` generates bad inputs across the CLIs, the configuration, the
dataset readers, images, checkpoints, catalog files, the feedback store and the web API (FastAPI's
``TestClient``, in-process), runs each and classifies what happened:

* **clear error**: an expected failure (``FashionError``; a CLI's non-zero exit with one
  ``error:`` line; a web 4xx with one-line ``{"error": ...}``), no traceback;
* **rebuilt / accepted**: derived data (the catalog) rebuilt with the same result as a clean
  build, or an unusual but valid input handled correctly;
* **traceback**: any other exception, a CLI traceback, a web 5xx, or a message of several lines;
* **silent wrong result**: a bad input accepted without a word, or a rebuilt catalog that differs.

The model is a random-init checkpoint of the tiny built-in sample (no training needed: the
point is the handling of inputs, not the quality of the ranking).
"""

from __future__ import annotations

import copy
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from bench.common import PROJECT_ROOT, machine_info

CLEAR, REBUILT, TRACEBACK, SILENT = "clear error", "rebuilt / accepted", "traceback", "silent wrong result"
OUTCOMES = (CLEAR, REBUILT, TRACEBACK, SILENT)
TINY = ["sample.items=24", "sample.views=3", "sample.image_size=64", "sample.seed=1", "model.image_size=32",
        "train.batch_size=16", "train.workers=0", "catalog.batch_size=16", "recommend.dedupe_items=false"]
RANDOM = bytes(np.random.default_rng(9).integers(0, 256, 4096, dtype=np.uint8))
DAMAGES = {"empty": b"", "random bytes": RANDOM, "undecodable": b"3\nhead\n\xff\xfe\x80 1\n\xc3\x28 2\n",
           "NUL bytes": b"\x00" * 512}


@dataclass
class Case:
    area: str
    name: str
    outcome: str
    detail: str


class Runner:
    def __init__(self) -> None:
        self.cases: list[Case] = []

    def record(self, area: str, name: str, outcome: str, detail: str) -> None:
        self.cases.append(Case(area, name, outcome, " ".join(str(detail).split())[:160]))

    def call(self, area: str, name: str, fn: Callable[[], Any], expect: str = "error",
             check: Callable[[Any], bool] | None = None) -> None:
        """Run ``fn``: an expected error must be a one-line FashionError; ``expect="ok"`` must return
        a value ``check`` accepts."""
        from fashion.errors import FashionError

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                value = fn()
        except FashionError as error:
            text = str(error)
            if "\n" in text.strip() or "Traceback" in text:
                self.record(area, name, TRACEBACK, f"multi-line message: {text[:100]}")
            elif expect == "error":
                self.record(area, name, CLEAR, text)
            else:
                self.record(area, name, CLEAR, f"(expected it to be handled) {text}")
        except Exception as error:  # noqa: BLE001 - what the benchmark is looking for
            self.record(area, name, TRACEBACK, f"{type(error).__name__}: {error}")
        else:
            if expect == "error":
                self.record(area, name, SILENT, f"accepted: {value!r}"[:160])
            elif check is not None and not check(value):
                self.record(area, name, SILENT, f"wrong result: {value!r}"[:160])
            else:
                self.record(area, name, REBUILT, "handled")

    def web(self, client, name: str, method: str, url: str, expect_4xx: bool = True, **kwargs: Any) -> None:
        try:
            response = client.request(method, url, **kwargs)
        except Exception as error:  # noqa: BLE001
            self.record("web", name, TRACEBACK, f"{type(error).__name__}: {error}")
            return
        status = response.status_code
        try:
            message = response.json().get("error", "")
        except Exception:  # noqa: BLE001
            message = response.text[:100]
        if status >= 500:
            self.record("web", name, TRACEBACK, f"{status} {message}")
        elif 400 <= status < 500:
            one_line = isinstance(message, str) and message and "\n" not in message and "Traceback" not in message
            self.record("web", name, CLEAR if one_line else TRACEBACK, f"{status} {message}")
        else:
            self.record("web", name, SILENT if expect_4xx else REBUILT, f"{status}")

    def cli(self, name: str, args: list[str], expect_error: bool = True, timeout: float = 120) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONWARNINGS": "ignore"}
        try:
            result = subprocess.run([sys.executable, *args], cwd=PROJECT_ROOT, capture_output=True, text=True,
                                    timeout=timeout, env=env)
        except subprocess.TimeoutExpired:
            self.record("cli", name, TRACEBACK, f"timed out after {timeout:g} s")
            return
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        if "Traceback" in result.stderr or "Traceback" in result.stdout:
            self.record("cli", name, TRACEBACK, result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "")
        elif result.returncode != 0:
            ok = len(errors) == 1
            self.record("cli", name, CLEAR if ok else TRACEBACK,
                        errors[0] if errors else f"exit {result.returncode}: {result.stderr.strip()[-120:]}")
        else:
            self.record("cli", name, SILENT if expect_error else REBUILT, "exit 0")


# ---------------------------------------------------------------------------------------------
# The tiny world: sample, random-init checkpoint, catalog


def _setup(work: Path) -> dict[str, Any]:
    from fashion.config import load_config
    from fashion.data.datasets import load_dataset
    from fashion.data.sample import ensure_sample
    from fashion.model.checkpoint import build_payload, save_checkpoint
    from fashion.model.labels import Labels
    from fashion.model.network import FashionNet

    sample = work / "sample"
    overrides = TINY + [f"data.root={sample}", "model.weights=none"]
    config = load_config(overrides=overrides)
    ensure_sample(sample, config.sample)
    data = load_dataset(sample)
    labels = Labels(data.category_names, data.category_types, data.attribute_names, data.attribute_types)
    import torch

    torch.manual_seed(0)
    model = FashionNet(config.model.arch, len(labels.category_names), len(labels.attribute_names), weights="none")
    checkpoint = work / "run" / "best.pt"
    checkpoint.parent.mkdir()
    save_checkpoint(checkpoint, build_payload(model, config, labels))
    photo = sorted((sample / "img").rglob("*.jpg"))[0]
    return {"sample": sample, "config": config, "overrides": overrides, "checkpoint": checkpoint, "photo": photo,
            "data": data}


def _open_engine(world: dict[str, Any], index_dir: Path, checkpoint: Path | None = None):
    from fashion.recommend.engine import Engine

    return Engine.open(checkpoint or world["checkpoint"], config=world["config"], index_dir=index_dir, device="cpu",
                       progress=False, log=lambda message: None)


# ---------------------------------------------------------------------------------------------
# Areas


def config_cases(run: Runner, work: Path) -> None:
    from fashion.config import load_config

    keys = ["train.lr", "train.epochs", "train.batch_size", "recommend.top_k", "colour.match_delta_e",
            "web.max_upload_mb", "feedback.min_events", "recommend.weight_colour", "data.val_fraction",
            "feedback.item_prior_strength"]
    for key in keys:
        for value in ("nan", "inf", "-1e999", "[1,", "{a", "yes please", "-5"):
            run.call("config", f"--set {key}={value}", lambda k=key, v=value: load_config(overrides=[f"{k}={v}"]),
                     expect="error" if value != "-5" or key not in ("data.val_fraction",) else "error")
    for text in ("train.lr", "=1", "nosuch.key=1", "train.nosuch=1", "train=1", "train.lr.x=1",
                 # Past what the code can take (a probe found each as a traceback or a runaway):
                 "train.seed=-1", f"train.seed={2**32}", "train.batch_size=99999999999999999999",
                 "sample.items=999999999999"):
        run.call("config", f"--set {text}", lambda t=text: load_config(overrides=[t]))
    for kind, data in {**DAMAGES, "a list": b"- 1\n- 2\n", "a string": b"hello\n", "tab indent": b"train:\n\tlr: 1\n",
                       "unknown section": b"nosuch:\n  a: 1\n", "nan lr": b"train:\n  lr: .nan\n",
                       "a section twice": b"train:\n  epochs: 3\ntrain:\n  lr: 0.1\n",
                       "nested 5,000 deep": b"train: " + b"[" * 5000 + b"]" * 5000 + b"\n"}.items():
        path = work / f"config-{len(run.cases)}.yaml"
        path.write_bytes(data)
        # An empty file is an empty configuration: the defaults (valid); everything else is refused.
        run.call("config", f"config file: {kind}", lambda p=path: load_config(p),
                 expect="ok" if kind == "empty" else "error")
    folder = work / "config-folder.yaml"
    folder.mkdir()
    run.call("config", "config file: a folder", lambda: load_config(folder))
    run.call("config", "config file: missing", lambda: load_config(work / "missing.yaml"))


def dataset_cases(run: Runner, work: Path) -> None:
    sys.path.insert(0, str(PROJECT_ROOT / "tests"))
    from test_datasets import CSV_TEXT, write_coarse, write_csv, write_fine  # the test suite's tiny trees

    from fashion.data.datasets import load_dataset

    base = work / "layouts"
    trees = {"coarse": write_coarse(base / "coarse"), "fine": write_fine(base / "fine"),
             "csv": write_csv(base / "csv", CSV_TEXT).parent}
    files = ([("coarse", f"Anno/{n}") for n in ("list_category_cloth.txt", "list_category_img.txt",
                                               "list_attr_cloth.txt", "list_attr_img.txt", "list_bbox.txt")]
             + [("coarse", "Eval/list_eval_partition.txt")]
             + [("fine", f"Anno_fine/{n}") for n in ("list_category_cloth.txt", "list_attr_cloth.txt", "train.txt",
                                                      "train_cate.txt", "train_attr.txt", "train_bbox.txt")]
             + [("csv", "labels.csv")])
    for layout, rel in files:
        for kind in (*DAMAGES, "a folder"):
            root = work / "ds" / f"{layout}-{len(run.cases)}"
            shutil.copytree(trees[layout], root)
            target = root / rel
            target.unlink()
            if kind == "a folder":
                target.mkdir()
            else:
                target.write_bytes(DAMAGES[kind])
            where = target if layout == "csv" else root
            run.call("datasets", f"{layout} {rel}: {kind}", lambda w=where: load_dataset(w))
    for layout, rel, old, new in (("coarse", "Anno/list_bbox.txt", "1 2 7 8", "7 2 1 8"),
                                  ("fine", "Anno_fine/train_bbox.txt", "1 1 5 5", "1 5 5 1"),
                                  ("csv", "labels.csv", "1,2,5,6", "5,2,1,6"),
                                  ("coarse", "Anno/list_category_img.txt", "  1\n", "  9\n"),
                                  ("coarse", "Anno/list_attr_img.txt", " 1 ", " 7 "),
                                  ("csv", "labels.csv", "train", "training")):
        root = work / "ds" / f"{layout}-edit-{len(run.cases)}"
        shutil.copytree(trees[layout], root)
        path = root / rel
        path.write_text(path.read_text().replace(old, new, 1))
        where = path if layout == "csv" else root
        run.call("datasets", f"{layout} {rel}: {old.strip()!r} -> {new.strip()!r}", lambda w=where: load_dataset(w))
    one = work / "ds" / "one-category"
    write_csv(one, "path,category\na/1.jpg,Tee\na/2.jpg,Tee\nb/3.png,Tee\n")
    from fashion.cli.train import run_training

    run.call("datasets", "one category: train.py refuses", lambda: run_training(
        None, [f"train.run_dir={work / 'runs'}"], one / "labels.csv", resume=False, overwrite=False,
        show_progress=False))
    run.call("datasets", "missing folder", lambda: load_dataset(work / "nowhere"))
    run.call("datasets", "empty folder", lambda: load_dataset(Path(tempfile.mkdtemp(dir=work))))


def image_cases(run: Runner, work: Path, photo: Path) -> None:
    from PIL import Image

    from fashion.data.images import load_image, load_image_bytes

    good = photo.read_bytes()
    png = io.BytesIO()
    Image.open(photo).save(png, "PNG")
    cases = {**DAMAGES, "truncated JPEG": good[: len(good) // 2], "JPEG header only": good[:20],
             "truncated PNG": png.getvalue()[:200], "text": b"hello, world\n", "HTML": b"<html></html>",
             "GIF header": b"GIF89a\x01\x00", "zip": b"PK\x03\x04" + RANDOM[:100]}
    for kind, data in cases.items():
        path = work / f"image-{len(run.cases)}.jpg"
        path.write_bytes(data)
        run.call("images", f"file: {kind}", lambda p=path: load_image(p))
        run.call("images", f"bytes: {kind}", lambda d=data: load_image_bytes(d, "upload.jpg"))
    bomb = work / "bomb.png"
    Image.new("L", (12000, 12000)).save(bomb, optimize=True)
    run.call("images", "decompression bomb (144 Mpx)", lambda: load_image(bomb, max_pixels=50_000_000))
    folder = work / "folder.jpg"
    folder.mkdir()
    run.call("images", "a folder", lambda: load_image(folder))
    run.call("images", "missing", lambda: load_image(work / "missing.jpg"))


def checkpoint_cases(run: Runner, work: Path, checkpoint: Path) -> None:
    import torch

    from fashion.model.checkpoint import load_model

    payload = torch.load(checkpoint, weights_only=True)

    def saved(obj) -> bytes:
        buffer = io.BytesIO()
        torch.save(obj, buffer)
        return buffer.getvalue()

    def edited(edit) -> bytes:
        clone = copy.deepcopy(payload)
        edit(clone)
        return saved(clone)

    good = checkpoint.read_bytes()
    cases = {**DAMAGES, "truncated": good[: len(good) // 2], "first 100 bytes": good[:100],
             "foreign state dict": saved({"weight": torch.zeros(3)}), "a tensor": saved(torch.zeros(3)),
             "a list": saved([1, 2]), "no weights": edited(lambda c: c.pop("model")),
             "no labels": edited(lambda c: c.pop("labels")), "no config": edited(lambda c: c.pop("config")),
             "config a string": edited(lambda c: c.__setitem__("config", "x")),
             "labels wrong keys": edited(lambda c: c.__setitem__("labels", {"x": 1})),
             "unknown arch": edited(lambda c: c["model_args"].__setitem__("arch", "vgg99")),
             "count as text": edited(lambda c: c["model_args"].__setitem__("num_categories", "3")),
             "image size as text": edited(lambda c: c["transform"].__setitem__("image_size", "x")),
             "weights of another shape": edited(lambda c: c["model"].__setitem__(
                 next(iter(c["model"])), torch.zeros(1))),
             "NaN weights": edited(lambda c: next(v for v in c["model"].values()
                                                  if v.is_floating_point()).fill_(float("nan"))),
             "newer format": edited(lambda c: c.__setitem__("format", "fashion-checkpoint/9"))}
    for kind, data in cases.items():
        path = work / f"ckpt-{len(run.cases)}.pt"
        path.write_bytes(data)
        run.call("checkpoints", kind, lambda p=path, d=data: _load_untouched(load_model, p, d))
    folder = work / "ckpt-folder.pt"
    folder.mkdir()
    run.call("checkpoints", "a folder", lambda: load_model(folder, "cpu"))
    run.call("checkpoints", "missing", lambda: load_model(work / "missing.pt", "cpu"))


def _load_untouched(load_model, path: Path, data: bytes):
    try:
        return load_model(path, "cpu")
    finally:
        if path.read_bytes() != data:
            raise AssertionError("the checkpoint was changed")


def catalog_cases(run: Runner, work: Path, world: dict[str, Any]) -> None:
    clean_dir = work / "catalog-clean"
    clean = _open_engine(world, clean_dir)
    reference = np.asarray(clean.catalog.embeddings).copy()
    keys = list(clean.catalog.items["key"])
    relative = sorted(p.relative_to(clean_dir) for p in clean_dir.rglob("*") if p.is_file()
                      and ".lock" not in p.name and "feedback" not in p.name)

    def same(engine) -> bool:
        return (list(engine.catalog.items["key"]) == keys
                and np.allclose(np.asarray(engine.catalog.embeddings), reference, atol=1e-5))

    for rel in relative:
        for kind in ("empty", "random bytes", "truncated", "a folder"):
            index_dir = work / f"catalog-{len(run.cases)}"
            shutil.copytree(clean_dir, index_dir)
            target = index_dir / rel
            good = target.read_bytes()
            target.unlink()
            if kind == "a folder":
                target.mkdir()
            else:
                target.write_bytes({"truncated": good[: len(good) // 2]}.get(kind, DAMAGES.get(kind, b"")))
            run.call("catalog", f"{rel}: {kind}", lambda d=index_dir: _open_engine(world, d), expect="ok",
                     check=same)
            shutil.rmtree(index_dir, ignore_errors=True)
    # Values no build writes: a NaN, an infinity, a column too few (each array that holds floats).
    for rel in [r for r in relative if r.suffix == ".npy"]:
        for kind in ("a NaN", "an infinity", "a column too few"):
            index_dir = work / f"catalog-{len(run.cases)}"
            shutil.copytree(clean_dir, index_dir)
            target = index_dir / rel
            array = np.load(target)
            if array.dtype.kind != "f":
                shutil.rmtree(index_dir, ignore_errors=True)
                continue
            if kind == "a column too few":
                array = array[:, :-1]
            else:
                array.reshape(-1)[array.size // 2] = np.nan if kind == "a NaN" else np.inf
            np.save(target, array)
            run.call("catalog", f"{rel}: {kind}", lambda d=index_dir: _open_engine(world, d), expect="ok",
                     check=same)
            shutil.rmtree(index_dir, ignore_errors=True)


def feedback_cases(run: Runner, work: Path, world: dict[str, Any]) -> None:
    from fashion.feedback.session import FeedbackSession
    from fashion.feedback.store import FeedbackEvent, FeedbackStore

    good_path = work / "fb-good.sqlite"
    with FeedbackStore(good_path) as store:
        store.record([FeedbackEvent("c", f"q{i}", f"item{i}", 1, np.ones(8, np.float32), scores={"visual": 0.5})
                      for i in range(300)])
    good = good_path.read_bytes()
    engine = _open_engine(world, work / "catalog-clean")
    store_path = Path(engine.catalog.directory) / engine.config.feedback.filename
    cases = {"random bytes": RANDOM, "truncated": good[: len(good) // 2], "first page": good[:4096],
             "header only": good[:16], "NUL bytes": DAMAGES["NUL bytes"], "text": b"likes,dislikes\n1,2\n",
             "flipped middle": good[:8192] + RANDOM[:4096] + good[12288:]}
    for kind, data in cases.items():
        path = work / f"fb-{len(run.cases)}.sqlite"
        path.write_bytes(data)
        run.call("feedback store", f"open: {kind}", lambda p=path, d=data: _store_untouched(p, d))
        store_path.write_bytes(data)
        run.call("feedback store", f"--like/--feedback session: {kind}",
                 lambda: FeedbackSession.open(engine, required=True).summary())
        store_path.unlink()
    folder = work / "fb-folder.sqlite"
    folder.mkdir()
    run.call("feedback store", "open: a folder", lambda: FeedbackStore(folder))
    empty = work / "fb-empty.sqlite"
    empty.write_bytes(b"")
    run.call("feedback store", "open: empty file (a new store)", lambda: FeedbackStore(empty).count(), expect="ok",
             check=lambda n: n == 0)


def _store_untouched(path: Path, data: bytes):
    from fashion.feedback.store import FeedbackStore

    try:
        with FeedbackStore(path) as store:
            return store.summary()["events"]
    finally:
        if path.read_bytes() != data:
            raise AssertionError("the feedback store was changed")


def web_cases(run: Runner, work: Path, world: dict[str, Any]) -> None:
    from dataclasses import replace

    from fastapi.testclient import TestClient

    from fashion.config import load_config
    from fashion.web.app import create_app

    config = load_config(overrides=world["overrides"] + ["web.max_upload_mb=0.2"])
    engine = _open_engine(world, work / "catalog-clean")
    photo = world["photo"].read_bytes()
    with TestClient(create_app(replace(engine, config=config), config,
                               feedback_store=work / "web-feedback.sqlite")) as client:
        good = client.post("/recommend", files={"image": ("p.jpg", photo, "image/jpeg")})
        query_id = good.json().get("query_id") or (good.json().get("queries") or [{}])[0].get("query_id", "")
        upload = lambda data, name="p.jpg", **form: {"files": {"image": (name, data, "image/jpeg")}, "data": form}
        for kind, data in {**DAMAGES, "truncated JPEG": photo[: len(photo) // 2], "text": b"hello",
                           "HTML": b"<html><script>alert(1)</script></html>"}.items():
            run.web(client, f"/recommend upload: {kind}", "POST", "/recommend", **upload(data))
        run.web(client, "/recommend upload: over web.max_upload_mb", "POST", "/recommend",
                **upload(photo + b"\0" * 300_000))
        run.web(client, "/recommend: no image, no query_id", "POST", "/recommend")
        run.web(client, "/recommend: too many images", "POST", "/recommend",
                files=[("image", (f"{i}.jpg", photo, "image/jpeg")) for i in range(config.web.max_images + 1)])
        for field, value in (("top_k", "0"), ("top_k", "-1"), ("top_k", "abc"), ("top_k", "100000"),
                             ("top_k", "1e3"), ("weights", "1,2"), ("weights", "nan,1,1"), ("weights", "inf,0,0"),
                             ("weights", "0,0,0"), ("weights", "visual=-1"), ("weights", "texture=1"),
                             ("weights", "a,b,c"), ("w_visual", "inf"), ("w_visual", "-1"), ("w_visual", "x"),
                             ("w_texture", "1"), ("category", "no such category"), ("colour", "no such colour"),
                             ("query_id", "nope"), ("query_id", "../../etc/passwd"), ("same_category", "maybe")):
            form = {field: value} if field != "query_id" else {field: value}
            if field == "query_id":
                run.web(client, f"/recommend {field}={value}", "POST", "/recommend", data=form)
            else:
                run.web(client, f"/recommend {field}={value}", "POST", "/recommend", **upload(photo, **form))
        bodies = {"not JSON": b"{not json", "JSON syntax error on line 3": b'{\n  "query_id": "x",\n  "label": }',
                  "a list": b"[1, 2]", "a number": b"3", "empty": b"", "no label": json.dumps({"query_id": query_id}),
                  "bad label": json.dumps({"query_id": query_id, "id": 0, "label": "love"}),
                  "unknown query": json.dumps({"query_id": "0" * 32, "id": 0, "label": "like"}),
                  "negative id": json.dumps({"query_id": query_id, "id": -1, "label": "like"}),
                  "huge id": json.dumps({"query_id": query_id, "id": 10**12, "label": "like"}),
                  "unknown item": json.dumps({"query_id": query_id, "item": "nope", "label": "like"}),
                  "no item": json.dumps({"query_id": query_id, "label": "like"}),
                  "weights inf": b'{"query_id": "%s", "id": 0, "label": "like", "weights": {"visual": 1e999}}'
                                 % query_id.encode(),
                  "weights unknown": json.dumps({"query_id": query_id, "id": 0, "label": "like",
                                                 "weights": {"texture": 1}}),
                  "weights negative": json.dumps({"query_id": query_id, "id": 0, "label": "like",
                                                  "weights": {"visual": -1}}),
                  "over the JSON body limit": json.dumps({"query_id": query_id, "pad": "x" * 70_000}),
                  "undecodable": b'{"query_id": "\xff\xfe"}'}
        for kind, body in bodies.items():
            run.web(client, f"/feedback: {kind}", "POST", "/feedback", content=body,
                    headers={"content-type": "application/json"})
        run.web(client, "/feedback: form instead of JSON", "POST", "/feedback", data={"query_id": query_id})
        for url in ("/items/999999/image", "/items/-1/image", "/items/abc/image", "/items/1e3/image",
                    "/static/../hyper_parameters.yaml", "/static/%2e%2e/%2e%2e/etc/passwd", "/nosuch",
                    "/search", "/search?q=", "/search?q=" + "x" * 5000, "/search?q=%00", "/session/reset"):
            run.web(client, f"GET {url[:60]}", "GET", url)
        # A lookup that matches nothing is a valid, empty answer (200 with no rows), not an error.
        for url in ("/categories?q=" + "x" * 5000, "/attributes?q=%ff", "/categories?q=%00"):
            response = client.get(url)
            rows = response.json() if response.status_code == 200 else None
            empty = isinstance(rows, list) and not rows or isinstance(rows, dict) and not any(
                isinstance(v, list) and v for v in rows.values())
            run.record("web", f"GET {url[:40]} (no match)", REBUILT if response.status_code < 500 and (
                response.status_code >= 400 or empty) else (TRACEBACK if response.status_code >= 500 else SILENT),
                f"{response.status_code} {str(rows)[:80]}")
        run.web(client, "DELETE /recommend", "DELETE", "/recommend")
        run.web(client, "GET with a body over the limit", "GET", "/health", content=b"x" * 10,
                headers={"content-length": "10"}, expect_4xx=False)
        run.web(client, "bad Content-Length", "POST", "/feedback", content=b"{}",
                headers={"content-length": "abc", "content-type": "application/json"})


def cli_cases(run: Runner, work: Path, world: dict[str, Any]) -> None:
    sets = [a for pair in world["overrides"] for a in ("--set", pair)]
    index_dir = work / "catalog-clean"
    rec = ["recommend.py", "--checkpoint", str(world["checkpoint"]), "--index-dir", str(index_dir), *sets]
    photo = str(world["photo"])
    junk = work / "junk.jpg"
    junk.write_bytes(RANDOM)
    bad_ckpt = work / "cli-bad.pt"
    bad_ckpt.write_bytes(RANDOM)
    bad_config = work / "cli-bad.yaml"
    bad_config.write_bytes(b"train: [1,\n")
    folder = work / "cli-folder"
    folder.mkdir()
    fb_index = work / "cli-fb-index"
    shutil.copytree(index_dir, fb_index)
    damaged = _open_engine(world, fb_index)
    store = Path(damaged.catalog.directory) / damaged.config.feedback.filename
    store.write_bytes(RANDOM)
    fb = ["recommend.py", "--checkpoint", str(world["checkpoint"]), "--index-dir", str(fb_index), *sets]
    cases = [
        ("train.py --set train.lr=nan", ["train.py", "--set", "train.lr=nan"]),
        ("train.py --set 'train.lr=[1,'", ["train.py", "--set", "train.lr=[1,"]),
        ("train.py --set nosuch.key=1", ["train.py", "--set", "nosuch.key=1"]),
        ("train.py --data missing folder", ["train.py", "--data", str(work / "missing")]),
        ("train.py --config damaged file", ["train.py", "--config", str(bad_config)]),
        ("train.py --resume with no run", ["train.py", "--resume", "--set", f"train.run_dir={work / 'none'}"]),
        ("recommend.py missing image", [*rec, str(work / "missing.jpg")]),
        ("recommend.py random-bytes image", [*rec, str(junk)]),
        ("recommend.py a folder as image", [*rec, str(folder)]),
        ("recommend.py --top-k 0", [*rec, photo, "--top-k", "0"]),
        ("recommend.py --weights 1e999,0,0", [*rec, photo, "--weights", "1e999,0,0"]),
        ("recommend.py --weights a,b", [*rec, photo, "--weights", "a,b"]),
        ("recommend.py --w-visual -1", [*rec, photo, "--w-visual", "-1"]),
        ("recommend.py --colour nosuch", [*rec, photo, "--colour", "nosuchcolour"]),
        ("recommend.py --checkpoint random bytes", ["recommend.py", "--checkpoint", str(bad_ckpt), photo]),
        ("recommend.py --checkpoint a folder", ["recommend.py", "--checkpoint", str(folder), photo]),
        ("recommend.py --sheet a folder", [*rec, photo, "--sheet", str(folder)]),
        ("recommend.py --feedback-export a folder", [*rec, "--feedback-export", str(folder)]),
        ("recommend.py --like with a damaged store", [*fb, photo, "--like", "nosuch.jpg"]),
        ("recommend.py --feedback with a damaged store", [*fb, "--feedback"]),
        ("recommend.py --serve --port 70000", [*rec, "--serve", "--port", "70000"]),
        ("recommend.py --query '' (empty)", [*rec, "--query", ""]),
        # From a bad-input probe: outputs over inputs, contradictions, work that never ends.
        ("recommend.py --sheet the query photo", [*rec, photo, "--sheet", photo]),
        ("recommend.py --sheet the checkpoint", [*rec, photo, "--sheet", str(world["checkpoint"])]),
        ("recommend.py --feedback-export feedback.sqlite", [*fb, "--feedback-export", str(store)]),
        ("recommend.py --like X --dislike X", [*rec, photo, "--like", "a.jpg", "--dislike", "a.jpg"]),
        ("recommend.py --category ''", [*rec, photo, "--category", ""]),
        ("recommend.py --weights colour=1,colour=2", [*rec, photo, "--weights", "colour=1,colour=2"]),
        ("train.py --epochs -1 --set train.epochs=1", ["train.py", "--epochs", "-1", "--set", "train.epochs=1"]),
        ("evaluate --grid-step 1e-9", ["-m", "fashion.cli.evaluate", "--checkpoint", str(world["checkpoint"]),
                                       "--out", str(work / "eval"), "--grid-step", "1e-9", *sets]),
        ("evaluate --seed -1", ["-m", "fashion.cli.evaluate", "--checkpoint", str(world["checkpoint"]),
                                "--out", str(work / "eval"), "--seed", "-1", *sets]),
    ]
    for name, args in cases:
        run.cli(name, args)


# ---------------------------------------------------------------------------------------------


def main(quick: bool = False) -> str:
    start = time.perf_counter()
    run = Runner()
    with tempfile.TemporaryDirectory(prefix="robustness-") as folder:
        work = Path(folder)
        world = _setup(work)
        timings = {}
        for area, fn in (("config", lambda: config_cases(run, work)),
                         ("datasets", lambda: dataset_cases(run, work)),
                         ("images", lambda: image_cases(run, work, world["photo"])),
                         ("checkpoints", lambda: checkpoint_cases(run, work, world["checkpoint"])),
                         ("catalog", lambda: catalog_cases(run, work, world)),
                         ("feedback store", lambda: feedback_cases(run, work, world)),
                         ("web", lambda: web_cases(run, work, world)),
                         ("cli", lambda: cli_cases(run, work, world))):
            if quick and area in ("cli", "catalog"):
                continue
            began = time.perf_counter()
            fn()
            timings[area] = time.perf_counter() - began
    return _report(run, timings, time.perf_counter() - start, quick)


def _report(run: Runner, timings: dict[str, float], seconds: float, quick: bool) -> str:
    by_area: dict[str, Counter] = defaultdict(Counter)
    for case in run.cases:
        by_area[case.area][case.outcome] += 1
    total = Counter(case.outcome for case in run.cases)
    lines = ["## Robustness", "",
             f"`python -m bench robustness{' --quick' if quick else ''}` · {machine_info()}", "",
             f"{len(run.cases)} bad or unusual inputs, generated and run in {seconds:.0f} s (a random-init checkpoint "
             "of the tiny built-in sample; web cases in-process through FastAPI's TestClient; CLI cases as real "
             "processes). Clear error: an expected failure as one line (`error: ...`, exit 1; web 4xx "
             "`{\"error\": ...}`). Rebuilt / accepted: a damaged catalog rebuilt identical to a clean build, or a "
             "valid unusual input handled. Traceback: any other exception, a web 5xx or a multi-line message. "
             "Silent wrong result: accepted without a word, or a rebuilt catalog that differs.", "",
             "| area | cases | " + " | ".join(OUTCOMES) + " | seconds |",
             "| --- | ---: | " + " | ".join("---:" for _ in OUTCOMES) + " | ---: |"]
    for area, counts in by_area.items():
        lines.append(f"| {area} | {sum(counts.values())} | " + " | ".join(str(counts[o]) for o in OUTCOMES)
                     + f" | {timings.get(area, 0):.0f} |")
    lines.append(f"| **all** | **{len(run.cases)}** | " + " | ".join(f"**{total[o]}**" for o in OUTCOMES) + " | |")
    bad = [c for c in run.cases if c.outcome in (TRACEBACK, SILENT)]
    lines += ["", "Problems found:" if bad else "No traceback and no silent wrong result.", ""]
    lines += [f"- {c.outcome}: {c.area} / {c.name}: {c.detail}" for c in bad[:40]]
    examples = {}
    for case in run.cases:
        if case.outcome == CLEAR and case.area not in examples:
            examples[case.area] = case
    lines += ["", "One message per area, as a user sees it:", ""]
    lines += [f"- {c.area} / {c.name}: `{c.detail[:140]}`" for c in examples.values()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(main(quick="--quick" in sys.argv))
