"""``python recommend.py --serve``: warm ``POST /recommend`` latency under load on a 5,000-image catalog.

The server (``fashion.web.app.serve``, as ``recommend.py --serve`` starts it, in its own process)
serves a folder catalog of 5,000 images: the real photos of ``../shared/data/clothing-dataset-small``
(all splits) plus mirrored copies to reach 5,000, or the built-in sample's images when the photos
are absent (the catalog and its index are shared with ``python -m bench recommend``), with a
random-init resnet18 with DeepFashion-sized heads (speed does not depend on training). Once it
answers and has served a few warm-up requests:

* upload: 200 ``POST /recommend`` with a photo each (200 different photos, so no request reuses
  another's description), from 4 concurrent clients on loopback, each on a keep-alive connection;
* re-rank: 200 ``POST /recommend`` with the ``query_id`` of a photo described before and other
  weights (what the page's sliders send), same clients.

Each request is bounded (30 s) and so is each run (5 minutes). Reported: median, p90, p99 and
worst latency, throughput, errors, the server's CPU time per request (all its processes) and the
CPU the rest of the machine used meanwhile (other jobs on shared cores). Targets (issue 17): at 4
clients the upload median at most 2.0x the queueing floor, clients x server CPU per request /
cores (with 4 closed-loop clients no server can answer faster: Little's law); on an idle 2-core
machine median <= 100 ms and p99 <= 300 ms (projected here from the CPU per request when the
machine is shared); re-rank by ``query_id`` median <= 20 ms. The full run also measures uploads
with ``web.describe_workers=0`` (describing in the server process, for comparison with the
default worker processes).

    python -m bench web               # (or --quick: a 1,000-image catalog, 60 requests)
"""

from __future__ import annotations

import http.client
import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import numpy as np

from bench.bench_index import WORK, _env, bench_checkpoint
from bench.bench_recommend import catalog_folder
from bench.common import PROJECT_ROOT, machine_info, median
from fashion.config import load_config

TARGET_FLOOR_RATIO = 2.0  # upload median / (clients x server CPU per request / cores)
TARGET_IDLE_MEDIAN_MS = 100.0
TARGET_IDLE_P99_MS = 300.0
TARGET_RERANK_MEDIAN_MS = 20.0
CLIENTS = 4
REQUEST_TIMEOUT_S = 30.0
RUN_TIMEOUT_S = 300.0
START_TIMEOUT_S = 600.0  # a first run indexes the catalog before serving

SERVE = r"""
import os, sys
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
from fashion.config import load_config
from fashion.web.app import serve
checkpoint, folder, index, workers = sys.argv[1:5]
serve(checkpoint, folder, load_config(), host="127.0.0.1", port=0, index_dir=index, device="cpu",
      describe_workers=int(workers), progress=False, log_level="warning")
"""


class Server:
    """``serve`` in a child process on a free loopback port; stopped with SIGINT (then killed)."""

    def __init__(self, checkpoint: Path, folder: Path, index: Path, workers: int, log: Path,
                 root: Path = PROJECT_ROOT) -> None:
        """``root``: the checkout whose code serves (another one for a side-by-side run)."""
        self.log_path = log
        self.lines: "queue.Queue[str]" = queue.Queue()
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
        self.process = subprocess.Popen(
            [sys.executable, "-c", SERVE, str(checkpoint), str(folder), str(index), str(workers)],
            cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        threading.Thread(target=self._read, daemon=True).start()
        self.port = self._wait_ready()

    def _read(self) -> None:
        with open(self.log_path, "w") as log:
            for line in self.process.stderr:  # type: ignore[union-attr]
                log.write(line)
                log.flush()
                self.lines.put(line)

    def _wait_ready(self) -> int:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=1.0)
            except queue.Empty:
                if self.process.poll() is not None:
                    break
                continue
            found = re.search(r"on http://127\.0\.0\.1:(\d+)/", line)
            if found:
                return int(found.group(1))
        self.stop()
        raise RuntimeError(f"the server did not start; see {self.log_path}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(2)  # SIGINT: uvicorn shuts down, workers are stopped
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def tree_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process and its live descendants (Linux /proc; else None)."""
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    total, todo, seen = 0.0, [pid], set()
    try:
        while todo:
            current = todo.pop()
            if current in seen:
                continue
            seen.add(current)
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
    except (OSError, IndexError, ValueError):
        return None
    return total


def machine_cpu_seconds() -> float | None:
    """Busy CPU seconds of the whole machine so far (all cores; Linux /proc/stat; else None)."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / (os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100)


def _process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of one process (not its children)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError, AttributeError):
        return None


