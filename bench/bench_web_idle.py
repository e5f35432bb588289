"""``POST /recommend`` uploads with 1 and with 4 clients, for issue 17's idle-machine target.

The same server, catalog and photos as ``python -m bench web`` (:mod:`bench.bench_web`), default
describe workers; each client count gets a fresh server, warm-up requests, then 200 uploads of
different photos. The target (median <= 100 ms, p99 <= 300 ms) is for an idle 2-core machine, so
the table reports the cores other jobs used meanwhile (``/proc/stat``): a run with other jobs busy
says nothing about it. The floor is clients x server CPU per upload / cores (Little's law).

    python -m bench web_idle          # (or --quick: a 1,000-image catalog, 60 requests)
    python -m bench.bench_web_idle --before /tmp/before   # a checkout's server against this tree's,
                                                          # interleaved, recorded as its own section
"""

from __future__ import annotations

import functools
import os
import statistics
from pathlib import Path

from bench import bench_web as web
from bench.common import SHARED_DATA, git_commit, machine_info


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
    # Product shots of the catalog at 1 and 4 clients; on-model street photos (Clothing Co-Parsing,
    # where present: the segmenter's decoder runs too) at 4.
    ccp = SHARED_DATA.parent / "clothing-co-parsing" / "photos"
    street = sorted(ccp.glob("*.jpg")) if ccp.is_dir() else []
    cases = [(1, files, "1 client"), (4, files, "4 clients")]
    cases += [(4, street, "4 clients, on-model street photos (Clothing Co-Parsing)")] if street else []
    try:
        for clients, pool, label in cases:
            # bench_web's helpers read the client count from these module globals
            web.CLIENTS = clients
            web.load = functools.partial(load, clients=clients)
            photos = pool[:: max(1, len(pool) // (requests + 2 * clients))][: requests + 2 * clients]
            found, run = web.measure(checkpoint, folder, web.WORK / f"index{n}", photos, workers, rerank=False,
                                     label=label)
            rows += found
            idle = run.get("others_cores") is not None and run["others_cores"] < 0.2
            met = run["p50"] <= 100 and run["p99"] <= 300
            verdicts.append(f"{label}: median {run['p50']:.0f} ms, p99 {run['p99']:.0f} ms ({'met' if met else 'missed'}"
                            f"{'' if idle else '; not idle: other jobs used cores, so this is not the target'})")
    finally:
        web.load, web.CLIENTS = load, clients_before
    return "\n".join([
        "## Web server: uploads at 1 and 4 clients (the idle-machine target)",
        "",
        f"`OMP_WAIT_POLICY=PASSIVE python -m bench web_idle{' --quick' if quick else ''}` · {machine_info()}",
        "",
        f"Catalog: {n:,} images ({kind}); {config.model.arch} at {config.model.image_size} px; "
        f"describe_workers={workers}; {requests} uploads of different photos per row after warm-up (the "
        "catalog's product shots; the last row: photos of people, as a shopper's own would be).",
        "",
        "| requests | median ms | p90 ms | p99 ms | worst ms | requests/s | server CPU ms per request "
        "| median / floor | other jobs' cores | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *rows,
        "",
        f"Target on an idle {os.cpu_count()}-core machine, median ≤ 100 ms and p99 ≤ 300 ms: " + "; ".join(verdicts) + ".",
        "",
    ])


def side_by_side(before: Path, clients: int = 4, rounds: int = 3, quick: bool = False) -> str:
    """Markdown section: uploads at ``clients`` clients served by the checkout ``before`` (e.g.
    ``git worktree add /tmp/before <commit>``) and by this tree, servers started in turn
    (before, after, before, ...), ``rounds`` of each, on the same catalog and photos."""
    from bench.common import PROJECT_ROOT
    from fashion.config import load_config
    from fashion.web.app import default_describe_workers

    config = load_config()
    n, requests = (1000, 60) if quick else (5000, 200)
    folder, kind = web.catalog_folder(n)
    checkpoint = web.bench_checkpoint(config)
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    photos = files[:: max(1, len(files) // (requests + 2 * clients))][: requests + 2 * clients]
    workers = default_describe_workers(config.web.describe_workers)
    roots = {"before": Path(before).resolve(), "after": PROJECT_ROOT}
    load, clients_before = web.load, web.CLIENTS
    rows, runs = [], {name: [] for name in roots}
    try:
        web.CLIENTS, web.load = clients, functools.partial(load, clients=clients)
        for round_ in range(rounds):
            for name, root in roots.items():
                found, run = web.measure(checkpoint, folder, web.WORK / f"index{n}", photos, workers, rerank=False,
                                         label=f"{name} ({git_commit(root)}), round {round_ + 1}", root=root)
                rows += found
                runs[name].append(run)
    finally:
        web.load, web.CLIENTS = load, clients_before
    median_of = {name: statistics.median(r["p50"] for r in found) for name, found in runs.items()}
    cpu_of = {name: statistics.median(r["cpu_ms"] for r in found) for name, found in runs.items()}
    return "\n".join([
        "## Web server uploads, side by side: a checkout before the change against this tree",
        "",
        f"`OMP_WAIT_POLICY=PASSIVE python -m bench.bench_web_idle --before {before}"
        f"{' --quick' if quick else ''}` · {machine_info()}",
        "",
        f"Catalog: {n:,} images ({kind}); {config.model.arch} at {config.model.image_size} px; describe_workers="
        f"{workers}; {clients} clients; {requests} uploads of different photos per row after warm-up; servers "
        f"started in turn, {rounds} rounds.",
        "",
        "| server | median ms | p90 ms | p99 ms | worst ms | requests/s | server CPU ms per request "
        "| median / floor | other jobs' cores | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *rows,
        "",
        f"Median of the rounds: before {median_of['before']:.0f} ms for {cpu_of['before']:.1f} ms of server CPU per "
        f"upload, after {median_of['after']:.0f} ms for {cpu_of['after']:.1f} ms: after / before "
        f"{median_of['after'] / median_of['before']:.2f}x in latency, {cpu_of['after'] / cpu_of['before']:.2f}x in CPU.",
        "",
    ])


if __name__ == "__main__":
    import argparse

    from bench.common import write_result

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="a checkout whose server to compare with, side by side")
    parser.add_argument("--quick", action="store_true")
    parsed = parser.parse_args()
    if parsed.before:
        section = side_by_side(parsed.before, quick=parsed.quick)
        write_result("web_idle_side_by_side", section)
    else:
        section = main(quick=parsed.quick)
        write_result("web_idle", section)
    print(section)
