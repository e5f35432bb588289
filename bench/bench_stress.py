"""Stress: the web server under mixed concurrent load, and ``kill -9`` during a catalog build.

``python -m bench stress`` (issue 14's last two targets):

* **Web under load.** ``fashion.web.app.serve`` in a child process on a free loopback port, with
  a random-init checkpoint of the tiny built-in sample (``bench.bench_robustness._setup``) and its
  images as the catalog. 8 client threads send ~500 mixed requests in all: photo uploads,
  re-ranks by ``query_id``, ``GET /categories``, ``/search?q=``, ``POST /feedback`` (of a shown
  item, with the session cookie) and bad requests (non-images, bad JSON, unknown query ids).
  Reported: counts by status class (target: 0 server errors, 5xx) and the server's resident
  memory (VmRSS of the server process and its children, from ``/proc``) after a warm-up vs after
  the run (target: within 10%).
* **kill -9 during a catalog build.** A sample of 2,000 small images (1,000 items × 2 views,
  64 px), a random-init checkpoint; a clean build is timed, then 10 times a build in a child
  process (``Engine.open``, as ``recommend.py`` builds) is killed with SIGKILL at a uniformly
  random moment of its indexing, and rerun to completion. Reported per run: rows resumed from
  ``partial/``, seconds of work lost (indexing time before the kill minus resumed rows ÷ the
  clean build's images/s; and the age of the newest saved chunk at the kill), and whether every
  array of the finished catalog is byte-identical to the clean build's (target: ≤ ~10 s lost,
  identical).
"""

from __future__ import annotations

import http.client
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import PROJECT_ROOT, machine_info

CLIENTS = 8
REQUESTS = 500
QUICK_REQUESTS = 500  # cheap (~15 s): --quick only shortens the kill -9 part
KILLS = 10
QUICK_KILLS = 3
TIMEOUT_S = 60.0

SERVE = r"""
import json, os, sys
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
from fashion.config import load_config
from fashion.web.app import serve
checkpoint, folder, index, overrides = sys.argv[1:5]
serve(checkpoint, folder, load_config(overrides=json.loads(overrides)), host="127.0.0.1", port=0, index_dir=index,
      device="cpu", describe_workers=1, progress=False, log_level="warning")
"""

BUILD = r"""
import json, sys, time
from fashion.config import load_config
from fashion.recommend.engine import Engine
checkpoint, folder, index, overrides = sys.argv[1:5]
def log(message):
    print(f"{time.time():.3f} {message}", file=sys.stderr, flush=True)
engine = Engine.open(checkpoint, folder, config=load_config(overrides=json.loads(overrides)), index_dir=index,
                     device="cpu", progress=False, log=log)
log(f"done {len(engine.catalog)}")
"""


def _rss_kb(pid: int) -> int:
    """VmRSS (kB) of a process and its live descendants, from /proc."""
    total, todo, seen = 0, [pid], set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return total


# ---------------------------------------------------------------------------------------------
# Web under load


