"""Colour extraction: our garment palette against colorthief's own ``get_palette``, on the sample.

For every image of the built-in sample (``data/sample``, generated on first use with the default
``SampleConfig``), each method gives a dominant colour, compared with the garment's true fill
colour (``Anno/list_colour_truth.txt``) by CIEDE2000:

* ours (bbox): ``fashion.colour.palette.extract_palette(image, bbox)`` with the DeepFashion bbox;
* ours (no bbox): the same on the whole image;
* colorthief q=10 / q=1: ``ColorThief(path).get_palette(color_count=5, quality=q)[0]`` (its first
  entry, what ``get_color`` returns and what users take as "the" colour; q=10 is the default).

Times are per image, decode included for every method, one process. Also reported: the share
of images within dE <= 10 of the truth (all, white, black and patterned garments), mean dE, and a
breakdown of our time by stage, including ``colorthief.MMCQ.quantize`` alone.

    python -m bench colour            # (or --quick: every 10th image)
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from bench.common import PROJECT_ROOT, machine_info
from fashion.colour.names import colour_name
from fashion.colour.palette import extract_palette, garment_pixels, palette_from_pixels
from fashion.colour.spaces import ciede2000, rgb_to_lab

SAMPLE_ROOT = PROJECT_ROOT / "data" / "sample"
MATCH_DELTA_E = 10.0
PATTERNS = ("Striped_", "Grid_", "Chevron_", "Colorblock_", "Polka-Dot_", "Floral_")


@dataclass(frozen=True)
class TruthRow:
    """One sample image with its true garment colour and bbox."""

    path: Path
    rgb: tuple[int, int, int]
    name: str
    bbox: tuple[int, int, int, int]

    @property
    def patterned(self) -> bool:
        """Whether the garment has a printed pattern (its folder name starts with the texture)."""
        return self.path.parent.name.startswith(PATTERNS)


@dataclass
class MethodResult:
    """Per-image outcomes of one method: wall and CPU milliseconds, dE to the truth (inf: failed)."""

    name: str
    ms: list[float]
    cpu_ms: list[float]
    delta_e: list[float]
    rows: list[TruthRow]
    got: list[str]


def _read_list(path: Path) -> list[list[str]]:
    """Rows of a DeepFashion list file (count line and header skipped)."""
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [line.split() for line in lines[2:]]


def load_truth(root: Path) -> list[TruthRow]:
    """The sample's images with true colour (``list_colour_truth.txt``) and bbox (``list_bbox.txt``)."""
    boxes = {row[0]: tuple(int(v) for v in row[1:5]) for row in _read_list(root / "Anno" / "list_bbox.txt")}
    rows = []
    for row in _read_list(root / "Anno" / "list_colour_truth.txt"):
        image, r, g, b, name = row[0], int(row[1]), int(row[2]), int(row[3]), " ".join(row[4:])
        rows.append(TruthRow(root / image, (r, g, b), name, boxes[image]))  # type: ignore[arg-type]
    return rows


def ensure_root() -> Path:
    """The built-in sample, generated with the default settings when missing."""
    from fashion.config import SampleConfig
    from fashion.data.sample import ensure_sample

    return ensure_sample(SAMPLE_ROOT, SampleConfig())


def _load(path: Path) -> Image.Image:
    """Decode an image to RGB through the project's loader when it exists (else PIL directly)."""
    try:
        from fashion.data.images import load_image
    except ImportError:
        with Image.open(path) as image:
            return image.convert("RGB")
    return load_image(path)


def ours(use_bbox: bool, white_balance: bool = False) -> Callable[[TruthRow], np.ndarray]:
    """Our dominant colour (Lab), decode included."""
    def run(row: TruthRow) -> np.ndarray:
        return extract_palette(_load(row.path), bbox=row.bbox if use_bbox else None,
                               white_balance=white_balance).dominant_lab
    return run


def colorthief(quality: int) -> Callable[[TruthRow], np.ndarray]:
    """colorthief's first palette entry (Lab); it decodes the file itself."""
    from colorthief import ColorThief

    def run(row: TruthRow) -> np.ndarray:
        return rgb_to_lab(np.array(ColorThief(str(row.path)).get_palette(color_count=5, quality=quality)[0], np.uint8))
    return run


