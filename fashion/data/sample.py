"""The built-in sample catalog: drawn clothes in the DeepFashion Category-and-Attribute (coarse) layout.

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
import math
import multiprocessing
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from fashion.data.workers import default_workers
from fashion.errors import FashionError
from fashion.config import SampleConfig  # its defaults are the generator's and the CLI's

# Bump when the drawings or files change, so ``ensure_sample`` regenerates old samples.
GENERATOR_VERSION = 2

# The real DeepFashion list (Anno/list_category_cloth.txt): name, type (1 upper, 2 lower, 3 full body).
DEEPFASHION_CATEGORIES: tuple[tuple[str, int], ...] = (
    ("Anorak", 1), ("Blazer", 1), ("Blouse", 1), ("Bomber", 1), ("Button-Down", 1), ("Cardigan", 1),
    ("Flannel", 1), ("Halter", 1), ("Henley", 1), ("Hoodie", 1), ("Jacket", 1), ("Jersey", 1),
    ("Parka", 1), ("Peacoat", 1), ("Poncho", 1), ("Sweater", 1), ("Tank", 1), ("Tee", 1), ("Top", 1),
    ("Turtleneck", 1), ("Capris", 2), ("Chinos", 2), ("Culottes", 2), ("Cutoffs", 2), ("Gauchos", 2),
    ("Jeans", 2), ("Jeggings", 2), ("Jodhpurs", 2), ("Joggers", 2), ("Leggings", 2), ("Sarong", 2),
    ("Shorts", 2), ("Skirt", 2), ("Sweatpants", 2), ("Sweatshorts", 2), ("Trunks", 2), ("Caftan", 3),
    ("Cape", 3), ("Coat", 3), ("Coverup", 3), ("Dress", 3), ("Jumpsuit", 3), ("Kaftan", 3),
    ("Kimono", 3), ("Nightdress", 3), ("Onesie", 3), ("Robe", 3), ("Romper", 3), ("Shirtdress", 3),
    ("Sundress", 3),
)
CATEGORY_INDEX = {name: i for i, (name, _) in enumerate(DEEPFASHION_CATEGORIES)}

# Categories the sample draws: each has its own silhouette, so a small CNN can tell them apart.
SAMPLE_CATEGORIES: tuple[str, ...] = (
    "Tee", "Tank", "Sweater", "Hoodie", "Jacket", "Cardigan",
    "Skirt", "Shorts", "Jeans", "Joggers", "Dress", "Jumpsuit",
)

# Attributes the sample uses: real names and types from DeepFashion's list_attr_cloth.txt
# (1 texture, 2 fabric, 3 shape, 4 part, 5 style), written in that file's alphabetical order.
# Every positive attribute is visible in the drawing.
SAMPLE_ATTRIBUTES: tuple[tuple[str, int], ...] = (
    ("a-line", 3), ("athletic", 5), ("button-front", 4), ("chevron", 1), ("colorblock", 1),
    ("crop", 3), ("denim", 2), ("drawstring", 4), ("floral", 1), ("grid", 1), ("hooded", 4),
    ("long-sleeve", 4), ("maxi", 3), ("midi", 3), ("mini", 3), ("pencil", 3), ("pleated", 2),
    ("pocket", 4), ("polka dot", 1), ("ribbed", 2), ("skinny", 3), ("sleeveless", 4),
    ("striped", 1), ("v-neck", 4),
)
ATTRIBUTE_NAMES = tuple(name for name, _ in SAMPLE_ATTRIBUTES)
TEXTURES = ("floral", "polka dot", "striped", "grid", "chevron", "colorblock")
LENGTHS = ("mini", "midi", "maxi")

# CSS4 named colours used for garments (name -> sRGB).
GARMENT_COLOURS: dict[str, tuple[int, int, int]] = {
    "black": (0, 0, 0), "white": (255, 255, 255), "navy": (0, 0, 128), "royalblue": (65, 105, 225),
    "steelblue": (70, 130, 180), "skyblue": (135, 206, 235), "red": (255, 0, 0), "crimson": (220, 20, 60),
    "maroon": (128, 0, 0), "pink": (255, 192, 203), "hotpink": (255, 105, 180), "orange": (255, 165, 0),
    "gold": (255, 215, 0), "olive": (128, 128, 0), "forestgreen": (34, 139, 34), "teal": (0, 128, 128),
    "beige": (245, 245, 220), "khaki": (240, 230, 140), "tan": (210, 180, 140),
    "saddlebrown": (139, 69, 19), "gray": (128, 128, 128), "lightgray": (211, 211, 211),
    "purple": (128, 0, 128), "lavender": (230, 230, 250),
}
# Denim comes in blues, black and grey only.
DENIM_COLOURS = ("navy", "royalblue", "steelblue", "black", "gray")
# Colours that only serve as pattern / accent colours (never the truth colour).
STITCH_COLOUR = (218, 165, 32)  # goldenrod: denim topstitching

JPEG_QUALITY = 90
SPLIT_PATTERN = ("train", "train", "train", "train", "val", "train", "train", "train", "train", "test")
_SUPERSAMPLE = 2  # draw at 2x, box-downsample: anti-aliasing with exact coverage
_PAD = 4  # pixels of empty border around a garment's own canvas (at 2x)


class SampleError(FashionError, ValueError):
    """The sample cannot be generated where asked (e.g. the folder holds something else)."""


# ----------------------------------------------------------------------------------- the plan
@dataclass(frozen=True)
class ItemSpec:
    """Everything fixed for one item: what it is and how it looks (all views share it)."""

    index: int                      # 0-based item number
    folder: str                     # e.g. "Striped_Tee_0001"
    category: str                   # one of SAMPLE_CATEGORIES
    attributes: frozenset[str]      # positive attributes (names from SAMPLE_ATTRIBUTES)
    colour_name: str                # CSS4 name of the fill colour
    rgb: tuple[int, int, int]       # fill colour (the dominant garment colour)
    pattern_rgb: tuple[int, int, int]
    accent_rgb: tuple[int, int, int]
    sleeve: str                     # "none" | "short" | "long" (dresses and jumpsuits)
    stripe_vertical: bool
    pattern_seed: int
    split: str                      # train | val | test

    @property
    def texture(self) -> str | None:
        """The drawn texture pattern, or None for a plain garment."""
        found = [t for t in TEXTURES if t in self.attributes]
        return found[0] if found else None


def _contrast(a: Sequence[int], b: Sequence[int]) -> float:
    return float(math.dist(a, b))


def _pick_other_colour(rng: np.random.Generator, base: tuple[int, int, int], min_distance: float = 150.0
                       ) -> tuple[int, int, int]:
    """A palette colour clearly different from ``base`` (patterns and accents must be visible)."""
    options = [rgb for rgb in GARMENT_COLOURS.values() if _contrast(rgb, base) >= min_distance]
    return options[int(rng.integers(len(options)))]


def _maybe(rng: np.random.Generator, p: float) -> bool:
    return bool(rng.random() < p)


@dataclass(frozen=True)
class _Rule:
    """How one category's items are dressed: attributes always drawn, optional ones, print chance."""

    always: tuple[str, ...]
    optional: tuple[tuple[str, float], ...]
    texture_p: float
    sleeve: str = "none"  # "choose": dresses and jumpsuits pick none / short / long
    print_first: bool = True  # decide the print before the optional details (they compete for room)