class _Server:
    def __init__(self, world: dict[str, Any], index: Path, log: Path) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_WAIT_POLICY": "PASSIVE"}
        self.log = log
        self.handle = open(log, "w")
        self.process = subprocess.Popen(
            [sys.executable, "-c", SERVE, str(world["checkpoint"]), str(world["sample"] / "img"), str(index),
             json.dumps(world["overrides"])], cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL,
            stderr=self.handle)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            found = re.search(r"on http://127\.0\.0\.1:(\d+)/", log.read_text())
            if found:
                self.port = int(found.group(1))
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the server did not start: {log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.handle.close()


def _multipart(fields: dict[str, str], files: list[tuple[str, bytes, str]]) -> tuple[bytes, str]:
    boundary = "bench-stress-boundary-7f3a"
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for filename, data, ctype in files:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{filename}"\r\n'
                     f"Content-Type: {ctype}\r\n\r\n".encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


class _Client:
    """One shopper: its own connection and session cookie; remembers its query ids and shown items."""

    def __init__(self, port: int, photos: list[bytes], seed: int) -> None:
        self.port, self.photos, self.rng = port, photos, random.Random(seed)
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_S)
        self.cookie = ""
        self.shown: list[tuple[str, str]] = []  # (query_id, item key)

    def request(self, method: str, url: str, body: bytes | None = None, ctype: str | None = None) -> tuple[int, Any]:
        headers = {"Host": f"127.0.0.1:{self.port}"}
        if ctype:
            headers["Content-Type"] = ctype
        if self.cookie:
            headers["Cookie"] = self.cookie
        for attempt in range(2):
            try:
                self.connection.request(method, url, body=body, headers=headers)
                response = self.connection.getresponse()
                data = response.read()
                break
            except (OSError, http.client.HTTPException):
                self.connection.close()
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT_S)
                if attempt:
                    return -1, None
        cookie = response.getheader("Set-Cookie")
        if cookie:
            self.cookie = cookie.split(";", 1)[0]
        try:
            payload = json.loads(data)
        except ValueError:
            payload = None
        return response.status, payload

    def _remember(self, payload: Any) -> None:
        if isinstance(payload, dict):
            for answer in payload.get("queries", payload.get("results_by_query", [])) or []:
                if isinstance(answer, dict) and answer.get("query_id"):
                    for result in answer.get("results", [])[:3]:
                        if isinstance(result, dict) and result.get("key"):
                            self.shown.append((answer["query_id"], result["key"]))

    def one(self) -> tuple[str, int]:
        kind = self.rng.choices(["upload", "rerank", "categories", "search", "feedback", "non-image",
                                 "bad json", "unknown query"], weights=[20, 15, 10, 15, 15, 8, 8, 9])[0]
        if kind in ("rerank", "feedback") and not self.shown:
            kind = "upload"
        if kind == "upload":
            body, ctype = _multipart({"top_k": "5"}, [("photo.jpg", self.rng.choice(self.photos), "image/jpeg")])
            status, payload = self.request("POST", "/recommend", body, ctype)
            self._remember(payload)
        elif kind == "rerank":
            query_id = self.rng.choice(self.shown)[0]
            body, ctype = _multipart({"query_id": query_id, "top_k": "5", "weights": "1,0.5,0.5"}, [])
            status, payload = self.request("POST", "/recommend", body, ctype)
            self._remember(payload)
        elif kind == "categories":
            status, _ = self.request("GET", f"/categories?q={self.rng.choice(['', 'dress', 'top', 'x'])}")
        elif kind == "search":
            words = self.rng.choice(["red dress", "striped top", "blue", "midi skirt", "%%", "a" * 300])
            status, _ = self.request("GET", "/search?q=" + words.replace(" ", "+").replace("%", "%25"))
        elif kind == "feedback":
            query_id, key = self.rng.choice(self.shown)
            body = json.dumps({"query_id": query_id, "item": key,
                               "label": self.rng.choice(["like", "dislike"])}).encode()
            status, _ = self.request("POST", "/feedback", body, "application/json")
        elif kind == "non-image":
            junk = self.rng.choice([b"hello, not a photo", bytes(self.rng.getrandbits(8) for _ in range(2048)),
                                    b"%PDF-1.4\n" + b"0" * 500, self.rng.choice(self.photos)[:300]])
            body, ctype = _multipart({}, [("x.jpg", junk, "image/jpeg")])
            status, _ = self.request("POST", "/recommend", body, ctype)
        elif kind == "bad json":
            body = self.rng.choice([b"{", b'{"query_id": 5, "label": "meh"}', b"[]", b"\xff\xfe", b'{"label": "like"}'])
            status, _ = self.request("POST", "/feedback", body, "application/json")
        else:
            fake = self.rng.choice(["0" * 32, "nosuchid", "../../etc/passwd", "f" * 16])
            if self.rng.random() < 0.5:
                body, ctype = _multipart({"query_id": fake}, [])
                status, _ = self.request("POST", "/recommend", body, ctype)
            else:
                body = json.dumps({"query_id": fake, "id": 0, "label": "like"}).encode()
                status, _ = self.request("POST", "/feedback", body, "application/json")
        return kind, status


