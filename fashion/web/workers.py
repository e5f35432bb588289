"""Describing uploads: in this process or in warm worker processes (spawned, each loading the
checkpoint once, checked against the server's model), and the LRU of described queries."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import multiprocessing
import os
import threading
from collections import Counter, OrderedDict, deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fashion.data.workers import available_cores

if TYPE_CHECKING:
    from fashion.recommend.engine import Engine
    from fashion.recommend.recommender import Query

log = logging.getLogger("fashion.web")



# ---------------------------------------------------------------------------------------------
# Described queries, kept for re-ranking by id


class QueryCache:
    """The most recently described queries by id (an LRU of ``size`` entries; thread-safe), with
    each one's JSON description once it has been asked for (:meth:`as_dict`)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._queries: OrderedDict[str, "Query"] = OrderedDict()
        self._dicts: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def get(self, query_id: str) -> "Query | None":
        with self._lock:
            query = self._queries.get(query_id)
            if query is not None:
                self._queries.move_to_end(query_id)
            return query

    def put(self, query_id: str, query: "Query") -> None:
        with self._lock:
            if self._queries.get(query_id) is not query:
                self._dicts.pop(query_id, None)
            self._queries[query_id] = query
            self._queries.move_to_end(query_id)
            while len(self._queries) > self.size:
                old, _ = self._queries.popitem(last=False)
                self._dicts.pop(old, None)

    def as_dict(self, query_id: str, query: "Query") -> dict[str, Any]:
        """``query.to_dict()``, worked out once while ``query`` is the one kept under ``query_id``: a
        re-rank answers with the same description (its colour names cost a CIEDE2000 each)."""
        with self._lock:
            kept = self._dicts.get(query_id) if self._queries.get(query_id) is query else None
        if kept is None:
            kept = query.to_dict()
            with self._lock:
                if self._queries.get(query_id) is query:
                    self._dicts[query_id] = kept
        return dict(kept)

    def __len__(self) -> int:
        return len(self._queries)


# ---------------------------------------------------------------------------------------------
# Describing uploads: in this process, or in worker processes

_WORKER: dict[str, Any] = {}
_BLAS_LIMIT: list[Any] = []