def measured(port: int, pid: int, requests: list[tuple[bytes, str]]) -> dict:
    """:func:`load` plus the server's CPU ms per answered request and the cores the rest of the
    machine kept busy meanwhile (``others_cores``)."""
    cpu, machine, own = tree_cpu_seconds(pid), machine_cpu_seconds(), _process_cpu_seconds(pid)
    run = load(port, requests)
    cpu_after, machine_after, own_after = tree_cpu_seconds(pid), machine_cpu_seconds(), _process_cpu_seconds(pid)
    answered = max(len(run["latencies"]), 1)
    run["cpu_ms"] = 1000 * (cpu_after - cpu) / answered if cpu is not None and cpu_after is not None else None
    run["server_process_ms"] = (1000 * (own_after - own) / answered
                                if own is not None and own_after is not None else None)
    # This client process's own CPU (HTTP, JSON parsing) counts with the others here.
    run["others_cores"] = (max(0.0, (machine_after - machine) - (cpu_after - cpu)) / run["wall"]
                           if None not in (cpu, cpu_after, machine, machine_after) else None)
    return run


def multipart(fields: dict[str, str], files: list[tuple[str, str, bytes]]) -> tuple[bytes, str]:
    """(body, content type) of a multipart/form-data request."""
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, filename, data in files:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                     "Content-Type: image/jpeg\r\n\r\n".encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def load(port: int, requests: list[tuple[bytes, str]], clients: int = CLIENTS) -> dict:
    """Send ``requests`` (body, content type) to POST /recommend from ``clients`` threads.

    Returns latencies (s) of the successful ones, error descriptions, wall time and the answers'
    query ids (in request order).
    """
    jobs: "queue.Queue[int]" = queue.Queue()
    for number in range(len(requests)):
        jobs.put(number)
    latencies: list[float] = []
    errors: list[str] = []
    query_ids: list[str | None] = [None] * len(requests)
    lock = threading.Lock()
    deadline = time.monotonic() + RUN_TIMEOUT_S

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_S)
        while time.monotonic() < deadline:
            try:
                number = jobs.get_nowait()
            except queue.Empty:
                break
            body, content_type = requests[number]
            start = time.perf_counter()
            try:
                connection.request("POST", "/recommend", body=body, headers={"Content-Type": content_type})
                response = connection.getresponse()
                payload = response.read()
                elapsed = time.perf_counter() - start
                if response.status != 200:
                    raise RuntimeError(f"HTTP {response.status}: {payload[:200]!r}")
                answer = json.loads(payload)
                if not answer["queries"][0]["results"]:
                    raise RuntimeError("no results")
                with lock:
                    latencies.append(elapsed)
                    query_ids[number] = answer["queries"][0]["query_id"]
            except Exception as error:  # noqa: BLE001 - every failure is counted and reported
                with lock:
                    errors.append(f"{type(error).__name__}: {error}"[:300])
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_S)
        connection.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    unsent = jobs.qsize()
    if unsent:
        errors.append(f"{unsent} requests not sent within {RUN_TIMEOUT_S:.0f} s")
    return {"latencies": latencies, "errors": errors, "wall": wall, "query_ids": query_ids}


def summary(label: str, run: dict, sent: int) -> tuple[str, float, float]:
    """A Markdown table row and (median ms, p99 ms)."""
    ms = np.array(run["latencies"]) * 1000
    if not len(ms):
        row = f"| {label} | – | – | – | – | – | – | – | – | {sent} sent, {len(run['errors'])} errors |"
        return row, float("inf"), float("inf")
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    cpu = f"{run['cpu_ms']:.1f}" if run.get("cpu_ms") is not None else "–"
    floor = CLIENTS * run["cpu_ms"] / (os.cpu_count() or 1) if run.get("cpu_ms") else None
    ratio = f"{p50 / floor:.2f}" if floor else "–"
    others = f"{run['others_cores']:.2f}" if run.get("others_cores") is not None else "–"
    row = (f"| {label} | **{p50:.0f}** | {p90:.0f} | **{p99:.0f}** | {ms.max():.0f} | "
           f"{len(ms) / run['wall']:.1f} | {cpu} | {ratio} | {others} | {len(run['errors'])} |")
    return row, float(p50), float(p99)