def _drive(port: int, photos: list[bytes], total: int, seed: int) -> tuple[Counter, Counter, float]:
    """``total`` requests from CLIENTS threads; (status classes, 5xx by kind, seconds)."""
    classes: Counter = Counter()
    errors: Counter = Counter()
    lock = threading.Lock()

    def worker(number: int, count: int) -> None:
        client = _Client(port, photos, seed * 100 + number)
        for _ in range(count):
            kind, status = client.one()
            with lock:
                classes["no answer" if status < 0 else f"{status // 100}xx"] += 1
                classes[f"{kind}"] += 0
                if status >= 500 or status < 0:
                    errors[f"{kind} -> {status}"] += 1
        client.connection.close()

    start = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(n, total // CLIENTS + (n < total % CLIENTS)))
               for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return classes, errors, time.perf_counter() - start


def web_load(work: Path, quick: bool) -> list[str]:
    from bench.bench_robustness import _setup

    world = _setup(work / "web")
    photos = [p.read_bytes() for p in sorted((world["sample"] / "img").rglob("*.jpg"))[:12]]
    server = _Server(world, work / "web" / "index", work / "web-server.log")
    total = QUICK_REQUESTS if quick else REQUESTS
    try:
        _drive(server.port, photos, 80, seed=1)  # warm-up: every kind of request, every thread
        rss_warm = _rss_kb(server.process.pid)
        classes, errors, seconds = _drive(server.port, photos, total, seed=2)
        rss_after = _rss_kb(server.process.pid)
        alive = server.process.poll() is None
    finally:
        server.stop()
    counts = {k: v for k, v in classes.items() if k.endswith("xx") or k == "no answer"}
    server_errors = sum(v for k, v in counts.items() if k in ("5xx", "no answer"))
    growth = (rss_after - rss_warm) / rss_warm * 100
    lines = ["### Web under load", "",
             f"`fashion.web.app.serve` in a child process (random-init checkpoint of the tiny sample, "
             f"{len(list((world['sample'] / 'img').rglob('*.jpg')))}-image catalog, 1 describe worker); "
             f"{CLIENTS} client threads × {total} mixed requests in all (uploads, re-ranks by query_id, "
             "/categories, /search, /feedback of shown items, non-images, bad JSON, unknown query ids), "
             f"after an 80-request warm-up: {seconds:.1f} s, {total / seconds:.0f} requests/s.", "",
             "| status class | requests |", "|---|---:|"]
    lines += [f"| {k} | {counts[k]} |" for k in sorted(counts)]
    lines += ["", f"Server errors (5xx or no answer): **{server_errors}** (target 0)"
              + (f": {dict(errors)}" if errors else "") + f"; server still running: {alive}.", "",
              f"Server RSS (process + children): {rss_warm / 1024:.0f} MiB after warm-up, "
              f"{rss_after / 1024:.0f} MiB after the run: **{growth:+.1f}%** (target within ±10%)."]
    return lines


# ---------------------------------------------------------------------------------------------
# kill -9 during a catalog build


def _build_child(world: dict[str, Any], folder: Path, index: Path, log: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONWARNINGS": "ignore"}
    return subprocess.Popen([sys.executable, "-c", BUILD, str(world["checkpoint"]), str(folder), str(index),
                             json.dumps(world["overrides"])], cwd=PROJECT_ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=open(log, "w"))


def _log_time(log: Path, pattern: str) -> tuple[float, str] | None:
    for line in log.read_text(errors="replace").splitlines():
        head, _, rest = line.partition(" ")
        if re.search(pattern, rest):
            try:
                return float(head), rest
            except ValueError:
                continue
    return None


def _arrays(index: Path) -> dict[str, bytes]:
    from fashion.index.catalog import ARRAYS, load_catalog

    catalog = load_catalog(index)
    out = {name: np.ascontiguousarray(getattr(catalog, name)).tobytes() for name in ARRAYS}
    out["keys"] = "\n".join(catalog.items["key"]).encode()
    return out


def kill_builds(work: Path, quick: bool) -> list[str]:
    from bench.bench_robustness import TINY, _setup
    from fashion.config import load_config
    from fashion.data.sample import ensure_sample

    world = _setup(work / "kill")
    big = work / "big"
    big_config = load_config(overrides=[o for o in TINY if not o.startswith("sample.")]
                             + ["sample.items=1000", "sample.views=2", "sample.image_size=64", "sample.seed=3"])
    started = time.perf_counter()
    ensure_sample(big, big_config.sample)
    folder = big / "img"
    images = len(list(folder.rglob("*.jpg")))
    sample_s = time.perf_counter() - started

    clean = work / "clean-index"
    log = work / "clean.log"
    process = _build_child(world, folder, clean, log)
    if process.wait(timeout=1800) != 0:
        raise RuntimeError(f"clean build failed: {log.read_text()[-2000:]}")
    began, done = _log_time(log, r"^indexing \d+"), _log_time(log, r"^done ")
    index_s = done[0] - began[0]
    rate = images / index_s
    reference = _arrays(clean)

    rng = random.Random(14)
    estimate = index_s
    rows = []
    for run in range(QUICK_KILLS if quick else KILLS):
        index = work / f"killed-{run}"
        first = work / f"killed-{run}-a.log"
        process = _build_child(world, folder, index, first)
        while _log_time(first, r"^indexing \d+") is None and process.poll() is None:
            time.sleep(0.05)
        start = _log_time(first, r"^indexing \d+")[0]
        # The machine's load varies (shared cores): the window follows the fastest full pass seen so far.
        delay = rng.uniform(0.05, 0.8) * estimate
        while time.time() < start + delay and process.poll() is None:
            time.sleep(0.01)
        finished_first = process.poll() is not None
        killed_at = time.time()
        process.send_signal(signal.SIGKILL)
        process.wait()
        chunks = sorted((index / "partial").glob("*"), key=lambda p: p.stat().st_mtime) if (index / "partial").exists() else []
        newest = max((p.stat().st_mtime for p in chunks), default=start)
        second = work / f"killed-{run}-b.log"
        rerun_start = time.perf_counter()
        process = _build_child(world, folder, index, second)
        if process.wait(timeout=1800) != 0:
            raise RuntimeError(f"rerun failed: {second.read_text()[-2000:]}")
        rerun_s = time.perf_counter() - rerun_start
        line = _log_time(second, r"^indexing \d+")
        todo = int(re.search(r"indexing (\d+)", line[1]).group(1)) if line else 0
        resumed_match = re.search(r"resuming: (\d+) already done", line[1]) if line else None
        resumed = int(resumed_match.group(1)) if resumed_match else images - todo
        worked = killed_at - start
        rerun_line, rerun_done = _log_time(second, r"^indexing \d+"), _log_time(second, r"^done ")
        # Images/s of this rerun when it redid enough rows (the machine's load varies), else the clean build's.
        run_rate = todo / (rerun_done[0] - rerun_line[0]) if todo >= 200 and rerun_line and rerun_done else rate
        lost_s = max(0.0, worked - resumed / run_rate)
        estimate = min(estimate, images / run_rate)
        if finished_first:
            estimate = min(estimate, worked)
        identical = _arrays(index) == reference
        rows.append((run + 1, worked, resumed, todo, lost_s, killed_at - newest, rerun_s, identical, finished_first))

    lines = ["### kill -9 during a catalog build", "",
             f"A {images}-image catalog (generated sample, 64 px, in {sample_s:.0f} s; random-init checkpoint, "
             f"model.image_size 32); build in a child process as `recommend.py` does (`Engine.open`). Clean build: "
             f"indexing {index_s:.1f} s, **{rate:.0f} images/s**. Then {len(rows)} times "
             f"({'--quick' if quick else 'full run'}): SIGKILL at a uniformly random moment of the indexing, "
             "rerun to completion, compare every array and the key order with the clean build.", "",
             "| run | killed after (s) | rows resumed | rows redone | work lost (s) | newest saved chunk age at kill (s) "
             "| rerun (s) | arrays byte-identical |", "|---:|---:|---:|---:|---:|---:|---:|---|"]
    for number, worked, resumed, todo, lost_s, age, rerun_s, identical, finished in rows:
        lines.append(f"| {number} | {worked:.1f}{' (had finished)' if finished else ''} | {resumed} | {todo} | "
                     f"{lost_s:.1f} | {age:.1f} | {rerun_s:.1f} | {'yes' if identical else '**no**'} |")
    worst = max((r[4] for r in rows), default=0.0)
    lines += ["", f"Work lost: at most **{worst:.1f} s** (target ≤ ~10 s; work lost = indexing seconds before the kill "
              "− resumed rows ÷ images/s (the rerun's, else the clean build's), so it includes the start-up of the encoder's workers); "
              f"arrays byte-identical in **{sum(r[7] for r in rows)}/{len(rows)}** runs."]
    return lines


def main(quick: bool = False) -> str:
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="stress-") as folder:
        work = Path(folder)
        web = web_load(work, quick)
        kill = kill_builds(work, quick)
    return "\n".join(["## Stress: web under load, kill -9 during a catalog build", "",
                      f"`python -m bench stress{' --quick' if quick else ''}` · {machine_info()} · "
                      f"{time.perf_counter() - start:.0f} s in all", "", *web, "", *kill])


if __name__ == "__main__":
    print(main(quick="--quick" in sys.argv))