_RULES: dict[str, _Rule] = {
    "Tee": _Rule((), (("v-neck", 0.35), ("crop", 0.3), ("pocket", 0.25)), 0.85, "short"),
    "Tank": _Rule(("sleeveless",), (("v-neck", 0.3), ("crop", 0.3), ("athletic", 0.2)), 0.8),
    "Sweater": _Rule(("long-sleeve", "ribbed"), (("v-neck", 0.25),), 0.7, "long"),
    "Hoodie": _Rule(("long-sleeve", "hooded"), (("pocket", 0.5), ("drawstring", 0.4)), 0.4, "long"),
    "Jacket": _Rule(("long-sleeve",), (("button-front", 0.5), ("pocket", 0.5), ("denim", 0.35)), 0.3, "long"),
    "Cardigan": _Rule(("long-sleeve", "v-neck", "button-front"), (), 0.5, "long"),
    "Skirt": _Rule((), (("pleated", 0.55), ("denim", 0.15)), 0.6, print_first=False),
    "Shorts": _Rule((), (("denim", 0.35), ("pocket", 0.4), ("athletic", 0.3), ("drawstring", 0.3)), 0.45),
    "Jeans": _Rule(("denim", "pocket"), (("skinny", 0.5),), 0.0),
    "Joggers": _Rule((), (("drawstring", 0.6), ("athletic", 0.5), ("pocket", 0.3)), 0.35),
    "Dress": _Rule((), (("v-neck", 0.35), ("pleated", 0.2)), 0.7, "choose"),
    "Jumpsuit": _Rule((), (("v-neck", 0.4), ("pocket", 0.3), ("drawstring", 0.2)), 0.5, "choose"),
}
# Three positives per image at most (a print may be a cardigan's fourth): every positive can then
# be found in the top 3, which keeps the paper's attribute top-3 recall a meaningful target here.
MAX_POSITIVES = 3


def _choose_attributes(category: str, rng: np.random.Generator) -> tuple[set[str], str]:
    """Positive attributes for one item of ``category`` and its sleeve kind; all of them are drawn."""
    rule = _RULES[category]
    attrs = set(rule.always)
    sleeve = rule.sleeve
    if sleeve == "choose":
        sleeve = str(rng.choice(["none", "short", "long"], p=[0.5, 0.3, 0.2]))
        attrs |= {"none": {"sleeveless"}, "short": set(), "long": {"long-sleeve"}}[sleeve]
    if category in ("Skirt", "Dress"):
        attrs.add(LENGTHS[int(rng.integers(3))])
        attrs.add("a-line" if _maybe(rng, 0.65) else "pencil")
    # Pleats are drawn as folds of a flared skirt only.
    optional = [(name, p) for name, p in rule.optional if name != "pleated" or "a-line" in attrs]
    if rule.print_first:  # prints are the most visible attributes, and each texture is rare
        _maybe_print(attrs, rule, rng, room=max(MAX_POSITIVES, len(attrs) + 1))
    room = max(MAX_POSITIVES, len(attrs))
    for name, p in optional:
        if len(attrs) < room and _maybe(rng, p) and not (name == "denim" and attrs & set(TEXTURES)):
            attrs.add(name)  # denim is drawn plain, with topstitching: never printed
    if not rule.print_first:
        _maybe_print(attrs, rule, rng, room=MAX_POSITIVES)
    # Two or more visible positives per image: top up from the optional ones not drawn yet.
    printed = bool(attrs & set(TEXTURES))
    spare = [name for name, _ in optional if name not in attrs and not (printed and name == "denim")]
    rng.shuffle(spare)
    while len(attrs) < 2 and spare:
        attrs.add(spare.pop())
    return attrs, sleeve


def _maybe_print(attrs: set[str], rule: _Rule, rng: np.random.Generator, room: int) -> None:
    """Add one texture with the rule's chance (never on denim, nor beyond ``room`` positives)."""
    if _maybe(rng, rule.texture_p) and "denim" not in attrs and "pleated" not in attrs and len(attrs) < room:
        attrs.add(TEXTURES[int(rng.integers(len(TEXTURES)))])


def _choose_colour(rng: np.random.Generator, attrs: set[str]) -> str:
    names = DENIM_COLOURS if "denim" in attrs else tuple(GARMENT_COLOURS)
    # White and black garments are common in catalogs and the hardest for colour extraction.
    weights = np.array([3.0 if n in ("white", "black") else 1.0 for n in names])
    return str(rng.choice(names, p=weights / weights.sum()))


def _folder_name(index: int, category: str, attrs: set[str], colour: str) -> str:
    texture = [t for t in TEXTURES if t in attrs]
    fabric = [f for f in ("denim", "pleated", "ribbed") if f in attrs]
    word = (texture or fabric or [colour])[0]
    descriptor = "-".join(part.capitalize() for part in word.split())
    return f"{descriptor}_{category}_{index + 1:04d}"


def _assign_splits(categories: Sequence[str], seed: int) -> list[str]:
    """Split BY ITEM, stratified: items ordered by (category, random key), then the 8/1/1 pattern."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7]))
    keys = rng.random(len(categories))
    order = sorted(range(len(categories)), key=lambda i: (SAMPLE_CATEGORIES.index(categories[i]), keys[i]))
    splits = [""] * len(categories)
    for position, item in enumerate(order):
        splits[item] = SPLIT_PATTERN[position % len(SPLIT_PATTERN)]
    return splits


def plan_sample(items: int, seed: int = 0) -> list[ItemSpec]:
    """The deterministic plan of ``items`` items: category, attributes, colours and split of each."""
    if items < 1:
        raise SampleError(f"items must be at least 1 (got {items})")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1]))
    # Balanced categories: round-robin over shuffled rounds of all categories.
    categories: list[str] = []
    while len(categories) < items:
        categories += [SAMPLE_CATEGORIES[i] for i in rng.permutation(len(SAMPLE_CATEGORIES))]
    categories = categories[:items]
    splits = _assign_splits(categories, seed)
    specs = []
    for index, category in enumerate(categories):
        item_rng = np.random.default_rng(np.random.SeedSequence([seed, 2, index]))
        attrs, sleeve = _choose_attributes(category, item_rng)
        colour = _choose_colour(item_rng, attrs)
        rgb = GARMENT_COLOURS[colour]
        specs.append(ItemSpec(
            index=index, folder=_folder_name(index, category, attrs, colour), category=category,
            attributes=frozenset(attrs), colour_name=colour, rgb=rgb,
            pattern_rgb=_pick_other_colour(item_rng, rgb), accent_rgb=_pick_other_colour(item_rng, rgb, 120.0),
            sleeve=sleeve, stripe_vertical=_maybe(item_rng, 0.4),
            pattern_seed=int(item_rng.integers(2**31)), split=splits[index]))
    return specs


# ------------------------------------------------------------------------------- garment designs
# Designs are in "design units" (torso half-width ~1, x to the right, y down, centre x = 0).
Point = tuple[float, float]


@dataclass
class Design:
    """A garment drawing in design units; rendering maps it onto pixels."""

    body: list[tuple[str, Any]]      # silhouette shapes: ("poly", points) | ("ellipse", (x0, y0, x1, y1))
    inner: list[list[Point]]         # visible inside of the garment (shade colour), inside the silhouette
    lines: list[tuple[list[Point], float]]    # seams and folds in the outline colour: (points, width)
    accents: list[tuple[str, Any]]   # buttons, drawstrings, sports stripes in the accent colour
    stitches: list[tuple[list[Point], float]]  # denim topstitching (dashed, goldenrod)
    ribs: list[tuple[Point, Point, Point, Point]]  # knit bands: rib lines join edge a0-a1 to edge b0-b1


def _mirror(points: Iterable[Point]) -> list[Point]:
    return [(-x, y) for x, y in points]


def _symmetric(left: list[Point]) -> list[Point]:
    """Left half (top-centre round to bottom-centre) + its mirror image, as one closed polygon."""
    return left + _mirror(reversed(left))


def _arc(cx: float, cy: float, rx: float, ry: float, t0: float, t1: float, n: int = 9) -> list[Point]:
    return [(cx + rx * math.cos(t), cy + ry * math.sin(t)) for t in np.linspace(t0, t1, n)]


def _neckline(half_width: float, depth: float, v_neck: bool) -> list[Point]:
    """Front neckline from right to left (x = +hw .. -hw) dipping to ``depth`` at the centre."""
    if v_neck:
        return [(half_width, 0.0), (0.0, depth), (-half_width, 0.0)]
    return _arc(0.0, 0.0, half_width, depth, 0.0, math.pi)


def _neck_inner(half_width: float, depth: float, v_neck: bool) -> list[Point]:
    """The inside back of the garment seen through the front neckline."""
    back = _arc(0.0, 0.0, half_width, depth * 0.22, math.pi, 0.0)  # left -> right, shallow
    return back + _neckline(half_width, depth, v_neck)


def _top_polygon(left_outline: list[Point], neck_hw: float, neck_depth: float, v_neck: bool) -> list[Point]:
    """A top's silhouette: left outline (neck -> hem), mirrored, closed through the front neckline."""
    outline = left_outline + _mirror(reversed(left_outline))
    return outline + _neckline(neck_hw, neck_depth, v_neck)[1:-1]