def measure(checkpoint: Path, folder: Path, index: Path, photos: list[Path], workers: int, rerank: bool,
            label: str, root: Path = PROJECT_ROOT) -> tuple[list[str], dict]:
    """Start a server (the code of checkout ``root``), warm it, run the loads; Markdown rows and
    the upload run's figures."""
    log = WORK / f"web-server-{workers}.log"
    started = time.perf_counter()
    server = Server(checkpoint, folder, index, workers, log, root)
    start_s = time.perf_counter() - started
    rows: list[str] = []
    try:
        warm = [multipart({}, [("image", p.name, p.read_bytes())]) for p in photos[-2 * CLIENTS:]]
        load(server.port, warm)
        uploads = [multipart({}, [("image", p.name, p.read_bytes())]) for p in photos[:-2 * CLIENTS]]
        run = measured(server.port, server.process.pid, uploads)
        row, p50, p99 = summary(f"{label}: upload a photo", run, len(uploads))
        rows.append(row)
        run.update(p50=p50, p99=p99, start_s=start_s, sent=len(uploads), batches=_batches(server.port))
        if rerank:
            ids = [q for q in run["query_ids"] if q]
            weights = ["0.2,0.2,0.6", "1,0,0", "0.6,0.25,0.15", "0,0,1"]
            reranks = [multipart({"query_id": q, "weights": weights[n % len(weights)]}, [])
                       for n, q in enumerate(ids)]
            again = measured(server.port, server.process.pid, reranks)
            row, r50, r99 = summary(f"{label}: re-rank by `query_id` (the sliders)", again, len(reranks))
            rows.append(row)
            run["rerank"] = {**again, "p50": r50, "p99": r99}
    finally:
        server.stop()
    return rows, run


def _batches(port: int) -> dict[str, int]:
    """Batch sizes the server's describer used so far (``/health``), {size: batches}."""
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_S)
        connection.request("GET", "/health")
        return json.loads(connection.getresponse().read()).get("describe_batches", {})
    except (OSError, ValueError):
        return {}


def stage_breakdown(checkpoint: Path, folder: Path, index: Path, photos: list[Path]) -> dict[str, tuple[float, float]]:
    """Where one upload's server time goes, stage by stage, timed in this process on one thread
    as a describe worker runs (no HTTP, no queueing): {stage: (median wall ms, median CPU ms)}
    over ``photos``; the network in torch and the palette with the numpy labelling side by side.

    decode (bytes → RGB), preprocess (crop, resize, normalise), palette (segmentation + garment
    pixels + quantiser), network (one forward pass), search (the index's top-k), blend + explain
    (the rest of ``Engine.recommend``), JSON (the answer's rendering), and the whole
    ``describe`` + ``recommend`` for comparison with the served latency.
    """
    from fashion.data.images import load_image_bytes
    from fashion.io_utils import json_default
    from fashion.model.encoder import image_palette
    from fashion.recommend.engine import Engine

    import torch

    from fashion.colour import palette as palettes
    from fashion.model.encoder import Encoder
    from fashion.web.workers import single_threaded_blas, use_onnx_runtime

    engine = Engine.open(checkpoint, folder, load_config(), index_dir=index, device="cpu", update=False,
                         progress=False)
    # As a describe worker on this machine runs: one thread (cores // workers), the network in
    # ONNX Runtime where installed, scipy's labelling; torch and the numpy labelling side by side.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    single_threaded_blas()
    with_torch = Encoder.from_config(engine.loaded, engine.config)
    runtime = "ONNX Runtime" if use_onnx_runtime(engine, 1) else "torch"
    palettes.use_scipy_labelling()
    encoder, top_k = engine.encoder, engine.config.recommend.top_k
    timings: dict[str, list[tuple[float, float]]] = {}

    def timed(stage: str, work, share: int = 1):  # noqa: ANN001, ANN202
        wall, cpu = time.perf_counter(), time.process_time()
        value = work()
        timings.setdefault(stage, []).append((1000 * (time.perf_counter() - wall) / share,
                                              1000 * (time.process_time() - cpu) / share))
        return value

    for photo in photos[:2]:  # warm-up: segmenter weights, first forward pass, page cache
        engine.recommend(engine.describe([photo.read_bytes()])[0])
    timings.clear()
    for photo in photos:
        data = photo.read_bytes()
        image = timed("decode", lambda: load_image_bytes(data, photo.name,
                                                         max_pixels=engine.config.data.max_image_pixels))
        tensor = timed("preprocess (crop, resize, normalise)", lambda: encoder.loaded.transform(image))
        timed("palette (segmentation, garment pixels, quantiser)", lambda: image_palette(image, None, encoder.colour))
        palettes.use_scipy_labelling(False)
        timed("palette with the numpy labelling (a cold `recommend.py`'s), for comparison",
              lambda: image_palette(image, None, encoder.colour))
        palettes.use_scipy_labelling()
        timed(f"network (one forward pass, {runtime})", lambda: encoder.infer(tensor[None]))
        timed("network in torch, for comparison", lambda: with_torch.infer(tensor[None]))
        query = timed("describe, whole (decode, preprocess, palette, network)", lambda: engine.describe([data]))[0]
        pair = tensor[None].expand(2, *tensor.shape).contiguous()
        timed(f"network in a batch of 2 (batched uploads), per image, {runtime}",
              lambda: encoder.infer(pair), share=2)
        timed("network in a batch of 2 in torch, per image, for comparison",
              lambda: with_torch.infer(pair), share=2)
        timed("search (top-k of the index)",
              lambda: engine.recommender.index.search(query.embedding[None], max(4 * top_k, 50)))
        results = timed("recommend, whole (search + blend + explain)", lambda: engine.recommend(query))
        timed("JSON (the answer's rendering)",
              lambda: json.dumps({"results": [r.to_dict() for r in results]}, default=json_default))
    torch.set_num_threads(threads)
    return {stage: (median([t[0] for t in values]), median([t[1] for t in values]))
            for stage, values in timings.items()}


