"""``python recommend.py img.jpg``: cold and warm latency on a 5,000-image catalog; quality on the sample.

Latency: a folder catalog of 5,000 images (the real photos of ``../shared/data/clothing-dataset-
small`` plus mirrored copies to reach 5,000; the built-in sample's images when the photos are
absent), a random-init resnet18 with DeepFashion-sized heads (speed does not depend on training).
The index is built once (its time is reported); then

* cold: a fresh ``python recommend.py <photo> --catalog DIR`` process, wall clock, as a user
  runs it (imports, model, freshness check of 5,000 files, catalog load, query, search, print);
* phases: the same steps timed inside one fresh process;
* warm: ``Engine.describe`` + ``Engine.recommend`` in a process that has everything loaded
  (a web server's latency per request).

Quality (needs a model trained on the sample: ``python train.py``): every test-split image of
the sample as a query, itself excluded, top-5: how often the query's own item (another view of
it) is among them, and the share of results with the query's category.

    python -m bench recommend         # (or --quick: a 1,000-image catalog)
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image, ImageOps

from bench.bench_index import WORK, _env, bench_checkpoint, source_images
from bench.common import PROJECT_ROOT, git_commit, machine_info, median
from fashion.config import load_config

TARGET_COLD_S = 5.0

PHASES = r"""
import json, os, sys, time
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as recommend.py does
t0 = time.perf_counter()
from fashion.config import load_config
from fashion.recommend.engine import Engine
t1 = time.perf_counter()
from fashion.model.checkpoint import load_model
from fashion.index.builder import open_catalog
from fashion.recommend.recommender import Recommender
config = load_config()
loaded = load_model(sys.argv[1], device="cpu")
t2 = time.perf_counter()
catalog = open_catalog(loaded, config, sys.argv[3], sys.argv[2], progress=False)
recommender = Recommender(catalog, loaded.labels, config.recommend, config.colour)
engine = Engine(loaded, catalog, recommender, config, None)
t3 = time.perf_counter()
[query] = engine.describe([sys.argv[4]])
t4 = time.perf_counter()
results = engine.recommend(query)
t5 = time.perf_counter()
print(json.dumps({"imports": t1 - t0, "model": t2 - t1, "catalog": t3 - t2, "describe": t4 - t3,
                  "recommend": t5 - t4}))
"""


def catalog_folder(n: int) -> tuple[Path, str]:
    """A folder of ``n`` images: symlinks to the source photos, then mirrored copies."""
    images, kind = source_images(n)
    folder = WORK / f"catalog{n}"
    stamp = folder / ".complete"
    if stamp.is_file():
        return folder, kind
    folder.mkdir(parents=True, exist_ok=True)
    for number, image in enumerate(images):
        link = folder / f"{number:05d}{image.suffix}"
        if not link.exists():
            link.symlink_to(image.resolve())
    for number in range(len(images), n):
        source = images[number % len(images)]
        with Image.open(source) as picture:
            ImageOps.mirror(picture.convert("RGB")).save(folder / f"{number:05d}.jpg", quality=90)
    stamp.write_text(kind)
    return folder, kind


def _run(args: list[str]) -> tuple[float, subprocess.CompletedProcess, float]:
    """(wall seconds, the finished process, its CPU seconds: user + system)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, *args], cwd=PROJECT_ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, done, cpu