def _empty_design() -> Design:
    return Design(body=[], inner=[], lines=[], accents=[], stitches=[], ribs=[])


def _box(x0: float, y0: float, x1: float, y1: float) -> list[Point]:
    """A closed rectangle outline (pockets)."""
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]


def _rib_band(x0: float, x1: float, y0: float, y1: float) -> tuple[Point, Point, Point, Point]:
    """A horizontal knit band from x0 to x1 between y0 (top) and y1 (bottom)."""
    return ((x0, y0), (x1, y0), (x0, y1), (x1, y1))


def design_tee(item: ItemSpec) -> Design:
    """Short sleeves, crew or V neck; ``crop`` shortens the body."""
    d = _empty_design()
    v = "v-neck" in item.attributes
    hem = 2.05 if "crop" in item.attributes else 3.0
    nw, depth = 0.42, (0.95 if v else 0.3)
    left = [(-nw, 0.0), (-1.0, 0.18), (-1.75, 0.95), (-1.28, 1.32), (-0.98, 0.92), (-1.0, hem)]
    d.body.append(("poly", _top_polygon(left, nw, depth, v)))
    d.inner.append(_neck_inner(nw, depth, v))
    d.lines += [([(-1.0, 0.18), (-0.98, 0.92)], 0.03), ([(1.0, 0.18), (0.98, 0.92)], 0.03),
                (_neckline(nw + 0.06, depth + 0.08, v), 0.04)]
    if "pocket" in item.attributes:
        d.lines.append((_box(0.3, 0.75, 0.72, 1.2), 0.05))
    return d


def design_tank(item: ItemSpec) -> Design:
    """Sleeveless with straps and deep armholes; ``athletic`` adds contrast side panels."""
    d = _empty_design()
    v = "v-neck" in item.attributes
    hem = 2.05 if "crop" in item.attributes else 3.0
    nw, depth = 0.4, (1.1 if v else 0.85)
    left = [(-nw, 0.0), (-0.7, 0.0), (-0.72, 0.4), (-0.8, 0.78), (-0.97, 1.02), (-0.98, hem)]
    d.body.append(("poly", _top_polygon(left, nw, depth, v)))
    d.inner.append(_neck_inner(nw, depth, v))
    d.lines.append((_neckline(nw + 0.05, depth + 0.06, v), 0.04))
    if "athletic" in item.attributes:
        panel = [(-0.97, 1.02), (-0.86, 1.05), (-0.87, hem), (-0.98, hem)]
        d.accents += [("poly", panel), ("poly", _mirror(panel))]
    return d


def _lerp(a: Point, b: Point, t: float) -> Point:
    return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t)


def _long_sleeved_top(hem: float, shoulder_x: float, body_x: float, neck_hw: float,
                      neck_depth: float, v: bool, hem_band: bool) -> tuple[Design, list[Point]]:
    """Shared body of sweaters, hoodies, jackets and cardigans: long sleeves hanging beside the body.

    Returns the design and the left cuff as a quad (top outer, top inner, bottom inner, bottom outer).
    """
    d = _empty_design()
    cuff_y = hem - 0.05
    shoulder, armpit = (shoulder_x, 0.2), (-body_x, 1.0)
    cuff_out, cuff_out_low = (shoulder_x - 0.78, cuff_y - 0.1), (shoulder_x - 0.74, cuff_y + 0.14)
    cuff_in = (shoulder_x - 0.34, cuff_y + 0.1)
    left = [(-neck_hw, 0.0), shoulder, cuff_out, cuff_out_low, cuff_in, armpit]
    if hem_band:  # knit band pulls the hem in
        left += [(-body_x - 0.03, hem - 0.32), (-body_x + 0.08, hem - 0.3), (-body_x + 0.08, hem)]
    else:
        left += [(-body_x, hem)]
    d.body.append(("poly", _top_polygon(left, neck_hw, neck_depth, v)))
    # Armhole seam and cuff line on each side.
    cuff = [_lerp(shoulder, cuff_out, 0.88), _lerp(armpit, cuff_in, 0.86), cuff_in, cuff_out_low]
    for pts in ([shoulder, armpit], cuff[:2]):
        d.lines += [(list(pts), 0.03), (_mirror(pts), 0.03)]
    if hem_band:
        d.lines.append(([(-body_x + 0.08, hem - 0.3), (body_x - 0.08, hem - 0.3)], 0.03))
    return d, cuff


def _cuff_ribs(cuff: list[Point]) -> list[tuple[Point, Point, Point, Point]]:
    """Rib bands on both cuffs (``cuff`` is the left one: top outer, top inner, bottom inner, bottom outer)."""
    top_out, top_in, bottom_in, bottom_out = cuff
    inset = [_lerp(top_out, top_in, 0.1), _lerp(top_out, top_in, 0.9), _lerp(bottom_out, bottom_in, 0.1),
             _lerp(bottom_out, bottom_in, 0.9)]
    return [tuple(inset), tuple(_mirror(inset))]  # type: ignore[list-item]


def design_sweater(item: ItemSpec) -> Design:
    """Crew (or V) neck, long sleeves, ribbed cuffs, collar and a hem band that pulls in."""
    v = "v-neck" in item.attributes
    nw, depth, hem = 0.4, (0.9 if v else 0.28), 3.1
    d, cuff = _long_sleeved_top(hem, -1.05, 1.02, nw, depth, v, hem_band=True)
    d.inner.append(_neck_inner(nw, depth, v))
    d.lines.append((_neckline(nw + 0.08, depth + 0.1, v), 0.05))
    if "ribbed" in item.attributes:
        d.ribs += [_rib_band(-0.94, 0.94, hem - 0.28, hem - 0.02)] + _cuff_ribs(cuff)
    return d