def measure(methods: list[tuple[str, Callable[[TruthRow], np.ndarray]]], rows: list[TruthRow]) -> list[MethodResult]:
    """Run every method on every row, interleaved image by image so that load from other jobs on
    shared cores weighs on all methods alike (after two untimed warm-up images)."""
    for _, method in methods:
        for row in rows[:2]:
            try:
                method(row)
            except Exception:  # noqa: BLE001 - a failing warm-up shows up in the timed pass
                pass
    results = [MethodResult(name, [], [], [], [], []) for name, _ in methods]
    for row in rows:
        truth = rgb_to_lab(np.array(row.rgb, np.uint8))
        for (_, method), result in zip(methods, results):
            start, cpu_start = time.perf_counter(), time.process_time()
            try:
                lab = method(row)
            except Exception:  # noqa: BLE001 - colorthief raises bare Exceptions (e.g. all-white images)
                lab = None
            result.ms.append((time.perf_counter() - start) * 1000.0)
            result.cpu_ms.append((time.process_time() - cpu_start) * 1000.0)
            result.delta_e.append(float("inf") if lab is None else float(ciede2000(lab, truth)))
            result.got.append("(failed)" if lab is None else colour_name(lab))
            result.rows.append(row)
    return results


def _share_within(result: MethodResult, keep: Callable[[TruthRow], bool]) -> str:
    selected = [d for d, row in zip(result.delta_e, result.rows) if keep(row)]
    if not selected:
        return "–"
    return f"{100.0 * np.mean(np.array(selected) <= MATCH_DELTA_E):.1f}% ({len(selected)})"


def results_table(results: list[MethodResult]) -> str:
    """Markdown table: speed and accuracy per method."""
    lines = ["| method | images | median ms | p90 ms | median CPU ms | dE<=10 all | white | black | patterned "
             "| mean dE | failed |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in results:
        finite = [d for d in r.delta_e if np.isfinite(d)]
        lines.append(
            f"| {r.name} | {len(r.ms)} | {statistics.median(r.ms):.1f} | {np.percentile(r.ms, 90):.1f} | "
            f"{statistics.median(r.cpu_ms):.1f} | "
            f"{_share_within(r, lambda row: True)} | {_share_within(r, lambda row: row.name == 'white')} | "
            f"{_share_within(r, lambda row: row.name == 'black')} | {_share_within(r, lambda row: row.patterned)} | "
            f"{np.mean(finite):.2f} | {len(r.delta_e) - len(finite)} |")
    return "\n".join(lines)


def stage_times(rows: list[TruthRow]) -> dict[str, float]:
    """Median CPU ms of each stage of ours (bbox), and MMCQ's cost with and without the trim."""
    from colorthief import MMCQ

    from fashion.colour.palette import RARE_COLOUR_FRACTION, _drop_rare_colours

    stages: dict[str, list[float]] = {
        "decode": [], "garment pixels": [], "whole palette step": [], "of which MMCQ.quantize": [],
        "MMCQ.quantize without the rare-colour trim": [], "garment pixels per image": []}
    for row in rows:
        t0 = time.process_time()
        image = _load(row.path)
        t1 = time.process_time()
        pixels = garment_pixels(image, row.bbox)
        t2 = time.process_time()
        palette_from_pixels(pixels)
        t3 = time.process_time()
        trimmed = _drop_rare_colours(pixels, RARE_COLOUR_FRACTION).tolist()
        t4 = time.process_time()
        MMCQ.quantize(trimmed, 5)
        t5 = time.process_time()
        untrimmed = pixels.tolist()
        t6 = time.process_time()
        MMCQ.quantize(untrimmed, 5)
        t7 = time.process_time()
        for key, value in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t5 - t4, t7 - t6, len(pixels) / 1000.0)):
            stages[key].append(value * 1000.0)
    return {key: statistics.median(values) for key, values in stages.items()}


