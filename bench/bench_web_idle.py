"""``POST /recommend`` uploads with 1 and with 4 clients, for issue 17's idle-machine target.

The same server, catalog and photos as ``python -m bench web`` (:mod:`bench.bench_web`), default
describe workers; each client count gets a fresh server, warm-up requests, then 200 uploads of
different photos. The target (median <= 100 ms, p99 <= 300 ms) is for an idle 2-core machine, so
the table reports the cores other jobs used meanwhile (``/proc/stat``): a run with other jobs busy
says nothing about it. The floor is clients x server CPU per upload / cores (Little's law).

    python -m bench web_idle          # (or --quick: a 1,000-image catalog, 60 requests)
"""

from __future__ import annotations

import functools
import os

from bench import bench_web as web
from bench.common import machine_info


def main(quick: bool = False) -> str:
    """Markdown section: upload latency at 1 and 4 clients, with the machine's other load."""
    from fashion.config import load_config
    from fashion.web.app import default_describe_workers

    config = load_config()
    n = 1000 if quick else 5000
    requests = 60 if quick else 200
    folder, kind = web.catalog_folder(n)
    checkpoint = web.bench_checkpoint(config)
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    workers = default_describe_workers(config.web.describe_workers)
    load, clients_before = web.load, web.CLIENTS
    rows, verdicts = [], []
    try:
        for clients in (1, 4):
            # bench_web's helpers read the client count from these module globals
            web.CLIENTS = clients
            web.load = functools.partial(load, clients=clients)
            photos = files[:: max(1, len(files) // (requests + 2 * clients))][: requests + 2 * clients]
            found, run = web.measure(checkpoint, folder, web.WORK / f"index{n}", photos, workers, rerank=False,
                                     label=f"{clients} client{'s' if clients > 1 else ''}")
            rows += found
            idle = run.get("others_cores") is not None and run["others_cores"] < 0.2
            met = run["p50"] <= 100 and run["p99"] <= 300
            verdicts.append(f"{clients} client{'s' if clients > 1 else ''}: median {run['p50']:.0f} ms, p99 "
                            f"{run['p99']:.0f} ms ({'met' if met else 'missed'}"
                            f"{'' if idle else '; not idle: other jobs used cores, so this is not the target'})")
    finally:
        web.load, web.CLIENTS = load, clients_before
    return "\n".join([
        "## Web server: uploads at 1 and 4 clients (the idle-machine target)",
        "",
        f"`OMP_WAIT_POLICY=PASSIVE python -m bench web_idle{' --quick' if quick else ''}` · {machine_info()}",
        "",
        f"Catalog: {n:,} images ({kind}); {config.model.arch} at {config.model.image_size} px; "
        f"describe_workers={workers}; {requests} uploads of different photos per row after warm-up.",
        "",
        "| requests | median ms | p90 ms | p99 ms | worst ms | requests/s | server CPU ms per request "
        "| median / floor | other jobs' cores | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *rows,
        "",
        f"Target on an idle {os.cpu_count()}-core machine, median ≤ 100 ms and p99 ≤ 300 ms: " + "; ".join(verdicts) + ".",
        "",
    ])