def design_hoodie(item: ItemSpec) -> Design:
    """Long sleeves, a hood around the neck; kangaroo pocket and drawstrings when present."""
    nw, depth, hem = 0.45, 0.3, 3.1
    d, _ = _long_sleeved_top(hem, -1.08, 1.02, nw, depth, False, hem_band=True)
    hood = _symmetric([(0.0, -1.25), (-0.55, -1.12), (-0.92, -0.65), (-1.0, -0.1), (-0.9, 0.28), (-0.4, 0.4),
                       (0.0, 0.42)])
    d.body.append(("poly", hood))
    opening = _symmetric([(0.0, -0.95), (-0.32, -0.88), (-0.52, -0.5), (-0.5, -0.05), (-0.28, 0.22), (0.0, 0.34)])
    d.inner.append(opening)
    d.lines.append((opening + [opening[0]], 0.05))
    if "drawstring" in item.attributes:
        for sign in (-1, 1):
            d.accents.append(("line", ([(sign * 0.2, 0.25), (sign * 0.24, 1.05)], 0.07)))
            d.accents.append(("ellipse", (sign * 0.24 - 0.07, 1.02, sign * 0.24 + 0.07, 1.18)))
    if "pocket" in item.attributes:
        pocket = [(-0.62, 1.95), (0.62, 1.95), (0.88, 2.72), (-0.88, 2.72), (-0.62, 1.95)]
        d.lines.append((pocket, 0.06))
    return d


def design_jacket(item: ItemSpec) -> Design:
    """Broad shoulders, pointed collar over the shoulders, centre zip or buttons, flap pockets."""
    nw, depth, hem = 0.38, 0.55, 3.0
    d, _ = _long_sleeved_top(hem, -1.15, 1.12, nw, depth, True, hem_band=False)
    collar = [(-0.36, -0.12), (-0.7, 0.02), (-0.55, 0.62), (-0.06, 0.55)]
    d.body += [("poly", collar), ("poly", _mirror(collar))]
    d.inner.append([(-0.3, -0.05), (0.3, -0.05), (0.0, 0.55)])
    d.lines += [(collar + [collar[0]], 0.035), (_mirror(collar + [collar[0]]), 0.035)]
    if "button-front" in item.attributes:
        d.lines.append(([(0.0, 0.58), (0.0, hem)], 0.03))
        for y in np.linspace(0.85, hem - 0.35, 4):
            d.accents.append(("ellipse", (-0.07, y - 0.07, 0.07, y + 0.07)))
    else:  # zip
        d.accents.append(("line", ([(0.0, 0.58), (0.0, hem)], 0.05)))
    if "pocket" in item.attributes:
        for sign in (-1, 1):
            flap = [(sign * 0.35, 2.1), (sign * 0.92, 2.1)]
            d.lines += [(_box(sign * 0.35, 1.95, sign * 0.92, 2.45), 0.05), (flap, 0.04)]
    if "denim" in item.attributes:
        d.stitches += [([(-1.1, 0.75), (1.1, 0.75)], 0.03), ([(-1.1, hem - 0.12), (1.1, hem - 0.12)], 0.03),
                       ([(0.1, 0.6), (0.1, hem - 0.05)], 0.03)]
    return d


def design_cardigan(item: ItemSpec) -> Design:
    """Long body, deep V opening (inside visible), buttons down the front, long sleeves."""
    nw, depth, hem = 0.42, 1.5, 3.6
    d, cuff = _long_sleeved_top(hem, -1.05, 1.05, nw, depth, True, hem_band=False)
    d.inner.append(_neck_inner(nw, depth, True))
    for sign in (-1, 1):
        d.lines.append(([(sign * (nw + 0.12), 0.0), (0.0, depth + 0.15)], 0.06))
    d.lines.append(([(0.0, depth), (0.0, hem)], 0.035))
    for y in np.linspace(depth + 0.25, hem - 0.3, 5):
        d.accents.append(("ellipse", (-0.075, y - 0.075, 0.075, y + 0.075)))
    if "ribbed" in item.attributes:
        d.lines.append(([(-1.02, hem - 0.3), (1.02, hem - 0.3)], 0.03))
        d.ribs += [_rib_band(-1.0, -0.08, hem - 0.28, hem - 0.02), _rib_band(0.08, 1.0, hem - 0.28, hem - 0.02)]
        d.ribs += _cuff_ribs(cuff)
    if "pocket" in item.attributes:
        for sign in (-1, 1):
            d.lines.append((_box(sign * 0.3, 2.5, sign * 0.8, 3.05), 0.05))
    return d


def _length(item: ItemSpec, mini: float, midi: float, maxi: float) -> float:
    return maxi if "maxi" in item.attributes else midi if "midi" in item.attributes else mini


def _skirt_shape(item: ItemSpec, top: float, waist: float, hem: float) -> list[Point]:
    """Skirt outline from the waist (y = top) to the hem: flared A-line or straight pencil."""
    span = hem - top
    if "a-line" in item.attributes:
        half = waist + 0.42 * span
        bottom = _arc(0.0, hem, half, 0.12, 0.0, math.pi)  # slightly curved hem, right -> left
        return [(-waist, top), (waist, top)] + bottom
    hip_y = top + min(0.75, 0.4 * span)
    left = [(-waist, top), (-waist - 0.3, hip_y), (-waist - 0.18, hem)]
    return left + _mirror(reversed(left))


def _pleats(top: float, waist: float, hem: float) -> list[tuple[list[Point], float]]:
    half = waist + 0.42 * (hem - top)
    return [([(f * waist, top + 0.05), (f * half * 0.97, hem)], 0.03) for f in np.linspace(-0.8, 0.8, 9)]


def design_skirt(item: ItemSpec) -> Design:
    """Waistband and one flared (a-line) or straight (pencil) panel of mini, midi or maxi length."""
    d = _empty_design()
    hem = _length(item, 1.9, 3.2, 4.6)
    d.body.append(("poly", _skirt_shape(item, 0.0, 0.8, hem)))
    d.lines.append(([(-0.8, 0.25), (0.8, 0.25)], 0.035))
    if "pleated" in item.attributes:
        d.lines += _pleats(0.25, 0.8, hem)
    elif "pencil" in item.attributes and "mini" not in item.attributes:
        d.lines.append(([(0.0, hem), (0.0, hem - 0.7)], 0.03))  # slit
    if "denim" in item.attributes:
        d.stitches += [([(-0.8, 0.32), (0.8, 0.32)], 0.03), ([(0.05, 0.3), (0.05, hem * 0.45)], 0.03)]
    return d


def _trouser_outline(waist: float, hip: float, hip_y: float, crotch_y: float, knee_x: float, knee_y: float,
                     hem_out: float, hem_in: float, hem_y: float) -> list[Point]:
    """Trousers from the waist (y = 0): hips, knees, hems of both legs, crotch."""
    left = [(-waist, 0.0), (-hip, hip_y), (-knee_x, knee_y), (-hem_out, hem_y), (-hem_in, hem_y), (0.0, crotch_y)]
    return left + _mirror(reversed(left[1:-1])) + [(waist, 0.0)]


