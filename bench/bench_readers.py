"""Dataset readers: how long ``load_dataset`` takes on full-size DeepFashion annotation files.

Writes synthetic annotation files in the coarse DeepFashion layout into a temporary folder:
289,222 images (about 5 views per item), 50 categories, 1,000 attributes (``list_attr_img.txt`` is
then about 0.9 GB: 1 / -1, with some 0 = unknown), boxes and the partition; then times
``load_dataset(root, check_files=False)`` (no image files are written) and, on its own, the parse of
``list_attr_img.txt``. ``--quick`` uses 20,000 images.

    python -m bench readers            # (or --quick)
"""

from __future__ import annotations

import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from bench.common import machine_info, median, time_repeated
from fashion.data.datasets import load_dataset, read_deepfashion_list

FULL_ROWS = 289_222
QUICK_ROWS = 20_000
CATEGORIES = 50
ATTRIBUTES = 1000
VIEWS_PER_ITEM = 5
NAME_WIDTH = 64  # image names are padded to a column, as in the real files
ROWS_PER_WRITE = 20_000


def write_synthetic_deepfashion(root: Path, rows: int, attributes: int = ATTRIBUTES, categories: int = CATEGORIES,
                                seed: int = 0) -> dict[str, int]:
    """Write the coarse annotation files for ``rows`` synthetic images; returns {file: bytes}."""
    rng = np.random.default_rng(seed)
    anno, evaluation = root / "Anno", root / "Eval"
    anno.mkdir(parents=True, exist_ok=True)
    evaluation.mkdir(exist_ok=True)
    names = [f"img/Synthetic_Item_{i // VIEWS_PER_ITEM:06d}/img_{i % VIEWS_PER_ITEM + 1:08d}.jpg" for i in range(rows)]
    item_category = rng.integers(1, categories + 1, size=rows // VIEWS_PER_ITEM + 1)
    category = item_category[np.arange(rows) // VIEWS_PER_ITEM]
    split = np.array(["train", "val", "test"])[rng.choice(3, size=rows // VIEWS_PER_ITEM + 1, p=[0.7, 0.15, 0.15])]

    def table(path: Path, header: str, lines: list[str], count: int) -> None:
        path.write_text(f"{count}\n{header}\n" + "".join(line + "\n" for line in lines))

    table(anno / "list_category_cloth.txt", "category_name  category_type",
          [f"{'Category ' + str(c):<20}{c % 3 + 1}" for c in range(categories)], categories)
    table(anno / "list_attr_cloth.txt", "attribute_name  attribute_type",
          [f"{'synthetic attribute ' + str(a):<40}{a % 5 + 1}" for a in range(attributes)], attributes)
    table(anno / "list_category_img.txt", "image_name  category_label",
          [f"{n:<{NAME_WIDTH}}{c}" for n, c in zip(names, category.tolist())], rows)
    corners = rng.integers(0, 100, size=(rows, 2))
    sizes = rng.integers(20, 200, size=(rows, 2))
    table(anno / "list_bbox.txt", "image_name  x_1  y_1  x_2  y_2",
          [f"{n:<{NAME_WIDTH}}{x} {y} {x + w} {y + h}"
           for n, (x, y), (w, h) in zip(names, corners.tolist(), sizes.tolist())], rows)
    table(evaluation / "list_eval_partition.txt", "image_name  evaluation_status",
          [f"{n:<{NAME_WIDTH}}{split[i // VIEWS_PER_ITEM]}" for i, n in enumerate(names)], rows)
    _write_attribute_labels(anno / "list_attr_img.txt", names, attributes, rng)
    return {str(p.relative_to(root)): p.stat().st_size for p in sorted(root.rglob("*.txt"))}


def _write_attribute_labels(path: Path, names: list[str], attributes: int, rng: np.random.Generator) -> None:
    """The big file, built as bytes in blocks: each value is 3 bytes (' -1', '  1', '  0')."""
    glyphs = np.frombuffer(b" -1  0  1", dtype=np.uint8).reshape(3, 3)
    with open(path, "wb") as handle:
        handle.write(f"{len(names)}\nimage_name  attribute_labels\n".encode())
        for start in range(0, len(names), ROWS_PER_WRITE):
            block = names[start:start + ROWS_PER_WRITE]
            labels = rng.choice(3, size=(len(block), attributes), p=[0.987, 0.01, 0.003])  # -1, 0, 1
            text = np.frombuffer("".join(f"{n:<{NAME_WIDTH}}" for n in block).encode(), dtype=np.uint8)
            lines = np.concatenate([text.reshape(len(block), NAME_WIDTH),
                                    glyphs[labels].reshape(len(block), 3 * attributes),
                                    np.full((len(block), 1), ord("\n"), dtype=np.uint8)], axis=1)
            handle.write(lines.tobytes())


def _peak_memory_mb(fn) -> float:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def main(quick: bool = False) -> str:
    """Write the synthetic files, time the readers and return a Markdown section."""
    rows = QUICK_ROWS if quick else FULL_ROWS
    repeats = 3
    with tempfile.TemporaryDirectory(prefix="bench-readers-") as folder:
        root = Path(folder) / "deepfashion"
        start = time.perf_counter()
        sizes = write_synthetic_deepfashion(root, rows)
        write_s = time.perf_counter() - start
        load = lambda: load_dataset(root, check_files=False)  # noqa: E731
        load_times = time_repeated(load, repeats=repeats, warmup=1)
        attr_path = root / "Anno" / "list_attr_img.txt"
        attr = lambda: read_deepfashion_list(attr_path, ATTRIBUTES, value_range=(-1, 1))  # noqa: E731
        attr_times = time_repeated(attr, repeats=repeats, warmup=0)
        peak = _peak_memory_mb(load)
        data = load()
        assert len(data.frame) == rows and data.attributes.shape == (rows, ATTRIBUTES)
    attr_mb = sizes["Anno/list_attr_img.txt"] / 2**20
    other_mb = sum(sizes.values()) / 2**20 - attr_mb
    load_s, attr_s = median(load_times), median(attr_times)
    return "\n".join([
        "## Dataset readers",
        "",
        f"`python -m bench readers{' --quick' if quick else ''}` · {machine_info()}",
        "",
        f"Synthetic DeepFashion coarse annotations: {rows:,} images, {CATEGORIES} categories, {ATTRIBUTES:,} "
        f"attributes; `list_attr_img.txt` {attr_mb:,.0f} MB, the other list files {other_mb:,.1f} MB "
        f"(written in {write_s:.1f} s). Median of {repeats} runs; no image files (`check_files=False`).",
        "",
        "| step | time | throughput |",
        "| --- | --- | --- |",
        f"| `load_dataset(root, check_files=False)` (all files, aligned by name) | {load_s:.2f} s | "
        f"{rows / load_s:,.0f} images/s |",
        f"| `read_deepfashion_list(list_attr_img.txt, 1000)` alone | {attr_s:.2f} s | {attr_mb / attr_s:,.0f} MB/s |",
        "",
        f"Peak traced memory during one `load_dataset`: {peak:,.0f} MB (the result's attribute matrix is "
        f"{rows * ATTRIBUTES / 2**20:,.0f} MB of int8). Runs: " + ", ".join(f"{t:.2f}" for t in load_times) + " s.",
        "",
    ])