def similarity_ms(n: int = 10_000, k: int = 5) -> tuple[float, float]:
    """Median wall ms of ``palette_similarity_many`` against ``n`` random packed palettes: as is,
    and with the catalog's ``palette_self_match`` computed beforehand."""
    from fashion.colour.palette import Palette
    from fashion.colour.similarity import pack_palettes, palette_self_match, palette_similarity_many

    rng = np.random.default_rng(0)
    palettes = [Palette.from_rgb(rng.integers(0, 256, size=(k, 3)), rng.random(k) + 0.05) for _ in range(200)]
    labs, shares = pack_palettes(palettes * (n // len(palettes)), k)
    self_match = palette_self_match(labs, shares)
    results = []
    for extra in ({}, {"self_match": self_match}):
        times = []
        for _ in range(5):
            start = time.perf_counter()
            palette_similarity_many(palettes[0], labs, shares, **extra)
            times.append((time.perf_counter() - start) * 1000.0)
        results.append(statistics.median(times))
    return results[0], results[1]


def worst_cases(result: MethodResult, n: int = 5) -> str:
    """The ``n`` largest errors of one method as a Markdown list."""
    order = np.argsort(result.delta_e)[::-1][:n]
    return "\n".join(
        f"- `{result.rows[i].path.parent.name}/{result.rows[i].path.name}`: truth {result.rows[i].name}, "
        f"got {result.got[i]} (dE {result.delta_e[i]:.1f})" for i in order)


#: The achromatic thresholds compared on judged photos: the textbook ones and the fitted defaults.
THRESHOLDS = {"textbook (chroma 13, white from L 88)": dict(achromatic_chroma=13.0, white_lightness=88.0),
              "fitted (defaults: chroma 8, white from L 80)": {}}


def judged_photo_section(quick: bool = False) -> str:
    """Dominant colour's family against the family judged by eye, on clothing-dataset-small's
    validation and test photos (``bench/judged/``); a line saying why when the data is absent."""
    from collections import Counter

    from bench.common import SHARED_DATA
    from bench.judged_colours import load_judged_colours
    from fashion.colour.family_model import MODEL_CLASSES, configured_family_model
    from fashion.colour.family_net import blend, configured_family_net, network_input
    from fashion.colour.names import colour_families

    judged = load_judged_colours(SHARED_DATA)
    if not SHARED_DATA.is_dir() or judged is None:
        return f"Real photos judged by eye: skipped ({SHARED_DATA} is absent)."
    keys = sorted(key for key, family in judged.items()
                  if family != "multi" and key.split("/")[0] in ("validation", "test"))
    if quick:
        keys = keys[::10]
    labs = {False: [], True: []}
    seconds = {False: 0.0, True: 0.0}
    packed_lab, packed_shares = np.zeros((len(keys), 5, 3)), np.zeros((len(keys), 5))
    network = configured_family_net("builtin")
    net_inputs, net_seconds = [], 0.0
    for row, key in enumerate(keys):
        image = _load(SHARED_DATA / key)
        start = time.process_time()
        net_inputs.append(network_input(image))  # the network itself runs in one batch below
        net_seconds += time.process_time() - start
        for balance in (False, True):  # interleaved, as the sample's methods
            start = time.process_time()
            palette = extract_palette(image, white_balance=balance)
            seconds[balance] += time.process_time() - start
            labs[balance].append(palette.dominant_lab)
        used = min(5, len(palette.shares))  # the white-balanced palette, packed as a catalog stores it
        packed_lab[row, :used], packed_shares[row, :used] = palette.lab[:used], palette.shares[:used]
    truth = np.array([judged[key] for key in keys])
    split = np.array([key.split("/")[0] for key in keys])
    lines = ["| white balance | families named by | validation | test | CPU ms per photo |", "| --- | --- | ---: | ---: | ---: |"]
    misses = Counter()
    for balance in (False, True):
        for name, thresholds in THRESHOLDS.items():
            family = colour_families(np.array(labs[balance]), **thresholds)
            right = family == truth
            cells = [f"{right[split == s].mean():.1%} ({int(right[split == s].sum())}/{int((split == s).sum())})"
                     for s in ("validation", "test")]
            lines.append(f"| {'on' if balance else 'off'} | {name} | {cells[0]} | {cells[1]} | "
                         f"{1000 * seconds[balance] / len(keys):.1f} |")
            if balance and not thresholds:
                misses = Counter(f"{t} as {f}" for t, f in zip(truth, family) if t != f)
    # The learned model (what colour words rank by): its most probable of the eleven families.
    model = configured_family_model("builtin")
    families = [name for name in model.classes if name != "multi"]
    probabilities = model.probabilities(packed_lab, packed_shares)[:, [model.classes.index(f) for f in families]]
    right = np.array(families)[probabilities.argmax(axis=1)] == truth
    cells = [f"{right[split == s].mean():.1%} ({int(right[split == s].sum())}/{int((split == s).sum())})"
             for s in ("validation", "test")]
    lines.append(f"| on | learned family model (`colour.family_model`, fitted on the training photos) | "
                 f"{cells[0]} | {cells[1]} | {1000 * seconds[True] / len(keys):.1f} |")
    # The same averaged with the colour family network's (what a catalog stores for product shots).
    start = time.process_time()
    net = np.concatenate([network.probabilities(np.stack(net_inputs[i:i + 64])) for i in range(0, len(keys), 64)])
    net_seconds += time.process_time() - start
    palette = model.probabilities(packed_lab, packed_shares)[:, [model.classes.index(c) for c in MODEL_CLASSES]]
    mixed = blend(net, palette, network.palette_weight)[:, [MODEL_CLASSES.index(f) for f in families]]
    right = np.array(families)[mixed.argmax(axis=1)] == truth
    cells = [f"{right[split == s].mean():.1%} ({int(right[split == s].sum())}/{int((split == s).sum())})"
             for s in ("validation", "test")]
    lines.append(f"| on | the same averaged with the colour family network (`colour.family_net`, palette weight "
                 f"{network.palette_weight:g}; the network's own cost) | {cells[0]} | {cells[1]} | "
                 f"{1000 * net_seconds / len(keys):.1f} |")
    filter_lines = colour_filter_lines(packed_lab, packed_shares, net, network.palette_weight, truth, split)
    return "\n".join([
        f"Real photos judged by eye: clothing-dataset-small's validation and test photos of one main colour "
        f"({len(keys)}{' , every 10th' if quick else ''}; the rest are `multi`), `extract_palette` (no bbox: "
        "the border model) and the family of its dominant colour against the family four judges named "
        "(`bench/judged/`; two judges agree on 77% of the 208 photos both saw). The fitted thresholds were "
        "chosen on the validation split (`fashion/colour/names.py`).", "", *lines, "",
        "Commonest misses (white balance on, fitted; both splits): " + ", ".join(f"{k} {v}" for k, v in misses.most_common(8)) + ".",
        "", *filter_lines,
    ])


#: The families whose filter is measured: those with at least 10 judged photos in each split.
FILTER_FAMILIES = ("black", "blue", "brown", "green", "grey", "pink", "red", "white")


def colour_filter_lines(lab: np.ndarray, shares: np.ndarray, net: np.ndarray, palette_weight: float,
                        truth: np.ndarray, split: np.ndarray) -> list[str]:
    """``--colour <family>`` as a filter over the judged photos: precision, recall and F1 (mean over
    :data:`FILTER_FAMILIES`) of the palette-share rule and of the learned probability threshold."""
    from fashion.colour.family_model import configured_family_model
    from fashion.colour.family_net import family_probability
    from fashion.colour.similarity import palette_colour_mask
    from fashion.config import load_config

    recommend = load_config().recommend
    model = configured_family_model("builtin")
    ways = {f"palette share >= {recommend.colour_filter_share:g} (`colour.family_model=rules`)":
            lambda family: palette_colour_mask(lab, shares, family, recommend.colour_filter_share),
            f"probability >= {recommend.colour_filter_probability:g} (learned family model and network, the default)":
            lambda family: family_probability(family, lab, shares, model, net, palette_weight)
            >= recommend.colour_filter_probability}
    lines = ["`--colour <family>` as a filter on the same photos, against the judged family (mean over "
             + ", ".join(FILTER_FAMILIES) + "; the threshold was chosen on the validation split by F1 among 0.2, "
             "0.3, 0.4 and 0.5: 0.66, 0.67, 0.63, 0.60, on all 341 of its photos, `multi` included, with the palettes as "
             "a catalog stores them):", "",
             "| an item passes when | validation precision / recall / F1 | test precision / recall / F1 |",
             "| --- | ---: | ---: |"]
    for name, passes in ways.items():
        cells = []
        for part in ("validation", "test"):
            rows = split == part
            scores = []
            for family in FILTER_FAMILIES:
                kept, wanted = passes(family)[rows], truth[rows] == family
                hits = int((kept & wanted).sum())
                precision, recall = hits / max(int(kept.sum()), 1), hits / max(int(wanted.sum()), 1)
                scores.append((precision, recall, 2 * precision * recall / max(precision + recall, 1e-9)))
            cells.append(" / ".join(f"{np.mean([s[i] for s in scores]):.2f}" for i in range(3)))
        lines.append(f"| {name} | {cells[0]} | {cells[1]} |")
    return lines


def run(root: Path, quick: bool = False) -> str:
    """Measure every method on the sample at ``root`` and return the Markdown section."""
    rows = load_truth(root)
    if quick:
        rows = rows[::10]
    methods = [("ours (bbox)", ours(True)), ("ours (no bbox)", ours(False)),
               ("ours (bbox, white balance)", ours(True, True)), ("ours (no bbox, white balance)", ours(False, True)),
               ("colorthief q=10 (default)", colorthief(10)), ("colorthief q=1", colorthief(1))]
    results = measure(methods, rows)
    stages = stage_times(rows[: min(len(rows), 200)])
    size = Image.open(rows[0].path).size if rows else (0, 0)
    return "\n".join([
        "## Colour extraction",
        "",
        f"`python -m bench colour{' --quick' if quick else ''}` · {machine_info()}",
        "",
        f"Built-in sample `{root.relative_to(PROJECT_ROOT) if root.is_relative_to(PROJECT_ROOT) else root}`"
        f"{' (every 10th image)' if quick else ''}: {len(rows)} images (about {size[0]}x{size[1]} px, JPEG). "
        "Dominant colour vs the true garment colour, CIEDE2000; ms per image with decode, one process, "
        "methods interleaved image by image (wall clock, and CPU time of this process, which other jobs on "
        "shared cores inflate less). "
        "colorthief's dominant colour is its first palette entry (`get_color`). Failed = raised an exception "
        "(colorthief on an all-white image); failures count as misses. White balance "
        "(`colour.white_balance`, on in catalogs and queries; `fashion/colour/constancy.py`) takes the brightest "
        "pixels for white: right for real photos under warm light (clothing-dataset-small's photos judged by "
        "eye, the last table: the dominant colour's family is right more often with it). It leaves pink, green and cyan backdrops alone (real light tints "
        "along the blue-yellow axis) but still takes a yellow or blue pastel backdrop brighter than the garment "
        "for a lit white, as in this sample, whose truth is the pixels as drawn.",
        "",
        results_table(results),
        "",
        "Our time by stage (median CPU ms, bbox, first 200 images): "
        + ", ".join(f"{k} {v:.0f}" if k.endswith("per image") else f"{k} {v:.1f}" for k, v in stages.items()) + ".",
        "",
        "Catalog colour scoring: `palette_similarity_many` against 10,000 packed 5-colour palettes takes "
        "{:.0f} ms ({:.0f} ms with the catalog's `palette_self_match` computed once).".format(*similarity_ms()),
        "",
        "Largest errors, ours (bbox):",
        "",
        worst_cases(results[0]),
        "",
        judged_photo_section(quick),
        "",
    ])


def main(quick: bool = False) -> str:
    """The benchmark section for ``python -m bench colour``."""
    return run(ensure_root(), quick=quick)


if __name__ == "__main__":
    print(main())