def _trouser_extras(item: ItemSpec, d: Design, waist: float, band_y: float, hip: float, hip_y: float,
                    hem_out: float, hem_y: float, knee_x: float, knee_y: float) -> None:
    """Waistband, pockets, drawstring and sports stripes shared by shorts, jeans and joggers."""
    d.lines.append(([(-waist, band_y), (waist, band_y)], 0.035))
    if "pocket" in item.attributes:
        for sign in (-1, 1):
            d.lines.append(([(sign * (waist - 0.3), band_y), (sign * (hip - 0.05), hip_y)], 0.05))
    if "drawstring" in item.attributes:
        for sign in (-1, 1):
            d.accents.append(("line", ([(sign * 0.08, band_y * 0.5), (sign * 0.14, band_y + 0.45)], 0.07)))
    if "athletic" in item.attributes:
        for sign in (-1, 1):
            stripe = [(sign * waist, band_y), (sign * hip, hip_y), (sign * knee_x, knee_y), (sign * hem_out, hem_y),
                      (sign * (hem_out - 0.11), hem_y), (sign * (knee_x - 0.11), knee_y),
                      (sign * (hip - 0.11), hip_y), (sign * (waist - 0.1), band_y)]
            d.accents.append(("poly", stripe))


def design_shorts(item: ItemSpec) -> Design:
    """Two short legs split at the crotch; denim adds topstitching and rolled hems."""
    d = _empty_design()
    hem = 1.9
    d.body.append(("poly", _trouser_outline(1.0, 1.12, 0.7, 1.05, 1.2, 1.3, 1.25, 0.1, hem)))
    _trouser_extras(item, d, 1.0, 0.22, 1.12, 0.7, 1.25, hem, 1.2, 1.3)
    if "denim" in item.attributes:
        d.stitches += [([(0.12, 0.22), (0.12, 0.8), (0.0, 0.95)], 0.03)]
        for sign in (-1, 1):
            d.stitches.append(([(sign * 1.23, hem - 0.18), (sign * 0.12, hem - 0.18)], 0.03))
    return d


def design_jeans(item: ItemSpec) -> Design:
    """Long straight (or skinny) legs, fly, front pockets, denim topstitching."""
    d = _empty_design()
    hem = 5.2
    skinny = "skinny" in item.attributes
    hem_out, hem_in, knee = (0.72, 0.3, 0.85) if skinny else (1.0, 0.15, 1.02)
    d.body.append(("poly", _trouser_outline(0.95, 1.05, 0.8, 1.3, knee, 3.0, hem_out, hem_in, hem)))
    _trouser_extras(item, d, 0.95, 0.25, 1.05, 0.8, hem_out, hem, knee, 3.0)
    d.lines.append(([(0.02, 0.25), (0.02, 1.15)], 0.03))
    d.stitches += [([(0.14, 0.25), (0.14, 0.95), (0.0, 1.12)], 0.03)]
    for sign in (-1, 1):
        d.stitches.append(([(sign * (hem_out - 0.02), hem - 0.15), (sign * (hem_in + 0.02), hem - 0.15)], 0.03))
    return d


def design_joggers(item: ItemSpec) -> Design:
    """Elastic ribbed waist, roomy legs tapering into ribbed ankle cuffs."""
    d = _empty_design()
    hem, cuff_top = 5.0, 4.65
    left = [(-1.0, 0.0), (-1.1, 0.8), (-1.12, 2.8), (-0.82, cuff_top), (-0.76, cuff_top), (-0.74, hem),
            (-0.28, hem), (-0.26, cuff_top), (-0.2, cuff_top), (0.0, 1.35)]
    d.body.append(("poly", left + _mirror(reversed(left[1:-1])) + [(1.0, 0.0)]))
    d.ribs.append(_rib_band(-0.98, 0.98, 0.03, 0.33))
    for sign in (-1, 1):
        d.lines.append(([(sign * 0.78, cuff_top), (sign * 0.24, cuff_top)], 0.035))
    _trouser_extras(item, d, 1.0, 0.35, 1.1, 0.8, 0.82, cuff_top, 1.12, 2.8)
    return d


def _bodice(item: ItemSpec, d: Design, waist_y: float) -> list[Point]:
    """Left half of a dress/jumpsuit top (neck -> waist) with the item's sleeves; adds the neck inside."""
    v = "v-neck" in item.attributes
    nw, depth = 0.4, (0.95 if v else 0.35)
    if item.sleeve == "none":
        left = [(-nw, 0.0), (-0.72, 0.03), (-0.74, 0.45), (-0.88, 1.0)]
    elif item.sleeve == "short":
        left = [(-nw, 0.0), (-0.9, 0.12), (-1.38, 0.75), (-1.05, 1.02), (-0.86, 0.95)]
    else:
        left = [(-nw, 0.0), (-0.9, 0.12), (-1.6, 2.55), (-1.3, 2.68), (-0.86, 1.0)]
        d.lines += [([(-0.9, 0.12), (-0.86, 1.0)], 0.03), ([(0.9, 0.12), (0.86, 1.0)], 0.03)]
    d.inner.append(_neck_inner(nw, depth, v))
    d.lines.append((_neckline(nw + 0.05, depth + 0.07, v), 0.04))
    return left + [(-0.68, waist_y)]


def design_dress(item: ItemSpec) -> Design:
    """Fitted bodice (sleeveless, short or long sleeves) and an a-line or pencil skirt."""
    d = _empty_design()
    waist_y = 1.55
    hem = _length(item, 3.3, 4.6, 6.0)
    v = "v-neck" in item.attributes
    left_top = _bodice(item, d, waist_y)
    skirt = _skirt_shape(item, waist_y, 0.68, hem)
    # Bodice left side, skirt hem (right -> left reversed to left -> right), bodice right side.
    skirt_lower = skirt[2:] if "a-line" in item.attributes else skirt[1:5]
    if "a-line" in item.attributes:
        skirt_lower = list(reversed(skirt_lower))  # arc was right -> left; we go left -> right
    outline = left_top + skirt_lower + _mirror(reversed(left_top))
    nw, depth = 0.4, (0.95 if v else 0.35)
    d.body.append(("poly", outline + _neckline(nw, depth, v)[1:-1]))
    d.lines.append(([(-0.68, waist_y), (0.68, waist_y)], 0.035))
    if "pleated" in item.attributes:
        d.lines += _pleats(waist_y, 0.68, hem)
    return d


def design_jumpsuit(item: ItemSpec) -> Design:
    """Dress-like bodice joined at the waist to long wide trouser legs."""
    d = _empty_design()
    waist_y, hem = 1.55, 5.7
    v = "v-neck" in item.attributes
    left_top = _bodice(item, d, waist_y)
    legs_left = [(-1.0, 2.3), (-1.15, hem), (-0.14, hem), (0.0, 2.8)]
    outline = left_top + legs_left + _mirror(reversed(legs_left[:-1])) + _mirror(reversed(left_top))
    nw, depth = 0.4, (0.95 if v else 0.35)
    d.body.append(("poly", outline + _neckline(nw, depth, v)[1:-1]))
    d.lines.append(([(-0.68, waist_y), (0.68, waist_y)], 0.035))
    if "pocket" in item.attributes:
        for sign in (-1, 1):
            d.lines.append(([(sign * 0.55, waist_y + 0.15), (sign * 0.95, 2.3)], 0.05))
    if "drawstring" in item.attributes:  # waist tie
        d.accents.append(("line", ([(-0.68, waist_y), (0.68, waist_y)], 0.09)))
        d.accents += [("line", ([(0.1, waist_y), (0.28, waist_y + 0.6)], 0.06)),
                      ("line", ([(0.1, waist_y), (-0.1, waist_y + 0.55)], 0.06))]
    return d


DESIGNS = {
    "Tee": design_tee, "Tank": design_tank, "Sweater": design_sweater, "Hoodie": design_hoodie,
    "Jacket": design_jacket, "Cardigan": design_cardigan, "Skirt": design_skirt, "Shorts": design_shorts,
    "Jeans": design_jeans, "Joggers": design_joggers, "Dress": design_dress, "Jumpsuit": design_jumpsuit,
}