def single_threaded_blas() -> None:
    """One BLAS thread in this process: requests run in parallel threads already, and OpenBLAS's
    idle threads spin after each small product (a re-rank cost 17 ms of CPU instead of 5 here)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # scikit-learn brings it; without it, keep BLAS as it is
        return
    _BLAS_LIMIT.append(threadpool_limits(limits=1, user_api="blas"))


def _worker_start(checkpoint: str, config: dict, threads: int) -> None:
    """Worker process initialiser: load the model once (no catalog: uploads need none)."""
    import signal

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C stops the server, which stops its workers
    import torch

    from fashion.config import config_from_dict
    from fashion.model.checkpoint import load_model
    from fashion.recommend.engine import Engine

    torch.set_num_threads(max(1, threads))
    single_threaded_blas()
    loaded = load_model(checkpoint, device="cpu")
    # describe() of raw bytes uses only the model and the configuration.
    engine = Engine(loaded, None, None, config_from_dict(config), None)  # type: ignore[arg-type]
    if engine.config.web.onnx_runtime:
        use_onnx_runtime(engine, threads)
    from fashion.colour.palette import use_scipy_labelling

    use_scipy_labelling()  # a long-lived process: the faster labelling is worth its import
    engine.describe([_probe_image()])  # warm: first calls allocate and tune
    _WORKER["engine"] = engine


def use_onnx_runtime(engine: "Engine", threads: int) -> bool:
    """Describe with the network in ONNX Runtime (less CPU per upload; see
    :mod:`fashion.model.onnx_runtime`); where it cannot (not installed, outputs unlike torch's),
    say why in the log and keep torch. Whether it is used."""
    from fashion.model.onnx_runtime import OnnxRuntimeError, available

    if not available():
        log.info("onnxruntime is not installed: describing uploads with torch")
        return False
    try:
        engine.encoder.use_onnx_runtime(threads)
    except OnnxRuntimeError as error:
        log.warning("%s; describing uploads with torch", error)
        return False
    return True


def _worker_describe(datas: list[bytes], names: list[str]) -> tuple[str, int, list[Any]]:
    """(model checksum, worker pid, [Query | ("error", name, cause)]) for uploads, in a worker:
    one network batch for all of them; an unreadable one answers for itself only."""
    return _WORKER["engine"].loaded.checksum, os.getpid(), _describe_each(_WORKER["engine"], datas, names)


def _describe_each(engine: "Engine", datas: list[bytes], names: list[str]) -> list[Any]:
    from fashion.data.images import ImageLoadError

    # An ImageLoadError's custom __init__ does not survive pickling: its parts travel instead.
    return [("error", a.path, a.cause) if isinstance(a, ImageLoadError) else a
            for a in engine.describe_each(datas, names)]


def _probe_image() -> bytes:
    """A small PNG (a coloured square on white) to warm a model up."""
    import io

    from PIL import Image, ImageDraw

    picture = Image.new("RGB", (96, 128), "white")
    ImageDraw.Draw(picture).rectangle((20, 20, 76, 108), fill=(40, 70, 160))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def default_describe_workers(configured: int) -> int:
    """``web.describe_workers``: -1 means one per available core (at most 8)."""
    from fashion.data.workers import default_workers

    return default_workers(configured, spare=0, cap=8)


class Describer:
    """Uploaded bytes → :class:`~fashion.recommend.recommender.Query`, with the engine's own ``describe``.

    ``workers == 0`` (or no checkpoint path): in a thread of this process. Otherwise in that many
    worker processes (spawned, each loading the checkpoint once, checked against the engine's
    model checksum); a broken pool falls back to this process.

    Uploads are batched as they wait (issue 17): each worker (or this process) describes one batch
    at a time, and the uploads that arrived while it was busy (at most ``max_batch``, from any
    request) go together as its next batch, one network pass for all of them. An upload that
    finds a worker free goes at once, alone: batching adds no wait.
    """

    def __init__(self, engine: "Engine", workers: int = 0, checkpoint: str | Path | None = None,
                 max_batch: int = 4) -> None:
        self.engine = engine
        self.workers = workers if checkpoint is not None else 0
        self.checkpoint = str(checkpoint) if checkpoint is not None else None
        self.max_batch = max(1, max_batch)
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._waiting: deque[tuple[bytes, str, asyncio.Future]] = deque()
        self._busy = 0  # batches being described
        self.batches: Counter[int] = Counter()  # batch size -> how many were described

    @property
    def mode(self) -> str:
        if not self.workers:
            return "in process"
        return f"{self.workers} worker process{'es' if self.workers > 1 else ''}"

    def _get_pool(self) -> concurrent.futures.ProcessPoolExecutor | None:
        if not self.workers:
            return None
        with self._lock:
            if self._pool is None:
                cores = available_cores()
                self._pool = concurrent.futures.ProcessPoolExecutor(
                    max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
                    initializer=_worker_start,
                    initargs=(self.checkpoint, self.engine.config.to_dict(), max(1, cores // self.workers)))
            return self._pool

    async def start(self, timeout: float = 300.0) -> None:
        """Start every worker process and wait until each has loaded and warmed its model
        (when they cannot start, uploads are described in this process)."""
        pool = self._get_pool()
        if pool is None:
            return
        loop = asyncio.get_running_loop()
        seen: set[int] = set()
        deadline = loop.time() + timeout
        probe = _probe_image()
        try:
            while len(seen) < self.workers and loop.time() < deadline:
                # Submitted together, the tasks make the pool spawn every worker; each returns its pid.
                futures = [loop.run_in_executor(pool, _worker_describe, [probe], ["probe"])
                           for _ in range(self.workers)]
                for checksum, pid, _ in await asyncio.gather(*futures):
                    self._check(checksum)
                    seen.add(pid)
        except Exception as error:  # noqa: BLE001 - serve anyway, more slowly
            log.error("describe workers could not start (%s: %s); describing uploads in the server process",
                      type(error).__name__, error)
            self.close()
            self.workers = 0

    def _check(self, checksum: str) -> None:
        if checksum != self.engine.loaded.checksum:
            raise RuntimeError("describe worker loaded another model than the server (checkpoint changed on disk?)")

    async def describe(self, datas: list[bytes], names: list[str]) -> list["Query"]:
        """The uploads' queries, in order; the first unreadable one (in order) raises its
        :class:`~fashion.data.images.ImageLoadError`."""
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in datas]
        self._waiting.extend(zip(datas, names, futures))
        self._dispatch(loop)
        answers = await asyncio.gather(*futures, return_exceptions=True)
        for answer in answers:
            if isinstance(answer, BaseException):
                raise answer
        return answers  # type: ignore[return-value]

    def _dispatch(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start a batch on every free worker (one at a time in process) while uploads wait."""
        while self._waiting and self._busy < max(1, self.workers):
            batch = []
            while self._waiting and len(batch) < self.max_batch:
                item = self._waiting.popleft()
                if not item[2].done():  # a request that gave up (client gone) is skipped
                    batch.append(item)
            if not batch:
                continue
            self._busy += 1
            self.batches[len(batch)] += 1
            datas, names = [b[0] for b in batch], [b[1] for b in batch]
            pool = self._get_pool()
            if pool is not None:
                done = loop.run_in_executor(pool, _worker_describe, datas, names)
            else:
                done = loop.run_in_executor(None, self._describe_here, datas, names)
            done.add_done_callback(lambda task, batch=batch: self._finished(loop, batch, task))

    def _describe_here(self, datas: list[bytes], names: list[str]) -> tuple[str, int, list[Any]]:
        return self.engine.loaded.checksum, os.getpid(), _describe_each(self.engine, datas, names)

    def _finished(self, loop: asyncio.AbstractEventLoop, batch: list[tuple[bytes, str, asyncio.Future]],
                  task: asyncio.Future) -> None:
        from concurrent.futures.process import BrokenProcessPool

        from fashion.data.images import ImageLoadError

        self._busy -= 1
        if task.cancelled():  # the pool was shut down (the server is stopping)
            for _, _, future in batch:
                future.cancel()
            return
        error = task.exception()
        if isinstance(error, BrokenProcessPool):
            log.error("describe workers died; describing uploads in the server process from now on")
            with self._lock:
                self.workers, self._pool = 0, None
            self._waiting.extendleft(reversed(batch))  # described again, in this process
        elif error is not None:
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(error)
        else:
            checksum, _, answers = task.result()
            try:
                self._check(checksum)
            except RuntimeError as mismatch:
                answers = [mismatch] * len(batch)
            for (_, _, future), answer in zip(batch, answers):
                if future.done():
                    continue
                if isinstance(answer, tuple):
                    future.set_exception(ImageLoadError(answer[1], answer[2]))
                elif isinstance(answer, BaseException):
                    future.set_exception(answer)
                else:
                    future.set_result(answer)
        self._dispatch(loop)

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None