def main(quick: bool = False) -> str:
    """Markdown section: latency of POST /recommend under 4 concurrent clients."""
    from fashion.web.app import default_describe_workers

    config = load_config()
    n = 1000 if quick else 5000
    requests = 60 if quick else 200
    folder, kind = catalog_folder(n)
    checkpoint = bench_checkpoint(config)
    index = WORK / f"index{n}"
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    step = max(1, len(files) // (requests + 2 * CLIENTS))
    photos = files[::step][: requests + 2 * CLIENTS]
    sizes = [p.stat().st_size for p in photos]
    workers = default_describe_workers(config.web.describe_workers)

    rows, run = measure(checkpoint, folder, index, photos, workers, rerank=True,
                        label=f"describe_workers={workers} (default)")
    if not quick:
        rows += measure(checkpoint, folder, index, photos, 0, rerank=False, label="describe_workers=0")[0]
    errors = run["errors"]
    cores = os.cpu_count() or 1
    lines = [
        "## Web server: `POST /recommend` under load",
        "",
        f"`{_env()}python -m bench web{' --quick' if quick else ''}` · {machine_info()}",
        "",
        f"Catalog: {n:,} images ({kind}); {config.model.arch} at {config.model.image_size} px; top-"
        f"{config.recommend.top_k}. {run['sent']} uploads of different photos (median {median(sizes) / 1024:.0f} KiB) "
        f"from {CLIENTS} concurrent clients on loopback (keep-alive), after {2 * CLIENTS} warm-up requests; "
        f"server start (engine + {workers} describe workers) {run['start_s']:.1f} s.",
        "",
        "| requests | median ms | p90 ms | p99 ms | worst ms | requests/s | server CPU ms per request | "
        f"median ÷ floor ({CLIENTS} × CPU ÷ {cores} cores) | other jobs' cores meanwhile | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *rows,
    ]
    if run.get("cpu_ms") is not None:
        c = run["cpu_ms"]
        floor = CLIENTS * c / cores
        ratio = run["p50"] / floor
        others = run.get("others_cores")
        free = max(cores - (others or 0.0), 0.25)
        rerank = run.get("rerank", {})
        batches = ", ".join(f"{count} of {size}" for size, count in sorted(run.get("batches", {}).items(),
                                                                             key=lambda kv: int(kv[0])))
        lines += [
            "",
            f"Server CPU per upload {c:.1f} ms (all its processes; of it the server process "
            f"{run.get('server_process_ms') or float('nan'):.1f} ms: HTTP, multipart, hand-off, search, blend, "
            f"explanations, JSON; the rest in the describe workers). Describe batches (size: uploads described "
            f"together in one network pass) so far: {batches or 'none reported'}.",
            "",
            "Targets (issue 17):",
            "",
            f"* upload median ≤ {TARGET_FLOOR_RATIO:.1f}× the queueing floor {CLIENTS} × {c:.1f} ÷ {cores} = "
            f"{floor:.0f} ms (with {CLIENTS} closed-loop clients no server answers faster, Little's law): "
            f"{run['p50']:.0f} ms = {ratio:.3f}× — **{'met' if ratio <= TARGET_FLOOR_RATIO else 'missed'}**"
            + (f"; other jobs kept {others:.2f} of the {cores} cores busy meanwhile (1-minute load average "
               f"{os.getloadavg()[0]:.1f}), so the server had about {free:.2f} cores: floor on those "
               f"{CLIENTS * c / free:.0f} ms, ratio {run['p50'] / (CLIENTS * c / free):.2f}×" if others is not None
               else "") + ";",
            f"* idle 2-core machine, median ≤ {TARGET_IDLE_MEDIAN_MS:.0f} ms and p99 ≤ {TARGET_IDLE_P99_MS:.0f} ms: "
            + ("measured here on a shared machine, so projected: the median cannot be below the floor "
               f"{CLIENTS} × {c:.1f} ÷ 2 = {CLIENTS * c / 2:.0f} ms at {CLIENTS} clients — "
               f"**{'within reach' if CLIENTS * c / 2 <= TARGET_IDLE_MEDIAN_MS else 'missed'}** "
               f"(≤ {TARGET_IDLE_MEDIAN_MS:.0f} ms needs ≤ {TARGET_IDLE_MEDIAN_MS * 2 / CLIENTS:.0f} ms of CPU per "
               "upload); p99 not measurable here"
               if others is None or others > 0.2 else  # the load average counts the bench's own work
               f"measured on an idle machine: median {run['p50']:.0f} ms, p99 {run['p99']:.0f} ms — **"
               f"{'met' if run['p50'] <= TARGET_IDLE_MEDIAN_MS and run['p99'] <= TARGET_IDLE_P99_MS else 'missed'}"
               "**") + ";",
        ]
        if rerank:
            lines.append(f"* re-rank by `query_id` median ≤ {TARGET_RERANK_MEDIAN_MS:.0f} ms: {rerank['p50']:.1f} ms "
                         f"(p99 {rerank['p99']:.1f} ms, {rerank.get('cpu_ms') or float('nan'):.1f} ms of server CPU) — "
                         f"**{'met' if rerank['p50'] <= TARGET_RERANK_MEDIAN_MS else 'missed'}**.")
    lines += ["", "Describing a photo (decode, segmentation, palette, network) runs in worker processes by "
                  "default, one batch per worker at a time: uploads that arrive while the workers are busy wait and "
                  "go together as the next batch (one network pass), so batching adds no wait. Re-ranks reuse "
                  "the photo's search, score components and each result's explanation."]
    stages = stage_breakdown(checkpoint, folder, index, photos[: 20 if quick else 50])
    lines += ["", f"Per-stage breakdown of one upload (the server's work without HTTP or queueing), timed in one "
                  f"process at one thread as a describe worker runs, one request at a time, median over {20 if quick else 50} of the photos above; CPU ms "
                  "next to wall ms, which contention inflates:", "",
              "| stage | median wall ms | median CPU ms |", "| --- | ---: | ---: |"]
    lines += [f"| {stage} | {wall:.1f} | {cpu:.1f} |" for stage, (wall, cpu) in stages.items()]
    whole = stages["describe, whole (decode, preprocess, palette, network)"][0] + stages["recommend, whole (search + blend + explain)"][0]
    lines += ["", f"describe + recommend in one process: {whole:.0f} ms against the served median "
                  f"{run['p50']:.0f} ms at {CLIENTS} clients: the difference is HTTP and multipart parsing, the "
                  "hand-off to a describe worker (pickling the image bytes and the features), and queueing "
                  "behind the other clients' requests."]
    if errors:
        lines += ["", "Errors (first 5): " + "; ".join(errors[:5])]
    return "\n".join(lines) + "\n"


def stages_only(quick: bool = False) -> str:
    """Markdown: the per-stage breakdown alone (no server), ``python -m bench.bench_web --stages``."""
    n = 1000 if quick else 5000
    folder, kind = catalog_folder(n)
    checkpoint = bench_checkpoint(load_config())
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    photos = files[:: max(1, len(files) // 50)][:50]
    stages = stage_breakdown(checkpoint, folder, WORK / f"index{n}", photos)
    lines = [f"Per-stage breakdown of an upload, {n:,}-image catalog ({kind}), median over {len(photos)} photos, "
             f"one process at one thread as a describe worker runs, one request at a time · {machine_info()} · 1-minute load average "
             f"{os.getloadavg()[0]:.1f}", "", "| stage | median wall ms | median CPU ms |", "| --- | ---: | ---: |"]
    lines += [f"| {stage} | {wall:.1f} | {cpu:.1f} |" for stage, (wall, cpu) in stages.items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    if "--stages" in sys.argv:
        print(stages_only(quick="--quick" in sys.argv))
    else:
        print(main(quick="--quick" in sys.argv))