# ------------------------------------------------------------------------------------ rendering
def _shade(rgb: tuple[int, int, int], factor: float) -> tuple[int, int, int]:
    """Darker (factor < 1) shade; very dark colours get lighter instead so the detail still shows."""
    if sum(rgb) < 150:
        return tuple(min(255, int(c + 55 * (1.0 - factor) / 0.3)) for c in rgb)  # type: ignore[return-value]
    return tuple(int(c * factor) for c in rgb)  # type: ignore[return-value]


def _extents(design: Design) -> tuple[float, float, float, float]:
    points: list[Point] = []
    for kind, shape in design.body:
        points += list(shape) if kind == "poly" else [(shape[0], shape[1]), (shape[2], shape[3])]
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return min(xs), min(ys), max(xs), max(ys)


class _Canvas:
    """Maps design units to pixels of a garment-local canvas."""

    def __init__(self, extents: tuple[float, float, float, float], scale: float, pad: int) -> None:
        self.x0, self.y0, x1, y1 = extents
        self.s, self.pad = scale, pad
        self.size = (int(math.ceil((x1 - self.x0) * scale)) + 2 * pad,
                     int(math.ceil((y1 - self.y0) * scale)) + 2 * pad)

    def pt(self, p: Point) -> tuple[float, float]:
        return ((p[0] - self.x0) * self.s + self.pad, (p[1] - self.y0) * self.s + self.pad)

    def pts(self, points: Iterable[Point]) -> list[tuple[float, float]]:
        return [self.pt(p) for p in points]

    def box(self, b: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        (x0, y0), (x1, y1) = self.pt((b[0], b[1])), self.pt((b[2], b[3]))
        return (x0, y0, x1, y1)

    def width(self, w: float) -> int:
        return max(1, int(round(w * self.s)))


def _draw_shape(draw: ImageDraw.ImageDraw, canvas: _Canvas, kind: str, shape: Any, fill: Any) -> None:
    if kind == "poly":
        draw.polygon(canvas.pts(shape), fill=fill)
    elif kind == "ellipse":
        draw.ellipse(canvas.box(shape), fill=fill)
    elif kind == "line":
        points, width = shape
        draw.line(canvas.pts(points), fill=fill, width=canvas.width(width), joint="curve")
    else:  # pragma: no cover
        raise ValueError(kind)


def _draw_pattern(item: ItemSpec, canvas: _Canvas, extents: tuple[float, float, float, float],
                  weight: float = 1.0) -> Image.Image | None:
    """The texture as an L mask (255 = pattern colour), in item-fixed design coordinates.

    Periods have a floor in pixels and widths are whole pixels, so the pattern covers about the same
    share of the garment at every image size (always clearly less than the fill colour).
    """
    texture = item.texture
    if texture is None:
        return None
    rng = np.random.default_rng(item.pattern_seed)
    x0, y0, x1, y1 = extents
    width_px, height_px = canvas.size
    mask = Image.new("L", canvas.size, 0)
    draw = ImageDraw.Draw(mask)

    def period_px(low: float, high: float, floor: float) -> float:
        return max(float(rng.uniform(low, high)) * canvas.s, floor)

    if texture in ("striped", "grid"):
        period = period_px(0.3, 0.42, 16.0) if texture == "striped" else period_px(0.36, 0.46, 16.0)
        band = max(1, int(round((0.26 if texture == "striped" else 0.09) * period * weight)))
        start = float(rng.uniform(0, period))
        vertical = item.stripe_vertical or texture == "grid"
        horizontal = not item.stripe_vertical or texture == "grid"
        for k in range(int(max(width_px, height_px) / period) + 2):
            at = int(round(start + k * period)) - int(period)
            if vertical:
                draw.rectangle((at, 0, at + band - 1, height_px), fill=255)
            if horizontal:
                draw.rectangle((0, at, width_px, at + band - 1), fill=255)
    elif texture == "chevron":
        period = period_px(0.4, 0.5, 16.0)
        line = max(1, int(round(0.09 * period * weight)))
        for y in np.arange(-period, height_px + period, period):
            zig = [(float(x), float(y + (0.32 * period if k % 2 else 0.0)))
                   for k, x in enumerate(np.arange(-period, width_px + period, period / 2))]
            draw.line(zig, fill=255, width=line, joint="curve")
    elif texture == "colorblock":
        top = canvas.pt((x0, y0 + 0.44 * (y1 - y0)))[1]
        bottom = canvas.pt((x0, y0 + (0.44 + 0.2 * weight) * (y1 - y0)))[1]
        draw.rectangle((0, int(round(top)), width_px, int(round(bottom)) - 1), fill=255)
    else:  # polka dot / floral: jittered hexagonal lattice
        period = period_px(0.32, 0.4, 16.0) if texture == "polka dot" else period_px(0.62, 0.72, 26.0)
        for row, y in enumerate(np.arange(-period, height_px + period, period * 0.87)):
            for x in np.arange(-period + (period / 2 if row % 2 else 0.0), width_px + period, period):
                cx, cy = x + rng.uniform(-0.12, 0.12) * period, y + rng.uniform(-0.12, 0.12) * period
                if texture == "polka dot":
                    r = 0.23 * period * math.sqrt(weight)
                    draw.ellipse((cx - r, cy - r, cx + r - 1, cy + r - 1), fill=255)  # PIL boxes are inclusive
                else:
                    _draw_flower(draw, cx, cy, 0.28 * period * math.sqrt(weight), float(rng.uniform(0, 2 * math.pi)))
    return mask


def _draw_flower(draw: ImageDraw.ImageDraw, cx: float, cy: float, radius: float, turn: float) -> None:
    """Five round petals around a centre left in the fill colour (pixel coordinates)."""
    petal = radius * 0.42
    for k in range(5):
        a = turn + k * 2 * math.pi / 5
        px, py = cx + math.cos(a) * radius * 0.55, cy + math.sin(a) * radius * 0.55
        draw.ellipse((px - petal, py - petal, px + petal - 1, py + petal - 1), fill=255)
    c = radius * 0.2
    draw.ellipse((cx - c, cy - c, cx + c, cy + c), fill=0)


def _dashed(points: list[tuple[float, float]], dash: float) -> list[list[tuple[float, float]]]:
    """Split a polyline into dashes of length ``dash`` pixels (topstitching)."""
    pieces: list[list[tuple[float, float]]] = []
    for (ax, ay), (bx, by) in zip(points, points[1:]):
        length = math.hypot(bx - ax, by - ay)
        steps = max(1, int(length / dash))
        for k in range(0, steps, 2):
            t0, t1 = k / steps, min(1.0, (k + 1) / steps)
            pieces.append([(ax + (bx - ax) * t0, ay + (by - ay) * t0), (ax + (bx - ax) * t1, ay + (by - ay) * t1)])
    return pieces


@dataclass
class Garment:
    """A rendered garment on its own canvas (supersampled): colour, binary mask and fill share."""

    rgb: Image.Image
    mask: Image.Image
    base_share: float  # fraction of garment pixels exactly in the fill colour (at the drawing's 2x)


MIN_FILL_SHARE = 0.55  # the fill colour must clearly dominate the garment's pixels
FILL_TOLERANCE = 12    # a pixel "is" the fill colour when every channel is within this


def render_garment(item: ItemSpec, height_px: float, weight: float = 1.0) -> Garment:
    """Draw ``item`` so its design height is ``height_px`` pixels (fill, pattern, inside, details, outline).

    ``weight`` < 1 draws the texture thinner (used when a small image would otherwise blur the pattern
    over more than its share of the garment).
    """
    design = DESIGNS[item.category](item)
    extents = _extents(design)
    canvas = _Canvas(extents, height_px / (extents[3] - extents[1]), pad=_PAD)
    return _paint(item, design, canvas, extents, weight)


def _paint(item: ItemSpec, design: Design, canvas: _Canvas, extents: tuple[float, float, float, float],
           weight: float) -> Garment:
    mask = Image.new("L", canvas.size, 0)
    mask_draw = ImageDraw.Draw(mask)
    for kind, shape in design.body:
        _draw_shape(mask_draw, canvas, kind, shape, 255)
    rgb = Image.new("RGB", canvas.size, item.rgb)
    pattern = _draw_pattern(item, canvas, extents, weight)
    if pattern is not None:
        rgb.paste(item.pattern_rgb, mask=pattern)
    draw = ImageDraw.Draw(rgb)
    shade = _shade(item.rgb, 0.72)
    line_colour = _shade(item.rgb, 0.78) if item.rgb != (255, 255, 255) else (200, 200, 200)
    for points in design.inner:
        draw.polygon(canvas.pts(points), fill=shade)
        mask_draw.polygon(canvas.pts(points), fill=255)  # the inside is part of the garment
    for points, width in design.lines:
        if width * canvas.s >= 0.6:  # thinner seams only smear into the fill when downsampled; skip them
            draw.line(canvas.pts(points), fill=line_colour, width=canvas.width(width), joint="curve")
    _draw_ribs(draw, canvas, design.ribs, line_colour)
    for kind, shape in design.accents:
        _draw_shape(draw, canvas, kind, shape, item.accent_rgb)
    for points, width in design.stitches:
        for dash in _dashed(canvas.pts(points), dash=max(2.0, canvas.s * 0.08)):
            draw.line(dash, fill=STITCH_COLOUR, width=canvas.width(width))
    # A thin edge band like a hem binding: patterns never reach the silhouette, and light garments get
    # a faint grey edge so white-on-white stays visible, as in product photos.
    if sum(item.rgb) >= 600:
        _draw_outline(rgb, mask, (180, 180, 180) if item.rgb == (255, 255, 255) else _shade(item.rgb, 0.72), 1)
    else:
        _draw_outline(rgb, mask, item.rgb, _SUPERSAMPLE)
    inside = np.asarray(mask) > 0
    base = np.all(np.asarray(rgb) == np.array(item.rgb, dtype=np.uint8), axis=-1) & inside
    return Garment(rgb=rgb, mask=mask, base_share=float(base.sum() / max(1, inside.sum())))


def _draw_ribs(draw: ImageDraw.ImageDraw, canvas: _Canvas, ribs: list[tuple[Point, Point, Point, Point]],
               colour: tuple[int, int, int]) -> None:
    """Knit rib lines at least 6 px apart (denser lines would just repaint the band)."""
    spacing = max(6.0, 0.13 * canvas.s)
    for a0, a1, b0, b1 in ribs:
        length = math.dist(canvas.pt(a0), canvas.pt(a1))
        count = int(length / spacing)
        for f in (np.arange(count) + 0.5) / max(count, 1):
            draw.line([canvas.pt(_lerp(a0, a1, f)), canvas.pt(_lerp(b0, b1, f))], fill=colour, width=1)


def _draw_outline(rgb: Image.Image, mask: Image.Image, colour: tuple[int, int, int], min_width: int) -> None:
    """Paint a band (``min_width`` drawing pixels or more on large garments) just inside the silhouette."""
    width = max(min_width, round(max(mask.size) / 220))
    eroded = mask.filter(ImageFilter.MinFilter(2 * width + 1))
    edge = np.asarray(mask).astype(np.int16) - np.asarray(eroded).astype(np.int16)
    rgb.paste(colour, mask=Image.fromarray((edge > 0).astype(np.uint8) * 255))


# --------------------------------------------------------------------------------- backgrounds
def _background(rng: np.random.Generator, width: int, height: int, garment_rgb: tuple[int, int, int]) -> np.ndarray:
    """A product-photo background (H, W, 3) uint8: white, light grey, pastel, noisy or a gradient."""
    kinds = ["white", "grey", "pastel", "noise", "gradient"]
    p = [0.25, 0.2, 0.2, 0.2, 0.15]
    if garment_rgb == (255, 255, 255):  # white garments mostly on white-ish backgrounds
        p = [0.45, 0.25, 0.05, 0.2, 0.05]
    kind = str(rng.choice(kinds, p=p))
    if kind == "white":
        top = bottom = (255, 255, 255)
    elif kind == "grey":
        g = int(rng.integers(222, 246))
        top = bottom = (g, g, g)
    elif kind == "pastel":
        top = bottom = _pastel(rng)
    elif kind == "noise":
        top = bottom = _light(rng)
    else:
        top, bottom = _light(rng), _light(rng)
    ramp = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    image = np.array(top, np.float32) * (1 - ramp) + np.array(bottom, np.float32) * ramp
    image = np.broadcast_to(image, (height, width, 3)).copy()
    if kind == "noise":
        image += rng.normal(0.0, float(rng.uniform(2.0, 4.0)), size=(height, width, 1)).astype(np.float32)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def _light(rng: np.random.Generator) -> tuple[int, int, int]:
    """A light grey or a pastel."""
    if rng.random() < 0.5:
        return _pastel(rng)
    g = int(rng.integers(228, 248))
    return (g, g, g)


def _pastel(rng: np.random.Generator) -> tuple[int, int, int]:
    colour = np.array(list(GARMENT_COLOURS.values())[int(rng.integers(len(GARMENT_COLOURS)))], np.float32)
    mix = float(rng.uniform(0.78, 0.9))
    return tuple(int(round(c)) for c in colour * (1 - mix) + 255 * mix)  # type: ignore[return-value]


# ---------------------------------------------------------------------------------- one view
@dataclass
class RenderedView:
    """One photograph of an item: the image, its garment coverage mask and the exact bbox."""

    image: Image.Image                  # RGB, longest side = image_size
    coverage: Image.Image               # L, 0 = background only, >0 = some garment in the pixel
    bbox: tuple[int, int, int, int]     # x1, y1, x2, y2 (x2/y2 exclusive)
    background: np.ndarray              # (H, W, 3) the background alone
    base_share: float


def _view_rng(seed: int, item: ItemSpec, view: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, 3, item.index, view]))