def latency(n: int) -> list[str]:
    """Markdown lines for the latency part."""
    config = load_config()
    folder, kind = catalog_folder(n)
    checkpoint = bench_checkpoint(config)
    index = WORK / f"index{n}"
    queries = sorted(folder.iterdir())[:: max(1, n // 7)][:5]
    queries = [q for q in queries if q.suffix == ".jpg"]
    base = ["recommend.py", "--checkpoint", str(checkpoint), "--catalog", str(folder), "--index-dir", str(index),
            "--no-progress"]
    build_s = None
    if not (index / "CURRENT").is_file():
        build_s = _run(base + [str(queries[0])])[0]
    runs = [_run(base + [str(q)]) for q in queries[:3]]
    cold, cold_cpu = [r[0] for r in runs], [r[2] for r in runs]
    cold_json = _run(base + [str(queries[0]), "--json"])[0]
    phases_run = _run(["-c", PHASES, str(checkpoint), str(folder), str(index), str(queries[1])])[1]
    load = os.getloadavg()[0]
    phases = json.loads(phases_run.stdout.strip().splitlines()[-1])

    from fashion.recommend.engine import Engine

    engine = Engine.open(checkpoint, folder, config, index_dir=index, device="cpu", progress=False)
    warm = []
    for query in queries * 4:
        start = time.perf_counter()
        [described] = engine.describe([query])
        engine.recommend(described)
        warm.append(time.perf_counter() - start)
    cold_s = median(cold)
    lines = [
        f"Catalog: {n:,} images ({kind}, mirrored copies beyond the originals); {config.model.arch} at "
        f"{config.model.image_size} px; search: {engine.recommender.index.name}; top-{config.recommend.top_k}.",
        "",
        "| measurement | seconds |",
        "| --- | ---: |",
    ]
    if build_s is not None:
        lines.append(f"| first run: index {n:,} images, then recommend (one time) | {build_s:.1f} |")
    lines += [
        f"| **cold: `python recommend.py img.jpg --catalog DIR`**, median of {len(cold)} | **{cold_s:.2f}** |",
        f"| … its CPU time (user + system; what contention does not inflate) | {median(cold_cpu):.2f} |",
        f"| cold, `--json` | {cold_json:.2f} |",
        f"| phases in a fresh process: imports | {phases['imports']:.2f} |",
        f"| … load model (+ checksum) | {phases['model']:.2f} |",
        f"| … catalog freshness check + load | {phases['catalog']:.2f} |",
        f"| … describe the query (decode, network, palette) | {phases['describe']:.3f} |",
        f"| … recommend (search, blend, explain) | {phases['recommend']:.3f} |",
        f"| warm: describe + recommend in a loaded engine, median of {len(warm)} | {median(warm):.3f} |",
        "",
        f"Cold start {cold_s:.2f} s (target ≤ {TARGET_COLD_S:.0f} s on 2 cores: "
        f"{'met' if cold_s <= TARGET_COLD_S else 'missed'}; 1-minute load average {load:.1f} on this shared "
        "machine). Importing torch + torchvision (which imports torch._dynamo) is most of it.",
    ]
    return lines


def _score(engine, dedupe: bool) -> tuple[float, float, float, float]:
    """(own item in top-5, same category share, its ceiling, seconds per query) over the catalog."""
    from dataclasses import replace

    recommender = engine.recommender
    recommender.config = replace(recommender.config, dedupe_items=dedupe)
    items = engine.catalog.items
    paths = items["path"].tolist()
    items_per_label = items.drop_duplicates("item_id")["label"].value_counts()
    own_item = same_category = results_total = ceiling = 0
    start = time.perf_counter()
    for first in range(0, len(paths), 32):
        for offset, query in enumerate(engine.describe(paths[first:first + 32])):
            row = first + offset
            results = engine.recommend(query, top_k=5, exclude=[items.at[row, "key"]])
            own_item += any(r.item_id == items.at[row, "item_id"] for r in results)
            same_category += sum(r.label == items.at[row, "label"] for r in results)
            results_total += len(results)
            # Distinct items: at most the query's own item and the other items of its category.
            ceiling += min(5, int(items_per_label[items.at[row, "label"]])) if dedupe else 5
    seconds = (time.perf_counter() - start) / len(paths)
    return own_item / len(paths), same_category / max(results_total, 1), ceiling / (5 * len(paths)), seconds


def quality() -> list[str]:
    """Markdown lines for the quality part (skipped without a model trained on the sample)."""
    import json as _json

    from fashion.index.catalog import short_hash
    from fashion.recommend.engine import Engine

    config = load_config()
    candidates = [Path(os.environ.get("FASHION_BENCH_CHECKPOINT", "")),
                  PROJECT_ROOT / config.train.run_dir / config.train.run_name / "best.pt",
                  WORK / "runs" / "sample" / "best.pt"]  # python train.py --set train.run_dir=runs/bench/runs
    checkpoint = next((c for c in candidates if c.is_file()), None)
    if checkpoint is None:
        return [f"Quality on the sample: skipped ({candidates[1]} is missing; run `python train.py` first)."]
    # The bench's own index folder: a run folder of someone else's is left untouched.
    index = WORK / f"quality-{short_hash(str(checkpoint.resolve()))}"
    engine = Engine.open(checkpoint, None, config, index_dir=index, progress=False)
    metrics_file = checkpoint.parent / "metrics.json"
    top1 = (_json.loads(metrics_file.read_text()).get("test", {}).get("category_top1")
            if metrics_file.is_file() else None)
    deduped = _score(engine, dedupe=True)
    views = _score(engine, dedupe=False)
    n = len(engine.catalog)
    return [
        f"Quality on the sample test split ({n} queries: every test image, itself excluded; model "
        f"`{checkpoint.relative_to(PROJECT_ROOT) if checkpoint.is_relative_to(PROJECT_ROOT) else checkpoint}`"
        + (f", test category top-1 {top1:.1%}" if isinstance(top1, (int, float)) else "")
        + "; default weights; top-5):",
        "",
        "| measure | one view per item (default) | every view (`recommend.dedupe_items=false`) | target |",
        "| --- | ---: | ---: | ---: |",
        f"| query's own item among the other top-5 | {deduped[0]:.1%} | {views[0]:.1%} | ≥ 90% |",
        f"| top-5 results sharing the query's category | {deduped[1]:.1%} | {views[1]:.1%} | ≥ 90% |",
        f"| … the most possible (distinct items of that category in the split) | {deduped[2]:.1%} | {views[2]:.1%} | |",
        "",
        f"({1000 * deduped[3]:.0f} ms per query including the network.) With one view per item, the "
        "category share is capped by how many distinct items of the query's category the test split holds.",
    ]


def _run_in(root: Path, args: list[str]) -> tuple[float, float]:
    """(wall s, CPU s) of ``python <args>`` run in the checkout ``root`` (its own code on sys.path)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    # Bytecode is cached as on a user's machine: this sandbox sets PYTHONDONTWRITEBYTECODE=1, which
    # recompiles every project module on every run (about 0.1 s of a cold --categories); the
    # warm-up run writes each checkout's __pycache__ once.
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    done = subprocess.run([sys.executable, *args], cwd=root, capture_output=True, text=True,
                          env={**env, "PYTHONPATH": str(root)})
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{root}: {' '.join(args)} failed: {done.stderr[-2000:]}")
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def cold_side_by_side(before: Path, n: int = 1000, repeats: int = 5) -> str:
    """Markdown: cold ``recommend.py photo.jpg`` and ``--categories`` in the checkout ``before`` (e.g.
    ``git worktree add /tmp/before <commit>``) against this one, runs interleaved on the same machine,
    median of ``repeats``. Each checkout has its own index of the same catalog (the extraction
    settings, and so the index fingerprint, may differ between them: one shared index would be
    rebuilt at every switch)."""
    config = load_config()
    folder, kind = catalog_folder(n)
    checkpoint = bench_checkpoint(config)
    query = next(q for q in sorted(folder.iterdir()) if q.suffix == ".jpg")
    roots = {"before": Path(before).resolve(), "after": PROJECT_ROOT}
    indexes = {"before": WORK / f"index{n}-before", "after": WORK / f"index{n}"}

    def jobs(name: str) -> dict[str, list[str]]:
        base = ["recommend.py", "--checkpoint", str(checkpoint), "--catalog", str(folder), "--index-dir",
                str(indexes[name]), "--no-progress"]
        return {"photo": base + [str(query)], "--categories": base + ["--categories"]}

    for name, root in roots.items():  # warm-up: builds each index once, writes the checkpoint's sidecar, fills caches
        for args in jobs(name).values():
            _run_in(root, args)
    times: dict[tuple[str, str], list[tuple[float, float]]] = {(j, r): [] for j in jobs("after") for r in roots}
    loads = []
    for _ in range(repeats):
        for job in jobs("after"):
            for name, root in roots.items():
                times[(job, name)].append(_run_in(root, jobs(name)[job]))
        loads.append(os.getloadavg()[0])
    lines = [f"Catalog: {n:,} images ({kind}); {config.model.arch} at {config.model.image_size} px (random init); "
             f"before = `{roots['before']}` at {git_commit(roots['before'])}, after = this tree at "
             f"{git_commit(PROJECT_ROOT)}(+ working tree); runs interleaved before/after, median of {repeats}, bytecode cached (as installed); "
             f"1-minute load average during the runs {min(loads):.1f}–{max(loads):.1f} on 2 cores.", "",
             "| command | before wall s | after wall s | after / before | before CPU s | after CPU s |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for job in jobs("after"):
        b_wall, a_wall = median([t[0] for t in times[(job, "before")]]), median([t[0] for t in times[(job, "after")]])
        b_cpu, a_cpu = median([t[1] for t in times[(job, "before")]]), median([t[1] for t in times[(job, "after")]])
        label = "`recommend.py photo.jpg --catalog DIR`" if job == "photo" else "`recommend.py --categories --catalog DIR`"
        lines.append(f"| {label} | {b_wall:.2f} | {a_wall:.2f} | {a_wall / b_wall:.2f}x | {b_cpu:.2f} | {a_cpu:.2f} |")
    return "\n".join(lines) + "\n"


def main(quick: bool = False) -> str:
    """Markdown section: latency table and quality on the sample."""
    n = 1000 if quick else 5000
    lines = ["## `python recommend.py` latency and quality", "",
             f"`{_env()}python -m bench recommend{' --quick' if quick else ''}` · {machine_info()}", ""]
    lines += latency(n)
    lines += [""] + quality()
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="a checkout to compare cold starts with, side by side")
    parser.add_argument("--n", type=int, default=1000, help="--before: catalog images")
    parser.add_argument("--repeats", type=int, default=5, help="--before: runs of each command per checkout")
    parsed = parser.parse_args()
    if parsed.before:  # recorded as its own section of RESULTS.md
        from bench.common import write_result

        section = ("## Cold start, side by side: a checkout before the change against this tree\n\n"
                   f"`python -m bench.bench_recommend --before {parsed.before} --n {parsed.n} --repeats "
                   f"{parsed.repeats}` · {machine_info()}\n\n" + cold_side_by_side(parsed.before, parsed.n, parsed.repeats))
        print(section)
        write_result("recommend_cold", section)
    else:
        print(main())
