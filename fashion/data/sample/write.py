"""Writing the built-in sample catalog: drawn clothes in the DeepFashion Category-and-Attribute (coarse) layout.

``generate_sample`` draws ``items`` garments (PIL polygons and ellipses, anti-aliased by drawing at
2x and box-downsampling) and photographs each ``views`` times (position, scale, background and a
small rotation vary; category, attributes and colours are fixed per item). It writes::

    img/<Item>/img_00000001.jpg              JPEG q90, longest side = image_size
    Anno/list_category_cloth.txt             the real 50 DeepFashion categories and types
    Anno/list_category_img.txt               image -> 1-based category
    Anno/list_attr_cloth.txt                 the attributes used (real DeepFashion names and types)
    Anno/list_attr_img.txt                   image -> 1 / -1 per attribute
    Anno/list_bbox.txt                       image -> x_1 y_1 x_2 y_2 (exact, from the drawn mask)
    Eval/list_eval_partition.txt             image -> train | val | test (split by item)
    Anno/list_colour_truth.txt               image -> r g b colour_name of the garment's fill colour
    sample.json                              settings, generator version and counts

Bounding boxes follow PIL's ``crop`` convention: ``x_2``/``y_2`` are exclusive, so
``image.crop((x_1, y_1, x_2, y_2))`` holds every garment pixel and nothing outside is garment.

Everything is deterministic from ``seed``: the plan (categories, attributes, colours, splits) is made
in the parent process; each item's drawing and each view use their own seeded generators, so the
worker count never changes the output.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from fashion.config import (
    SampleConfig,  # its defaults are the generator's and the CLI's
)
from fashion.data.sample.draw import render_view
from fashion.data.sample.plan import (
    ATTRIBUTE_NAMES,
    CATEGORY_INDEX,
    DEEPFASHION_CATEGORIES,
    GENERATOR_VERSION,
    JPEG_QUALITY,
    SAMPLE_ATTRIBUTES,
    SAMPLE_CATEGORIES,
    ItemSpec,
    SampleError,
    plan_sample,
)
from fashion.data.workers import default_workers


# ------------------------------------------------------------------------------ writing files
@dataclass(frozen=True)
class _Job:
    item: ItemSpec
    views: int
    image_size: int
    seed: int
    out_root: str
    hard: bool = False


def image_name(item: ItemSpec, view: int) -> str:
    """DeepFashion-style relative image path: ``img/<Item>/img_00000001.jpg`` (views are 1-based)."""
    return f"img/{item.folder}/img_{view + 1:08d}.jpg"


def _render_item(job: _Job) -> list[tuple[str, tuple[int, int, int, int]]]:
    """Worker: render and save every view of one item; returns (image name, bbox) per view."""
    rows = []
    folder = Path(job.out_root) / "img" / job.item.folder
    folder.mkdir(parents=True, exist_ok=True)
    for view in range(job.views):
        rendered = render_view(job.item, view, job.image_size, job.seed, hard=job.hard)
        name = image_name(job.item, view)
        # subsampling=0 (4:4:4): no chroma bleed, so the truth colour survives small images.
        rendered.image.save(Path(job.out_root) / name, "JPEG", quality=JPEG_QUALITY, subsampling=0)
        rows.append((name, rendered.bbox))
    return rows


def _run_jobs(jobs: list[_Job], workers: int) -> list[list[tuple[str, tuple[int, int, int, int]]]]:
    """Render all items, in a process pool when it pays off; results keep the item order."""
    if workers <= 1 or len(jobs) * jobs[0].views < 64:
        return [_render_item(job) for job in jobs]
    # fork on Linux: no re-import of __main__ (callers need no main guard); spawn elsewhere.
    method = "fork" if sys.platform.startswith("linux") else "spawn"
    with multiprocessing.get_context(method).Pool(processes=min(workers, len(jobs))) as pool:
        return list(pool.imap(_render_item, jobs, chunksize=max(1, len(jobs) // (workers * 8))))


def _table(count: int, header: str, rows: Iterable[str]) -> str:
    return f"{count}\n{header}\n" + "".join(f"{row}\n" for row in rows)


def _annotation_files(specs: list[ItemSpec], results: list[list[tuple[str, tuple[int, int, int, int]]]]
                      ) -> dict[str, str]:
    """Relative path -> text of every DeepFashion list file."""
    names: list[str] = []
    cat_rows, attr_rows, bbox_rows, split_rows, colour_rows = [], [], [], [], []
    for item, rows in zip(specs, results):
        labels = " ".join(f"{1 if a in item.attributes else -1:>2}" for a in ATTRIBUTE_NAMES)
        for name, (x1, y1, x2, y2) in rows:
            names.append(name)
            cat_rows.append(f"{name} {CATEGORY_INDEX[item.category] + 1}")
            attr_rows.append(f"{name} {labels}")
            bbox_rows.append(f"{name} {x1} {y1} {x2} {y2}")
            split_rows.append(f"{name} {item.split}")
            r, g, b = item.rgb
            colour_rows.append(f"{name} {r} {g} {b} {item.colour_name}")
    n = len(names)
    return {
        "Anno/list_category_cloth.txt": _table(len(DEEPFASHION_CATEGORIES), "category_name  category_type",
                                               (f"{c:<15}{t}" for c, t in DEEPFASHION_CATEGORIES)),
        "Anno/list_category_img.txt": _table(n, "image_name  category_label", cat_rows),
        "Anno/list_attr_cloth.txt": _table(len(SAMPLE_ATTRIBUTES), "attribute_name  attribute_type",
                                           (f"{a:<29}{t}" for a, t in SAMPLE_ATTRIBUTES)),
        "Anno/list_attr_img.txt": _table(n, "image_name  attribute_labels", attr_rows),
        "Anno/list_bbox.txt": _table(n, "image_name  x_1  y_1  x_2  y_2", bbox_rows),
        "Eval/list_eval_partition.txt": _table(n, "image_name  evaluation_status", split_rows),
        "Anno/list_colour_truth.txt": _table(n, "image_name  r  g  b  colour_name", colour_rows),
    }


def _settings(items: int, views: int, image_size: int, seed: int, hard: bool = False) -> dict[str, int]:
    return {"items": items, "views": views, "image_size": image_size, "seed": seed,
            "generator_version": GENERATOR_VERSION, **({"hard": True} if hard else {})}


def _manifest(specs: list[ItemSpec], views: int, settings: dict[str, int]) -> dict[str, Any]:
    splits = {s: sum(views for item in specs if item.split == s) for s in ("train", "val", "test")}
    per_category = {c: sum(1 for item in specs if item.category == c) for c in SAMPLE_CATEGORIES}
    per_attribute = {a: sum(views for item in specs if a in item.attributes) for a in ATTRIBUTE_NAMES}
    return {
        "generator": "fashion.data.sample", "layout": "deepfashion", "settings": settings,
        "counts": {"images": len(specs) * views, "items": len(specs), "categories_used": len(SAMPLE_CATEGORIES),
                   "categories_listed": len(DEEPFASHION_CATEGORIES), "attributes": len(SAMPLE_ATTRIBUTES),
                   "splits": splits, "items_per_category": per_category, "images_per_attribute": per_attribute},
        "bbox": "x_1 y_1 x_2 y_2 in pixels of the saved image; x_2 and y_2 exclusive (PIL crop box)",
    }


def _check_settings(items: int, views: int, image_size: int) -> None:
    if items < 1 or views < 1:
        raise SampleError(f"items and views must be at least 1 (got items={items}, views={views})")
    if not 32 <= image_size <= 1024:
        raise SampleError(f"image_size must be within 32..1024 (got {image_size})")


def _check_replaceable(root: Path) -> None:
    """Refuse to replace a folder that holds something other than a generated sample (user data)."""
    if root.exists() and (not root.is_dir() or (any(root.iterdir()) and not (root / "sample.json").is_file())):
        raise SampleError(f"{root}: exists and is not a generated sample (no sample.json); refusing to replace "
                          "it (point the sample at another folder, or remove this one)")


def _replace_folder(tmp: Path, root: Path) -> None:
    """Move the finished ``tmp`` into place; an old sample there is removed only after the swap."""
    old = root.parent / f".{root.name}.old-{os.getpid()}"
    if root.exists():
        _check_replaceable(root)
        os.replace(root, old)
    os.replace(tmp, root)
    shutil.rmtree(old, ignore_errors=True)


def generate_sample(root: Path | str, items: int = SampleConfig.items, views: int = SampleConfig.views,
                    image_size: int = SampleConfig.image_size, seed: int = SampleConfig.seed,
                    workers: int | None = None, hard: bool = False) -> Path:
    """Generate the sample catalog under ``root`` (replacing an older sample there); returns ``root``.

    The files are written into a temporary sibling folder that is renamed into place at the end, so
    an interrupted run never leaves a half sample behind.
    """
    _check_settings(items, views, image_size)
    root = Path(root)
    _check_replaceable(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = root.parent / f".{root.name}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        specs = plan_sample(items, seed)
        jobs = [_Job(item, views, image_size, seed, str(tmp), hard) for item in specs]
        results = _run_jobs(jobs, workers if workers is not None else default_workers(-1, spare=0, cap=64))
        for rel, text in _annotation_files(specs, results).items():
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp / rel).write_text(text, encoding="utf-8")
        manifest = _manifest(specs, views, _settings(items, views, image_size, seed, hard))
        if hard:
            manifest["views"] = ("img_00000001.jpg of each item is the shop photo (plain background, upright, whole); "
                                 "the others are consumer photos (crop, scale, rotation, lighting, clutter, occlusion)")
        (tmp / "sample.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        _replace_folder(tmp, root)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root


def read_manifest(root: Path | str) -> dict[str, Any] | None:
    """The sample's ``sample.json``, or None when missing or unreadable."""
    try:
        return json.loads((Path(root) / "sample.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def ensure_sample(root: Path | str, sample_cfg: SampleConfig, announce: Callable[[str], None] | None = None) -> Path:
    """Generate the sample under ``root`` unless one with the same settings is already there.

    ``announce`` (e.g. ``print``) is told before and after a generation, which takes a while.
    """
    root = Path(root)
    wanted = _settings(sample_cfg.items, sample_cfg.views, sample_cfg.image_size, sample_cfg.seed, sample_cfg.hard)
    manifest = read_manifest(root)
    complete = (root / "Eval" / "list_eval_partition.txt").is_file() and (root / "img").is_dir()
    if manifest is not None and manifest.get("settings") == wanted and complete:
        return root
    start = time.perf_counter()
    if announce:
        announce(f"generating the built-in sample ({sample_cfg.items} items x {sample_cfg.views} views) in {root} ...")
    generated = generate_sample(root, sample_cfg.items, sample_cfg.views, sample_cfg.image_size, sample_cfg.seed,
                                hard=sample_cfg.hard)
    if announce:
        announce(f"sample ready in {time.perf_counter() - start:.1f} s")
    return generated