def _canvas_size(rng: np.random.Generator, image_size: int, aspect: float) -> tuple[int, int]:
    """Image (width, height) with the longest side ``image_size``: portrait for tall garments."""
    if aspect < 0.8:
        return max(16, int(round(image_size * rng.uniform(0.7, 0.88)))), image_size
    if aspect > 1.25:
        return image_size, max(16, int(round(image_size * rng.uniform(0.78, 0.92))))
    return image_size, image_size


def render_view(item: ItemSpec, view: int, image_size: int = 256, seed: int = 0) -> RenderedView:
    """Photograph ``item`` (view number ``view``): pose, scale, background and rotation vary."""
    rng = _view_rng(seed, item, view)
    x0, y0, x1, y1 = _extents(DESIGNS[item.category](item))
    aspect = (x1 - x0) / (y1 - y0)
    width, height = _canvas_size(rng, image_size, aspect)
    ss = _SUPERSAMPLE
    angle = float(rng.uniform(-8.0, 8.0))
    margin = max(2 * ss, int(0.04 * min(width, height) * ss))  # background on every side
    # Scale so the rotated garment (plus the canvas padding) fills 78-100% of the room inside the margins.
    rad = math.radians(abs(angle))
    rot_w = aspect * math.cos(rad) + math.sin(rad)
    rot_h = aspect * math.sin(rad) + math.cos(rad)
    room_w, room_h = width * ss - 2 * margin - 3 * _PAD, height * ss - 2 * margin - 3 * _PAD
    garment_h = float(rng.uniform(0.78, 1.0)) * min(room_w / rot_w, room_h / rot_h)
    background = _background(rng, width, height, item.rgb)
    placement: tuple[int, int] | None = None
    # The fill colour must dominate the saved pixels too: small images blur thin patterns over more
    # of the garment, so the texture is drawn thinner until it does.
    for weight in (1.0, 0.75, 0.55, 0.4):
        garment = render_garment(item, garment_h, weight)
        rgba = garment.rgb.convert("RGBA")
        rgba.putalpha(garment.mask)
        # NEAREST keeps the mask binary at 2x, so the box-downsampled coverage is exact.
        rotated = rgba.rotate(angle, resample=Image.NEAREST, expand=True)
        if placement is None:  # the canvas size does not depend on the weight: place once
            placement = _place(rng, rotated.size, (width * ss, height * ss), margin, item, view)
        image, coverage = _compose(background, rotated, placement)
        share = fill_share(image, coverage, item.rgb)
        if share >= MIN_FILL_SHARE:
            break
    bbox = coverage.getbbox()
    if bbox is None:  # pragma: no cover - garments are never empty
        raise SampleError(f"item {item.folder} view {view}: empty garment")
    return RenderedView(image=image, coverage=coverage, bbox=tuple(int(v) for v in bbox),  # type: ignore[arg-type]
                        background=background, base_share=share)


def _place(rng: np.random.Generator, size: tuple[int, int], frame: tuple[int, int], margin: int, item: ItemSpec,
           view: int) -> tuple[int, int]:
    """A random top-left corner that keeps ``margin`` pixels of background on every side."""
    free_x, free_y = frame[0] - size[0] - 2 * margin, frame[1] - size[1] - 2 * margin
    if free_x < 0 or free_y < 0:  # the scale leaves room; this guards the arithmetic
        raise SampleError(f"item {item.folder} view {view}: garment does not fit the image")
    return margin + int(rng.integers(0, free_x + 1)), margin + int(rng.integers(0, free_y + 1))


def _compose(background: np.ndarray, garment: Image.Image, offset: tuple[int, int]
             ) -> tuple[Image.Image, Image.Image]:
    """Paste the (2x, binary-alpha) garment on the background and box-downsample: image and coverage."""
    height, width = background.shape[:2]
    ss = _SUPERSAMPLE
    big = Image.fromarray(background).resize((width * ss, height * ss), Image.NEAREST)
    alpha = garment.getchannel("A")
    big.paste(garment.convert("RGB"), offset, mask=alpha)
    full_mask = Image.new("L", big.size, 0)
    full_mask.paste(alpha, offset)
    return big.reduce(ss), full_mask.reduce(ss)


def fill_share(image: Image.Image, coverage: Image.Image, rgb: tuple[int, int, int]) -> float:
    """Share of the fully covered garment pixels of ``image`` that are the fill colour ``rgb``."""
    full = np.asarray(coverage) == 255
    pixels = np.asarray(image).astype(np.int16)[full]
    if len(pixels) == 0:
        return 0.0
    return float((np.abs(pixels - np.array(rgb, np.int16)).max(axis=1) <= FILL_TOLERANCE).mean())


# ------------------------------------------------------------------------------ writing files
@dataclass(frozen=True)
class _Job:
    item: ItemSpec
    views: int
    image_size: int
    seed: int
    out_root: str


def image_name(item: ItemSpec, view: int) -> str:
    """DeepFashion-style relative image path: ``img/<Item>/img_00000001.jpg`` (views are 1-based)."""
    return f"img/{item.folder}/img_{view + 1:08d}.jpg"


def _render_item(job: _Job) -> list[tuple[str, tuple[int, int, int, int]]]:
    """Worker: render and save every view of one item; returns (image name, bbox) per view."""
    rows = []
    folder = Path(job.out_root) / "img" / job.item.folder
    folder.mkdir(parents=True, exist_ok=True)
    for view in range(job.views):
        rendered = render_view(job.item, view, job.image_size, job.seed)
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


def _settings(items: int, views: int, image_size: int, seed: int) -> dict[str, int]:
    return {"items": items, "views": views, "image_size": image_size, "seed": seed,
            "generator_version": GENERATOR_VERSION}


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
                    workers: int | None = None) -> Path:
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
        jobs = [_Job(item, views, image_size, seed, str(tmp)) for item in specs]
        results = _run_jobs(jobs, workers if workers is not None else default_workers(-1, spare=0, cap=64))
        for rel, text in _annotation_files(specs, results).items():
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp / rel).write_text(text, encoding="utf-8")
        manifest = _manifest(specs, views, _settings(items, views, image_size, seed))
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
    wanted = _settings(sample_cfg.items, sample_cfg.views, sample_cfg.image_size, sample_cfg.seed)
    manifest = read_manifest(root)
    complete = (root / "Eval" / "list_eval_partition.txt").is_file() and (root / "img").is_dir()
    if manifest is not None and manifest.get("settings") == wanted and complete:
        return root
    start = time.perf_counter()
    if announce:
        announce(f"generating the built-in sample ({sample_cfg.items} items x {sample_cfg.views} views) in {root} ...")
    generated = generate_sample(root, sample_cfg.items, sample_cfg.views, sample_cfg.image_size, sample_cfg.seed)
    if announce:
        announce(f"sample ready in {time.perf_counter() - start:.1f} s")
    return generated


# ------------------------------------------------------------------------------------------ CLI
def run_cli(root: Path, items: int, views: int, seed: int, image_size: int, workers: int | None) -> int:
    """Generate the sample and print where it went and how long it took; returns the exit code."""
    start = time.perf_counter()
    try:
        generate_sample(root, items=items, views=views, image_size=image_size, seed=seed, workers=workers)
    except SampleError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {items * views} images ({items} items x {views} views, {image_size} px, seed {seed}) "
          f"to {root} in {time.perf_counter() - start:.1f} s")
    return 0


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m fashion.data.sample [--root data/sample] [--items N] [--views N] [--seed N] [--image-size N]``."""
    import typer  # imported here: nothing heavy happens when the module is imported

    app = typer.Typer(add_completion=False)

    @app.command(help="Generate the built-in sample catalog (DeepFashion coarse layout).")
    def command(
        root: Path = typer.Option(Path("data/sample"), "--root", help="Folder to write the sample into."),
        items: int = typer.Option(SampleConfig.items, "--items", min=1, help="Number of garments."),
        views: int = typer.Option(SampleConfig.views, "--views", min=1, help="Photos per garment."),
        seed: int = typer.Option(SampleConfig.seed, "--seed", help="Random seed (same seed, same sample)."),
        image_size: int = typer.Option(SampleConfig.image_size, "--image-size", min=32, max=1024, help="Longest image side, pixels."),
        workers: int = typer.Option(0, "--workers", min=0, help="Processes (0: one per CPU core)."),
    ) -> None:
        raise typer.Exit(run_cli(root, items, views, seed, image_size, workers or None))

    app(args=list(argv) if argv is not None else None)


if __name__ == "__main__":
    main()
